"""Generate a Nomad-shaped archive with a state.bin of a given size.

Records are allocation-, evaluation-, job-summary- and job-like msgpack maps
with 15-byte Go time values written as old-spec raw strings, as Nomad writes
them; gzip at level 6 in one member with Go's header; USTAR headers as Go's
tar writer makes them. Deterministic for a given size and seed.

    python benchmarks/gen.py --state-mib 512 -o /tmp/big.snap
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import struct
import sys
import uuid
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from snaptool.format.gzip import GO_HEADER  # noqa: E402
from snaptool.format.sums import canonical_line  # noqa: E402
from snaptool.format.tar import BLOCK, go_header  # noqa: E402

import msgpack  # noqa: E402


def _time(rng: random.Random) -> bytes:
    secs = 63_850_000_000 + rng.randrange(10_000_000)
    return b"\x01" + struct.pack(">qih", secs, rng.randrange(10**9), -1)


def _records(rng: random.Random):
    pack = msgpack.Packer(use_bin_type=False).pack
    while True:
        kind = rng.random()
        ident = str(uuid.UUID(int=rng.getrandbits(128)))
        if kind < 0.45:
            value = {
                "ID": ident, "Namespace": "default", "EvalID": ident, "Name": f"web.web[{rng.randrange(9)}]",
                "NodeID": ident, "JobID": f"job-{rng.randrange(5000)}", "TaskGroup": "web",
                "Resources": {"CPU": 500, "MemoryMB": 256, "DiskMB": 300},
                "DesiredStatus": "run", "ClientStatus": "running",
                "TaskStates": {"web": {"State": "running", "Failed": False, "Restarts": 0,
                                        "StartedAt": _time(rng), "FinishedAt": _time(rng),
                                        "Events": [{"Type": "Started", "Time": rng.getrandbits(60),
                                                    "Message": "Task started by client"}] * 3}},
                "CreateIndex": rng.randrange(1 << 20), "ModifyIndex": rng.randrange(1 << 20),
                "CreateTime": rng.getrandbits(60), "ModifyTime": rng.getrandbits(60),
            }
            yield 4, pack(value)
        elif kind < 0.75:
            value = {
                "ID": ident, "Namespace": "default", "Priority": 50, "Type": "service",
                "TriggeredBy": "job-register", "JobID": f"job-{rng.randrange(5000)}",
                "Status": "complete", "WaitUntil": _time(rng), "CreateIndex": rng.randrange(1 << 20),
                "ModifyIndex": rng.randrange(1 << 20), "CreateTime": rng.getrandbits(60),
            }
            yield 3, pack(value)
        elif kind < 0.9:
            value = {"JobID": f"job-{rng.randrange(5000)}", "Namespace": "default",
                     "Summary": {"web": {"Queued": 0, "Complete": 1, "Failed": 0, "Running": 2,
                                         "Starting": 0, "Lost": 0, "Unknown": 0}},
                     "Children": None, "CreateIndex": rng.randrange(1 << 20), "ModifyIndex": 7}
            yield 7, pack(value)
        else:
            value = {"ID": f"job-{rng.randrange(5000)}", "Namespace": "default", "Name": "web",
                     "Type": "service", "Priority": 50, "Datacenters": ["dc1"],
                     "TaskGroups": [{"Name": "web", "Count": 3, "Tasks": [{"Name": "web", "Driver": "docker",
                                     "Config": {"image": "nginx:1.25", "ports": ["http"]}}]}],
                     "Payload": bytes(rng.getrandbits(8) for _ in range(24)), "SubmitTime": rng.getrandbits(60),
                     "Version": rng.randrange(10), "CreateIndex": 1, "ModifyIndex": 2, "JobModifyIndex": 2}
            yield 1, pack(value)


def generate(out: Path, state_bytes: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    parts = [b"\x80"]
    size = 1
    for kind, value in _records(rng):
        if size + 1 + len(value) > state_bytes:
            break
        parts.append(bytes([kind]) + value)
        size += 1 + len(value)
    state = b"".join(parts)
    meta = json.dumps({
        "Version": 1, "ID": "2-1000-1700000000000", "Index": 1000, "Term": 2, "Peers": "wA==",
        "Configuration": {"Servers": [{"Suffrage": 0, "ID": "a", "Address": "127.0.0.1:4647"}]},
        "ConfigurationIndex": 1, "Size": len(state)}, separators=(",", ":")).encode() + b"\n"
    sums = b"".join(canonical_line(hashlib.sha256(d).digest(), n) for n, d in (("meta.json", meta), ("state.bin", state)))
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    crc = 0
    length = 0
    with open(out, "wb") as f:
        f.write(GO_HEADER)
        def put(data: bytes) -> None:
            nonlocal crc, length
            crc = zlib.crc32(data, crc)
            length += len(data)
            f.write(comp.compress(data))
        for name, data in (("meta.json", meta), ("state.bin", state), ("SHA256SUMS", sums)):
            put(go_header(name, len(data), 1700000000))
            for i in range(0, len(data), 1 << 22):
                put(data[i : i + (1 << 22)])
            put(bytes((-len(data)) % BLOCK))
        put(bytes(2 * BLOCK))
        f.write(comp.flush())
        f.write(struct.pack("<II", crc, length & 0xFFFFFFFF))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--state-mib", type=float, default=64)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-o", "--out", type=Path, required=True)
    args = ap.parse_args()
    generate(args.out, int(args.state_mib * (1 << 20)), args.seed)
    print(args.out, args.out.stat().st_size)


if __name__ == "__main__":
    main()
