#!/usr/bin/env bash
# Build a genuine Nomad binary from the Go module proxy, outside the repository.
#
#   tests/harness/build_nomad.sh v1.6.1
#
# Result: ${SNAPTOOL_CACHE:-$HOME/.cache/snaptool}/nomad/<version>/nomad
# The cache dir also holds the wrapper module (go.mod/go.sum/BUILDINFO.json).
# Idempotent: if the binary already exists, it only prints its path.
# The last line printed is always the binary path.
#
# Licence guard: versions from v1.7.0 on are Business Source License and are
# refused; the downloaded module's LICENSE must say Mozilla Public License 2.0.
set -euo pipefail

VERSION="${1:?usage: build_nomad.sh VERSION (e.g. v1.6.1)}"
case "$VERSION" in v*) ;; *) VERSION="v$VERSION" ;; esac

# Nomad is under the Business Source License from v1.7.0 on: refuse before downloading anything.
IFS=. read -r _MAJ _MIN _ <<< "${VERSION#v}"
if (( _MAJ > 1 || (_MAJ == 1 && _MIN >= 7) )); then
    echo "REFUSED: Nomad $VERSION is BUSL-licensed (v1.7.0+); only MPL-2.0 versions may be used" >&2
    exit 3
fi

CACHE_ROOT="${SNAPTOOL_CACHE:-$HOME/.cache/snaptool}"
OUT_DIR="$CACHE_ROOT/nomad/$VERSION"
BIN="$OUT_DIR/nomad"

if [[ -x "$BIN" && -f "$OUT_DIR/BUILDINFO.json" ]]; then
    echo "$BIN"
    exit 0
fi

# Release builds use "ui codegen_generated release"; we drop "ui" (no web UI
# assets) and keep codegen_generated so struct encoding order matches releases.
TAGS="${NOMAD_BUILD_TAGS:-codegen_generated release}"

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
API_VERSION="${2:-$(awk -v v="$VERSION" '$1==v {print $3}' "$HERE/versions.txt")}"
COMMIT="$(awk -v v="$VERSION" '$1==v {print $2}' "$HERE/versions.txt")"
BUILD_DATE="$(awk -v v="$VERSION" '$1==v {print $4}' "$HERE/versions.txt")"
# Same stamping as Nomad's GNUmakefile (GitCommit; BuildDate exists from 1.5 on, -X is a no-op before).
LDFLAGS="-X github.com/hashicorp/nomad/version.GitCommit=${COMMIT:-unknown}"
[[ -n "$BUILD_DATE" ]] && LDFLAGS="$LDFLAGS -X github.com/hashicorp/nomad/version.BuildDate=$BUILD_DATE"
if [[ -z "$API_VERSION" ]]; then
    echo "no api pseudo-version for $VERSION: add it to versions.txt or pass it as 2nd argument" >&2
    exit 2
fi

mkdir -p "$OUT_DIR"
cd "$OUT_DIR"

export GOFLAGS="${GOFLAGS:-} -mod=mod"
export GOTOOLCHAIN=local
export GOPROXY="${GOPROXY:-https://proxy.golang.org}"
# keep go from asking for the version list or fetching outside the proxy
export GONOSUMDB="${GONOSUMDB:-}"

echo "downloading github.com/hashicorp/nomad@$VERSION" >&2
go mod download -json "github.com/hashicorp/nomad@$VERSION" > download.json
MODDIR="$(python3 -c 'import json,sys; print(json.load(open("download.json"))["Dir"])')"
MODSUM="$(python3 -c 'import json,sys; print(json.load(open("download.json"))["Sum"])')"

# --- licence check -------------------------------------------------------
if grep -qi "Business Source License" "$MODDIR/LICENSE"; then
    echo "REFUSED: $VERSION is under the Business Source License" >&2
    exit 3
fi
if ! head -5 "$MODDIR/LICENSE" | grep -q "Mozilla Public License"; then
    echo "REFUSED: $MODDIR/LICENSE does not start with Mozilla Public License" >&2
    exit 3
fi
echo "licence ok: $(head -5 "$MODDIR/LICENSE" | grep 'Mozilla Public License')" >&2

# --- wrapper module ------------------------------------------------------
# Copy nomad's own go.mod (requires + replaces) under a new module path, so MVS
# picks exactly the versions Nomad itself pins; then require nomad and point
# the api module at its pseudo-version for the tag's commit (the api/ dir is a
# nested module and is not inside nomad's module zip).
GOVER="$(awk '$1=="go"{print $2; exit}' "$MODDIR/go.mod")"
{
    echo "module snaptool.local/nomadbuild"
    echo
    echo "go $GOVER"
    echo
    echo "require github.com/hashicorp/nomad $VERSION"
    echo
    # everything after the module/go lines, with the relative api replace rewritten
    awk 'NR>1 && $1!="go" && $1!="toolchain"' "$MODDIR/go.mod" \
        | sed -e "s#github.com/hashicorp/nomad/api => ./api#github.com/hashicorp/nomad/api => github.com/hashicorp/nomad/api $API_VERSION#"
} > go.mod
cp "$MODDIR/go.sum" go.sum
chmod u+w go.mod go.sum

START=$(date +%s)
echo "building (tags: $TAGS) ... this takes a while on 2 cores" >&2
if ! go build -trimpath -tags "$TAGS" -ldflags "$LDFLAGS" -o "$BIN.tmp" github.com/hashicorp/nomad; then
    # Go >= 1.23 refuses some old dependencies' //go:linkname uses at link time.
    echo "build failed; retrying with -ldflags=-checklinkname=0" >&2
    LDFLAGS="-checklinkname=0 $LDFLAGS"
    go build -trimpath -tags "$TAGS" -ldflags "$LDFLAGS" -o "$BIN.tmp" github.com/hashicorp/nomad
fi
mv "$BIN.tmp" "$BIN"
END=$(date +%s)

SUMLINE="$(grep "^github.com/hashicorp/nomad $VERSION h1:" go.sum || true)"
APISUM="$(grep "^github.com/hashicorp/nomad/api $API_VERSION h1:" go.sum || true)"
python3 - "$VERSION" "$TAGS" "$LDFLAGS" "$MODSUM" "$SUMLINE" "$((END-START))" "$GOVER" "$API_VERSION" "$APISUM" <<'PY'
import json, subprocess, sys
v, tags, ldflags, modsum, sumline, secs, gover, apiv, apisum = sys.argv[1:]
info = {
    "module": "github.com/hashicorp/nomad",
    "version": v,
    "module_sum": modsum,
    "go_sum_line": sumline,
    "api_module_version": apiv,
    "api_go_sum_line": apisum,
    "go_version": subprocess.run(["go", "version"], capture_output=True, text=True).stdout.strip(),
    "module_go_directive": gover,
    "build_command": f'go build -trimpath -tags "{tags}" -ldflags "{ldflags}" -o nomad github.com/hashicorp/nomad',
    "env": {"GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local", "CGO_ENABLED": subprocess.run(["go", "env", "CGO_ENABLED"], capture_output=True, text=True).stdout.strip()},
    "tags": tags,
    "ldflags": ldflags,
    "build_seconds": int(secs),
    "licence": "Mozilla Public License 2.0 (LICENSE checked, no Business Source License text)",
}
json.dump(info, open("BUILDINFO.json", "w"), indent=2)
PY
echo "built in $((END-START))s" >&2
echo "$BIN"
