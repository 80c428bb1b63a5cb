"""``snaptool diff`` on genuine before/after pairs from a real Nomad 1.6.1.

The pairs and the facts about them (job versions, token accessors) come from
``tests/harness/make_diff_pairs.py`` and Nomad's HTTP API; the expectations
below are written from the known change, not from snaptool's output. Each
pair is checked three ways: the expected objects and fields are reported;
types the change cannot touch report nothing; secrets never appear.

Churn that any raft write causes is allowed: Index records (one per memdb
table), evaluations, and the changed object's own index and time fields.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from snaptool.cli import app
from snaptool.diff import DiffReport, ObjectChange, diff

from .conftest import GENUINE

PAIRS = GENUINE / "pairs"
MANIFEST = json.loads((PAIRS / "MANIFEST.json").read_text()) if PAIRS.is_dir() else {"pairs": []}
BY_NAME = {p["name"]: p for p in MANIFEST["pairs"]}

#: Types any raft write may change as a side effect.
CHURN = {"Index", "Eval"}

#: Per pair, the record types the change may touch (besides CHURN).
TOUCHES: dict[str, set[str]] = {
    "scale": {"Job", "JobVersion", "JobSummary", "ScalingEvents"},
    "new-version": {"Job", "JobVersion", "JobSummary"},
    "stop": {"Job", "JobVersion", "JobSummary"},
    "variable-added": {"Variables", "VariablesQuota"},
    "variable-updated": {"Variables", "VariablesQuota"},
    "namespace-added": {"Namespace"},
    "node-pool-added": {"NodePool"},
    "acl-token-added": {"ACLPolicy", "ACLToken"},
    "acl-token-renamed": {"ACLToken"},
    "purge": {"Job", "JobVersion", "JobSummary", "ScalingEvents", "Deployment"},
    "resaved": set(),
}

#: Fields every write to an object bumps.
BOOKKEEPING = {"ModifyIndex", "JobModifyIndex", "ModifyTime", "SubmitTime", "Hash"}

runner = CliRunner()


def _pair(name: str) -> tuple[dict[str, Any], Path, Path]:
    if name not in BY_NAME:
        pytest.skip(f"pair {name} is not in {PAIRS}")
    p = BY_NAME[name]
    return p, PAIRS / p["before"], PAIRS / p["after"]


def _run(name: str) -> tuple[dict[str, Any], DiffReport]:
    p, a, b = _pair(name)
    return p, diff(a, b)


def _objects(report: DiffReport, type_name: str) -> list[ObjectChange]:
    return [o for o in report.objects if o.name == type_name]


def _one(report: DiffReport, type_name: str, id_: str, op: str) -> ObjectChange:
    found = [o for o in _objects(report, type_name) if o.id == id_]
    assert len(found) == 1, f"{type_name} {id_}: {[(o.op, o.id) for o in _objects(report, type_name)]}"
    assert found[0].op == op
    return found[0]


def _changes(obj: ObjectChange) -> dict[str, Any]:
    return {c.path: c for c in obj.changes}


def _assert_untouched(name: str, report: DiffReport) -> None:
    allowed = TOUCHES[name] | CHURN
    stray = [(o.name, o.op, o.id) for o in report.objects if o.name not in allowed]
    assert not stray, f"{name}: unexpected changes {stray}"


def _assert_only_fields(obj: ObjectChange, expected: set[str]) -> None:
    extra = {c.path for c in obj.changes} - expected - BOOKKEEPING
    assert not extra, f"{obj.name} {obj.id}: unexpected field changes {extra}"


def _cli_outputs(name: str) -> tuple[str, str]:
    _, a, b = _pair(name)
    text = runner.invoke(app, ["diff", str(a), str(b)])
    js = runner.invoke(app, ["diff", "--json", str(a), str(b)])
    assert text.exit_code == 1 and js.exit_code == 1
    return text.stdout, js.stdout


# -- the pairs ---------------------------------------------------------------------


def test_scale() -> None:
    p, r = _run("scale")
    before, after = p["facts"]["before"], p["facts"]["after"]
    job = _one(r, "Job", "default/web", "changed")
    ch = _changes(job)
    assert (ch["TaskGroups[web].Count"].old, ch["TaskGroups[web].Count"].new) == (2, 3)
    assert (ch["Version"].old, ch["Version"].new) == (before["Version"], after["Version"])
    _assert_only_fields(job, {"TaskGroups[web].Count", "Version"})
    _one(r, "JobVersion", f"default/web/{after['Version']}", "added")
    assert [o.op for o in _objects(r, "JobVersion")] == ["added"]
    # the scale endpoint records a scaling event for the job
    _one(r, "ScalingEvents", "default/web", "added")
    # and its evaluation is new
    _one(r, "Eval", f"default/{p['facts']['api_response']['EvalID']}", "added")
    _assert_untouched("scale", r)
    assert not r.same


def test_new_version() -> None:
    p, r = _run("new-version")
    before, after = p["facts"]["before"], p["facts"]["after"]
    job = _one(r, "Job", "default/web", "changed")
    ch = _changes(job)
    assert (ch["Meta.rev"].old, ch["Meta.rev"].new) == ("1", "2")
    assert (ch["Version"].old, ch["Version"].new) == (before["Version"], after["Version"])
    _assert_only_fields(job, {"Meta.rev", "Version"})
    _one(r, "JobVersion", f"default/web/{after['Version']}", "added")
    assert [o.op for o in _objects(r, "JobVersion")] == ["added"]
    _assert_untouched("new-version", r)


def test_stop() -> None:
    p, r = _run("stop")
    before, after = p["facts"]["before"], p["facts"]["after"]
    job = _one(r, "Job", "default/web", "changed")
    ch = _changes(job)
    assert (ch["Stop"].old, ch["Stop"].new) == (False, True)
    assert (ch["Version"].old, ch["Version"].new) == (before["Version"], after["Version"])
    # a stopped job with no allocations is dead
    _assert_only_fields(job, {"Stop", "Version", "Status"})
    _one(r, "JobVersion", f"default/web/{after['Version']}", "added")
    _assert_untouched("stop", r)


def test_variable_added() -> None:
    _, r = _run("variable-added")
    _one(r, "Variables", "team-a/app/config", "added")
    assert len(_objects(r, "Variables")) == 1
    # the first variable of a namespace creates its quota usage record
    _one(r, "VariablesQuota", "team-a", "added")
    _assert_untouched("variable-added", r)


def test_variable_updated_data_is_secret() -> None:
    p, r = _run("variable-updated")
    var = _one(r, "Variables", "default/nomad/jobs/web", "changed")
    data = _changes(var)["Data"]
    assert data.secret and data.op == "changed" and data.old is None and data.new is None
    assert data.to_dict() == {"path": "Data", "op": "changed", "secret": True}
    _assert_only_fields(var, {"Data"})
    assert len(_objects(r, "Variables")) == 1
    _assert_untouched("variable-updated", r)
    text, js = _cli_outputs("variable-updated")
    assert "Data: <secret changed>" in text
    plaintext = p["facts"]["plaintext_never_printed"]
    for out in (text, js):
        assert plaintext not in out
    assert "Data" in {c["path"] for o in json.loads(js)["objects"] for c in o.get("changes", [])}


def test_namespace_added() -> None:
    _, r = _run("namespace-added")
    _one(r, "Namespace", "team-b", "added")
    assert len(_objects(r, "Namespace")) == 1
    _assert_untouched("namespace-added", r)


def test_node_pool_added() -> None:
    _, r = _run("node-pool-added")
    _one(r, "NodePool", "edge", "added")
    assert len(_objects(r, "NodePool")) == 1
    _assert_untouched("node-pool-added", r)


def test_acl_token_added_secret_never_printed() -> None:
    p, r = _run("acl-token-added")
    _one(r, "ACLPolicy", "readonly", "added")
    _one(r, "ACLToken", p["facts"]["token"]["AccessorID"], "added")
    assert len(_objects(r, "ACLToken")) == 1
    _assert_untouched("acl-token-added", r)
    for out in _cli_outputs("acl-token-added"):
        assert p["facts"]["secret_never_printed"] not in out


def test_acl_token_renamed() -> None:
    p, r = _run("acl-token-renamed")
    tok = _one(r, "ACLToken", p["facts"]["token"]["AccessorID"], "changed")
    ch = _changes(tok)
    assert (ch["Name"].old, ch["Name"].new) == ("reader", "reader-renamed")
    assert "SecretID" not in ch  # unchanged
    _assert_only_fields(tok, {"Name"})
    _assert_untouched("acl-token-renamed", r)
    secret = BY_NAME["acl-token-added"]["facts"]["secret_never_printed"]
    for out in _cli_outputs("acl-token-renamed"):
        assert secret not in out


def test_purge() -> None:
    p, r = _run("purge")
    before = p["facts"]["before"]
    _one(r, "Job", "default/web", "removed")
    removed_versions = sorted(int(o.key["Version"]) for o in _objects(r, "JobVersion"))
    assert removed_versions == before["StoredVersions"]
    assert all(o.op == "removed" for o in _objects(r, "JobVersion"))
    _one(r, "JobSummary", "default/web", "removed")
    _assert_untouched("purge", r)


def test_resaved_same_content_exit_0() -> None:
    _, a, b = _pair("resaved")
    r = diff(a, b)
    assert r.same and not r.objects and not r.meta
    result = runner.invoke(app, ["diff", str(a), str(b)])
    assert result.exit_code == 0 and "same content" in result.stdout


@pytest.mark.parametrize("snap", sorted(p.name for p in PAIRS.glob("*.snap")) if PAIRS.is_dir() else [])
def test_each_snapshot_against_itself(snap: str) -> None:
    r = diff(PAIRS / snap, PAIRS / snap)
    assert r.same and not r.objects and not r.meta


def test_meta_index_grows_along_the_chain() -> None:
    for p in MANIFEST["pairs"]:
        if p["name"] == "resaved":
            continue
        r = diff(PAIRS / p["before"], PAIRS / p["after"])
        index = [m for m in r.meta if m.field == "Index"]
        assert index and index[0].a < index[0].b, p["name"]


def test_first_to_last_composes() -> None:
    """Base -> purged: the job and its versions were added and removed in between."""
    snaps = MANIFEST["snapshots"]
    r = diff(PAIRS / snaps[0]["file"], PAIRS / snaps[-1]["file"])
    _one(r, "Job", "default/web", "removed")
    _one(r, "Namespace", "team-b", "added")
    _one(r, "NodePool", "edge", "added")
    _one(r, "Variables", "team-a/app/config", "added")
    var = _one(r, "Variables", "default/nomad/jobs/web", "changed")
    assert _changes(var)["Data"].secret
