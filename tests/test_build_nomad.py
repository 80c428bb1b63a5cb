"""Built archives against a real Nomad: restore them into a fresh server and
look through the HTTP API; ``nomad operator snapshot inspect`` reads them.

Needs the binaries built by ``tests/harness/build_nomad.sh``; skipped with
the reason otherwise. One server-only agent per Nomad version (127.0.0.1,
random ports, temp data dir), killed in ``finally``.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from snaptool.build import build, load_manifest

from .conftest import FIXTURES
from .nomadlive import Agent, ApiError, nomad_binary, run_cli

pytestmark = pytest.mark.nomad

RECIPES = FIXTURES / "recipes"
VERSIONS = ("v1.6.1", "v1.4.3")


def _recipes() -> list[Path]:
    return sorted(RECIPES.glob("*.yaml"))


def _binary(version: str) -> Path:
    binary = nomad_binary(version)
    if binary is None:
        pytest.skip(f"no Nomad {version} binary (build it with tests/harness/build_nomad.sh {version})")
    return binary


def _built(recipe: Path, tmp_path: Path) -> Path:
    out = tmp_path / (recipe.stem + ".snap")
    build(recipe, output=out, mtime=0)
    return out


@pytest.fixture(scope="module", params=VERSIONS)
def agent(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    binary = _binary(request.param)
    a = Agent(binary)
    try:
        a.start()
        a.wait_leader()
        a.version = request.param  # type: ignore[attr-defined]
        yield a
    finally:
        a.stop()


def _listing(a: Agent) -> dict[str, list[str]]:
    jobs = a.get("/v1/jobs?namespace=*")
    namespaces = a.get("/v1/namespaces")
    variables = a.get("/v1/vars?namespace=*")
    return {
        "jobs": sorted(f"{j['Namespace']}/{j['ID']}" for j in jobs),
        "namespaces": sorted(n["Name"] for n in namespaces),
        "variables": sorted(f"{v['Namespace']}:{v['Path']}" for v in variables or []),
    }


@pytest.mark.parametrize("recipe", _recipes(), ids=lambda p: p.stem)
def test_restore_gives_exactly_the_manifest(agent: Agent, recipe: Path, tmp_path: Path) -> None:
    expect = load_manifest(recipe).get("expect", {})
    if agent.version not in expect.get("nomad", []):  # type: ignore[attr-defined]
        pytest.skip(f"{recipe.name} is not meant for Nomad {agent.version}")  # type: ignore[attr-defined]
    archive = _built(recipe, tmp_path).read_bytes()
    assert agent.restore(archive) == 200
    deadline = time.monotonic() + 10
    while True:
        try:
            got = _listing(agent)
            break
        except (ApiError, OSError):  # leadership settling after the restore
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
    assert agent.alive(), agent.log_tail()
    assert got == {k: sorted(expect[k]) for k in ("jobs", "namespaces", "variables")}


@pytest.mark.parametrize("version", VERSIONS)
def test_nomad_inspect_reads_built_archives(version: str, tmp_path: Path) -> None:
    binary = _binary(version)
    for recipe in _recipes():
        out = _built(recipe, tmp_path)
        expect = load_manifest(recipe)["expect"]
        proc = run_cli(binary, "operator", "snapshot", "inspect", str(out))
        assert proc.returncode == 0, (recipe.name, proc.stderr)
        index = re.search(r"^Index\s+=?\s*(\d+)$", proc.stdout, re.M)
        assert index and int(index.group(1)) == expect["meta"]["Index"], proc.stdout


def test_unknown_type_crashes_161_restore_as_verify_predicts(tmp_path: Path) -> None:
    """newer-type.yaml: snaptool verify --target 1.6.1 says the FSM restore
    fails; the real 1.6.1 refuses the restore (the leader's raft panics)."""
    from snaptool.checks import Target
    from snaptool.commands import verify

    binary = _binary("v1.6.1")
    out = _built(RECIPES / "newer-type.yaml", tmp_path)
    assert not verify(out, target=Target((1, 6, 1), "ce")).ok
    a = Agent(binary)
    try:
        a.start()
        a.wait_leader()
        try:
            status = a.restore(out.read_bytes(), timeout=20)
        except (ApiError, OSError) as exc:
            status = getattr(exc, "status", 0)
        assert status != 200
        time.sleep(0.5)
        assert not a.alive() or "Unrecognized snapshot type" in a.log_tail(200)
    finally:
        a.stop()
