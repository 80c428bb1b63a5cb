#!/usr/bin/env python3
"""Time and peak memory of ``snaptool diff`` on two large generated archives.

    python benchmarks/bench_diff.py                    # 16 MiB of state, quick
    python benchmarks/bench_diff.py --state-mib 64
    python benchmarks/bench_diff.py --state-mib 512    # the full case (minutes)

Archive A holds Nomad-shaped records (jobs, job versions, summaries,
evaluations, allocations with a nested job-like map, Index records; times as
15-byte Go time values, signed ints as Go writes them). B is A with
``--change-pct`` of the records changed in one field, half that many removed
and half added, and every type's records in a different order. Both are
written streaming (no archive is held in memory).

Each measured run is a fresh child process (``snaptool.diff.diff`` plus the
JSON rendering, written to /dev/null); the parent reads the child's peak RSS
with ``resource.getrusage(RUSAGE_CHILDREN)``. For scale, one plain scan of B
(the inflate, tar and record framing every command pays) is measured the same
way, and so is the baseline of issue 10: a bare decode of both state.bins
(``msgpack.Unpacker`` with the record walker's options, one process), with
the ratio diff / baseline printed last.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
import struct
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import msgpack

from snaptool.format.gzip import GO_HEADER
from snaptool.format.tar import BLOCK, go_header

YEAR1 = 62135596800


def go_time(unix: float) -> str:
    secs = int(unix)
    raw = b"\x01" + struct.pack(">qih", secs + YEAR1, int((unix - secs) * 1e9), -1)
    return raw.decode("utf-8", "surrogateescape")


def pack(v: object) -> bytes:
    return msgpack.packb(v, use_bin_type=False, unicode_errors="surrogateescape")


def job(rng: random.Random, ns: str, jid: str, version: int) -> dict:
    return {
        "Stop": False, "Region": "global", "Namespace": ns, "ID": jid, "ParentID": "", "Name": jid,
        "Type": "service", "Priority": 50, "AllAtOnce": False, "Datacenters": ["dc1", "dc2"],
        "NodePool": "default", "Constraints": None, "Affinities": None, "Spreads": None,
        "TaskGroups": [
            {"Name": f"g{g}", "Count": rng.randint(1, 9),
             "Update": {"Stagger": 30_000_000_000, "MaxParallel": 1, "HealthCheck": "checks",
                        "MinHealthyTime": 10_000_000_000, "HealthyDeadline": 300_000_000_000},
             "Tasks": [{"Name": "main", "Driver": "docker",
                        "Config": {"image": f"registry.example/{jid}:{version}", "ports": ["http"]},
                        "Env": {"MODE": "prod", "LEVEL": str(rng.randint(0, 9))},
                        "Resources": {"CPU": 500, "MemoryMB": 256, "MemoryMaxMB": 0},
                        "Meta": {"team": f"t{rng.randint(0, 20)}"}}],
             "Networks": [{"Mode": "bridge", "DynamicPorts": [{"Label": "http", "To": 8080}]}]}
            for g in range(2)
        ],
        "Meta": {"rev": str(version), "owner": "bench"}, "Status": "running",
        "Version": version, "SubmitTime": 1_796_316_455_000_000_000 + version,
        "CreateIndex": 100, "ModifyIndex": 100 + version, "JobModifyIndex": 100 + version,
    }


def records(rng: random.Random, target: int):
    """(type, value) pairs until about ``target`` bytes were yielded."""
    done = 0
    n = 0
    now = 1_796_316_455.0
    while done < target:
        ns = f"ns{n % 7}"
        jid = f"job-{n:07d}"
        out = [(1, job(rng, ns, jid, 2)), (9, job(rng, ns, jid, 1)), (9, job(rng, ns, jid, 2)),
               (7, {"JobID": jid, "Namespace": ns, "Summary": {"g0": {"Running": 2, "Queued": 0}},
                    "CreateIndex": 100, "ModifyIndex": 120})]
        for e in range(3):
            out.append((3, {"ID": str(uuid.UUID(int=rng.getrandbits(128))), "Namespace": ns,
                            "Priority": 50, "Type": "service", "TriggeredBy": "job-register",
                            "JobID": jid, "Status": "complete", "CreateIndex": 120 + e,
                            "ModifyIndex": 130 + e, "CreateTime": 1_796_316_455_000_000_000 + e,
                            "ModifyTime": 1_796_316_456_000_000_000 + e}))
        for a in range(5):
            out.append((4, {"ID": str(uuid.UUID(int=rng.getrandbits(128))), "Namespace": ns,
                            "EvalID": str(uuid.UUID(int=rng.getrandbits(128))),
                            "Name": f"{jid}.g0[{a}]", "NodeID": str(uuid.UUID(int=rng.getrandbits(128))),
                            "JobID": jid, "TaskGroup": "g0", "DesiredStatus": "run",
                            "ClientStatus": "running",
                            "TaskStates": {"main": {"State": "running", "Failed": False,
                                                    "StartedAt": go_time(now + a),
                                                    "FinishedAt": go_time(0 - YEAR1),
                                                    "Events": [{"Type": "Started", "Time": now + a}]}},
                            "AllocatedResources": {"Tasks": {"main": {"Cpu": {"CpuShares": 500},
                                                                      "Memory": {"MemoryMB": 256}}}},
                            "CreateIndex": 140 + a, "ModifyIndex": 150 + a,
                            "CreateTime": 1_796_316_457_000_000_000 + a}))
        for t, v in out:
            raw = pack(v)
            done += len(raw) + 1
            yield t, raw
        n += 1


def write_archive(path: Path, recs, tmpdir: Path) -> tuple[int, int]:
    """Stream ``recs`` into a Nomad-shaped archive; returns (records, state bytes)."""
    state_path = tmpdir / (path.name + ".state")
    h = hashlib.sha256()
    size = 0
    count = 0
    with open(state_path, "wb") as f:
        f.write(b"\x80")
        h.update(b"\x80")
        size = 1
        for t, raw in recs:
            chunk = bytes([t]) + raw
            f.write(chunk)
            h.update(chunk)
            size += len(chunk)
            count += 1
    meta = json.dumps({"Version": 1, "ID": "2-1000-1796316455000", "Index": 1000, "Term": 2,
                       "Peers": "ka8xMjcuMC4wLjE6NDY0Nw==",
                       "Configuration": {"Servers": [{"Suffrage": 0, "ID": "s1",
                                                      "Address": "127.0.0.1:4647"}]},
                       "ConfigurationIndex": 1, "Size": size}, separators=(",", ":")).encode() + b"\n"
    sums = (f"{hashlib.sha256(meta).hexdigest()}  meta.json\n"
            f"{h.hexdigest()}  state.bin\n").encode()
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    crc = 0
    total = 0
    with open(path, "wb") as out:
        out.write(GO_HEADER)

        def put(data: bytes) -> None:
            nonlocal crc, total
            crc = zlib.crc32(data, crc)
            total += len(data)
            out.write(comp.compress(data))

        for name, data in (("meta.json", meta),):
            put(go_header(name, len(data), 1_796_316_455) + data + bytes((-len(data)) % BLOCK))
        put(go_header("state.bin", size, 1_796_316_455))
        with open(state_path, "rb") as f:
            while chunk := f.read(1 << 20):
                put(chunk)
        put(bytes((-size) % BLOCK))
        put(go_header("SHA256SUMS", len(sums), 1_796_316_455) + sums + bytes((-len(sums)) % BLOCK))
        put(bytes(2 * BLOCK))
        out.write(comp.flush())
        out.write(struct.pack("<II", crc, total & 0xFFFFFFFF))
    state_path.unlink()
    return count, size


def changed(rng: random.Random, recs, pct: float):
    """B's records: some changed, some removed, some added; each type reordered."""
    by_type: dict[int, list[bytes]] = {}
    stats = {"changed": 0, "removed": 0, "added": 0}
    for t, raw in recs:
        roll = rng.random() * 100
        if roll < pct and t != 2:
            v = msgpack.unpackb(raw, raw=False, unicode_errors="surrogateescape")
            v["ModifyIndex"] = v.get("ModifyIndex", 0) + 1000
            raw = pack(v)
            stats["changed"] += 1
        elif roll < pct * 1.5:
            stats["removed"] += 1
            continue
        elif roll < pct * 2:
            v = msgpack.unpackb(raw, raw=False, unicode_errors="surrogateescape")
            key = "JobID" if t == 7 else "ID"
            if key in v:
                by_type.setdefault(t, []).append(pack({**v, key: v[key] + "-new"}))
                stats["added"] += 1
        by_type.setdefault(t, []).append(raw)
    for t, group in by_type.items():
        group.reverse()
        for raw in group:
            yield t, raw
    print(f"  B: {stats}", file=sys.stderr)


