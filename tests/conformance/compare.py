"""Nomad's verdict (the oracle) against snaptool's, for one mutated file.

Nomad's overall verdict is ``archive.ok and restore_meta.ok and fsm.ok`` of
``tests/oracle`` (Nomad v1.6.1); snaptool's is ``verify(...).ok`` with
``Target((1, 6, 1), "ce")``. The layer is compared too: Nomad's archive
reader accepts exactly when snaptool has no finding of severity ``reject``.
Seeds whose state.bin is not Nomad's (the Consul-derived corpus tars) are
compared on the archive layer only: Nomad fails them in the FSM for schema
reasons snaptool does not model (spec/limitations.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

from snaptool.checks import Target
from snaptool.commands import verify

TARGET = Target((1, 6, 1), "ce")
ORACLE = Path(os.environ.get("SNAPTOOL_CACHE", Path.home() / ".cache" / "snaptool")) / "oracle" / "v1.6.1" / "oracle"


def oracle_available() -> bool:
    return ORACLE.is_file() and os.access(ORACLE, os.X_OK)


def oracle_info() -> dict:
    key = ORACLE.with_name("oracle.key")
    return {
        "nomad_version": "v1.6.1",
        "binary": "tests/oracle (build.sh): ${SNAPTOOL_CACHE:-~/.cache/snaptool}/oracle/v1.6.1/oracle",
        "binary_sha256": hashlib.sha256(ORACLE.read_bytes()).hexdigest(),
        "oracle_key": key.read_text().strip() if key.exists() else None,
    }


def run_oracle(path: str | Path, plain: bool, timeout: float = 60) -> dict:
    """The oracle's verdict, reduced to what the comparison needs."""
    args = [str(ORACLE)] + (["--plain-tar"] if plain else []) + [str(path)]
    p = subprocess.run(args, capture_output=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"oracle exit {p.returncode}: {p.stderr[-500:]!r}")
    d = json.loads(p.stdout)
    fsm = d.get("fsm") or {}
    rm = d.get("restore_meta") or {}
    arch = d.get("archive") or {}
    return {
        "ok": bool(d["ok"]),
        "archive_ok": bool(arch.get("ok")),
        "archive_error": arch.get("error"),
        "after_tar": arch.get("after_tar"),
        "restore_meta_ok": bool(rm.get("ok")),
        "restore_meta_error": rm.get("error"),
        "fsm_ok": bool(fsm.get("ok")),
        "fsm_error": fsm.get("error"),
        "fsm_class": fsm.get("class"),
        "fsm_consumed": fsm.get("consumed_bytes"),
        # the FSM swapped in the restored store (only after Commit())
        "fsm_committed": fsm.get("committed"),
        "state_bytes": arch.get("state_bytes"),
    }


def run_snaptool(path: str | Path, plain: bool) -> dict:
    r = verify(path, plain_tar=plain, target=TARGET, schema=True)
    return {
        "ok": r.ok,
        "archive_ok": not any(f.severity == "reject" for f in r.findings),
        "findings": [
            [f.code, f.severity, f.nomad or ""] for f in r.findings if f.severity in ("reject", "restore")
        ],
        "warnings": sorted({f.code for f in r.findings if f.severity == "warning"}),
    }


def nomad_restores(n: dict) -> bool:
    """Nomad restores the archive: every check passes AND the FSM restore read
    all of state.bin. A restore that stops early without an error (type 20 on
    1.0.0-1.9.3, TimeTable on 1.9.2) returns before committing and applies
    nothing, although the API answers 200 (seen live: 0 of 11 jobs); the
    oracle reports whether the restored store was swapped in. The spec
    counts that as not restored, and so does snaptool."""
    consumed, total = n.get("fsm_consumed"), n.get("state_bytes")
    stopped_early = consumed is not None and total is not None and consumed < total
    if n.get("fsm_committed") is False:  # returned early at the very last record
        stopped_early = True
    return bool(n["ok"]) and not stopped_early


def compare(nomad: dict, snap: dict, nomad_state: bool = True) -> list[str]:
    """The ways the two verdicts differ: [] when they agree."""
    out = []
    if nomad["archive_ok"] != snap["archive_ok"]:
        out.append("archive")
    if nomad_state and nomad_restores(nomad) != snap["ok"]:
        out.append("overall")
    return out


def nomad_layer(n: dict) -> str:
    if not n["archive_ok"]:
        return "archive"
    if not n["restore_meta_ok"]:
        return "restore_meta"
    if not n["fsm_ok"]:
        return f"fsm:{n['fsm_class']}"
    return "ok"


def nomad_text(n: dict) -> str:
    return n["archive_error"] or n["restore_meta_error"] or n["fsm_error"] or ""


def signature(cls: str, diff: list[str], n: dict, s: dict) -> str:
    """Groups disagreements that probably share a cause."""
    text = re.sub(r"\d+", "N", nomad_text(n))
    text = re.sub(r'"[^"]*"', '"X"', text)[:80]
    codes = ",".join(sorted({c for c, _, _ in s["findings"]})) or "-"
    return f"{cls}|{'+'.join(diff)}|nomad={nomad_layer(n)}:{text}|snaptool={codes}"
