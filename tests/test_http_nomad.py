"""save and restore against a real Nomad (tests/harness/build_nomad.sh v1.6.1).

Loopback only; every agent is stopped in ``finally`` (context managers);
every wait is bounded.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from snaptool.cli import app
from snaptool.commands import inspect

from .conftest import CASES, needs_shared
from .nomad_agent import NomadAgent, nomad_binary

VERSION = "v1.6.1"
NOMAD = nomad_binary(VERSION)

pytestmark = [
    pytest.mark.nomad,
    pytest.mark.skipif(
        NOMAD is None,
        reason=f"no Nomad {VERSION} binary in ~/.cache/snaptool/nomad "
        f"(build it with tests/harness/build_nomad.sh {VERSION})",
    ),
]

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def listing(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("NOMAD_") or key.lower() in ("http_proxy", "https_proxy", "all_proxy"):
            monkeypatch.delenv(key, raising=False)


@pytest.fixture(scope="module")
def source() -> Iterator[NomadAgent]:
    """A server with a little state: jobs of three types."""
    with NomadAgent(NOMAD) as agent:
        agent.register_job("web", count=2)
        agent.register_job("nightly", jtype="batch")
        agent.register_job("agentd", jtype="system")
        yield agent


def _meta_fields(report: Any) -> dict[str, Any]:
    meta = report.meta
    servers = [(s.ID, s.Address, s.Suffrage) for s in (meta.Servers or [])]
    return {
        "Version": meta.Version, "Index": meta.Index, "Term": meta.Term,
        "ConfigurationIndex": meta.ConfigurationIndex, "Size": meta.Size, "Servers": servers,
    }


def test_save_equals_nomad_cli_save(source: NomadAgent, tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours.snap", tmp_path / "nomad.snap"
    for _ in range(3):  # both at the same raft index (nothing else writes here)
        for f in (ours, theirs):
            f.unlink(missing_ok=True)
        result = run("save", "--address", source.addr, str(ours))
        assert result.exit_code == 0, result.output
        assert "Digest sha-256 checked" in result.stdout and "Nomad 1.6.1 CE" in result.stdout
        cli = source.cli("operator", "snapshot", "save", str(theirs))
        assert cli.returncode == 0, cli.stderr
        a, b = inspect(ours), inspect(theirs)
        if a.meta.Index == b.meta.Index:
            break
    assert _meta_fields(a) == _meta_fields(b)
    assert [(r.name, r.count, r.sum) for r in a.rows] == [(r.name, r.count, r.sum) for r in b.rows]
    assert {"Job", "Eval", "JobSummary", "JobVersion"} <= {r.name for r in a.rows}
    assert a.verify.ok and b.verify.ok
    # and Nomad reads ours
    check = source.cli("operator", "snapshot", "inspect", str(ours))
    assert check.returncode == 0, check.stderr
    assert a.meta.ID in check.stdout
    assert listing(tmp_path) == ["nomad.snap", "ours.snap"]


def test_saved_archive_restores_into_fresh_agent(source: NomadAgent, tmp_path: Path) -> None:
    snap = tmp_path / "backup.snap"
    result = run("save", "--json", "--address", source.addr, str(snap))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["server"]["version"] == "1.6.1" and summary["digest"]["checked"] is True
    want = source.job_ids()
    with NomadAgent(NOMAD) as fresh:
        assert fresh.job_ids() == []
        result = run("restore", "--yes", "--address", fresh.addr, str(snap))
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith(f"Snapshot restored: {snap}")
        assert fresh.job_ids() == want
        assert fresh.alive()


@needs_shared
def test_invalid_cases_are_refused_before_the_agent_is_touched(source: NomadAgent) -> None:
    expected = json.loads((CASES / "expected.json").read_text())
    bad = sorted(name for name, e in expected.items() if not e["ok"])
    assert len(bad) >= 10
    jobs, indexes = source.job_ids(), source.raft_indexes()
    log_before = source.log_tail(100000).count("snapshot restore")
    for name in bad:
        result = run("restore", "--yes", "--address", source.addr, str(CASES / name))
        assert result.exit_code == 1, (name, result.output)
        assert "not sent" in result.stderr and "Nomad 1.6.1 CE" in result.stderr, name
    # valid for the newest Nomad, but WrappedRootKeys (type 30) would crash 1.6.1
    result = run("restore", "--yes", "--address", source.addr, str(CASES / "ok-canonical.snap"))
    assert result.exit_code == 1 and "type 30" in result.stdout
    assert source.alive()
    assert source.job_ids() == jobs and source.raft_indexes() == indexes
    assert source.log_tail(100000).count("snapshot restore") == log_before


def test_acl_missing_token_is_403(tmp_path: Path) -> None:
    with NomadAgent(NOMAD, acl=True) as agent:
        agent.bootstrap()
        result = run("save", "--address", agent.addr, str(tmp_path / "a.snap"))
        assert result.exit_code == 1
        line = result.stderr.strip()
        assert len(line.splitlines()) == 1
        assert "permission denied (HTTP 403" in line and "management token" in line
        assert listing(tmp_path) == []
        # the management token saves; restore without a token is refused before sending
        result = run("save", "--token", agent.token, "--address", agent.addr, str(tmp_path / "a.snap"))
        assert result.exit_code == 0, result.output
        indexes = agent.raft_indexes()
        result = run("restore", "--yes", "--address", agent.addr, str(tmp_path / "a.snap"))
        assert result.exit_code == 1 and "management token" in result.stderr
        assert "ACLs are enabled and no token was given" in result.stderr
        result = run("restore", "--yes", "--token", "00000000-0000-0000-0000-000000000000",
                     "--address", agent.addr, str(tmp_path / "a.snap"))
        assert result.exit_code == 1 and "does not know the token" in result.stderr
        assert agent.raft_indexes() == indexes


class _Proxy:
    """Forwards to Nomad; replaces (or drops) the snapshot's Digest header."""

    def __init__(self, upstream: str, digest: str | None) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                conn = http.client.HTTPConnection(host, int(port), timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() in ("x-nomad-token",)}
                    conn.request("GET", self.path, headers=headers)
                    resp = conn.getresponse()
                    body = resp.read()
                    self.send_response(resp.status)
                    for k, v in resp.getheaders():
                        if k.lower() in ("content-length", "transfer-encoding", "connection", "digest"):
                            continue
                        self.send_header(k, v)
                    if self.path.startswith("/v1/operator/snapshot"):
                        proxy.seen_digest = resp.getheader("Digest")
                        if proxy.digest is not None:
                            self.send_header("Digest", proxy.digest)
                    elif resp.getheader("Digest"):
                        self.send_header("Digest", resp.getheader("Digest"))
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                finally:
                    conn.close()

        self.digest = digest
        self.seen_digest: str | None = None
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.addr = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> _Proxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def test_wrong_digest_from_proxy_is_detected(source: NomadAgent, tmp_path: Path) -> None:
    wrong = "sha-256=" + base64.b64encode(hashlib.sha256(b"not the snapshot").digest()).decode()
    with _Proxy(source.addr, wrong) as proxy:
        result = run("save", "--address", proxy.addr, str(tmp_path / "a.snap"))
        assert proxy.seen_digest and proxy.seen_digest.startswith("sha-256=")
    assert result.exit_code == 2
    assert "Digest mismatch" in result.stderr and "nothing saved" in result.stderr
    assert listing(tmp_path) == []


def test_missing_digest_via_proxy_warns_but_saves(source: NomadAgent, tmp_path: Path) -> None:
    with _Proxy(source.addr, None) as proxy:
        result = run("save", "--address", proxy.addr, str(tmp_path / "a.snap"))
    assert result.exit_code == 0, result.output
    assert "no Digest header" in result.stderr
    assert listing(tmp_path) == ["a.snap"]


def test_save_stale_and_region(source: NomadAgent, tmp_path: Path) -> None:
    result = run("save", "--stale", "--region", "global", "--address", source.addr, str(tmp_path / "a.snap"))
    assert result.exit_code == 0, result.output
    result = run("save", "--region", "mars", "--address", source.addr, str(tmp_path / "b.snap"))
    assert result.exit_code == 1 and "No path to region" in result.stderr, result.output
    assert listing(tmp_path) == ["a.snap"]