CHILD = r"""
import json, os, resource, sys, time
sys.path.insert(0, {repo!r})
t0 = time.perf_counter()
if {mode!r} == "scan":
    from snaptool.stream.reader import scan
    r = scan({b!r})
    out = {{"records": r.state.records}}
elif {mode!r} == "decode":
    # the baseline of issue 10: a bare single-process decode of both state.bins
    # with the options of snaptool's record walker
    import tarfile, msgpack
    n = 0
    for path in ({a!r}, {b!r}):
        with tarfile.open(path, "r|gz") as tar:
            for member in tar:
                if member.name == "state.bin":
                    up = msgpack.Unpacker(tar.extractfile(member), raw=True, use_list=False,
                                          strict_map_key=False, max_buffer_size=1 << 28)
                    n += sum(1 for _ in up)
    out = {{"msgpack_values": n}}
else:
    from snaptool.diff import diff
    rep = diff({a!r}, {b!r}, fields={mode!r} == "diff")
    with open(os.devnull, "w") as f:
        json.dump(rep.to_dict(stat={mode!r} != "diff"), f)
    out = rep.summary()
out["seconds"] = round(time.perf_counter() - t0, 2)
out["self_peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
print(json.dumps(out))
"""


def measure(mode: str, a: Path, b: Path) -> dict:
    code = CHILD.format(repo=str(REPO), mode=mode, a=str(a), b=str(b))
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    before = usage0.ru_maxrss
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(p.stderr)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak = usage.ru_maxrss
    cpu = usage.ru_utime + usage.ru_stime - usage0.ru_utime - usage0.ru_stime
    result = json.loads(p.stdout)
    result["cpu_s"] = round(cpu, 2)
    # RUSAGE_CHILDREN's ru_maxrss is the largest child so far, so the child
    # also reports its own RUSAGE_SELF peak (the number to read).
    result.update(wall_s=round(wall, 2), children_peak_rss_mib=round(peak / 1024, 1),
                  peak_is_this_run=peak > before)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--state-mib", type=float, default=16, help="state.bin size of A (default 16)")
    ap.add_argument("--change-pct", type=float, default=1.0, help="percent of records changed")
    ap.add_argument("--dir", help="keep the archives here (default: a temp dir, removed)")
    ap.add_argument("--only", choices=["decode", "scan", "stat", "diff"],
                    help="measure one mode (peak RSS then belongs to it alone)")
    ap.add_argument("--generate", metavar="DIR", help=argparse.SUPPRESS)
    args = ap.parse_args()
    target = int(args.state_mib * (1 << 20))
    if args.generate:
        gen = Path(args.generate)
        t0 = time.perf_counter()
        count, size = write_archive(gen / "a.snap", records(random.Random(1), target), gen)
        write_archive(gen / "b.snap", changed(random.Random(2), records(random.Random(1), target),
                                              args.change_pct), gen)
        print(f"generated A: {count} records, {size / (1 << 20):.1f} MiB state, "
              f"{(gen / 'a.snap').stat().st_size / (1 << 20):.1f} MiB gzip; "
              f"B: {(gen / 'b.snap').stat().st_size / (1 << 20):.1f} MiB gzip "
              f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
        return

    tmp = Path(args.dir or tempfile.mkdtemp(prefix="bench-diff-"))
    tmp.mkdir(parents=True, exist_ok=True)
    a, b = tmp / "a.snap", tmp / "b.snap"
    try:
        if not a.exists() or not b.exists():
            # in a child: Linux carries ru_maxrss over fork and exec, so the
            # measuring parent must stay small
            subprocess.run([sys.executable, __file__, "--generate", str(tmp),
                            "--state-mib", str(args.state_mib), "--change-pct", str(args.change_pct)],
                           check=True)
        modes = [args.only] if args.only else ["decode", "scan", "stat", "diff"]
        results = {}
        for mode in modes:
            results[mode] = measure(mode, a, b)
            print(f"{mode:6s} {json.dumps(results[mode])}")
        if "decode" in results:
            base = results["decode"]["wall_s"]
            for mode in ("stat", "diff"):
                if mode in results:
                    r = results[mode]["wall_s"] / base
                    print(f"diff ({mode}) / bare decode of A and B: {r:.2f} (target <= 1.5) "
                          f"{'OK' if r <= 1.5 else 'MISSED'}")
    finally:
        if not args.dir:
            for p in (a, b):
                p.unlink(missing_ok=True)
            tmp.rmdir()


if __name__ == "__main__":
    main()
