"""Decode every record of the given .snap files and check them against the schema.

Usage: validate_fixtures.py SCHEMA.json FILE.snap...

Walks every record recursively: each struct key must be a known field and
each value must fit its kind (nil only for ptr/map/slice/bytes/interface).
Then checks each record against the memdb indexes of its table (string/uuid
fields present, uuids well-formed; custom indexers are not modelled), after
applying restore_defaults. Exit status 1 on any problem.
"""
import collections, gzip, io, json, sys, tarfile
import msgpack

schema = json.load(open(sys.argv[1]))
TYPES = schema["types"]

def resolve(d):
    return TYPES[d["ref"]] if "ref" in d else d

problems = collections.Counter()
examples = {}
def bad(kind, path, detail):
    problems[kind] += 1
    examples.setdefault(kind, []).append(f"{path}: {detail}") if len(examples.get(kind, [])) < 5 else None

def check(v, d, path, counts):
    d = resolve(d)
    k = d["kind"]
    if v is None:
        if k not in ("ptr", "map", "slice", "bytes", "interface"):
            bad(f"nil for {k}", path, "nil")
        return
    if k == "ptr":
        return check(v, d["elem"], path, counts)
    if k == "interface":
        return
    if k == "struct":
        if not isinstance(v, dict):
            return bad("struct not a map", path, type(v).__name__)
        for key, sub in v.items():
            ks = key.decode() if isinstance(key, bytes) else key
            counts["keys"] += 1
            if ks not in d["fields"]:
                bad("unknown field", path, ks)
                continue
            check(sub, d["fields"][ks], f"{path}.{ks}", counts)
        return
    if k == "map":
        if not isinstance(v, dict):
            return bad("map not a map", path, type(v).__name__)
        for key, sub in v.items():
            check(key, d["key"], f"{path}[key]", counts)
            check(sub, d["elem"], f"{path}[{key!r}]", counts)
        return
    if k in ("slice", "array"):
        if not isinstance(v, list):
            return bad(f"{k} not an array", path, type(v).__name__)
        for i, sub in enumerate(v):
            check(sub, d["elem"], f"{path}[{i}]", counts)
        return
    if k in ("string", "bytes"):
        if not isinstance(v, bytes):
            bad(f"{k} not str/bin", path, type(v).__name__)
        return
    if k == "time":
        if not isinstance(v, bytes) or len(v) not in (15, 16) or v[0] not in (1, 2):
            bad("bad time", path, repr(v)[:40])
        return
    if k == "bool":
        if not isinstance(v, bool):
            bad("bool mismatch", path, type(v).__name__)
        return
    if k in ("int", "uint"):
        if isinstance(v, bool) or not isinstance(v, int):
            return bad(f"{k} mismatch", path, type(v).__name__)
        b = d["bits"]
        lo, hi = (0, 2**b - 1) if k == "uint" else (-(2**(b-1)), 2**(b-1) - 1)
        if not lo <= v <= hi:
            bad(f"{k}{b} out of range", path, v)
        return
    if k == "float":
        if not isinstance(v, (float, int)) or isinstance(v, bool):
            bad("float mismatch", path, type(v).__name__)
        return
    bad("unknown kind", path, k)

def records(state):
    assert state[0] == 0x80, state[:4]
    pos = 1
    while pos < len(state):
        t = state[pos]
        u = msgpack.Unpacker(raw=True, strict_map_key=False)
        u.feed(state[pos + 1:])
        obj = u.unpack()
        yield t, obj
        pos += 1 + u.tell()

total = 0
for path in sys.argv[2:]:
    with tarfile.open(fileobj=io.BytesIO(gzip.open(path).read())) as tf:
        state = tf.extractfile("state.bin").read()
    per = collections.Counter()
    counts = collections.Counter()
    for t, obj in records(state):
        per[t] += 1
        total += 1
        rd = schema["records"].get(str(t))
        if rd is None:
            bad("record type not in schema", path, t)
            continue
        check(obj, rd, f"{path.rsplit('/',1)[-1]}#{t}", counts)
    print(path.rsplit("/", 1)[-1], "records:", sum(per.values()), dict(sorted(per.items())), "keys checked:", counts["keys"])
print("total records:", total)
if not problems:
    print("OK: every key known, every value matches its kind")
for k, n in problems.most_common():
    print(f"{n:6d}  {k}")
    for e in examples[k]:
        print("        ", e)

# ---- memdb index requirements (non-allow-missing indexes, after restore_defaults)
import re
UUID_OK = lambda s: len(s) == 36 and s.count("-") <= 4 and re.fullmatch(r"[0-9a-fA-F]*", s.replace("-", "")) is not None
idx_checked = collections.Counter(); idx_bad = []
def part_ok(p, obj):
    ind = p["indexer"]
    if ind in ("string", "uuid"):
        v = obj.get(p["field"].encode())
        s = v.decode() if isinstance(v, bytes) else ""
        if s == "":
            return False
        if ind == "uuid" and not UUID_OK(s):
            raise ValueError(f"bad uuid {s!r}")
        return True
    if ind in ("uint", "int", "field-set", "bool"):
        return True
    if ind.startswith("compound"):
        for q in p["parts"]:
            if not part_ok(q, obj):
                if p["compound_allow_missing"]:
                    break
                return False
        return True
    return True  # custom: not modelled here
for path in sys.argv[2:]:
    with tarfile.open(fileobj=io.BytesIO(gzip.open(path).read())) as tf:
        state = tf.extractfile("state.bin").read()
    for t, obj in records(state):
        ixs = schema["indexes"].get(str(t))
        if not ixs:
            continue
        for dft in schema["restore_defaults"].get(str(t), []):
            if not obj.get(dft["field"].encode()):
                obj[dft["field"].encode()] = dft["default"].encode()
        for ix in ixs:
            idx_checked[ix["indexer"]] += 1
            try:
                ok = part_ok(ix, obj)
            except ValueError as e:
                idx_bad.append((path, t, ix["name"], str(e))); continue
            if not ok and not (ix["allow_missing"] and not ix.get("primary")):
                idx_bad.append((path, t, ix["name"], "missing"))
print("index checks:", dict(idx_checked), "failures:", idx_bad or "none")
sys.exit(1 if problems or idx_bad else 0)
