#!/usr/bin/env bash
# Regenerate tests/oracle/golden/*.json from the shared cases and corpus.
# Usage: tests/oracle/run-golden.sh [SHARED_DIR]   (default: /work/shared)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
shared=${1:-/work/shared}
bin=$("$here/build.sh" | tail -n1)
mkdir -p "$here/golden"
for f in "$shared"/cases/*.snap; do
	(cd "$(dirname "$f")" && "$bin" "$(basename "$f")") > "$here/golden/$(basename "$f").json" 2>/dev/null
done
for f in "$shared"/corpus/real/*.tar; do
	(cd "$(dirname "$f")" && "$bin" --plain-tar "$(basename "$f")") > "$here/golden/$(basename "$f").json" 2>/dev/null
done
echo "$bin"
