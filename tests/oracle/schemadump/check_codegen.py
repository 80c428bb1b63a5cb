"""Compare the msgpack keys in the schema with those in Nomad's codecgen output.

Usage: check_codegen.py SCHEMA.json NOMAD_DIR/nomad/structs/structs.generated.go

structs.generated.go (build tag codegen_generated, which Nomad's release
builds use) holds a CodecEncodeSelf / codecDecodeSelfFromMap per type. For
every nomad/structs type in the schema this checks that the keys the
generated encoder writes and the generated decoder recognises are exactly the
schema's fields.
"""
import json, re, sys
schema = json.load(open(sys.argv[1]))
src = open(sys.argv[2]).read()
# split by function
funcs = re.split(r'\nfunc ', src)
enc, dec = {}, {}
for f in funcs:
    m = re.match(r'\(x \*(\w+)\) (CodecEncodeSelf|codecDecodeSelfFromMap)\(', f)
    if not m: continue
    name, kind = m.groups()
    if kind == 'CodecEncodeSelf':
        enc[name] = set(re.findall(r'r\.EncodeStringEnc\(codecSelferCcUTF8100, `([^`]*)`\)', f))
    else:
        dec[name] = set(re.findall(r'\n\t\tcase "([^"]*)":', f))
print("generated encoders:", len(enc), "decoders-from-map:", len(dec))
bad = 0; checked = 0
for tname, t in schema['types'].items():
    if not schema['go_types'][tname].startswith('github.com/hashicorp/nomad/nomad/structs.'):
        continue
    n = tname.split('.', 1)[1]
    keys = set(t['fields'])
    if n not in enc:
        print("no generated encoder for", tname); bad += 1; continue
    checked += 1
    for label, got in (('encode', enc[n]), ('decode', dec.get(n, set()))):
        if got != keys:
            bad += 1
            print(tname, label, "only in generated:", sorted(got-keys), "only in schema:", sorted(keys-got))
print("checked", checked, "nomad/structs types; mismatches:", bad)
sys.exit(1 if bad else 0)
