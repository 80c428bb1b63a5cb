"""Conformance (issue #4): snaptool's verdict is Nomad's verdict.

The fixed set of mutations in tests/conformance/verdicts.json is rebuilt from
the generator (its bytes must hash as stored, so generator drift is caught),
and snaptool's verdict for Nomad 1.6.1 CE is compared with the verdict the real
Nomad 1.6.1 gave (tests/oracle), overall and at the archive layer. Known
disagreements (tests/conformance/known.json, rules in known.py) are
``xfail(strict=True)``: fixing one in snaptool turns its cases into failures
here until known.json is regenerated (``python -m tests.conformance.known``).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from .conformance import compare as C
from .conformance import known as K
from .conformance import mutate as M

HERE = Path(__file__).resolve().parent / "conformance"
DOC = json.loads((HERE / "verdicts.json").read_text())
VERDICTS: dict[str, dict] = DOC["mutations"]
KNOWN = json.loads((HERE / "known.json").read_text())
KNOWN_BY_ID = {mid: name for name, f in KNOWN.items() for mid in f["ids"]}
OPEN_REPRODUCERS = {r: name for name, f in KNOWN.items() for r in f.get("reproducers", [])}
SEEDS = M.seeds()


def _params():
    out = []
    for mid in VERDICTS:
        marks = []
        if VERDICTS[mid]["seed"] not in SEEDS:
            marks.append(pytest.mark.skip(reason=f"seed {VERDICTS[mid]['seed']} not on this machine"))
        elif mid in KNOWN_BY_ID:
            name = KNOWN_BY_ID[mid]
            marks.append(pytest.mark.xfail(strict=True, reason=f"known disagreement {name} (tests/conformance/known.json)"))
        out.append(pytest.param(mid, marks=marks, id=mid))
    return out


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("conformance")


def _judge(mid: str, workdir: Path) -> tuple[M.Mutation, dict, dict, list[str]]:
    e = VERDICTS[mid]
    m = M.make(mid)
    assert m.sha256 == e["sha256"], f"generator drift: {mid} no longer makes the stored bytes"
    path = workdir / "m.bin"
    path.write_bytes(m.data)
    snap = C.run_snaptool(path, m.plain)
    return m, e["nomad"], snap, C.compare(e["nomad"], snap, SEEDS[m.seed].nomad_state)


@pytest.mark.parametrize("mid", _params())
def test_snaptool_agrees_with_nomad(mid: str, workdir: Path) -> None:
    m, nomad, snap, diff = _judge(mid, workdir)
    assert not diff, (
        f"{m.note}: Nomad {C.nomad_layer(nomad)} {C.nomad_text(nomad)!r}; "
        f"snaptool ok={snap['ok']} {snap['findings']}"
    )


def test_fixed_set_is_large_and_covers_every_class() -> None:
    in_reach = [mid for mid, e in VERDICTS.items() if e["seed"] in SEEDS]
    assert len(VERDICTS) >= 500
    classes = Counter(VERDICTS[mid]["class"] for mid in VERDICTS)
    assert set(classes) == {o.cls for o in M.OPS.values()}, classes
    ops = {mid.split("/")[0] for mid in VERDICTS}
    assert ops == set(M.OPS), set(M.OPS) ^ ops
    # The repository's own seeds (genuine and synthetic fixtures) alone give 500+.
    assert len(in_reach) >= 500


def test_stored_set_is_what_the_generator_enumerates() -> None:
    ci_seeds = [n for n, s in SEEDS.items() if s.ci]
    if set(ci_seeds) != set(DOC["seeds"]):
        pytest.skip("not every CI seed is on this machine")
    assert M.ci_ids() == list(VERDICTS)


def test_known_disagreements_still_classify_as_listed() -> None:
    """Every listed id is explained by its finding's rule (and only those)."""
    for name, f in KNOWN.items():
        assert name in K.FINDINGS
        assert f["reason"] == K.FINDINGS[name]


def test_verdicts_record_the_oracle() -> None:
    o = DOC["oracle"]
    assert o["nomad_version"] == "v1.6.1"
    assert len(o["binary_sha256"]) == 64


@pytest.mark.skipif(not C.oracle_available(), reason="no tests/oracle binary (run tests/oracle/build.sh)")
def test_live_oracle_sample(workdir: Path) -> None:
    """Nomad, run now, still gives the stored verdicts (a small deterministic sample)."""
    ids = sorted(mid for mid, e in VERDICTS.items() if e["seed"] in SEEDS)
    sample = [ids[i] for i in range(0, len(ids), max(1, len(ids) // 24))]
    for mid in sample:
        m = M.make(mid)
        path = workdir / ("live.tar" if m.plain else "live.snap")
        path.write_bytes(m.data)
        now = C.run_oracle(path, m.plain)
        was = VERDICTS[mid]["nomad"]
        for key in ("ok", "archive_ok", "restore_meta_ok", "fsm_ok", "fsm_class"):
            assert now[key] == was[key], (mid, key, now, was)


REPRO = M.REPO / "fixtures" / "conformance"


def _repro_params():
    out = []
    for note in sorted(REPRO.glob("D*.json")):
        d = json.loads(note.read_text())
        name = OPEN_REPRODUCERS.get(note.stem)
        marks = [pytest.mark.xfail(strict=True, reason=f"known disagreement {name}")] if name else []
        out.append(pytest.param(note, marks=marks, id=note.stem))
    return out


@pytest.mark.parametrize("note", _repro_params())
def test_minimal_reproducer(note: Path) -> None:
    d = json.loads(note.read_text())
    nomad = d["nomad_v1.6.1"]  # "snaptool" in the note is the verdict when it was written
    snap = C.run_snaptool(note.with_name(d["file"]), False)
    assert not C.compare(nomad, snap), (d["how"], C.nomad_text(nomad), snap["findings"])
