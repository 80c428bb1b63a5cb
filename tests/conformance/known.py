"""Known disagreements between snaptool and Nomad 1.6.1, as rules.

Each finding is a rule over (Nomad's verdict, snaptool's verdict, the ways
they differ). ``classify`` names the finding a disagreement belongs to, or
``None`` for a new, unexplained one. ``python -m tests.conformance.known``
recomputes ``known.json`` (the CI ids each finding covers) from the stored
verdicts and the current snaptool; the test marks those ids
``xfail(strict=True)``, so a fix in snaptool shows up as XPASS -> failure,
and this file and known.json are then updated.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

FINDINGS = {
    "D1-record-schema": (
        "snaptool does not decode records into Nomad's Go types: a record that is well-formed "
        "msgpack but fails Nomad's typed decode (a non-map value for a struct, an array/map/bool "
        "where a string or []byte is expected, a float or string for an integer field, a time "
        "binary with a bad version byte) or the state-store insert (zero primary key: 'object "
        "missing primary index'; a malformed UUID in an indexed field) is reported restorable"
    ),
    "D2-type20-abort": (
        "Nomad 1.6.1 stops the FSM restore at the first type-20 (EventSink) record and returns "
        "success without reading its value or anything after it; snaptool reports "
        "state.aborting-type (severity restore) and also judges the bytes after it "
        "(state.undecodable / state.truncated)"
    ),
    "D3-array-header": (
        "Nomad decodes the state.bin header into an empty struct, and go-msgpack accepts any "
        "msgpack array there (any length, any elements); snaptool reports state.bad-header for "
        "an array header"
    ),
    "D4-consul-header-heuristic": (
        "snaptool's state.consul check fires on a Consul-looking header map "
        "(81 a9 'LastIndex' ...) although Nomad ignores the header's keys and the records "
        "after it are Nomad's and restore fine"
    ),
    "D5-gnu-sparse-typeflag": (
        "Go's tar reader rejects typeflag 'S' (old GNU sparse) in a header that is not in "
        "GNU format ('archive/tar: invalid tar header'); snaptool ignores the typeflag and "
        "accepts the entry"
    ),
    "D6-meta-peers-base64": (
        "Go decodes meta.json Peers ([]byte) with strict padded standard base64 (after dropping "
        "CR/LF): the length must be a multiple of 4 and '=' may only end the text; snaptool's "
        "base64.b64decode(validate=True) accepts excess padding, e.g. 28 characters + '==' "
        "(Go: 'illegal base64 data at input byte 28')"
    ),
    "D7-meta-duplicate-key-type": (
        "Go's json.Unmarshal decodes every occurrence of a duplicated key and fails if any of "
        "them has the wrong type, even when a later one is right ({\"Version\":\"1\",\"Version\":1}, "
        "Servers [{\"ID\":0,\"ID\":\"x\"}]); snaptool's json.loads keeps only the last value"
    ),
}


def classify(nomad: dict, snap: dict, diff: list[str]) -> str | None:
    if not diff:
        return None
    codes = {c for c, _, _ in snap["findings"]}
    if "archive" in diff:
        if (
            not nomad["archive_ok"]
            and "invalid tar header" in (nomad["archive_error"] or "")
            and snap["archive_ok"]
        ):
            return "D5-gnu-sparse-typeflag"
        err = nomad["archive_error"] or ""
        if snap["archive_ok"] and "failed to decode snapshot metadata" in err:
            if "illegal base64" in err:
                return "D6-meta-peers-base64"
            if "cannot unmarshal" in err:
                return "D7-meta-duplicate-key-type"
        return None
    if nomad["ok"] and not snap["ok"]:
        stopped_early = (nomad.get("fsm_consumed") or 0) < (nomad.get("state_bytes") or 0)
        # Nomad accepting bytes snaptool calls truncated/undecodable means Nomad never read
        # them: they follow a record where its restore stops (a lone type byte 20 at the end
        # is read, so consumed == length there).
        unread = bool(codes) and codes <= {"state.truncated", "state.undecodable"}
        if "state.aborting-type" in codes or stopped_early or unread:
            return "D2-type20-abort"
        if codes == {"state.bad-header"}:
            return "D3-array-header"
        if codes == {"state.consul"}:
            return "D4-consul-header-heuristic"
        return None
    if not nomad["ok"] and snap["ok"]:
        if nomad["archive_ok"] and nomad["restore_meta_ok"] and nomad["fsm_class"] in ("decode-error", "other"):
            return "D1-record-schema"
    return None


KNOWN = Path(__file__).with_name("known.json")


def main() -> None:
    from . import compare as C
    from . import mutate as M

    doc = json.loads(Path(__file__).with_name("verdicts.json").read_text())
    known: dict[str, list[str]] = {k: [] for k in FINDINGS}
    new = []
    with tempfile.TemporaryDirectory() as td:
        for mid, e in doc["mutations"].items():
            if e["seed"] not in M.seeds():
                continue
            m = M.make(mid)
            p = Path(td) / "m"
            p.write_bytes(m.data)
            snap = C.run_snaptool(p, m.plain)
            diff = C.compare(e["nomad"], snap, M.seeds()[m.seed].nomad_state)
            if not diff:
                continue
            f = classify(e["nomad"], snap, diff)
            if f is None:
                new.append((mid, C.signature(m.cls, diff, e["nomad"], snap)))
            else:
                known[f].append(mid)
    repro: dict[str, list[str]] = {k: [] for k in FINDINGS}
    for note in sorted((M.REPO / "fixtures" / "conformance").glob("D*.json")):
        d = json.loads(note.read_text())
        snap = C.run_snaptool(note.with_name(d["file"]), False)
        if C.compare(d["nomad_v1.6.1"], snap):
            name = next(k for k in FINDINGS if k.startswith(d["finding"] + "-"))
            repro[name].append(note.stem)
    out = {k: {"reason": FINDINGS[k], "ids": sorted(v), "reproducers": repro[k]} for k, v in known.items()}
    KNOWN.write_text(json.dumps(out, indent=1) + "\n")
    for k, v in known.items():
        print(f"{k}: {len(v)} fixed-set ids, reproducers still disagreeing: {repro[k]}")
    for mid, sig in new:
        print("UNCLASSIFIED", mid, sig)


if __name__ == "__main__":
    main()
