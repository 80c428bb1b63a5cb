"""Time ``snaptool state`` against a bare msgpack decode, side by side.

    python benchmarks/bench_state.py                          # 64 MiB of state, 3 rounds
    python benchmarks/bench_state.py --archive /tmp/a512.snap --rounds 3
    python benchmarks/bench_state.py --state-mib 512 --one-process

The baseline is one process that inflates the archive (stdlib gzip) and
decodes every record of state.bin with one ``msgpack.Unpacker`` and the
options snaptool's record walker uses (``raw=True, use_list=False,
strict_map_key=False``); the decode to ``str`` (``raw=False``) is shown too.
Every command runs as its own process, in shuffled order within each round;
the table shows medians and each command's ratio to the baseline (issue #10
asks for at most 1.5). ``--one-process`` adds the rows with
``SNAPTOOL_JOBS=1`` (no worker processes).

Peak memory, measured in one more run of each command: the largest single
process (``ru_maxrss`` of ``RUSAGE_CHILDREN``, exact) and the largest sum
over the process tree (VmRSS sampled every 5 ms; pages a fork shares count
twice, so that sum overstates). Shared machines are noisy: trust ratios from
one run, not the seconds.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PY = sys.executable

BARE_DECODE = r"""
import sys, gzip, msgpack
with gzip.open(sys.argv[1]) as f:
    f.read(1536)  # meta.json header + data block (small), then state.bin header
    up = msgpack.Unpacker(f, raw=RAW, use_list=False, strict_map_key=False,
                          max_buffer_size=1 << 28, **EXTRA)
    n = 0
    for _ in up:
        n += 1
print(n)
"""

RSS = r"""
import os, resource, subprocess, sys, time

def tree_rss(pid):
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                total += next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (OSError, StopIteration):
            pass
    return total

proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
peak = 0
while proc.poll() is None:
    peak = max(peak, tree_rss(proc.pid))
    time.sleep(0.005)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, peak)
"""

BASELINE = "bare decode (walker's options)"


def _bare(raw: bool) -> str:
    extra = "{}" if raw else '{"unicode_errors": "surrogateescape"}'
    return BARE_DECODE.replace("RAW", str(raw)).replace("EXTRA", extra)


def _env(jobs: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("SNAPTOOL_JOBS", None)
    if jobs is not None:
        env["SNAPTOOL_JOBS"] = jobs
    return env


def _time(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    return elapsed


def _rss_mib(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(largest process, largest sum over the process tree), MiB."""
    out = subprocess.run([PY, "-c", RSS, *cmd], env=env, capture_output=True, text=True, check=True)
    one, tree = out.stdout.split()
    return int(one) / 1024, int(tree) / 1024


def _commands(archive: Path, one_process: bool) -> dict[str, tuple[list[str], str | None]]:
    snaptool = [PY, "-m", "snaptool", "state"]
    commands: dict[str, tuple[list[str], str | None]] = {
        BASELINE: ([PY, "-c", _bare(True), str(archive)], None),
        "bare decode (raw=False)": ([PY, "-c", _bare(False), str(archive)], None),
        "snaptool state": ([*snaptool, str(archive)], None),
        "snaptool state --document": ([*snaptool, "--document", str(archive)], None),
    }
    if one_process:
        commands["state, SNAPTOOL_JOBS=1"] = ([*snaptool, str(archive)], "1")
        commands["state --document, JOBS=1"] = ([*snaptool, "--document", str(archive)], "1")
    return commands


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--state-mib", type=float, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--archive", type=Path, help="use this archive instead of generating one")
    ap.add_argument("--one-process", action="store_true", help="also time SNAPTOOL_JOBS=1")
    args = ap.parse_args()
    rounds = max(3, args.rounds)
    with tempfile.TemporaryDirectory(prefix="bench-state-") as tmp:
        archive = args.archive
        if archive is None:
            archive = Path(tmp) / "a.snap"
            subprocess.run(
                [PY, str(HERE / "gen.py"), "--state-mib", str(args.state_mib), "-o", str(archive)],
                check=True, stdout=subprocess.DEVNULL,
            )
        commands = _commands(archive, args.one_process)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(rounds):
            order = list(commands)
            random.shuffle(order)
            for name in order:
                cmd, jobs = commands[name]
                times[name].append(_time(cmd, _env(jobs)))
        rss = {name: _rss_mib(cmd, _env(jobs)) for name, (cmd, jobs) in commands.items()}
        size = archive.stat().st_size
    med = {name: statistics.median(values) for name, values in times.items()}
    base = med[BASELINE]
    print(f"archive: {archive} ({size / 2**20:.1f} MiB compressed), {rounds} rounds, medians; "
          f"{os.cpu_count()} CPUs")
    print(f"{'command':<30}{'median s':>10}{'x baseline':>12}{'RSS MiB':>10}{'tree MiB':>10}")
    for name, value in med.items():
        one, tree = rss[name]
        print(f"{name:<30}{value:>10.2f}{value / base:>12.2f}{one:>10.0f}{tree:>10.0f}")
    for name in ("snaptool state", "snaptool state --document"):
        verdict = "met" if med[name] / base <= 1.5 else "missed"
        print(f"target {name} <= 1.5 x baseline: {verdict} ({med[name] / base:.2f})")


if __name__ == "__main__":
    main()
