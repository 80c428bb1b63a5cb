"""Gzip bombs: snaptool refuses them in bounded memory.

    python benchmarks/bomb.py                # 10 GiB of zeros, and a state.bin bomb
    python benchmarks/bomb.py --gib 1        # quicker

Two bombs, each a small file that inflates to many GiB:

* ``zeros``: a gzip of N GiB of zero bytes (no tar at all). Go's tar reader
  sees two zero blocks, then Nomad counts the rest as unread bytes;
  snaptool counts up to its ``max_unread`` limit and stops.
* ``state``: a real archive whose state.bin tar header claims N GiB of zeros
  after a meta.json that says Size 16. snaptool stops the record walk at meta
  Size and only inflates and hashes the rest, as Nomad's reader would.

Prints wall time, peak RSS (the target is under 100 MiB) and the verdict.
"""

from __future__ import annotations

import argparse
import json
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from snaptool.format.gzip import GO_HEADER  # noqa: E402
from snaptool.format.tar import go_header  # noqa: E402

MIB = 1 << 20


def write_gzip(path: Path, pieces) -> None:  # type: ignore[no-untyped-def]
    comp = zlib.compressobj(1, zlib.DEFLATED, -15)
    crc = 0
    size = 0
    with open(path, "wb") as f:
        f.write(GO_HEADER)
        for piece in pieces:
            crc = zlib.crc32(piece, crc)
            size += len(piece)
            f.write(comp.compress(piece))
        f.write(comp.flush())
        f.write(struct.pack("<II", crc, size & 0xFFFFFFFF))


def zeros(n: int):  # type: ignore[no-untyped-def]
    block = bytes(16 * MIB)
    for _ in range(n // len(block)):
        yield block
    if n % len(block):
        yield bytes(n % len(block))


def pax_size_header(name: str, size: int) -> bytes:
    """A PAX 'x' header carrying ``size``, then the entry's USTAR header with
    size 0 (the shape Go uses above 8 GiB; field details not Go-exact)."""
    record = f" size={size}\n"
    length = len(record) + 2
    length = len(str(length)) + len(record)
    body = f"{length}{record}".encode()
    pax = bytearray(go_header(f"PaxHeaders.0/{name}", len(body), 0))
    pax[156] = ord("x")
    pax[148:156] = b" " * 8
    pax[148:156] = b"%06o\x00 " % sum(pax)
    return bytes(pax) + body + bytes((-len(body)) % 512) + go_header(name, 0, 0)


def state_bomb(n: int):  # type: ignore[no-untyped-def]
    meta = json.dumps({"Version": 1, "Size": 16}).encode() + b"\n"
    yield go_header("meta.json", len(meta), 0) + meta + bytes(512 - len(meta))
    yield pax_size_header("state.bin", n) if n >= 8**11 else go_header("state.bin", n, 0)
    yield b"\x80"
    yield from zeros(n - 1)  # state.bin is n bytes, as its header says


def run(path: Path) -> tuple[float, float, str]:
    code = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "p = subprocess.run([sys.executable, '-m', 'snaptool', 'verify', sys.argv[1]],"
        " capture_output=True, text=True)\n"
        "print(time.perf_counter() - t)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "print(p.stdout.splitlines()[0] if p.stdout else p.stderr.strip())\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    secs, rss, verdict = out.stdout.splitlines()[:3]
    return float(secs), int(rss) / 1024, verdict


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gib", type=float, default=10)
    args = ap.parse_args()
    n = int(args.gib * (1 << 30))
    tmp = Path(tempfile.mkdtemp(prefix="snaptool-bomb-"))
    try:
        _each(tmp, n, args.gib)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _each(tmp: Path, n: int, gib: float) -> None:
    for name, pieces in (("zeros", zeros(n)), ("state", state_bomb(n))):
        path = tmp / f"{name}.snap"
        t = time.perf_counter()
        write_gzip(path, pieces)
        made = time.perf_counter() - t
        secs, rss, verdict = run(path)
        print(f"{name}: {path.stat().st_size / MIB:.1f} MiB inflating to {gib} GiB "
              f"(made in {made:.0f} s): verify {secs:.1f} s, peak RSS {rss:.1f} MiB "
              f"({'OK' if rss < 100 else 'OVER'} < 100 MiB)\n  {verdict}")
        path.unlink()


if __name__ == "__main__":
    main()
