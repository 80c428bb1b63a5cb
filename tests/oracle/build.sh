#!/usr/bin/env bash
# Build the Nomad-verdict oracle (see README.md) outside the repository:
#   ${SNAPTOOL_CACHE:-$HOME/.cache/snaptool}/oracle/<nomad-version>/oracle
# Idempotent: when a binary built from the same main.go, go.mod, go.sum,
# build.sh and Go toolchain exists, it exits at once. The binary's path is printed last.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"

NOMAD_MODULE=github.com/hashicorp/nomad
NOMAD_VERSION=$(awk -v m="$NOMAD_MODULE" '$1 == m && $2 ~ /^v/ { print $2; exit }' go.mod)
if [ -z "$NOMAD_VERSION" ]; then
	echo "build.sh: cannot find the $NOMAD_MODULE version in go.mod" >&2
	exit 1
fi

out_dir="${SNAPTOOL_CACHE:-$HOME/.cache/snaptool}/oracle/$NOMAD_VERSION"
bin="$out_dir/oracle"
stamp="$out_dir/oracle.key"

key=$( { cat main.go go.mod go.sum build.sh; go version; } | sha256sum | cut -d' ' -f1)
if [ -x "$bin" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ]; then
	echo "$bin"
	exit 0
fi

gf=$(go env GOFLAGS)
export GOFLAGS="${gf:+$gf }-mod=readonly"

# Licence guard: Nomad from v1.7.0 on is BUSL-1.1. Refuse anything that is
# not MPL-2.0.
go mod download "$NOMAD_MODULE"
nomad_dir=$(go list -m -f '{{.Dir}}' "$NOMAD_MODULE")
if ! grep -q "Mozilla Public License" "$nomad_dir/LICENSE"; then
	echo "build.sh: $NOMAD_MODULE@$NOMAD_VERSION is not MPL-2.0 licensed; refusing to build" >&2
	exit 1
fi

mkdir -p "$out_dir"
start=$(date +%s)
echo "build.sh: building oracle against $NOMAD_MODULE@$NOMAD_VERSION (first build takes several minutes)" >&2
# No -ldflags=-checklinkname=0 is needed: the packages linked in here build
# with Go 1.26 as they are (checked). Add it if a Go upgrade starts refusing
# a go:linkname in one of the old dependencies.
go build -trimpath -buildvcs=false -o "$bin.tmp" .
mv -f "$bin.tmp" "$bin"
echo "$key" > "$stamp"
echo "build.sh: built in $(( $(date +%s) - start ))s" >&2
echo "$bin"
