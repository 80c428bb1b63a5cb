"""Re-judge the disagreements of a campaign log and count them by known finding.

    PYTHONPATH=. python -m tests.conformance.classify_log /tmp/conf-c1.jsonl
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

from . import compare as C
from . import known as K
from . import mutate as M


def main() -> None:
    rows = [json.loads(x) for x in open(sys.argv[1])]
    bad = [r for r in rows if r.get("diff")]
    out = defaultdict(Counter)
    new = []
    with tempfile.TemporaryDirectory() as td:
        for r in bad:
            m = M.make(r["id"])
            assert m.sha256 == r["sha256"], r["id"]
            p = Path(td) / "m"
            p.write_bytes(m.data)
            n = C.run_oracle(p, m.plain)
            s = C.run_snaptool(p, m.plain)
            d = C.compare(n, s, M.seeds()[m.seed].nomad_state)
            f = K.classify(n, s, d) or ("NEW" if d else "NOW-AGREES")
            out[f][m.cls] += 1
            if f in ("NEW", "NOW-AGREES"):
                new.append((f, m.id, m.note, C.signature(m.cls, d, n, s) if d else r.get("nomad_layer")))
    print(json.dumps({k: dict(v) for k, v in sorted(out.items())}, indent=1))
    for x in new:
        print("NEW/NOW-AGREES", *x)


if __name__ == "__main__":
    main()
