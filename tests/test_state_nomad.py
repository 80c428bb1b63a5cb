"""state, job, filter and redact against the real Nomad.

* ``nomad operator snapshot state`` (run here, on every genuine fixture of
  the binary's version) equals ``snaptool state --document``;
* the same command reads snaptool's filtered and redacted archives (a full
  in-process FSM restore) and shows what snaptool says it kept;
* filtered and redacted archives restore into a fresh agent
  (``PUT /v1/operator/snapshot``), and a redacted ACL cluster can be
  recovered with an ACL bootstrap reset;
* a job extracted with ``snaptool job`` registers (``PUT /v1/jobs``) and
  reads back equal to the original on every field the server does not own.

Agents run on 127.0.0.1 with random ports (tests/harness/make_fixtures.py's
Agent), are killed in ``finally``, and every wait is bounded.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from snaptool.export import export_lines, render_document
from snaptool.jobspec import DROPPED_FIELDS, SCALING_DROPPED, find_job, job_request
from snaptool.rewrite import filter_decider, redact_decider, redact_meta_addresses, rewrite_archive

from .conftest import GENUINE, REPO
from .test_export import _version, nomad_golden_differences

pytestmark = pytest.mark.nomad

CACHE = Path(os.environ.get("SNAPTOOL_CACHE", Path.home() / ".cache" / "snaptool"))


def nomad_binary(version: str) -> Path | None:
    path = CACHE / "nomad" / version / "nomad"
    return path if path.is_file() and os.access(path, os.X_OK) else None


NOMAD_161 = nomad_binary("v1.6.1")
BASIC = GENUINE / "nomad-1.6.1-basic.snap"
ACL = GENUINE / "nomad-1.6.1-acl.snap"

needs_161 = pytest.mark.skipif(
    NOMAD_161 is None or not BASIC.exists() or not ACL.exists(),
    reason=f"needs Nomad v1.6.1 at {CACHE}/nomad/v1.6.1/nomad (tests/harness/build_nomad.sh) "
    "and the genuine 1.6.1 fixtures",
)


def _harness():
    sys.path.insert(0, str(REPO / "tests" / "harness"))
    try:
        import make_fixtures  # noqa: PLC0415
    finally:
        sys.path.pop(0)
    return make_fixtures


def snapshot_state(nomad: Path, snap: Path) -> dict:
    p = subprocess.run(
        [str(nomad), "operator", "snapshot", "state", str(snap)],
        capture_output=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("NOMAD_")},
    )
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    return json.loads(p.stdout)


# -- goldens from the binary --------------------------------------------------


def _fixtures_with_binary() -> list[tuple[Path, Path]]:
    out = []
    for snap in sorted(GENUINE.glob("nomad-*.snap")):
        version = "v" + ".".join(map(str, _version(snap.name)))
        binary = nomad_binary(version)
        if binary is not None:
            out.append((snap, binary))
    return out


@pytest.mark.parametrize("snap,binary", _fixtures_with_binary(), ids=lambda p: Path(p).name)
def test_document_equals_live_nomad(snap, binary):
    golden = snapshot_state(binary, snap)
    assert nomad_golden_differences(snap, golden, _version(snap.name)) == []


def test_a_binary_is_there():
    if not _fixtures_with_binary():
        pytest.skip(f"no Nomad binary under {CACHE}/nomad (tests/harness/build_nomad.sh)")


@needs_161
def test_nomad_reads_filtered_and_redacted_archives(tmp_path):
    filtered = tmp_path / "filtered.snap"
    report = rewrite_archive(BASIC, filtered, filter_decider(namespace="default", drop_types={3}))
    state = snapshot_state(NOMAD_161, filtered)
    assert state["Evals"] == []
    assert {j["Namespace"] for j in state["Jobs"]} == {"default"}
    assert len(state["Jobs"]) == report.kept.get(1, 0)
    assert nomad_golden_differences(filtered, state, (1, 6, 1)) == []

    redacted = tmp_path / "redacted.snap"
    rewrite_archive(ACL, redacted, redact_decider(node_secrets=True), meta_edit=redact_meta_addresses)
    state = snapshot_state(NOMAD_161, redacted)
    assert state["ACLTokens"] and all(t["SecretID"].startswith("00000000-") for t in state["ACLTokens"])
    assert all(s["Address"].startswith("192.0.2.") for s in state["SnapshotMeta"][0]["Configuration"]["Servers"])
    assert nomad_golden_differences(redacted, state, (1, 6, 1)) == []


# -- agents ---------------------------------------------------------------------


def _restore(agent, path: Path) -> None:
    status, _, body = agent.request("PUT", "/v1/operator/snapshot", path.read_bytes(), raw=True, timeout=60)
    assert status == 200, body


def _wait(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception:  # noqa: BLE001 - retried until the deadline
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            return predicate()
        time.sleep(0.5)


def _comparable(job: dict) -> dict:
    job = {k: v for k, v in job.items() if k not in DROPPED_FIELDS}
    for group in job.get("TaskGroups") or []:
        if isinstance(group.get("Scaling"), dict):
            group["Scaling"] = {k: v for k, v in group["Scaling"].items() if k not in SCALING_DROPPED}
    return job


@needs_161
def test_jobs_register_and_filtered_archive_restores(tmp_path):
    mf = _harness()
    agent = mf.Agent(str(NOMAD_161), str(tmp_path), "state-jobs", acl=False, client=False)
    try:
        agent.start()
        agent.wait_leader(timeout=60)
        # every default-namespace job of the basic fixture that needs no node pool
        candidates = ["web", "report", "node-agent", "cleanup", "nightly", "render", "retired"]
        for job_id in candidates:
            record = find_job(BASIC, job_id)
            body = job_request(record)
            agent.put("/v1/jobs", body)
            got = agent.get(f"/v1/job/{job_id}")
            want = render_document(1, record.value, show_secrets=True)
            assert _comparable(got) == _comparable(want), job_id
            assert got["Version"] == 0 and not got["Stop"]
        # an older version, through the JobVersion record
        old = find_job(BASIC, "web", version=0)
        agent.put("/v1/jobs", job_request(old))
        got = agent.get("/v1/job/web")
        assert got["Version"] == 1
        assert _comparable(got) == _comparable(render_document(9, old.value, show_secrets=True))

        # a filtered archive restores: one namespace, no evals
        filtered = tmp_path / "default-only.snap"
        rewrite_archive(BASIC, filtered, filter_decider(namespace="default", drop_types={3}))
        _restore(agent, filtered)
        expected = sorted(
            d["Value"]["ID"]
            for d in (json.loads(line) for line in _lines(filtered))
            if d["Type"] == "Job"
        )
        jobs = _wait(lambda: agent.get("/v1/jobs?namespace=*"))
        # the leader's periodic dispatcher may launch a child of a periodic
        # job of the snapshot after the restore (whether it does depends on
        # the time of day); any other job must come from the snapshot
        ids = {j["ID"] for j in jobs}
        launched = {
            j["ID"] for j in jobs
            if j["ID"] not in expected and j.get("ParentID") in expected and j["ID"].startswith(j["ParentID"] + "/periodic-")
        }
        assert sorted(ids - launched) == expected
        assert {j["Namespace"] for j in jobs} == {"default"}
        assert [n["Name"] for n in agent.get("/v1/namespaces")] == ["default"]
        # evals created after the restore (e.g. by the leader's periodic
        # dispatcher) may exist; none of the snapshot's evals may
        snapshot_evals = {
            d["Value"]["ID"]
            for d in (json.loads(line) for line in _lines(BASIC))
            if d["Type"] == "Eval"
        }
        assert not snapshot_evals & {e["ID"] for e in agent.get("/v1/evaluations?namespace=*")}
    finally:
        agent.stop()
        agent.kill_leftovers()


def _lines(path: Path) -> list[str]:
    buf = io.StringIO()
    export_lines(path, buf, show_secrets=True)
    return buf.getvalue().splitlines()


@needs_161
def test_redacted_archive_restores_and_old_secrets_are_dead(tmp_path):
    mf = _harness()
    manifest = json.loads((GENUINE / "MANIFEST.json").read_text())
    acl = manifest["fixtures"][ACL.name]["acl"]
    old_secret = acl["bootstrap_secret"]
    redacted = tmp_path / "redacted.snap"
    rewrite_archive(ACL, redacted, redact_decider(), meta_edit=redact_meta_addresses)

    agent = mf.Agent(str(NOMAD_161), str(tmp_path), "state-redact", acl=True, client=False)
    try:
        agent.start()
        agent.wait_leader(timeout=60)
        agent.token = agent.post("/v1/acl/bootstrap")["SecretID"]
        _restore(agent, redacted)
        # the restored state replaced the bootstrap token and every secret
        # in it is a placeholder nobody knows: the old secret is refused
        agent.token = old_secret
        with pytest.raises(mf.ApiError) as refused:
            agent.get("/v1/jobs")
        assert refused.value.status == 403
        # recovery: ACL bootstrap reset, as for a lost management token
        agent.token = None
        with pytest.raises(mf.ApiError) as done:
            agent.post("/v1/acl/bootstrap")
        reset = int(done.value.body.decode().rsplit("reset index: ", 1)[1].split(")")[0])
        Path(agent.data_dir, "server", "acl-bootstrap-reset").write_text(str(reset))
        agent.token = agent.post("/v1/acl/bootstrap")["SecretID"]
        assert [j["ID"] for j in agent.get("/v1/jobs")] == ["acl-web"]
        assert sorted(p["Name"] for p in agent.get("/v1/acl/policies")) == ["ops", "readonly"]
        restored = agent.get(f"/v1/acl/token/{acl['bootstrap_accessor']}")
        assert restored["SecretID"].startswith("00000000-") and restored["SecretID"] != old_secret
        assert restored["Type"] == "management"
    finally:
        agent.stop()
        agent.kill_leftovers()
