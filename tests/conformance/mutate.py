"""Deterministic mutation generator for the conformance tests (issue #4).

Every mutation is named by a stable id and is rebuilt from it alone:

* systematic ids ``<op>/<seed>/<k>`` (the fixed CI set enumerates these);
* campaign ids ``c<campaign>-<n>``, which pick an op, a seed and a ``k``
  from a hash of the id.

Nothing here uses snaptool: the generator has its own tar, gzip, SHA256SUMS
and msgpack-framing code, so a bug in snaptool cannot hide in the mutations.
Randomness comes from SHA-256 of the id (not Python's ``random``), and every
re-compression uses stored deflate blocks written here (not zlib's
compressor), so the bytes do not depend on the Python or zlib version.

Run ``python -m tests.conformance.mutate --list`` for the ops and seeds, or
``python -m tests.conformance.mutate ID -o FILE`` to write one mutation.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("SNAPTOOL_SHARED", REPO.parent / "shared"))

#: Where seed files are looked for, in order; a seed is found by its sha256.
SEED_DIRS = [
    REPO / "fixtures" / "genuine",
    REPO / "fixtures" / "synthetic",
    SHARED / "cases",
    SHARED / "corpus" / "real",
]

MEMBERS = ("meta.json", "state.bin", "SHA256SUMS")
GO_GZIP_HEADER = bytes.fromhex("1f8b08000000000000ff")


# --------------------------------------------------------------------------
# randomness


class Rng:
    """A small PRNG from SHA-256 in counter mode: stable across Pythons."""

    def __init__(self, key: str) -> None:
        self.key = key.encode()
        self.n = 0
        self.buf = b""

    def _bytes(self, k: int) -> bytes:
        while len(self.buf) < k:
            self.buf += hashlib.sha256(self.key + b"#" + str(self.n).encode()).digest()
            self.n += 1
        out, self.buf = self.buf[:k], self.buf[k:]
        return out

    def below(self, n: int) -> int:
        if n <= 0:
            raise ValueError("below(0)")
        return int.from_bytes(self._bytes(8), "big") % n

    def between(self, lo: int, hi: int) -> int:
        """lo..hi inclusive."""
        return lo + self.below(hi - lo + 1)

    def choice(self, seq):
        return seq[self.below(len(seq))]

    def chance(self, p: float) -> bool:
        return self.below(1 << 30) < p * (1 << 30)

    def bytes(self, k: int) -> bytes:
        return self._bytes(k)


# --------------------------------------------------------------------------
# containers: gzip (stored deflate), USTAR


def stored_deflate(data: bytes) -> bytes:
    out = bytearray()
    if not data:
        return b"\x01\x00\x00\xff\xff"
    for i in range(0, len(data), 65535):
        chunk = data[i : i + 65535]
        final = 1 if i + 65535 >= len(data) else 0
        out += bytes([final]) + struct.pack("<HH", len(chunk), len(chunk) ^ 0xFFFF) + chunk
    return bytes(out)


def gzip_member(data: bytes, header: bytes = GO_GZIP_HEADER, body: bytes | None = None) -> bytes:
    body = stored_deflate(data) if body is None else body
    return header + body + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


def gunzip_all(data: bytes) -> bytes:
    """Multi-member gunzip (for seeds only; raises on damage)."""
    out = bytearray()
    while data:
        d = zlib.decompressobj(31)
        out += d.decompress(data)
        if not d.eof:
            raise ValueError("truncated gzip")
        data = d.unused_data
    return bytes(out)


def deflate_body(gz: bytes) -> bytes:
    """The raw deflate bytes of a single-member gzip file with a 10-byte header."""
    d = zlib.decompressobj(-15)
    d.decompress(gz[10:])
    return gz[10 : len(gz) - len(d.unused_data)]


def ustar(
    name: bytes,
    size: int,
    mtime: int,
    *,
    mode: int = 0o600,
    uid: int = 0,
    gid: int = 0,
    typeflag: bytes = b"0",
    linkname: bytes = b"",
    magic: bytes = b"ustar\x00",
    version: bytes = b"00",
    uname: bytes = b"",
    gname: bytes = b"",
    prefix: bytes = b"",
    size_field: bytes | None = None,
    chksum_delta: int = 0,
) -> bytes:
    h = bytearray(512)
    h[0:100] = name[:100].ljust(100, b"\0")
    h[100:108] = b"%07o\0" % mode
    h[108:116] = b"%07o\0" % uid
    h[116:124] = b"%07o\0" % gid
    h[124:136] = size_field if size_field is not None else b"%011o\0" % size
    h[136:148] = b"%011o\0" % mtime
    h[148:156] = b" " * 8
    h[156:157] = typeflag
    h[157:257] = linkname[:100].ljust(100, b"\0")
    h[257:263] = magic
    h[263:265] = version
    h[265:297] = uname[:32].ljust(32, b"\0")
    h[297:329] = gname[:32].ljust(32, b"\0")
    h[329:337] = b"0000000\0"
    h[337:345] = b"0000000\0"
    h[345:500] = prefix[:155].ljust(155, b"\0")
    h[148:156] = b"%06o\0 " % (sum(h) + chksum_delta)
    return bytes(h)


def pad512(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 512)


def rechecksum(h: bytes) -> bytes:
    b = bytearray(h)
    b[148:156] = b" " * 8
    b[148:156] = b"%06o\0 " % sum(b)
    return bytes(b)


@dataclass
class Entry:
    name: str
    header: bytes  # 512 bytes as found (or built)
    data: bytes


def build_tar(entries: list[Entry], end_blocks: int = 2) -> bytes:
    out = bytearray()
    for e in entries:
        out += e.header + pad512(e.data)
    out += b"\0" * (512 * end_blocks)
    return bytes(out)


def parse_tar(tar: bytes) -> tuple[list[Entry], int]:
    """Plain USTAR parse of a seed; returns entries and the offset after them."""
    entries = []
    pos = 0
    while pos + 512 <= len(tar):
        h = tar[pos : pos + 512]
        if h == b"\0" * 512:
            break
        name = h[0:100].rstrip(b"\0").decode("utf-8", "replace")
        size = int(h[124:136].strip(b" \0") or b"0", 8)
        entries.append(Entry(name, h, tar[pos + 512 : pos + 512 + size]))
        pos += 512 + size + (-size % 512)
    return entries, pos


# --------------------------------------------------------------------------
# msgpack framing (lengths only)


class MsgpackError(Exception):
    pass


_FIXED = {0xC0: 1, 0xC2: 1, 0xC3: 1, 0xCA: 5, 0xCB: 9, 0xCC: 2, 0xCD: 3, 0xCE: 5,
          0xCF: 9, 0xD0: 2, 0xD1: 3, 0xD2: 5, 0xD3: 9, 0xD4: 3, 0xD5: 4, 0xD6: 6,
          0xD7: 10, 0xD8: 18}


def mp_end(b: bytes, i: int, starts: list | None = None) -> int:
    """Index after the msgpack value at ``i``; optionally collects value starts."""
    stack = [1]
    while stack:
        stack[-1] -= 1
        if stack[-1] < 0:
            stack.pop()
            continue
        if i >= len(b):
            raise MsgpackError("truncated")
        c = b[i]
        if starts is not None:
            starts.append(i)
        n = 0
        if c <= 0x7F or c >= 0xE0:
            i += 1
        elif c <= 0x8F:
            i += 1
            n = 2 * (c & 0xF)
        elif c <= 0x9F:
            i += 1
            n = c & 0xF
        elif c <= 0xBF:
            i += 1 + (c & 0x1F)
        elif c in _FIXED:
            i += _FIXED[c]
        elif c == 0xC1:
            raise MsgpackError("reserved 0xc1")
        elif c in (0xC4, 0xD9):
            i += 2 + _u(b, i + 1, 1)
        elif c in (0xC5, 0xDA):
            i += 3 + _u(b, i + 1, 2)
        elif c in (0xC6, 0xDB):
            i += 5 + _u(b, i + 1, 4)
        elif c == 0xC7:
            i += 3 + _u(b, i + 1, 1)
        elif c == 0xC8:
            i += 4 + _u(b, i + 1, 2)
        elif c == 0xC9:
            i += 6 + _u(b, i + 1, 4)
        elif c == 0xDC:
            n = _u(b, i + 1, 2)
            i += 3
        elif c == 0xDD:
            n = _u(b, i + 1, 4)
            i += 5
        elif c == 0xDE:
            n = 2 * _u(b, i + 1, 2)
            i += 3
        else:  # 0xDF
            n = 2 * _u(b, i + 1, 4)
            i += 5
        if i > len(b):
            raise MsgpackError("truncated")
        if n:
            stack.append(n)
    return i


def _u(b: bytes, i: int, k: int) -> int:
    if i + k > len(b):
        raise MsgpackError("truncated")
    return int.from_bytes(b[i : i + k], "big")


@dataclass
class Record:
    offset: int  # of the type byte
    type: int
    end: int  # after the value


def walk_state(state: bytes) -> tuple[int, list[Record]]:
    h = mp_end(state, 0)
    recs = []
    i = h
    while i < len(state):
        e = mp_end(state, i + 1)
        recs.append(Record(i, state[i], e))
        i = e
    return h, recs


# --------------------------------------------------------------------------
# seeds


@dataclass
class Seed:
    name: str
    sha256: str
    kind: str  # "snap" or "tar"
    #: the oracle (Nomad 1.6.1) accepts it: usable for meta/record classes.
    deep: bool
    #: its state.bin is Nomad's (not Consul's): overall verdicts are comparable.
    nomad_state: bool = True
    ci: bool = False
    path: Path | None = None
    raw: bytes = b""
    tar: bytes | None = None
    entries: list[Entry] = field(default_factory=list)
    tar_end: int = 0
    member: dict = field(default_factory=dict)  # name -> first entry
    records: list[Record] | None = None
    state_header: int = 0

    @property
    def plain(self) -> bool:
        return self.kind == "tar"

    @property
    def structured(self) -> bool:
        return self.tar is not None and all(m in self.member for m in MEMBERS)


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def load_seed(name: str, sha: str, kind: str, deep: bool, nomad_state: bool) -> Seed | None:
    for d in SEED_DIRS:
        if not d.is_dir():
            continue
        for p in sorted(d.iterdir()):
            if p.is_file() and p.suffix in (".snap", ".tar") and p.stat().st_size < 50_000_000:
                raw = p.read_bytes()
                if _sha(raw) == sha:
                    return _analyse(Seed(name, sha, kind, deep, nomad_state, path=p, raw=raw))
    return None


def _analyse(s: Seed) -> Seed:
    try:
        tar = s.raw if s.plain else gunzip_all(s.raw)
    except Exception:
        return s
    try:
        entries, end = parse_tar(tar)
    except Exception:
        return s
    s.tar, s.entries, s.tar_end = tar, entries, end
    for e in entries:
        s.member.setdefault(e.name, e)
    if s.deep and "state.bin" in s.member:
        s.state_header, s.records = walk_state(s.member["state.bin"].data)
    return s


_SEEDS: dict[str, Seed] | None = None


def seeds_file() -> Path:
    return Path(__file__).with_name("seeds.json")


def seeds() -> dict[str, Seed]:
    """Every seed listed in seeds.json that is present on this machine."""
    global _SEEDS
    if _SEEDS is None:
        table = json.loads(seeds_file().read_text())
        out = {}
        for name, info in table.items():
            s = load_seed(name, info["sha256"], info["kind"], info["deep"], info["nomad_state"])
            if s is not None:
                s.ci = info.get("ci", False)
                out[name] = s
        _SEEDS = out
    return _SEEDS


# --------------------------------------------------------------------------
# assembling variants of a seed


def sums_for(meta: bytes, state: bytes, order=("meta.json", "state.bin")) -> bytes:
    h = {"meta.json": _sha(meta), "state.bin": _sha(state)}
    return b"".join(b"%s  %s\n" % (h[n].encode(), n.encode()) for n in order)


def seed_sums_order(s: Seed) -> tuple[str, str]:
    sums = s.member["SHA256SUMS"].data
    return ("state.bin", "meta.json") if sums.find(b"state.bin") < sums.find(b"meta.json") else ("meta.json", "state.bin")


def set_size(meta: bytes, size: int) -> bytes:
    return re.sub(rb'"Size":-?\d+', b'"Size":%d' % size, meta, count=1)


def header_for(s: Seed, name: str, size: int, **kw) -> bytes:
    mtime = int(s.entries[0].header[136:148].strip(b" \0") or b"0", 8) if s.entries else 0
    return ustar(name.encode(), size, mtime, **kw)


def assemble(
    s: Seed,
    *,
    meta: bytes | None = None,
    state: bytes | None = None,
    sums: bytes | None = None,
    resum: bool = True,
    fix_size: bool = True,
    entries: list[tuple[str, bytes]] | None = None,
    end_blocks: int = 2,
) -> bytes:
    """A Go-shaped tar of the seed's members with some replaced.

    ``resum``: recompute SHA256SUMS (in the seed's line order) from the new
    members; ``fix_size``: set meta Size to the new state.bin length."""
    meta = s.member["meta.json"].data if meta is None else meta
    state = s.member["state.bin"].data if state is None else state
    if fix_size:
        meta = set_size(meta, len(state))
    if sums is None:
        sums = sums_for(meta, state, seed_sums_order(s)) if resum else s.member["SHA256SUMS"].data
    data = {"meta.json": meta, "state.bin": state, "SHA256SUMS": sums}
    if entries is None:
        entries = [(n, data[n]) for n in MEMBERS]
    else:
        entries = [(n, data[n] if d is None else d) for n, d in entries]
    es = [Entry(n, header_for(s, n, len(d)), d) for n, d in entries]
    return build_tar(es, end_blocks)


def wrap(s: Seed, tar: bytes) -> bytes:
    """The tar as the seed's kind: plain, or one Go-headed gzip member."""
    return tar if s.plain else gzip_member(tar)


# --------------------------------------------------------------------------
# mutations


@dataclass
class Mutation:
    id: str
    op: str
    cls: str
    seed: str
    data: bytes
    plain: bool
    note: str

    @property
    def sha256(self) -> str:
        return _sha(self.data)


class Skip(Exception):
    """This op does not apply to this seed."""


@dataclass
class Op:
    name: str
    cls: str
    fn: Callable[[Seed, Rng, int], tuple[bytes, str]]
    needs: str  # "any" | "structured" | "deep" | "gzip"
    variants: int  # systematic k values in the CI set per seed

    def applies(self, s: Seed) -> bool:
        if self.needs == "any":
            return True
        if self.needs == "gzip":
            return not s.plain and s.raw[:2] == b"\x1f\x8b" and s.tar is not None
        if self.needs == "structured":
            return s.structured
        if self.needs == "deep":
            return s.structured and s.deep and s.records is not None
        raise ValueError(self.needs)


OPS: dict[str, Op] = {}


def op(name: str, cls: str, needs: str, variants: int):
    def deco(fn):
        OPS[name] = Op(name, cls, fn, needs, variants)
        return fn

    return deco


def pick(k: int, options: list, rng: Rng):
    """The k-th option for small k (systematic), random beyond."""
    return options[k] if k < len(options) else rng.choice(options)


# ---- truncation at each layer boundary


@op("truncate.file", "truncate", "any", 6)
def _trunc_file(s: Seed, r: Rng, k: int):
    n = len(s.raw)
    if n == 0:
        raise Skip
    points = ["0", "1", "9", "10", "n-8", "n-4", "n-1", "mid"]
    p = pick(k, points, r)
    cut = {"0": 0, "1": 1, "9": 9, "10": 10, "n-8": n - 8, "n-4": n - 4, "n-1": n - 1}.get(p)
    if cut is None:
        cut = r.between(1, n - 1)
    cut = max(0, min(cut, n - 1))
    return s.raw[:cut], f"file cut to {cut} of {n} bytes ({p})"


def _tar_boundaries(s: Seed) -> list[tuple[str, int]]:
    out = []
    pos = 0
    for e in s.entries:
        out.append((f"{e.name} header start", pos))
        out.append((f"{e.name} header middle", pos + 256))
        out.append((f"{e.name} data start", pos + 512))
        if len(e.data) > 1:
            out.append((f"{e.name} data middle", pos + 512 + len(e.data) // 2))
        out.append((f"{e.name} data end", pos + 512 + len(e.data)))
        pos += 512 + len(e.data) + (-len(e.data) % 512)
    out.append(("first end block", s.tar_end))
    out.append(("inside first end block", s.tar_end + 100))
    out.append(("second end block", s.tar_end + 512))
    out.append(("inside second end block", s.tar_end + 700))
    return out


@op("truncate.tar", "truncate", "structured", 8)
def _trunc_tar(s: Seed, r: Rng, k: int):
    b = _tar_boundaries(s)
    where, cut = pick(k, b, r)
    if k >= len(b) and r.chance(0.5):
        cut = r.between(0, len(s.tar))
        where = "random"
    return wrap(s, s.tar[:cut]), f"tar cut at {cut} ({where}), re-wrapped"


@op("truncate.state", "truncate", "deep", 8)
def _trunc_state(s: Seed, r: Rng, k: int):
    st = s.member["state.bin"].data
    recs = s.records
    kinds = ["empty", "header-only", "record-boundary", "inside-type-byte", "mid-value", "last-byte-off", "mid-header", "random"]
    kind = pick(k, kinds, r)
    if kind == "empty":
        cut = 0
    elif kind == "header-only":
        cut = s.state_header
    elif kind == "record-boundary":
        cut = r.choice(recs).end
    elif kind == "inside-type-byte":
        cut = r.choice(recs).offset + 1
    elif kind == "mid-value":
        rec = r.choice(recs)
        cut = r.between(rec.offset + 2, rec.end - 1) if rec.end - rec.offset > 2 else rec.offset + 1
    elif kind == "last-byte-off":
        cut = len(st) - 1
    elif kind == "mid-header":
        cut = 0 if s.state_header == 1 else s.state_header - 1
    else:
        cut = r.between(0, len(st))
    return wrap(s, assemble(s, state=st[:cut])), f"state.bin cut to {cut} of {len(st)} ({kind}); sums and Size recomputed"


# ---- bit flips in each member


def _flip(b: bytes, pos: int, bit: int) -> bytes:
    m = bytearray(b)
    m[pos] ^= 1 << bit
    return bytes(m)


@op("bitflip.gzip", "bitflip", "gzip", 12)
def _flip_gzip(s: Seed, r: Rng, k: int):
    n = len(s.raw)
    regions = ["header", "deflate-start", "deflate", "deflate-end", "crc", "isize"]
    reg = pick(k % len(regions), regions, r) if k < 2 * len(regions) else r.choice(regions)
    lo, hi = {"header": (0, 9), "deflate-start": (10, 20), "deflate": (10, n - 9),
              "deflate-end": (n - 20, n - 9), "crc": (n - 8, n - 5), "isize": (n - 4, n - 1)}[reg]
    pos = r.between(lo, hi)
    bit = r.below(8)
    return _flip(s.raw, pos, bit), f"bit {bit} of compressed byte {pos} ({reg}) flipped"


@op("bitflip.tar-header", "bitflip", "structured", 9)
def _flip_tar_header(s: Seed, r: Rng, k: int):
    i = k % len(s.entries) if k < 3 * len(s.entries) else r.below(len(s.entries))
    off = sum(512 + len(e.data) + (-len(e.data) % 512) for e in s.entries[:i])
    fields = [(0, 100), (100, 124), (124, 136), (136, 148), (148, 156), (156, 157), (257, 265), (265, 345), (345, 500)]
    lo, hi = fields[(k // len(s.entries)) % len(fields)] if k < 3 * len(s.entries) else r.choice(fields)
    pos = off + r.between(lo, hi - 1)
    bit = r.below(8)
    return wrap(s, _flip(s.tar, pos, bit)), f"bit {bit} of {s.entries[i].name} header byte {pos - off} flipped (checksum not fixed)"


@op("bitflip.member", "bitflip", "structured", 9)
def _flip_member(s: Seed, r: Rng, k: int):
    """A flip in a member's data, sums left alone: the hash check must catch it."""
    name = MEMBERS[k % 3] if k < 9 else r.choice(MEMBERS)
    off = 0
    for e in s.entries:
        if e.name == name:
            break
        off += 512 + len(e.data) + (-len(e.data) % 512)
    d = s.member[name].data
    if not d:
        raise Skip
    pos = r.below(len(d))
    bit = r.below(8)
    return wrap(s, _flip(s.tar, off + 512 + pos, bit)), f"bit {bit} of {name} byte {pos} flipped, sums unchanged"


@op("bitflip.state-resummed", "records", "deep", 12)
def _flip_state_resummed(s: Seed, r: Rng, k: int):
    st = s.member["state.bin"].data
    pos = r.below(len(st))
    bit = r.below(8)
    return wrap(s, assemble(s, state=_flip(st, pos, bit))), f"bit {bit} of state.bin byte {pos} flipped; sums recomputed"


@op("bitflip.meta-resummed", "meta", "deep", 8)
def _flip_meta_resummed(s: Seed, r: Rng, k: int):
    m = s.member["meta.json"].data
    pos = r.below(len(m))
    bit = r.below(8)
    return wrap(s, assemble(s, meta=_flip(m, pos, bit), fix_size=False)), f"bit {bit} of meta.json byte {pos} flipped; sums recomputed"


# ---- gzip layer


@op("gzip.split", "gzip", "structured", 6)
def _gz_split(s: Seed, r: Rng, k: int):
    if s.plain:
        raise Skip
    n = len(s.tar)
    parts = pick(k, [2, 3, 2, 5, 2, 8], r)
    cuts = sorted({r.between(0, n) for _ in range(parts - 1)})
    if k == 2:
        cuts = [0]  # an empty first member
    if k == 4:
        cuts = [n]  # an empty last member
    pieces, prev = [], 0
    for c in cuts + [n]:
        pieces.append(s.tar[prev:c])
        prev = c
    return b"".join(gzip_member(p) for p in pieces), f"tar split into {len(pieces)} gzip members at {cuts}"


@op("gzip.trailing", "gzip", "gzip", 10)
def _gz_trailing(s: Seed, r: Rng, k: int):
    kinds = ["1 zero", "9 zeros", "10 zeros", "512 zeros", "1 byte", "5 random", "20 random",
             "empty member", "member with data", "gzip magic only", "truncated member", "member with zeros"]
    kind = pick(k, kinds, r)
    extra = {
        "1 zero": b"\0", "9 zeros": b"\0" * 9, "10 zeros": b"\0" * 10, "512 zeros": b"\0" * 512,
        "1 byte": bytes([r.between(1, 255)]), "5 random": r.bytes(5), "20 random": r.bytes(20),
        "empty member": gzip_member(b""), "member with data": gzip_member(r.bytes(r.between(1, 40))),
        "gzip magic only": b"\x1f\x8b", "truncated member": gzip_member(b"abc")[:-3],
        "member with zeros": gzip_member(b"\0" * 1024),
    }[kind]
    return s.raw + extra, f"{len(extra)} bytes appended after the gzip member ({kind})"


@op("gzip.header", "gzip", "gzip", 10)
def _gz_header(s: Seed, r: Rng, k: int):
    body = deflate_body(s.raw)
    tail = s.raw[10 + len(body):]
    kinds = ["fname", "fcomment", "fextra", "fhcrc-good", "fhcrc-bad", "mtime", "xfl-os", "reserved-flag",
             "method-7", "bad-magic", "fname-unterminated", "long-fname", "fextra-short"]
    kind = pick(k, kinds, r)
    base = bytearray(GO_GZIP_HEADER)
    extra = b""
    if kind == "fname":
        base[3] = 0x08
        extra = b"snap.tar\0"
    elif kind == "fcomment":
        base[3] = 0x10
        extra = b"hello\0"
    elif kind == "fextra":
        base[3] = 0x04
        extra = b"\x06\x00AB\x02\x00xy"
    elif kind in ("fhcrc-good", "fhcrc-bad"):
        base[3] = 0x02
        crc = zlib.crc32(bytes(base)) & 0xFFFF
        if kind == "fhcrc-bad":
            crc ^= 0x1
        extra = struct.pack("<H", crc)
    elif kind == "mtime":
        base[4:8] = r.bytes(4)
    elif kind == "xfl-os":
        base[8] = r.choice([0, 2, 4])
        base[9] = r.choice([0, 3, 7, 11])
    elif kind == "reserved-flag":
        base[3] = r.choice([0x20, 0x40, 0x80])
    elif kind == "method-7":
        base[2] = 7
    elif kind == "bad-magic":
        base[1] = 0x8C
    elif kind == "fname-unterminated":
        base[3] = 0x08
        extra = b"snap.tar"
    elif kind == "long-fname":
        base[3] = 0x08
        extra = b"x" * r.choice([511, 512, 600]) + b"\0"
    elif kind == "fextra-short":
        base[3] = 0x04
        extra = b"\x20\x00AB"
    return bytes(base) + extra + body + tail, f"gzip header changed ({kind})"


@op("gzip.recompress", "gzip", "structured", 2)
def _gz_recompress(s: Seed, r: Rng, k: int):
    if s.plain:
        raise Skip
    return gzip_member(s.tar), "same tar, recompressed with stored deflate blocks"


@op("gzip.crc", "gzip", "gzip", 4)
def _gz_crc(s: Seed, r: Rng, k: int):
    kind = pick(k, ["crc+1", "isize+1", "isize-0", "crc-0"], r)
    b = bytearray(s.raw)
    n = len(b)
    if kind == "crc+1":
        b[n - 8] ^= 1
    elif kind == "isize+1":
        b[n - 4] ^= 1
    elif kind == "isize-0":
        b[n - 4 : n] = b"\0\0\0\0"
    else:
        b[n - 8 : n - 4] = b"\0\0\0\0"
    return bytes(b), f"gzip trailer changed ({kind})"


# ---- tar layer


@op("tar.end", "tar", "structured", 9)
def _tar_end(s: Seed, r: Rng, k: int):
    body = s.tar[: s.tar_end]
    kinds = ["0 end blocks", "1 end block", "3 end blocks", "10240 record", "zero then garbage",
             "2 blocks then byte", "half block", "2 blocks then header", "10240 record + 1"]
    kind = pick(k, kinds, r)
    if kind == "0 end blocks":
        t = body
    elif kind == "1 end block":
        t = body + b"\0" * 512
    elif kind == "3 end blocks":
        t = body + b"\0" * 1536
    elif kind == "10240 record":
        t = body + b"\0" * 1024
        t += b"\0" * (-len(t) % 10240)
    elif kind == "10240 record + 1":
        t = body + b"\0" * 1024
        t += b"\0" * (-len(t) % 10240) + b"\0" * 10240
    elif kind == "zero then garbage":
        t = body + b"\0" * 512 + r.bytes(512)
    elif kind == "2 blocks then byte":
        t = body + b"\0" * 1024 + bytes([r.between(0, 255)])
    elif kind == "half block":
        t = body + b"\0" * 256
    else:
        e = s.member["SHA256SUMS"]
        t = body + b"\0" * 1024 + e.header + pad512(e.data)
    return wrap(s, t), f"tar end changed ({kind})"


@op("tar.header", "tar", "structured", 14)
def _tar_header(s: Seed, r: Rng, k: int):
    kinds = ["mode", "uid-uname", "typeflag-dir", "typeflag-symlink", "typeflag-NUL", "typeflag-x-char",
             "mtime", "prefix", "bad-checksum", "signed-checksum", "gnu-magic", "v7-magic", "base256-size",
             "size-spaces", "pax-path", "gnu-longname", "typeflag-hardlink", "pax-size"]
    kind = pick(k, kinds, r)
    name = r.choice(MEMBERS)
    ents = []
    for e in s.entries:
        ents.append(Entry(e.name, e.header, e.data))
    idx = next(i for i, e in enumerate(ents) if e.name == name)
    e = ents[idx]
    size = len(e.data)
    kw: dict = {}
    pre: list[Entry] = []
    data = e.data
    nm = name
    if kind == "mode":
        kw["mode"] = r.choice([0o644, 0o400, 0o777, 0o100600])
    elif kind == "uid-uname":
        kw.update(uid=1000, gid=1000, uname=b"james", gname=b"staff")
    elif kind == "typeflag-dir":
        kw["typeflag"] = b"5"
        data = b""
    elif kind == "typeflag-symlink":
        kw.update(typeflag=b"2", linkname=b"other")
        data = b""
    elif kind == "typeflag-hardlink":
        kw.update(typeflag=b"1", linkname=b"other")
        data = b""
    elif kind == "typeflag-NUL":
        kw["typeflag"] = b"\0"
    elif kind == "typeflag-x-char":
        kw["typeflag"] = r.choice([b"7", b"S", b"Z", b"A"])
    elif kind == "mtime":
        kw = {}
        hdr = ustar(name.encode(), size, r.choice([0, 1, 0o77777777777, 1 << 30]))
    elif kind == "prefix":
        kw["prefix"] = r.choice([b"x", b"."])
        nm = None  # name becomes prefix/name
    elif kind == "bad-checksum":
        kw["chksum_delta"] = r.choice([1, -1, 100])
    elif kind == "signed-checksum":
        kw["uname"] = b"\xff" * 4  # signed and unsigned sums differ; write unsigned (Go accepts both)
    elif kind == "gnu-magic":
        kw.update(magic=b"ustar ", version=b" \0")
    elif kind == "v7-magic":
        kw.update(magic=b"\0" * 6, version=b"\0\0")
    elif kind == "base256-size":
        kw["size_field"] = b"\x80" + b"\0" * 3 + size.to_bytes(8, "big")
    elif kind == "size-spaces":
        kw["size_field"] = (b"%o" % size).rjust(11, b" ") + b" "
    elif kind == "pax-path":
        rec = b" path=%s\n" % name.encode()
        rec = b"%d%s" % (len(rec) + len(str(len(rec) + 2)), rec)
        body = rec
        pre.append(Entry("pax", ustar(b"PaxHeaders.0/x", len(body), 0, typeflag=b"x"), body))
        nm = "other"
    elif kind == "pax-size":
        rec = b" size=%d\n" % size
        ln = len(rec) + 2
        rec = b"%d%s" % (ln + (len(str(ln)) - 2), rec)
        pre.append(Entry("pax", ustar(b"PaxHeaders.0/" + name.encode(), len(rec), 0, typeflag=b"x"), rec))
        kw["size_field"] = b"%011o\0" % 0
    elif kind == "gnu-longname":
        body = name.encode() + b"\0"
        pre.append(Entry("gnu", ustar(b"././@LongLink", len(body), 0, typeflag=b"L",
                                      magic=b"ustar ", version=b" \0"), body))
        nm = "other"
    if kind != "mtime":
        if nm is None:
            hdr = ustar(name.encode(), size if data else 0, 0, **kw)
            hdr = header_for(s, "", 0)  # placeholder, rebuilt below
            base = header_for(s, name, len(data), **kw)
            b = bytearray(base)
            b[345:500] = kw["prefix"].ljust(155, b"\0")
            hdr = rechecksum(bytes(b)) if kw.get("chksum_delta", 0) == 0 else bytes(b)
        else:
            hdr = header_for(s, nm, len(data), **kw)
    ents[idx] = Entry(name, hdr, data)
    ents[idx:idx] = pre
    return wrap(s, build_tar(ents)), f"{name} tar header changed ({kind})"


# ---- entries


@op("entries.order", "entries", "structured", 5)
def _ent_order(s: Seed, r: Rng, k: int):
    perms = [(0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)]
    p = pick(k, perms, r)
    ents = [s.member[MEMBERS[i]] for i in p]
    return wrap(s, build_tar(ents)), "entries in order " + ", ".join(MEMBERS[i] for i in p)


@op("entries.duplicate", "entries", "structured", 9)
def _ent_dup(s: Seed, r: Rng, k: int):
    name = MEMBERS[k % 3] if k < 9 else r.choice(MEMBERS)
    how = ["sums-stale", "sums-concat", "empty-second"][(k // 3) % 3] if k < 9 else r.choice(["sums-stale", "sums-concat", "empty-second"])
    m = {n: s.member[n].data for n in MEMBERS}
    second = b"" if how == "empty-second" else m[name]
    order = list(MEMBERS)
    pos = r.between(order.index(name) + 1, 3)
    entries = [(n, m[n]) for n in order]
    entries.insert(pos, (name, second))
    if how != "sums-stale" and name != "SHA256SUMS":
        cat = {n: b"".join(d for nn, d in entries if nn == n) for n in ("meta.json", "state.bin")}
        newsums = sums_for(cat["meta.json"], cat["state.bin"], seed_sums_order(s))
        entries = [(n, newsums if n == "SHA256SUMS" else d) for n, d in entries]
    if how != "sums-stale" and name == "SHA256SUMS" and how == "sums-concat":
        pass  # two copies of the sums: each line listed twice
    es = [Entry(n, header_for(s, n, len(d)), d) for n, d in entries]
    return wrap(s, build_tar(es)), f"{name} duplicated at position {pos} ({how})"


@op("entries.rename", "entries", "structured", 8)
def _ent_rename(s: Seed, r: Rng, k: int):
    name = r.choice(MEMBERS)
    new = pick(k, ["./" + name, name.upper(), name + " ", "nope", name[:-1], "", "dir/" + name, name + "\0x"], r)
    es = [Entry(e.name, header_for(s, new if e.name == name else e.name, len(e.data)), e.data)
          for e in (s.member[n] for n in MEMBERS)]
    return wrap(s, build_tar(es)), f"{name} renamed to {new!r}"


@op("entries.missing", "entries", "structured", 6)
def _ent_missing(s: Seed, r: Rng, k: int):
    name = MEMBERS[k % 3] if k < 6 else r.choice(MEMBERS)
    empty_sum = k >= 3 if k < 6 else r.chance(0.5)
    m = {n: s.member[n].data for n in MEMBERS}
    if empty_sum and name != "SHA256SUMS":
        m[name] = b""
        m["SHA256SUMS"] = sums_for(m["meta.json"], m["state.bin"], seed_sums_order(s))
    es = [Entry(n, header_for(s, n, len(m[n])), m[n]) for n in MEMBERS if n != name]
    extra = "" if name == "SHA256SUMS" else (" (sum of no data listed)" if empty_sum else " (sum unchanged)")
    return wrap(s, build_tar(es)), f"no {name} entry{extra}"


@op("entries.extra", "entries", "structured", 4)
def _ent_extra(s: Seed, r: Rng, k: int):
    kind = pick(k, ["file", "dir ./", "empty name", "pax global"], r)
    es = [s.member[n] for n in MEMBERS]
    if kind == "file":
        x = Entry("notes.txt", header_for(s, "notes.txt", 3), b"hi\n")
    elif kind == "dir ./":
        x = Entry("./", header_for(s, "./", 0, typeflag=b"5"), b"")
    elif kind == "empty name":
        x = Entry("", header_for(s, "", 0), b"")
    else:
        rec = b"17 comment=abcd\n"
        x = Entry("pax", header_for(s, "pax_global_header", len(rec), typeflag=b"g"), rec)
    es.insert(r.between(0, 3), x)
    return wrap(s, build_tar(es)), f"extra entry ({kind})"


# ---- SHA256SUMS


SUMS_KINDS = ["upper", "mixed-case", "one-space", "tab", "three-spaces", "leading-space", "crlf",
              "blank-middle", "blank-end", "no-final-newline", "swapped", "extra-unknown", "duplicate-line",
              "missing-meta", "missing-state", "empty", "star", "junk-after-name", "short-hash",
              "long-hash", "odd-hash", "non-hex", "bad-separator", "cr-only", "long-line",
              "whitespace-line", "nul-after", "only-newline", "leading-tab", "trailing-space",
              "space-in-hex", "0x-prefix", "sum-of-sums"]


@op("sums.variation", "sums", "structured", len(SUMS_KINDS))
def _sums(s: Seed, r: Rng, k: int):
    kind = pick(k, SUMS_KINDS, r)
    meta = s.member["meta.json"].data
    state = s.member["state.bin"].data
    order = list(seed_sums_order(s))
    h = {"meta.json": _sha(meta), "state.bin": _sha(state)}
    lines = [[h[n], "  ", n] for n in order]
    tail = "\n"
    pre_lines: list[str] = []
    i = r.below(2)
    if kind == "upper":
        for l in lines:
            l[0] = l[0].upper()
    elif kind == "mixed-case":
        lines[i][0] = "".join(c.upper() if r.chance(0.5) else c for c in lines[i][0])
    elif kind == "one-space":
        lines[i][1] = " "
    elif kind == "tab":
        lines[i][1] = "\t"
    elif kind == "three-spaces":
        lines[i][1] = "   "
    elif kind == "leading-space":
        lines[i][0] = " " + lines[i][0]
    elif kind == "leading-tab":
        lines[i][0] = "\t" + lines[i][0]
    elif kind == "crlf":
        tail = "\r\n"
    elif kind == "cr-only":
        tail = "\r"
    elif kind == "swapped":
        lines.reverse()
    elif kind == "extra-unknown":
        lines.insert(r.between(0, 2), [h["meta.json"], "  ", r.choice(["nope", "SHA256SUMS", "META.JSON"])])
    elif kind == "duplicate-line":
        lines.insert(r.between(0, 2), list(lines[i]))
    elif kind == "missing-meta":
        lines = [l for l in lines if l[2] != "meta.json"]
    elif kind == "missing-state":
        lines = [l for l in lines if l[2] != "state.bin"]
    elif kind == "empty":
        lines = []
    elif kind == "star":
        lines[i][2] = "*" + lines[i][2]
    elif kind == "junk-after-name":
        lines[i][2] += r.choice([" junk", "\tx", "  more words"])
    elif kind == "trailing-space":
        lines[i][2] += " "
    elif kind == "short-hash":
        lines[i][0] = lines[i][0][:-2]
    elif kind == "long-hash":
        lines[i][0] += "00"
    elif kind == "odd-hash":
        lines[i][0] = lines[i][0][:-1]
    elif kind == "non-hex":
        lines[i][0] = "g" + lines[i][0][1:]
    elif kind == "space-in-hex":
        lines[i][0] = lines[i][0][:32] + " " + lines[i][0][32:]
    elif kind == "0x-prefix":
        lines[i][0] = "0x" + lines[i][0]
    elif kind == "bad-separator":
        lines[i][1] = r.choice([",", "*", "  *", "=", ""])
    elif kind == "long-line":
        lines[i][2] += " " + "x" * r.choice([65000, 65536, 70000])
    elif kind == "nul-after":
        lines[i][2] += "\0"
    elif kind == "sum-of-sums":
        lines.append(["0" * 64, "  ", "SHA256SUMS"])
    text = tail.join("".join(l) for l in lines) + (tail if lines else "")
    if kind == "blank-middle":
        parts = text.split("\n")
        text = parts[0] + "\n\n" + "\n".join(parts[1:])
    elif kind == "blank-end":
        text += r.choice(["\n", "\r\n"])
    elif kind == "whitespace-line":
        text += r.choice([" \n", "\t\n", "   "])
    elif kind == "no-final-newline":
        text = text[:-1]
    elif kind == "only-newline":
        text = "\n"
    return wrap(s, assemble(s, sums=text.encode())), f"SHA256SUMS {kind}"


# ---- meta.json


META_KINDS = ["version-0", "version-2", "version--1", "version-1.0", "version-str", "version-null",
              "size+1", "size-1", "size-0", "size-neg", "size-huge", "size-float", "size-str", "size-exp",
              "lower-keys", "upper-keys", "extra-key", "extra-object", "pretty", "no-newline",
              "leading-ws", "trailing-ws", "trailing-garbage", "trailing-object", "not-json", "empty",
              "array", "null", "peers-bad-b64", "peers-null", "peers-int", "index-neg", "index-huge",
              "term-float", "id-int", "config-str", "servers-null", "servers-obj", "suffrage-str",
              "dup-key-version", "dup-key-size", "bom", "html-escape", "unicode-escape", "key-escaped",
              "crlf-newline", "size-1e2", "version-true", "size-big-uint", "deep-nesting", "lone-surrogate",
              "invalid-utf8", "tabs", "missing-version", "missing-size", "configurationindex-neg",
              "size-leading-zero", "size-plus", "nested-unknown"]


def _meta_obj(s: Seed) -> dict:
    return json.loads(s.member["meta.json"].data)


def _compact(o) -> bytes:
    return json.dumps(o, separators=(",", ":")).encode() + b"\n"


@op("meta.variation", "meta", "deep", len(META_KINDS))
def _meta(s: Seed, r: Rng, k: int):
    kind = pick(k, META_KINDS, r)
    m0 = s.member["meta.json"].data
    o = _meta_obj(s)
    size = len(s.member["state.bin"].data)
    text: bytes | None = None

    def sub(key: bytes, val: bytes) -> bytes:
        return re.sub(b'"' + key + rb'":(-?[0-9.eE+]+|"[^"]*"|null|true|false)', b'"' + key + b'":' + val, m0, count=1)

    vals = {
        "version-0": (b"Version", b"0"), "version-2": (b"Version", b"2"), "version--1": (b"Version", b"-1"),
        "version-1.0": (b"Version", b"1.0"), "version-str": (b"Version", b'"1"'), "version-null": (b"Version", b"null"),
        "version-true": (b"Version", b"true"),
        "size+1": (b"Size", b"%d" % (size + 1)), "size-1": (b"Size", b"%d" % (size - 1)), "size-0": (b"Size", b"0"),
        "size-neg": (b"Size", b"-1"), "size-huge": (b"Size", b"9223372036854775807"),
        "size-big-uint": (b"Size", b"9223372036854775808"),
        "size-float": (b"Size", b"%d.0" % size), "size-str": (b"Size", b'"%d"' % size),
        "size-exp": (b"Size", b"%de0" % size), "size-1e2": (b"Size", b"1e2"),
        "size-leading-zero": (b"Size", b"0%d" % size), "size-plus": (b"Size", b"+%d" % size),
        "peers-bad-b64": (b"Peers", b'"!!notbase64"'), "peers-null": (b"Peers", b"null"), "peers-int": (b"Peers", b"5"),
        "index-neg": (b"Index", b"-1"), "index-huge": (b"Index", b"18446744073709551616"),
        "term-float": (b"Term", b"2.5"), "id-int": (b"ID", b"7"),
        "configurationindex-neg": (b"ConfigurationIndex", b"-3"),
    }
    if kind in vals:
        text = sub(*vals[kind])
    elif kind == "lower-keys":
        text = _compact({kk.lower(): v for kk, v in o.items()})
    elif kind == "upper-keys":
        text = _compact({kk.upper(): v for kk, v in o.items()})
    elif kind == "extra-key":
        o2 = dict(o)
        o2[r.choice(["CRC", "Extra", "size_bytes"])] = r.choice([1, "x", None, [1, 2]])
        text = _compact(o2)
    elif kind == "extra-object":
        text = m0[:-2] + b',"Zzz":{"a":[1,{"b":null}]}}\n'
    elif kind == "nested-unknown":
        o2 = json.loads(m0)
        o2["Configuration"]["Unknown"] = 1
        text = _compact(o2)
    elif kind == "pretty":
        text = json.dumps(o, indent=r.choice([1, 2, 4])).encode() + b"\n"
    elif kind == "tabs":
        text = m0.replace(b",", b",\t")
    elif kind == "no-newline":
        text = m0[:-1]
    elif kind == "leading-ws":
        text = r.choice([b" ", b"\n", b"\t", b"\r\n"]) + m0
    elif kind == "trailing-ws":
        text = m0 + r.choice([b" ", b"\n", b"\t\t", b"\r\n"])
    elif kind == "trailing-garbage":
        text = m0 + r.choice([b"x", b"}", b"\0", b"1"])
    elif kind == "trailing-object":
        text = m0 + b"{}"
    elif kind == "not-json":
        text = r.choice([b"Version=1\n", b"{Version:1}\n", b"{\"Version\":1,}\n"])
    elif kind == "empty":
        text = b""
    elif kind == "array":
        text = b"[]\n"
    elif kind == "null":
        text = b"null\n"
    elif kind == "config-str":
        text = re.sub(rb'"Configuration":\{"Servers":\[[^\]]*\]\}', b'"Configuration":"x"', m0)
    elif kind == "servers-null":
        text = re.sub(rb'"Servers":\[[^\]]*\]', b'"Servers":null', m0)
    elif kind == "servers-obj":
        text = re.sub(rb'"Servers":\[[^\]]*\]', b'"Servers":{}', m0)
    elif kind == "suffrage-str":
        text = m0.replace(b'"Suffrage":0', b'"Suffrage":"Voter"', 1)
    elif kind == "dup-key-version":
        text = m0.replace(b"{", b'{"Version":%s,' % r.choice([b"0", b"1", b"7"]), 1)
    elif kind == "dup-key-size":
        text = m0[:-2] + b',"Size":%d}\n' % r.choice([0, size, size + 1])
    elif kind == "bom":
        text = b"\xef\xbb\xbf" + m0
    elif kind == "html-escape":
        text = m0.replace(b'"ID":"', b'"ID":"<&>', 1)
    elif kind == "unicode-escape":
        text = m0.replace(b'"ID":"', b'"ID":"\\u003c\\u00e9', 1)
    elif kind == "key-escaped":
        text = m0.replace(b'"Size"', b'"\\u0053ize"', 1)
    elif kind == "crlf-newline":
        text = m0[:-1] + b"\r\n"
    elif kind == "deep-nesting":
        text = m0[:-2] + b',"X":' + b"[" * 200 + b"]" * 200 + b"}\n"
    elif kind == "lone-surrogate":
        text = m0.replace(b'"ID":"', b'"ID":"\\ud800', 1)
    elif kind == "invalid-utf8":
        text = m0.replace(b'"ID":"', b'"ID":"\xff\xfe', 1)
    elif kind == "missing-version":
        text = re.sub(rb'"Version":1,', b"", m0)
    elif kind == "missing-size":
        text = re.sub(rb',"Size":\d+', b"", m0)
    assert text is not None, kind
    return wrap(s, assemble(s, meta=text, fix_size=False)), f"meta.json {kind}; sums recomputed"


# ---- records (sums and Size recomputed, so the record rule is what is tested)


def _state(s: Seed) -> bytes:
    return s.member["state.bin"].data


def _insert_record(s: Seed, r: Rng, rec: bytes, where: str | None = None) -> tuple[bytes, str]:
    st = _state(s)
    where = where or r.choice(["start", "end", "middle"])
    if where == "start":
        pos = s.state_header
    elif where == "end":
        pos = len(st)
    else:
        pos = r.choice(s.records).offset
    return st[:pos] + rec + st[pos:], f"at {pos} ({where})"


_VALUES = [b"\x80", b"\xc0", b"\x90", b"\x01", b"\x81\xa2ID\xa1x", b"\xa3abc"]


@op("records.unknown-type", "records", "deep", 8)
def _rec_unknown(s: Seed, r: Rng, k: int):
    t = pick(k, [32, 63, 99, 127, 128, 200, 255, 71], r) if k < 8 else r.choice(list(range(32, 64)) + list(range(71, 256)))
    how = r.choice(["insert", "retype"])
    if how == "retype":
        st = bytearray(_state(s))
        rec = r.choice(s.records)
        st[rec.offset] = t
        return wrap(s, assemble(s, state=bytes(st))), f"record at {rec.offset} (type {rec.type}) retyped to {t}"
    new, where = _insert_record(s, r, bytes([t]) + r.choice(_VALUES))
    return wrap(s, assemble(s, state=new)), f"type {t} record inserted {where}"


@op("records.enterprise-type", "records", "deep", 6)
def _rec_ent(s: Seed, r: Rng, k: int):
    t = 65 + (k % 6) if k < 6 else r.between(65, 70)
    new, where = _insert_record(s, r, bytes([t]) + r.choice(_VALUES))
    return wrap(s, assemble(s, state=new)), f"Enterprise type {t} record inserted {where}"


@op("records.newer-type", "records", "deep", 6)
def _rec_newer(s: Seed, r: Rng, k: int):
    t = 29 + (k % 3) if k < 6 else r.between(29, 31)
    new, where = _insert_record(s, r, bytes([t]) + r.choice(_VALUES))
    return wrap(s, assemble(s, state=new)), f"type {t} (newer than 1.6.1) record inserted {where}"


@op("records.type20", "records", "deep", 6)
def _rec_20(s: Seed, r: Rng, k: int):
    where = pick(k % 3, ["start", "middle", "end"], r) if k < 6 else None
    val = r.choice(_VALUES)
    if k in (3, 4):
        val = b"\xc1"  # an undecodable value after type 20
    new, w = _insert_record(s, r, bytes([20]) + val, where)
    if k == 5:
        new += b"\x63"  # a truncated record after it
    return wrap(s, assemble(s, state=new)), f"type 20 (EventSink) record {val.hex()} inserted {w}" + (" and a trailing type byte" if k == 5 else "")


@op("records.truncated-value", "records", "deep", 6)
def _rec_trunc(s: Seed, r: Rng, k: int):
    st = _state(s)
    rec = s.records[-1] if k == 0 else r.choice(s.records)
    cut = r.between(rec.offset + 1, rec.end - 1)
    new = st[:cut] if r.chance(0.5) or k == 0 else st[:cut] + st[rec.end:]
    return wrap(s, assemble(s, state=new)), f"record at {rec.offset} (type {rec.type}) cut at {cut}"


@op("records.reserved-c1", "records", "deep", 8)
def _rec_c1(s: Seed, r: Rng, k: int):
    st = bytearray(_state(s))
    rec = r.choice(s.records)
    starts: list[int] = []
    mp_end(bytes(st), rec.offset + 1, starts)
    kind = pick(k % 3, ["value-start", "nested", "insert"], r)
    if kind == "value-start":
        pos = rec.offset + 1
        st[pos] = 0xC1
    elif kind == "nested":
        pos = r.choice(starts)
        st[pos] = 0xC1
    else:
        new, where = _insert_record(s, r, bytes([r.choice([0, 2, 13, 64])]) + b"\xc1")
        return wrap(s, assemble(s, state=new)), f"record with value c1 inserted {where}"
    return wrap(s, assemble(s, state=bytes(st))), f"0xc1 at state.bin {pos} (record type {rec.type}, {kind})"


@op("records.trailing", "records", "deep", 6)
def _rec_trailing(s: Seed, r: Rng, k: int):
    extra = pick(k, [b"\x00", b"\x01", b"\x63", b"\x80", b"\xff", b"\x02\x80\x00"], r) if k < 6 else r.bytes(r.between(1, 3))
    return wrap(s, assemble(s, state=_state(s) + extra)), f"{extra.hex()} appended to state.bin"


@op("records.header", "records", "deep", 10)
def _rec_header(s: Seed, r: Rng, k: int):
    st = _state(s)
    body = st[s.state_header:]
    h = pick(k, [b"\x81\xa1x\xc0", b"\xc0", b"\x90", b"\x01", b"\xde\x00\x00", b"\xa0",
                 b"\x81\xa9LastIndex\x05", b"\xc1", b"", b"\x80\x80", b"\xdf\x00\x00\x00\x00", b"\x82\xa1a\x01"], r)
    return wrap(s, assemble(s, state=h + body)), f"state.bin header 0x80 replaced by {h.hex() or '(nothing)'}"


@op("records.shuffle", "records", "deep", 6)
def _rec_shuffle(s: Seed, r: Rng, k: int):
    st = _state(s)
    recs = [st[x.offset : x.end] for x in s.records]
    kind = pick(k, ["reverse", "duplicate-one", "drop-one", "swap-two", "duplicate-all", "drop-index"], r)
    if kind == "reverse":
        recs.reverse()
    elif kind == "duplicate-one":
        i = r.below(len(recs))
        recs.insert(r.between(0, len(recs)), recs[i])
    elif kind == "drop-one":
        recs.pop(r.below(len(recs)))
    elif kind == "swap-two":
        i, j = r.below(len(recs)), r.below(len(recs))
        recs[i], recs[j] = recs[j], recs[i]
    elif kind == "duplicate-all":
        recs = recs + recs
    else:
        recs = [x for x, rr in zip(recs, s.records) if rr.type != 2]
    return wrap(s, assemble(s, state=st[: s.state_header] + b"".join(recs))), f"records {kind}"


def _reencode_str(b: bytes, pos: int, form: str) -> bytes:
    c = b[pos]
    assert 0xA0 <= c <= 0xBF
    n = c & 0x1F
    payload = b[pos + 1 : pos + 1 + n]
    new = {"str8": b"\xd9" + bytes([n]), "str16": b"\xda" + n.to_bytes(2, "big"),
           "str32": b"\xdb" + n.to_bytes(4, "big"), "bin8": b"\xc4" + bytes([n]),
           "bin16": b"\xc5" + n.to_bytes(2, "big")}[form]
    return b[:pos] + new + payload + b[pos + 1 + n :]


def _reencode_int(b: bytes, pos: int, form: str) -> bytes:
    c = b[pos]
    assert c <= 0x7F
    new = {"u8": b"\xcc" + bytes([c]), "u16": b"\xcd" + c.to_bytes(2, "big"), "u64": b"\xcf" + c.to_bytes(8, "big"),
           "i8": b"\xd0" + bytes([c]), "i64": b"\xd3" + c.to_bytes(8, "big"), "f64": b"\xcb" + struct.pack(">d", c)}[form]
    return b[:pos] + new + b[pos + 1 :]


@op("records.encoding", "records", "deep", 10)
def _rec_encoding(s: Seed, r: Rng, k: int):
    """Re-encodings: wider ints, str8/16/32 and bin are equivalent for Go's decoder;
    f64 for an integer is not (Nomad refuses a float in an int field)."""
    st = _state(s)
    rec = r.choice(s.records)
    starts: list[int] = []
    mp_end(st, rec.offset + 1, starts)
    forms = ["str8", "str16", "str32", "bin8", "bin16", "u8", "u16", "u64", "i8", "i64", "f64"]
    form = pick(k, forms, r)
    if form.startswith(("str", "bin")):
        cand = [p for p in starts if 0xA0 <= st[p] <= 0xBF]
        if not cand:
            raise Skip
        pos = r.choice(cand)
        new = _reencode_str(st, pos, form)
    else:
        cand = [p for p in starts if st[p] <= 0x7F]
        if not cand:
            raise Skip
        pos = r.choice(cand)
        new = _reencode_int(st, pos, form)
    return wrap(s, assemble(s, state=new)), f"value at state.bin {pos} (record type {rec.type}) re-encoded as {form}"


@op("records.schema", "records", "deep", 8)
def _rec_schema(s: Seed, r: Rng, k: int):
    """Valid msgpack of the wrong shape for the record's Go type."""
    st = _state(s)
    kind = pick(k, ["value-nil", "value-int", "value-str", "value-array", "value-empty-map", "field-type", "time-garbage", "key-int"], r)
    recs = [x for x in s.records if x.type != 5] or s.records
    rec = r.choice(recs)
    val = st[rec.offset + 1 : rec.end]
    if kind == "value-nil":
        nv = b"\xc0"
    elif kind == "value-int":
        nv = b"\x05"
    elif kind == "value-str":
        nv = b"\xa3abc"
    elif kind == "value-array":
        nv = b"\x92\x01\x02"
    elif kind == "value-empty-map":
        nv = b"\x80"
    elif kind == "field-type":
        starts: list[int] = []
        mp_end(st, rec.offset + 1, starts)
        cand = [p for p in starts if 0xA0 <= st[p] <= 0xBF and p > rec.offset + 1]
        pos = r.choice(cand)
        end = mp_end(st, pos)
        new = st[:pos] + r.choice([b"\x92\x01\x02", b"\x81\x01\x02", b"\xc3"]) + st[end:]
        return wrap(s, assemble(s, state=new)), f"a string in record at {rec.offset} (type {rec.type}) replaced by another kind"
    elif kind == "time-garbage":
        starts = []
        mp_end(st, rec.offset + 1, starts)
        cand = [p for p in starts if st[p] == 0xAF and st[p + 1] == 1]
        if not cand:
            raise Skip
        pos = r.choice(cand)
        new = st[:pos + 1] + bytes([r.choice([0, 3, 9])]) + st[pos + 2:]
        return wrap(s, assemble(s, state=new)), f"time value at {pos} (record type {rec.type}) given a bad version byte"
    else:
        nv = b"\x81\x01\x02"
    new = st[: rec.offset + 1] + nv + st[rec.end :]
    return wrap(s, assemble(s, state=new)), f"record at {rec.offset} (type {rec.type}, {len(val)} bytes) value replaced ({kind})"


# ---- random byte-level


def _random_edit(b: bytes, r: Rng, n: int) -> tuple[bytes, list[str]]:
    m = bytearray(b)
    notes = []
    for _ in range(n):
        kind = r.choice(["flip", "set", "insert", "delete", "dup"])
        if not m:
            kind = "insert"
        pos = r.below(len(m) + (1 if kind == "insert" else 0))
        if kind == "flip":
            m[pos] ^= 1 << r.below(8)
        elif kind == "set":
            m[pos] = r.below(256)
        elif kind == "insert":
            m[pos:pos] = r.bytes(r.between(1, 4))
        elif kind == "delete":
            del m[pos : pos + r.between(1, 4)]
        else:
            ln = r.between(1, 16)
            m[pos:pos] = m[pos : pos + ln]
        notes.append(f"{kind}@{pos}")
    return bytes(m), notes


@op("random.file", "random", "any", 4)
def _rand_file(s: Seed, r: Rng, k: int):
    d, notes = _random_edit(s.raw, r, r.between(1, 3))
    return d, "file bytes: " + ", ".join(notes)


@op("random.tar", "random", "structured", 4)
def _rand_tar(s: Seed, r: Rng, k: int):
    d, notes = _random_edit(s.tar, r, r.between(1, 3))
    return wrap(s, d), "tar bytes: " + ", ".join(notes)


@op("random.state", "random", "deep", 8)
def _rand_state(s: Seed, r: Rng, k: int):
    d, notes = _random_edit(_state(s), r, r.between(1, 3))
    return wrap(s, assemble(s, state=d)), "state.bin bytes (sums recomputed): " + ", ".join(notes)


@op("random.meta", "random", "deep", 4)
def _rand_meta(s: Seed, r: Rng, k: int):
    d, notes = _random_edit(s.member["meta.json"].data, r, r.between(1, 2))
    return wrap(s, assemble(s, meta=d, fix_size=False)), "meta.json bytes (sums recomputed): " + ", ".join(notes)


@op("random.sums", "random", "structured", 4)
def _rand_sums(s: Seed, r: Rng, k: int):
    d, notes = _random_edit(s.member["SHA256SUMS"].data, r, r.between(1, 2))
    return wrap(s, assemble(s, sums=d)), "SHA256SUMS bytes: " + ", ".join(notes)


# --------------------------------------------------------------------------
# ids


def make(mid: str) -> Mutation:
    """Rebuild a mutation from its id."""
    if mid.startswith("c"):
        camp, n = mid[1:].split("-", 1)
        r = Rng(f"campaign:{camp}:{n}")
        ss = seeds()
        # weights: ops by their CI variant count, so every class is covered
        names = sorted(OPS)
        while True:
            o = OPS[r.choice(names)]
            cands = [x for x in sorted(ss) if o.applies(ss[x])]
            if not cands:
                continue
            seed = ss[r.choice(cands)]
            k = 1000 + r.below(1 << 30)
            try:
                data, note = o.fn(seed, Rng(f"{mid}:{o.name}:{seed.name}"), k)
            except Skip:
                continue
            return Mutation(mid, o.name, o.cls, seed.name, data, seed.plain, note)
    opname, seedname, k = mid.split("/")
    o = OPS[opname]
    seed = seeds()[seedname]
    data, note = o.fn(seed, Rng(mid), int(k))
    return Mutation(mid, o.name, o.cls, seed.name, data, seed.plain, note)


def ci_ids(seed_names: list[str] | None = None) -> list[str]:
    """The fixed systematic set: every op x applicable seed x its variants."""
    ss = seeds()
    out = []
    for name in sorted(OPS):
        o = OPS[name]
        names = [n for n in ss if ss[n].ci] if seed_names is None else seed_names
        for sn in sorted(names):
            s = ss[sn]
            if not o.applies(s):
                continue
            n = o.variants if s.deep or o.needs in ("any", "gzip") else max(1, o.variants // 2)
            for k in range(n):
                mid = f"{name}/{sn}/{k}"
                try:
                    make(mid)
                except Skip:
                    continue
                out.append(mid)
    return out


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("ids", nargs="*")
    ap.add_argument("-o", "--out", help="write the (one) mutation here")
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    if a.list:
        for n, s in sorted(seeds().items()):
            print(f"seed {n}: {s.path} kind={s.kind} deep={s.deep} structured={s.structured}")
        for n, o in sorted(OPS.items()):
            print(f"op {n}: class {o.cls}, needs {o.needs}, {o.variants} variants")
        print(len(ci_ids()), "CI ids")
        return
    for mid in a.ids:
        m = make(mid)
        print(m.id, m.cls, m.seed, "plain" if m.plain else "snap", len(m.data), m.sha256, m.note)
        if a.out:
            Path(a.out).write_bytes(m.data)


if __name__ == "__main__":
    main()
