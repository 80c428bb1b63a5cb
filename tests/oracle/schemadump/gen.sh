#!/usr/bin/env bash
# Regenerate snaptool/format/nomad_schema_<version>.json from Nomad's own types
# (see README.md). Prints the output path. Builds without the
# codegen_generated tag, so reflection sees the plain structs.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/.."   # the tests/oracle module

NOMAD_MODULE=github.com/hashicorp/nomad
NOMAD_VERSION=$(awk -v m="$NOMAD_MODULE" '$1 == m && $2 ~ /^v/ { print $2; exit }' go.mod)
gf=$(go env GOFLAGS)
export GOFLAGS="${gf:+$gf }-mod=readonly"

# Same licence guard as build.sh: refuse anything that is not MPL-2.0.
go mod download "$NOMAD_MODULE"
nomad_dir=$(go list -m -f '{{.Dir}}' "$NOMAD_MODULE")
if ! grep -q "Mozilla Public License" "$nomad_dir/LICENSE"; then
	echo "gen.sh: $NOMAD_MODULE@$NOMAD_VERSION is not MPL-2.0 licensed; refusing" >&2
	exit 1
fi

out="$here/../../../snaptool/format/nomad_schema_$(echo "${NOMAD_VERSION#v}" | tr . _).json"
go run -trimpath -buildvcs=false ./schemadump > "$out.tmp"
mv -f "$out.tmp" "$out"
realpath "$out"
