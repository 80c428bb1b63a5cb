"""Live restores: accepted archives into a fresh real Nomad 1.6.1 agent.

    PYTHONPATH=. python -m tests.conformance.live_restore [--sample 10] [--json OUT]

For a deterministic sample of the fixed set that both Nomad's oracle and
snaptool accept, plus the minimal reproducers under fixtures/conformance/ that
the oracle accepts and snaptool does not (D2-D4), each archive is restored
into its own fresh agent (tests/nomadlive.py: loopback, random ports, temp
data dir, process group killed in ``finally``, bounded waits) with
``PUT /v1/operator/snapshot``. Checked: HTTP 200, the agent still runs and has
a leader a moment later, and ``/v1/jobs?namespace=*`` lists exactly the jobs
of the archive's Job records. With a type-20 (EventSink) record anywhere,
Nomad 1.6.1's FSM restore returns at that record before committing its
transaction, so the restore is a silent no-op: the fresh agent keeps its
empty state (found live: HTTP 200, 0 of 11 jobs), and that is what is expected.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import msgpack

from ..nomadlive import Agent, ApiError, nomad_binary
from . import mutate as M

HERE = Path(__file__).resolve().parent


def expected_jobs(data: bytes, plain: bool) -> list[str]:
    tar = data if plain else M.gunzip_all(data)
    entries, _ = M.parse_tar(tar)
    state = b"".join(e.data for e in entries if e.name == "state.bin")
    h = M.mp_end(state, 0)
    i, jobs = h, []
    while i < len(state):
        t = state[i]
        if t == 20:
            return []  # restore returns before Commit(): nothing is replaced
        e = M.mp_end(state, i + 1)
        if t == 1:
            v = msgpack.unpackb(state[i + 1 : e], raw=False, unicode_errors="surrogateescape", strict_map_key=False)
            jobs.append(f"{v.get('Namespace') or 'default'}/{v['ID']}")
        i = e
    return sorted(jobs)


def restore_one(binary: Path, data: bytes, plain: bool) -> dict:
    out: dict = {}
    agent = Agent(binary, leader_timeout=60)
    try:
        agent.start()
        agent.wait_leader()
        t = time.monotonic()
        try:
            out["status"] = agent.restore(data, timeout=60)
        except ApiError as e:
            out["status"] = e.status
            out["error"] = str(e)[:300]
        out["restore_s"] = round(time.monotonic() - t, 2)
        time.sleep(2)
        out["alive"] = agent.alive()
        if out["alive"]:
            agent.wait_leader()
            out["leader"] = agent.get("/v1/status/leader")
            out["jobs"] = sorted(f"{j.get('Namespace', 'default')}/{j['ID']}" for j in agent.get("/v1/jobs?namespace=*"))
        else:
            out["log"] = agent.log_tail(15)
    except Exception as exc:  # noqa: BLE001 - reported
        out["exception"] = repr(exc)[:300]
        out["alive"] = agent.alive()
        out["log"] = agent.log_tail(15)
    finally:
        agent.stop()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sample", type=int, default=10)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    binary = nomad_binary("v1.6.1")
    if binary is None:
        print("no Nomad v1.6.1 binary (tests/harness/build_nomad.sh)", file=sys.stderr)
        return 2
    doc = json.loads((HERE / "verdicts.json").read_text())["mutations"]
    known = {m for f in json.loads((HERE / "known.json").read_text()).values() for m in f["ids"]}
    ok = [mid for mid, e in doc.items()
          if e["nomad"]["ok"] and mid not in known and e["seed"] in M.seeds() and M.seeds()[e["seed"]].deep]
    step = max(1, len(ok) // a.sample)
    items = [(mid, M.make(mid).data, False) for mid in ok[::step][: a.sample]]
    # Type 20 in the middle: the oracle says the restore succeeds and stops there; check the
    # live agent has only the jobs before it.
    d2 = json.loads((HERE / "known.json").read_text())["D2-type20-abort"]["ids"]
    items += [(mid, M.make(mid).data, False) for mid in d2 if "(middle)" in doc[mid]["note"]][:2]
    for note in sorted((M.REPO / "fixtures" / "conformance").glob("D*.json")):
        d = json.loads(note.read_text())
        if d["nomad_v1.6.1"]["ok"]:
            items.append((note.stem, note.with_name(d["file"]).read_bytes(), False))
    results = {}
    good = 0
    for name, data, plain in items:
        want = expected_jobs(data, plain)
        r = restore_one(binary, data, plain)
        r["expected_jobs"] = len(want)
        r["ok"] = r.get("status") == 200 and r.get("alive") and bool(r.get("leader")) and r.get("jobs") == want
        good += bool(r["ok"])
        results[name] = r
        print(f"{name}: status={r.get('status')} alive={r.get('alive')} jobs={len(r.get('jobs') or [])}/{len(want)} "
              f"{'OK' if r['ok'] else 'FAIL ' + str({k: r.get(k) for k in ('error', 'exception', 'log')})[:400]}", flush=True)
    print(f"{good}/{len(items)} restored and healthy with the archive's jobs")
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1) + "\n")
    return 0 if good == len(items) else 1


if __name__ == "__main__":
    sys.exit(main())
