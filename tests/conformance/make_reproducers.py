"""Minimal reproducers of the known disagreements, under fixtures/conformance/.

    PYTHONPATH=. python -m tests.conformance.make_reproducers   (needs the oracle)

Each <name>.snap is the small synthetic archive fixtures/synthetic/
ok-1.8-shape-timetable.snap with the smallest state.bin (or tar header) that
shows the disagreement; <name>.json beside it has Nomad 1.6.1's verdict (from
tests/oracle) and snaptool's at the time it was written. The finding id is
the name's first part (D1...D5, see known.py).
"""
import json, zlib, struct, hashlib
from pathlib import Path
from tests.conformance import mutate as M, compare as C
s = M.seeds()["tt18"]
OUT = Path("fixtures/conformance")
def gz(tar):
    c = zlib.compressobj(6, zlib.DEFLATED, -15); body = c.compress(tar) + c.flush()
    return M.GO_GZIP_HEADER + body + struct.pack("<II", zlib.crc32(tar), len(tar))
def K(s): return bytes([0xa0 + len(s)]) + s.encode()
cases = {
 "D1-record-schema-nonmap-value": b"\x80\x02\x05",
 "D1-record-schema-missing-primary-key": b"\x80\x02\x80",
 "D1-record-schema-float-for-uint": b"\x80\x02\x82" + K("Key") + K("jobs") + K("Value") + b"\xcb" + struct.pack(">d", 1.0),
 "D1-record-schema-int-map-key": b"\x80\x02\x81\x01\x02",
 "D1-record-schema-bad-time-version": b"\x80\x05\x91\x82" + K("Index") + b"\x01" + K("Time") + b"\xaf\x09" + b"\x00"*14,
 "D2-type20-abort": b"\x80\x14\x80",
 "D2-type20-abort-then-garbage": b"\x80\x14\xc1\x63",
 "D3-array-header": b"\x90",
 "D3-array-header-with-elements": b"\x92\xa1x\xc0" + b"\x02\x82" + K("Key") + K("jobs") + K("Value") + b"\x01",
 "D4-consul-header-heuristic": b"\x81" + K("LastIndex") + b"\x05" + b"\x02\x82" + K("Key") + K("jobs") + K("Value") + b"\x01",
}
res = {}
for name, state in cases.items():
    data = gz(M.assemble(s, state=state))
    res[name] = (data, False, f"tt18 archive (fixtures/synthetic/ok-1.8-shape-timetable.snap) with state.bin = {state.hex()}; meta Size and SHA256SUMS recomputed")
# D5: typeflag S on meta.json
ents = [M.Entry(e.name, M.header_for(s, e.name, len(e.data), typeflag=b"S" if e.name == "meta.json" else b"0"), e.data) for e in (s.member[n] for n in M.MEMBERS)]
res["D5-gnu-sparse-typeflag"] = (gz(M.build_tar(ents)), False, "tt18 archive with meta.json's USTAR typeflag set to 'S' (checksum fixed)")
m0 = s.member["meta.json"].data
metas = {
    "D6-meta-peers-base64-padding": (m0.replace(b'"Peers":"ka4xMjcuMC4wLjE6NDY0Nw=="', b'"Peers":"ka4xMjcuMC4wcuMC4wLjE6NDY0Nw=="'),
                                     "Peers of 30 base64 characters: 28 data characters then == (Go: illegal base64 data at input byte 28)"),
    "D7-meta-duplicate-key-type-error": (m0.replace(b'{"Version":1,', b'{"Version":"1","Version":1,'),
                                         'a duplicated key whose first value has the wrong type ({"Version":"1","Version":1,...})'),
    "D7-meta-duplicate-server-id": (m0.replace(b'"ID":"26fbb11c', b'"ID":0,"ID":"26fbb11c'),
                                    'Configuration.Servers[0] with "ID":0 then "ID":"<uuid>"'),
}
for name, (meta, how) in metas.items():
    assert meta != m0, name
    res[name] = (gz(M.assemble(s, meta=meta, fix_size=False)), False, f"tt18 archive with meta.json: {how}; SHA256SUMS recomputed")
for name, (data, plain, how) in res.items():
    p = OUT / (name + ".snap"); p.write_bytes(data)
    n = C.run_oracle(p, plain); sn = C.run_snaptool(p, plain)
    d = C.compare(n, sn)
    note = {"finding": name.split("-")[0], "file": p.name, "how": how, "differs_in": d,
            "nomad_v1.6.1": {k: n[k] for k in ("ok","archive_ok","archive_error","restore_meta_ok","restore_meta_error","fsm_ok","fsm_error","fsm_class","fsm_consumed","state_bytes")},
            "snaptool": sn}
    p.with_suffix(".json").write_text(json.dumps(note, indent=1) + "\n")
    print(name, len(data), "diff", d, "| nomad", n["ok"], (C.nomad_text(n) or "")[:90], "| snaptool", sn["ok"], [f[0] for f in sn["findings"]])
