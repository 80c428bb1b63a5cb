"""Conformance campaign: mutate, ask Nomad (the oracle) and snaptool, compare.

    python -m tests.conformance.campaign --count 10000 --jobs 2 [--campaign 1] [--start 0]
    python -m tests.conformance.campaign --ci            # rebuild tests/conformance/verdicts.json

Campaign ids are ``c<campaign>-<n>`` (see mutate.py); every result goes to a
JSON-lines log (``--log``), each disagreement is saved under
fixtures/conformance/ as ``<id>.snap`` (or ``.tar``) with ``<id>.json`` beside
it (at most ``--per-signature`` files per group of alike disagreements), and
the figures are printed at the end (and every ``--progress`` mutations).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import compare as C
from . import known as K
from . import mutate as M

HERE = Path(__file__).resolve().parent
OUT = M.REPO / "fixtures" / "conformance"  # --out changes it
VERDICTS = HERE / "verdicts.json"


def _safe(mid: str) -> str:
    return mid.replace("/", "__")


def judge(mid: str, tmpdir: str) -> dict:
    """Generate one mutation and run the oracle on it (thread-safe)."""
    m = M.make(mid)
    path = Path(tmpdir) / (_safe(mid) + (".tar" if m.plain else ".snap"))
    path.write_bytes(m.data)
    t = time.time()
    try:
        nomad = C.run_oracle(path, m.plain)
        err = None
    except Exception as exc:  # noqa: BLE001 - recorded, not fatal
        nomad, err = None, repr(exc)
    return {"id": mid, "m": m, "path": path, "nomad": nomad, "oracle_error": err, "oracle_s": time.time() - t}


def save_disagreement(m: M.Mutation, nomad: dict, snap: dict, diff: list[str], sig: str) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    ext = ".tar" if m.plain else ".snap"
    base = OUT / _safe(m.id)
    base.with_suffix(ext).write_bytes(m.data)
    note = {
        "id": m.id,
        "class": m.cls,
        "op": m.op,
        "seed": m.seed,
        "plain_tar": m.plain,
        "note": m.note,
        "sha256": m.sha256,
        "differs_in": diff,
        "signature": sig,
        "nomad": nomad,
        "snaptool": snap,
        "regenerate": f"python -m tests.conformance.mutate '{m.id}' -o FILE",
    }
    base.with_suffix(".json").write_text(json.dumps(note, indent=1) + "\n")
    return base.with_suffix(ext)


def campaign(a: argparse.Namespace) -> int:
    ids = [f"c{a.campaign}-{n}" for n in range(a.start, a.start + a.count)]
    stats = Counter()
    by_class = defaultdict(Counter)
    sigs: dict[str, dict] = {}
    findings = defaultdict(Counter)  # known finding (or "NEW") -> class -> count
    saved = Counter()
    t0 = time.time()
    log = open(a.log, "a") if a.log else None
    known = set()
    if OUT.is_dir():
        for p in OUT.glob("*.json"):
            try:
                known.add(json.loads(p.read_text())["signature"])
            except Exception:  # noqa: BLE001
                pass
    with tempfile.TemporaryDirectory() as td, ThreadPoolExecutor(a.jobs) as ex:
        for i, res in enumerate(ex.map(lambda x: judge(x, td), ids), 1):
            m: M.Mutation = res["m"]
            stats["total"] += 1
            if res["nomad"] is None:
                stats["oracle_error"] += 1
                by_class[m.cls]["oracle_error"] += 1
                if log:
                    log.write(json.dumps({"id": m.id, "oracle_error": res["oracle_error"]}) + "\n")
                res["path"].unlink(missing_ok=True)
                continue
            seed = M.seeds()[m.seed]
            snap = C.run_snaptool(res["path"], m.plain)
            res["path"].unlink(missing_ok=True)
            diff = C.compare(res["nomad"], snap, seed.nomad_state)
            by_class[m.cls]["total"] += 1
            if diff:
                stats["disagree"] += 1
                by_class[m.cls]["disagree"] += 1
                sig = C.signature(m.cls, diff, res["nomad"], snap)
                findings[K.classify(res["nomad"], snap, diff) or "NEW"][m.cls] += 1
                g = sigs.setdefault(sig, {"count": 0, "examples": []})
                g["count"] += 1
                if len(g["examples"]) < 5:
                    g["examples"].append(m.id)
                if saved[sig] < a.per_signature and (sig not in known or saved[sig] == 0 and a.resave):
                    save_disagreement(m, res["nomad"], snap, diff, sig)
                    saved[sig] += 1
            else:
                stats["agree"] += 1
                by_class[m.cls]["agree"] += 1
            if log:
                log.write(json.dumps({"id": m.id, "cls": m.cls, "seed": m.seed, "sha256": m.sha256,
                                      "nomad_ok": res["nomad"]["ok"], "nomad_layer": C.nomad_layer(res["nomad"]),
                                      "snaptool_ok": snap["ok"], "diff": diff}) + "\n")
            if a.progress and i % a.progress == 0:
                print(f"[{i}/{len(ids)}] {time.time() - t0:.0f}s agree={stats['agree']} "
                      f"disagree={stats['disagree']} groups={len(sigs)}", flush=True)
    elapsed = time.time() - t0
    if log:
        log.close()
    summary = {
        "campaign": a.campaign,
        "ids": f"c{a.campaign}-{a.start} .. c{a.campaign}-{a.start + a.count - 1}",
        "total": stats["total"],
        "agree": stats["agree"],
        "disagree": stats["disagree"],
        "oracle_errors": stats["oracle_error"],
        "seconds": round(elapsed, 1),
        "jobs": a.jobs,
        "by_class": {k: dict(v) for k, v in sorted(by_class.items())},
        "by_finding": {k: dict(v) for k, v in sorted(findings.items())},
        "groups": dict(sorted(sigs.items(), key=lambda kv: -kv[1]["count"])),
    }
    print(json.dumps(summary, indent=1))
    if a.summary:
        Path(a.summary).write_text(json.dumps(summary, indent=1) + "\n")
    return 0


def build_ci(a: argparse.Namespace) -> int:
    """Run the oracle on the fixed CI set and store its verdicts."""
    ids = M.ci_ids()
    if a.limit:
        ids = ids[: a.limit]
    out = {}
    t0 = time.time()
    with tempfile.TemporaryDirectory() as td, ThreadPoolExecutor(a.jobs) as ex:
        for i, res in enumerate(ex.map(lambda x: judge(x, td), ids), 1):
            m = res["m"]
            res["path"].unlink(missing_ok=True)
            if res["nomad"] is None:
                print("oracle error", m.id, res["oracle_error"], file=sys.stderr)
                continue
            out[m.id] = {"sha256": m.sha256, "class": m.cls, "seed": m.seed, "plain_tar": m.plain,
                         "note": m.note, "nomad": res["nomad"]}
            if i % 200 == 0:
                print(f"[{i}/{len(ids)}] {time.time() - t0:.0f}s", flush=True)
    doc = {
        "about": "Nomad's own verdicts (tests/oracle) on the fixed conformance set; "
                 "rebuild with: python -m tests.conformance.campaign --ci",
        "oracle": C.oracle_info(),
        "seeds": {n: {"sha256": s.sha256, "origin": json.loads(M.seeds_file().read_text())[n]["origin"]}
                  for n, s in sorted(M.seeds().items()) if s.ci},
        "seconds": round(time.time() - t0, 1),
        "mutations": out,
    }
    VERDICTS.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
    print(f"{len(out)} verdicts written to {VERDICTS} in {time.time() - t0:.0f}s")
    return 0


def main() -> int:
    global OUT
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--campaign", default="1")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--log", default=None, help="JSON-lines log of every result")
    ap.add_argument("--summary", default=None, help="write the figures here as JSON")
    ap.add_argument("--per-signature", type=int, default=2)
    ap.add_argument("--out", default=None, help="where disagreements go (default fixtures/conformance)")
    ap.add_argument("--resave", action="store_true", help="save again for groups already under fixtures/conformance")
    ap.add_argument("--progress", type=int, default=500)
    ap.add_argument("--ci", action="store_true", help="rebuild verdicts.json for the fixed CI set")
    ap.add_argument("--limit", type=int, default=0)
    a = ap.parse_args()
    if a.out:
        OUT = Path(a.out)
    if not C.oracle_available():
        print(f"no oracle at {C.ORACLE}: run tests/oracle/build.sh", file=sys.stderr)
        return 2
    return build_ci(a) if a.ci else campaign(a)


if __name__ == "__main__":
    sys.exit(main())
