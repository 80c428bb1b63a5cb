#!/usr/bin/env python3
"""Census of a Nomad snapshot's state.bin (stdlib only): record type counts/order and which msgpack
formats occur (str8/bin/uint families, signed ints, time binaries and their zone-offset suffix).

    python3 tests/harness/msgpack_census.py fixtures/genuine/*.snap

A tiny walker of our own: it reads 1 raw type byte then skips exactly one msgpack value, as
Nomad's restore does. Used to check FORMAT-NOTES.md claims against the genuine fixtures.
"""
import collections
import gzip
import io
import struct
import sys
import tarfile

NAMES = {0xc0: 'nil', 0xc2: 'false', 0xc3: 'true', 0xc4: 'bin8', 0xc5: 'bin16', 0xc6: 'bin32',
         0xca: 'float32', 0xcb: 'float64', 0xcc: 'uint8', 0xcd: 'uint16', 0xce: 'uint32', 0xcf: 'uint64',
         0xd0: 'int8', 0xd1: 'int16', 0xd2: 'int32', 0xd3: 'int64', 0xd9: 'str8', 0xda: 'str16',
         0xdb: 'str32', 0xdc: 'array16', 0xdd: 'array32', 0xde: 'map16', 0xdf: 'map32'}
FIXED = {0xc0: 1, 0xc2: 1, 0xc3: 1, 0xcc: 2, 0xd0: 2, 0xcd: 3, 0xd1: 3, 0xce: 5, 0xd2: 5, 0xca: 5,
         0xcf: 9, 0xd3: 9, 0xcb: 9}


def census(d: bytes):
    fmts, times = collections.Counter(), collections.Counter()

    def val(i):
        b = d[i]
        if b <= 0x7f:
            fmts['posfixint'] += 1
            return i + 1
        if b >= 0xe0:
            fmts['negfixint'] += 1
            return i + 1
        if 0x80 <= b <= 0x9f:
            fmts['fixmap' if b < 0x90 else 'fixarray'] += 1
            n = (b & 0x0f) * (2 if b < 0x90 else 1)
            i += 1
            for _ in range(n):
                i = val(i)
            return i
        if 0xa0 <= b <= 0xbf:
            fmts['fixstr'] += 1
            n = b & 0x1f
            s = d[i + 1:i + 1 + n]
            if (n == 15 and s[:1] == b'\x01') or (n == 16 and s[:1] == b'\x02'):
                times['zone offset ' + s[13:15].hex()] += 1
            return i + 1 + n
        name = NAMES.get(b, 'reserved-%02x' % b)
        fmts[name] += 1
        if b in FIXED:
            return i + FIXED[b]
        if b in (0xd9, 0xc4):
            return i + 2 + d[i + 1]
        if b in (0xda, 0xc5):
            return i + 3 + struct.unpack('>H', d[i + 1:i + 3])[0]
        if b in (0xdb, 0xc6):
            return i + 5 + struct.unpack('>I', d[i + 1:i + 5])[0]
        if b in (0xdc, 0xde, 0xdd, 0xdf):
            w = 2 if b in (0xdc, 0xde) else 4
            n = int.from_bytes(d[i + 1:i + 1 + w], 'big') * (2 if b in (0xde, 0xdf) else 1)
            i += 1 + w
            for _ in range(n):
                i = val(i)
            return i
        raise ValueError(f"unsupported msgpack byte {b:#x} at {i}")

    if d[:1] != b'\x80':
        raise ValueError("state.bin does not start with 0x80")
    i, types, order = 1, collections.Counter(), []
    while i < len(d):
        t = d[i]
        types[t] += 1
        if not order or order[-1] != t:
            order.append(t)
        i = val(i + 1)
    return types, order, fmts, times


def main(paths):
    for p in paths:
        tar = tarfile.open(fileobj=io.BytesIO(gzip.decompress(open(p, 'rb').read())))
        types, order, fmts, times = census(tar.extractfile('state.bin').read())
        print(p)
        print('  records:', sum(types.values()), dict(sorted(types.items())))
        print('  order  :', order)
        print('  formats:', dict(sorted(fmts.items())))
        print('  times  :', dict(times))


if __name__ == '__main__':
    main(sys.argv[1:])
