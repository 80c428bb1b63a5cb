"""save and restore through the HTTP API, against a small fake Nomad in-process.

No Go needed: a ``http.server`` on 127.0.0.1 (random port, a thread) answers
like Nomad (right, wrong, missing Digest; 403; 500 "No cluster leader"; a
proxy's HTML 413 page; a slow answer; a cut-off body) and records what it
was sent.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import msgpack
import pytest
from typer.testing import CliRunner

from snaptool import http as snaphttp
from snaptool.cli import app
from snaptool.stream.writer import archive_bytes

from .conftest import CASES, FIXTURES, needs_shared

OK_SNAP = FIXTURES / "synthetic" / "ok-canonical.snap"  # has type 30: needs Nomad 1.9+
runner = CliRunner()

NGINX_413 = (
    b"<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n"
    b"<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx/1.25.3"
    b"</center>\r\n</body>\r\n</html>\r\n"
)


def small_archive(index: int = 14, records: int = 3) -> bytes:
    state = bytearray(b"\x80")
    for i in range(records):
        state += bytes([2]) + msgpack.packb({"Key": f"key-{i}", "Value": i})
    meta = {
        "Version": 1, "ID": f"2-{index}-1700000000000", "Index": index, "Term": 2, "Peers": "",
        "Configuration": {"Servers": []}, "ConfigurationIndex": 1, "Size": len(state),
    }
    return archive_bytes(json.dumps(meta, separators=(",", ":")).encode() + b"\n", bytes(state))


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


class FakeNomad:
    """What the fake answers, and what it was asked."""

    def __init__(self) -> None:
        self.snapshot = OK_SNAP.read_bytes()
        self.version = "2.0.5"
        self.snap_mode = "ok"
        self.put_mode = "ok"
        self.self_status = 200
        self.token_self: tuple[int, Any] = (400, "ACL support disabled")
        self.leader = "127.0.0.1:4647"
        self.delay = 0.0
        self.requests: list[dict[str, Any]] = []
        self.puts: list[bytes] = []
        self.put_sizes: list[int] = []
        #: keep PUT bodies (False: count them only, for memory measurements)
        self.keep_bodies = True
        self.put_headers: list[dict[str, str]] = []

    def count(self, method: str, path: str) -> int:
        return sum(1 for r in self.requests if r["method"] == method and r["path"] == path)


def _handler(fake: FakeNomad) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes | str | Any, ctype: str = "application/json",
                  headers: dict[str, str] | None = None) -> None:
            if isinstance(body, str):
                data, ctype = body.encode(), ("text/plain; charset=utf-8" if ctype == "application/json" else ctype)
            elif isinstance(body, bytes):
                data = body
            else:
                data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _record(self) -> tuple[str, dict[str, list[str]]]:
            parts = urlsplit(self.path)
            fake.requests.append({
                "method": self.command, "path": parts.path, "query": parse_qs(parts.query, keep_blank_values=True),
                "headers": {k.lower(): v for k, v in self.headers.items()},
            })
            return parts.path, parse_qs(parts.query, keep_blank_values=True)

        def do_GET(self) -> None:  # noqa: N802
            path, _ = self._record()
            if path == "/v1/agent/self":
                if fake.self_status != 200:
                    return self._send(fake.self_status, "Permission denied")
                return self._send(200, {
                    "config": {"Region": "global", "Version": {"Version": fake.version, "VersionMetadata": ""}},
                    "member": {"Name": "fake.global", "Tags": {"build": fake.version, "region": "global"}},
                })
            if path == "/v1/agent/members":
                if fake.self_status != 200:
                    return self._send(fake.self_status, "Permission denied")
                return self._send(200, {"ServerRegion": "global", "Members": [
                    {"Name": "fake.global", "Status": "alive",
                     "Tags": {"role": "nomad", "region": "global", "build": fake.version}}]})
            if path == "/v1/status/leader":
                return self._send(200, json.dumps(fake.leader).encode())
            if path == "/v1/acl/token/self":
                status, body = fake.token_self
                return self._send(status, body)
            if path == "/v1/operator/snapshot":
                return self._snapshot()
            self._send(404, "Invalid URL")

        def _snapshot(self) -> None:
            data, mode = fake.snapshot, fake.snap_mode
            good = f"sha-256={b64(hashlib.sha256(data).digest())}"
            if mode == "403":
                return self._send(403, "Permission denied")
            if mode == "no-leader":
                return self._send(500, "No cluster leader")
            if mode == "html413":
                return self._send(413, NGINX_413, "text/html")
            if mode == "html200":
                return self._send(200, b"<!DOCTYPE html><html><head><title>Sign in - Corp Proxy</title>"
                                  b"</head><body>login</body></html>", "application/octet-stream")
            if mode == "empty":
                return self._send(200, b"", "application/octet-stream", {"Digest": f"sha-256={b64(hashlib.sha256(b'').digest())}"})
            if mode == "slow":
                time.sleep(fake.delay)
            digest = {
                "ok": lambda: good,
                "sha512": lambda: f"sha-512={b64(hashlib.sha512(data).digest())}",
                "wrong": lambda: f"sha-256={b64(hashlib.sha256(b'other').digest())}",
                "missing": lambda: None,
                "md5": lambda: f"md5={b64(hashlib.md5(data).digest())}",
                "malformed": lambda: "sha-256",
                "slow": lambda: good,
                "slow-body": lambda: good,
                "cut": lambda: good,
            }[mode]()
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            if digest:
                self.send_header("Digest", digest)
            self.end_headers()
            if mode in ("slow-body", "cut"):
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                if mode == "slow-body":
                    time.sleep(fake.delay)
                self.close_connection = True
                return
            self.wfile.write(data)

        def _read_body(self) -> bytes | int:
            if not fake.keep_bodies:
                left, n = int(self.headers.get("Content-Length", "0")), 0
                while left:
                    got = len(self.rfile.read(min(left, 65536)))
                    if not got:
                        break
                    n, left = n + got, left - got
                return n
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                out = bytearray()
                while True:
                    size = int(self.rfile.readline().strip().split(b";")[0], 16)
                    if size == 0:
                        self.rfile.readline()
                        return bytes(out)
                    out += self.rfile.read(size)
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length", "0")))

        def do_PUT(self) -> None:  # noqa: N802
            path, _ = self._record()
            body = self._read_body()
            if path != "/v1/operator/snapshot":
                return self._send(404, "Invalid URL")
            fake.puts.append(body)
            fake.put_sizes.append(len(body) if isinstance(body, bytes) else body)
            fake.put_headers.append({k.lower(): v for k, v in self.headers.items()})
            if fake.put_mode == "403":
                return self._send(403, "Permission denied")
            if fake.put_mode == "html413":
                return self._send(413, NGINX_413, "text/html")
            if fake.put_mode == "hangup":  # the leader panicked
                self.close_connection = True
                return
            if fake.put_mode == "500":
                return self._send(500, "failed to restore snapshot: something broke")
            self._send(200, b"", headers={"X-Nomad-Index": "99"})

    return Handler


@contextlib.contextmanager
def serve_fake(tls: ssl.SSLContext | None = None) -> Iterator[tuple[FakeNomad, str]]:
    state = FakeNomad()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    server.handle_error = lambda request, address: None  # clients hang up on purpose
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        scheme = "https" if tls is not None else "http"
        yield state, f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture()
def fake() -> Iterator[tuple[FakeNomad, str]]:
    with serve_fake() as served:
        yield served


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("NOMAD_") or key.lower() in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
            monkeypatch.delenv(key, raising=False)


def run(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


def listing(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


# ---------------------------------------------------------------------------
# save


def test_save_ok_digest_checked_and_verified(fake, tmp_path: Path) -> None:
    state, addr = fake
    out = tmp_path / "backup.snap"
    result = run("save", "--address", addr, str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == state.snapshot
    assert listing(tmp_path) == ["backup.snap"]
    assert result.stdout.startswith(f"State file written to {out} (")
    assert "Digest sha-256 checked" in result.stdout and "verified for Nomad 2.0.5 CE" in result.stdout
    assert result.stderr == ""
    assert oct(out.stat().st_mode & 0o777) == "0o600"


def test_save_sha512(fake, tmp_path: Path) -> None:
    state, addr = fake
    state.snap_mode = "sha512"
    result = run("save", "--address", addr, str(tmp_path / "a.snap"))
    assert result.exit_code == 0 and "Digest sha-512 checked" in result.stdout


def test_save_json_summary(fake, tmp_path: Path) -> None:
    state, addr = fake
    out = tmp_path / "a.snap"
    result = run("save", "--json", "--address", addr, str(out))
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["file"] == str(out) and doc["saved"] is True
    assert doc["bytes"] == len(state.snapshot)
    assert doc["digest"] == {
        "algorithm": "sha-256", "value": b64(hashlib.sha256(state.snapshot).digest()), "checked": True,
    }
    assert isinstance(doc["index"], int) and doc["verify"]["ok"] is True
    assert doc["server"]["version"] == "2.0.5" and doc["server"]["source"] == "members"


def test_save_wrong_digest_leaves_nothing(fake, tmp_path: Path) -> None:
    state, addr = fake
    state.snap_mode = "wrong"
    result = run("save", "--address", addr, str(tmp_path / "a.snap"))
    assert result.exit_code == 2
    assert "Digest mismatch" in result.stderr and "nothing saved" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert listing(tmp_path) == []


def test_save_wrong_digest_keeps_existing_file_with_force(fake, tmp_path: Path) -> None:
    state, addr = fake
    state.snap_mode = "wrong"
    out = tmp_path / "a.snap"
    out.write_bytes(b"old backup")
    result = run("save", "--force", "--address", addr, str(out))
    assert result.exit_code == 2
    assert out.read_bytes() == b"old backup" and listing(tmp_path) == ["a.snap"]


def test_save_missing_digest_warns(fake, tmp_path: Path) -> None:
    state, addr = fake
    state.snap_mode = "missing"
    out = tmp_path / "a.snap"
    result = run("save", "--address", addr, str(out))
    assert result.exit_code == 0
    assert "warning: the server sent no Digest header" in result.stderr
    assert out.read_bytes() == state.snapshot


@pytest.mark.parametrize("mode, words", [
    ("md5", "unsupported Digest algorithm 'md5'"),
    ("malformed", "malformed Digest header"),
])
def test_save_bad_digest_header_is_an_error(fake, tmp_path: Path, mode: str, words: str) -> None:
    state, addr = fake
    state.snap_mode = mode
    result = run("save", "--address", addr, str(tmp_path / "a.snap"))
    assert result.exit_code == 2 and words in result.stderr
    assert listing(tmp_path) == []


def test_save_403(fake, tmp_path: Path) -> None:
    state, addr = fake
    state.snap_mode = "403"
    result = run("save", "--address", addr, str(tmp_path / "a.snap"))
    assert result.exit_code == 1
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1
    assert "permission denied (HTTP 403" in line and "management token" in line
    assert "no token was given" in line and "NOMAD_TOKEN" in line
    assert listing(tmp_path) == []


def test_save_no_leader_suggests_stale(fake, tmp_path: Path) -> None:
    state, addr = fake
    state.snap_mode = "no-leader"
    result = run("save", "--address", addr, str(tmp_path / "a.snap"))
    assert result.exit_code == 1
    assert "no leader" in result.stderr and "--stale" in result.stderr
    assert listing(tmp_path) == []


def test_save_stale_region_token_sent(fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state, addr = fake
    monkeypatch.setenv("NOMAD_ADDR", addr)
    monkeypatch.setenv("NOMAD_TOKEN", "secret-from-env")
    monkeypatch.setenv("NOMAD_REGION", "eu")
    result = run("save", "--stale", str(tmp_path / "a.snap"))
    assert result.exit_code == 0, result.output
    snap = [r for r in state.requests if r["path"] == "/v1/operator/snapshot"][0]
    assert snap["query"] == {"stale": [""], "region": ["eu"]}
    assert snap["headers"]["x-nomad-token"] == "secret-from-env"
    assert "secret-from-env" not in result.output
    # the flag wins over the environment
    result = run("save", "--token", "flag", str(tmp_path / "b.snap"))
    assert result.exit_code == 0
    assert [r for r in state.requests if r["path"] == "/v1/operator/snapshot"][-1]["headers"]["x-nomad-token"] == "flag"


def test_save_html_413_from_proxy(fake, tmp_path: Path) -> None:
    state, addr = fake
    state.snap_mode = "html413"
    result = run("save", "--address", addr, str(tmp_path / "a.snap"))
    assert result.exit_code == 2
    assert "HTML page" in result.stderr and "HTTP 413" in result.stderr
    assert "'413 Request Entity Too Large'" in result.stderr
    assert listing(tmp_path) == []


def test_save_html_page_with_200(fake, tmp_path: Path) -> None:
    state, addr = fake
    state.snap_mode = "html200"
    result = run("save", "--address", addr, str(tmp_path / "a.snap"))
    assert result.exit_code == 2
    assert "HTML page" in result.stderr and "Sign in - Corp Proxy" in result.stderr
    assert listing(tmp_path) == []


def test_save_empty_body(fake, tmp_path: Path) -> None:
    state, addr = fake
    state.snap_mode = "empty"
    result = run("save", "--address", addr, str(tmp_path / "a.snap"))
    assert result.exit_code == 2 and "empty body" in result.stderr
    assert listing(tmp_path) == []


def test_save_timeout_before_headers(fake, tmp_path: Path) -> None:
    state, addr = fake
    state.snap_mode, state.delay = "slow", 1.5
    started = time.monotonic()
    result = run("save", "--timeout", "0.3", "--address", addr, str(tmp_path / "a.snap"))
    assert time.monotonic() - started < 1.4
    assert result.exit_code == 2
    assert "timed out" in result.stderr and "--timeout" in result.stderr
    assert listing(tmp_path) == []


def test_save_timeout_mid_body(fake, tmp_path: Path) -> None:
    state, addr = fake
    state.snap_mode, state.delay = "slow-body", 1.5
    result = run("save", "--timeout", "0.3", "--address", addr, str(tmp_path / "a.snap"))
    assert result.exit_code == 2 and "timed out" in result.stderr and "bytes" in result.stderr
    assert listing(tmp_path) == []


def test_save_cut_off_body(fake, tmp_path: Path) -> None:
    state, addr = fake
    state.snap_mode = "cut"
    result = run("save", "--address", addr, str(tmp_path / "a.snap"))
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert listing(tmp_path) == []


def test_save_connection_refused(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run("save", "--address", f"http://127.0.0.1:{port}", str(tmp_path / "a.snap"))
    assert result.exit_code == 2
    assert "connection refused" in result.stderr and "NOMAD_ADDR" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert listing(tmp_path) == []


def test_save_refuses_to_overwrite(fake, tmp_path: Path) -> None:
    state, addr = fake
    out = tmp_path / "a.snap"
    out.write_bytes(b"old")
    result = run("save", "--address", addr, str(out))
    assert result.exit_code == 2 and "already exists" in result.stderr and "--force" in result.stderr
    assert out.read_bytes() == b"old" and state.count("GET", "/v1/operator/snapshot") == 0
    result = run("save", "--force", "--address", addr, str(out))
    assert result.exit_code == 0 and out.read_bytes() == state.snapshot
    assert listing(tmp_path) == ["a.snap"]


def test_save_invalid_archive_is_not_kept(fake, tmp_path: Path) -> None:
    state, addr = fake
    data = bytearray(state.snapshot)
    data[-12] ^= 0xFF  # inside the deflate data / trailer: CRC or deflate error
    state.snapshot = bytes(data)
    result = run("save", "--address", addr, str(tmp_path / "a.snap"))
    assert result.exit_code == 1
    assert "fails verify" in result.stderr and "nothing saved" in result.stderr
    assert "FAIL" in result.stdout and "reject" in result.stdout
    assert listing(tmp_path) == []


def test_save_default_name(fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state, addr = fake
    monkeypatch.chdir(tmp_path)
    result = run("save", "--address", addr)
    assert result.exit_code == 0, result.output
    names = listing(tmp_path)
    assert len(names) == 1 and re.fullmatch(r"nomad-state-\d{4}\d{2}\d{1,2}-\d+\.snap", names[0])


def test_default_name_matches_nomad(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        # 2024-03-05 07:08:09 UTC: the day is not padded
        assert snaphttp.default_snapshot_name(1709622489) == "nomad-state-2024035-1709622489.snap"
        assert snaphttp.default_snapshot_name(1734307200) == "nomad-state-20241216-1734307200.snap"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_save_streams_to_disk(fake, tmp_path: Path) -> None:
    """A 24 MiB body is never held in memory (it fails verify: random bytes)."""
    state, addr = fake
    state.snapshot = b"\x1f\x8b" + os.urandom(24 << 20)
    conn = snaphttp.Connection(address=addr)
    tracemalloc.start()
    try:
        with pytest.raises(snaphttp.SaveRefused):
            snaphttp.save(conn, tmp_path / "a.snap")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, peak
    assert listing(tmp_path) == []


# ---------------------------------------------------------------------------
# Digest and HTML helpers


def test_parse_digest() -> None:
    value = b64(hashlib.sha256(b"x").digest())
    assert snaphttp.parse_digest(None) is None and snaphttp.parse_digest("") is None
    assert snaphttp.parse_digest(f"sha-256={value}") == snaphttp.Digest("sha-256", value)
    assert snaphttp.parse_digest(f"SHA-256={value}").algorithm == "sha-256"
    for bad in ("sha-256", "sha-256=", "=abc", "sha-256=***", f"sha-256={value[:-4]}",
                f"sha-256={value},sha-512={value}"):
        with pytest.raises(snaphttp.DigestError, match="malformed"):
            snaphttp.parse_digest(bad)
    with pytest.raises(snaphttp.DigestError, match="unsupported"):
        snaphttp.parse_digest(f"md5={value}")


def test_html_title() -> None:
    assert snaphttp.html_title(NGINX_413) == "413 Request Entity Too Large"
    assert snaphttp.html_title(b"<h1>Bad &amp; Gateway</h1>") == "Bad & Gateway"
    assert snaphttp.html_title(b"no html") == ""


def test_connection_from_env() -> None:
    conn = snaphttp.Connection.from_env(
        {"NOMAD_ADDR": "https://nomad:4646", "NOMAD_SKIP_VERIFY": "true", "NOMAD_REGION": "r1"},
        token="t",
    )
    assert conn.address == "https://nomad:4646" and conn.skip_verify and conn.region == "r1"
    assert conn.token == "t" and "token" not in repr(conn)
    assert snaphttp.Connection.from_env({}).address == "http://127.0.0.1:4646"
    with pytest.raises(snaphttp.UsageError):
        snaphttp.Connection.from_env({"NOMAD_SKIP_VERIFY": "maybe"})
    with pytest.raises(snaphttp.UsageError):
        snaphttp.Connection.from_env({"NOMAD_ADDR": "ftp://x"})


# ---------------------------------------------------------------------------
# restore


def test_restore_ok_streams_file(fake, tmp_path: Path) -> None:
    state, addr = fake
    result = run("restore", "--yes", "--address", addr, str(OK_SNAP))
    assert result.exit_code == 0, result.output
    assert state.puts == [OK_SNAP.read_bytes()]
    headers = state.put_headers[0]
    assert headers["content-length"] == str(OK_SNAP.stat().st_size)
    assert "transfer-encoding" not in headers
    assert headers["content-type"] == "application/octet-stream"
    assert result.stdout.startswith(f"Snapshot restored: {OK_SNAP}")


def test_restore_json(fake, tmp_path: Path) -> None:
    state, addr = fake
    result = run("restore", "--yes", "--json", "--address", addr, str(OK_SNAP))
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["restored"] is True and doc["response_index"] == 99 and doc["server"]["version"] == "2.0.5"


def test_restore_checks_against_the_servers_version(fake) -> None:
    """ok-canonical holds WrappedRootKeys (type 30): a 1.6.1 server would crash."""
    state, addr = fake
    state.version = "1.6.1"
    result = run("restore", "--yes", "--address", addr, str(OK_SNAP))
    assert result.exit_code == 1
    assert "not sent" in result.stderr and "Nomad 1.6.1 CE" in result.stderr
    assert "state.unknown-type" in result.stdout and "type 30" in result.stdout
    assert state.puts == []


def test_restore_version_fallback_warns(fake) -> None:
    state, addr = fake
    state.self_status = 403
    result = run("restore", "--yes", "--address", addr, str(OK_SNAP))
    assert result.exit_code == 0, result.output
    assert "warning: could not learn the server's Nomad version" in result.stderr
    assert "2.0.5" in result.stderr and len(state.puts) == 1


@needs_shared
def test_restore_invalid_cases_not_sent(fake) -> None:
    state, addr = fake
    expected = json.loads((CASES / "expected.json").read_text())
    bad = sorted(name for name, e in expected.items() if not e["ok"])
    assert bad
    for name in bad:
        result = run("restore", "--yes", "--address", addr, str(CASES / name))
        assert result.exit_code == 1, (name, result.output)
        assert "not sent" in result.stderr, name
    assert state.puts == [] and state.count("PUT", "/v1/operator/snapshot") == 0


def test_restore_needs_confirmation_without_tty(fake) -> None:
    state, addr = fake
    result = run("restore", "--address", addr, str(OK_SNAP))
    assert result.exit_code == 2
    assert "not on a terminal" in result.stderr and "--yes" in result.stderr
    assert state.puts == []


@pytest.mark.parametrize("answer, sent", [("n\n", False), ("y\n", True)])
def test_restore_asks(fake, monkeypatch: pytest.MonkeyPatch, answer: str, sent: bool) -> None:
    import snaptool.cli_http as cli_http

    state, addr = fake
    monkeypatch.setattr(cli_http, "_interactive", lambda: True)
    result = run("restore", "--address", addr, str(OK_SNAP), input=answer)
    assert "Replace the whole state of the cluster" in result.stderr
    assert (result.exit_code, bool(state.puts)) == ((0, True) if sent else (2, False))


def test_restore_403(fake) -> None:
    state, addr = fake
    state.put_mode = "403"
    result = run("restore", "--yes", "--address", addr, str(OK_SNAP))
    assert result.exit_code == 1
    assert "permission denied (HTTP 403" in result.stderr and "management token" in result.stderr


def test_restore_non_management_token_refused_before_sending(fake) -> None:
    state, addr = fake
    state.token_self = (200, {"Type": "client", "AccessorID": "a"})
    result = run("restore", "--yes", "--token", "x", "--address", addr, str(OK_SNAP))
    assert result.exit_code == 1
    assert "'client' token" in result.stderr and "management token" in result.stderr
    assert state.puts == []


def test_restore_no_leader(fake) -> None:
    state, addr = fake
    state.leader = ""
    result = run("restore", "--yes", "--address", addr, str(OK_SNAP))
    assert result.exit_code == 1 and "no leader" in result.stderr and state.puts == []


def test_restore_html_413(fake) -> None:
    state, addr = fake
    state.put_mode = "html413"
    result = run("restore", "--yes", "--address", addr, str(OK_SNAP))
    assert result.exit_code == 2
    assert "HTML page" in result.stderr and "413 Request Entity Too Large" in result.stderr
    assert "client_max_body_size" in result.stderr


def test_restore_server_error(fake) -> None:
    state, addr = fake
    state.put_mode = "500"
    result = run("restore", "--yes", "--address", addr, str(OK_SNAP))
    assert result.exit_code == 1
    assert "HTTP 500" in result.stderr and "something broke" in result.stderr


def test_restore_missing_file(fake, tmp_path: Path) -> None:
    state, addr = fake
    result = run("restore", "--yes", "--address", addr, str(tmp_path / "nope.snap"))
    assert result.exit_code == 2 and "nope.snap" in result.stderr
    assert state.requests == []


def test_restore_connection_refused(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run("restore", "--yes", "--address", f"http://127.0.0.1:{port}", str(OK_SNAP))
    assert result.exit_code == 2 and "connection refused" in result.stderr


def test_restore_streams_from_disk(fake, tmp_path: Path) -> None:
    """The PUT body is read in chunks from the file, not loaded whole."""
    state, addr = fake
    big = tmp_path / "big.snap"
    records = bytearray(b"\x80")
    for i in range(120_000):
        records += bytes([2]) + msgpack.packb({"Key": os.urandom(20).hex(), "Value": i})
    meta = {"Version": 1, "ID": "2-5-1700000000000", "Index": 5, "Term": 2, "Peers": "",
            "Configuration": {"Servers": []}, "ConfigurationIndex": 1, "Size": len(records)}
    big.write_bytes(archive_bytes(json.dumps(meta, separators=(",", ":")).encode() + b"\n", bytes(records)))
    size = big.stat().st_size
    assert size > 3 << 20
    conn = snaphttp.Connection(address=addr)
    plan = snaphttp.plan_restore(conn, big)
    state.keep_bodies = False
    tracemalloc.start()
    try:
        snaphttp.send_restore(conn, plan)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert state.put_sizes == [size]
    assert peak < size // 3, (peak, size)


def test_restore_file_changed_after_verify(fake, tmp_path: Path) -> None:
    state, addr = fake
    copy = tmp_path / "a.snap"
    copy.write_bytes(small_archive())
    conn = snaphttp.Connection(address=addr)
    plan = snaphttp.plan_restore(conn, copy)
    time.sleep(0.01)
    copy.write_bytes(small_archive(index=15))
    with pytest.raises(snaphttp.InputError, match="changed since it was verified"):
        snaphttp.send_restore(conn, plan)
    assert state.puts == []


@pytest.mark.parametrize("answer, words", [
    ((500, "acl token lookup failed: missing secret id"), "ACLs are enabled and no token was given"),
    ((404, "ACL token not found"), "does not know the token given"),
    ((500, "acl token lookup failed: index error: UUID must be 36 characters"), "not valid"),
    ((403, "Permission denied"), "permission denied (HTTP 403"),
])
def test_restore_token_problems_refused_before_sending(fake, answer, words: str) -> None:
    state, addr = fake
    state.token_self = answer
    result = run("restore", "--yes", "--address", addr, str(OK_SNAP))
    assert result.exit_code == 1
    assert words in result.stderr and "management token" in result.stderr
    assert state.puts == []


def test_restore_target_never_overrides_the_server(fake) -> None:
    """--target is a fallback: a 1.6.1 server is checked as 1.6.1 whatever it says."""
    state, addr = fake
    state.version = "1.6.1"
    result = run("restore", "--yes", "--target", "2.0.5", "--address", addr, str(OK_SNAP))
    assert result.exit_code == 1 and "type 30" in result.stdout and state.puts == []


def test_restore_target_is_the_fallback(fake) -> None:
    state, addr = fake
    state.self_status = 403
    result = run("restore", "--yes", "--target", "1.6.1", "--address", addr, str(OK_SNAP))
    assert result.exit_code == 1 and "type 30" in result.stdout and state.puts == []
    assert "as given by --target" in result.stderr


def test_restore_server_hangs_up(fake) -> None:
    state, addr = fake
    state.put_mode = "hangup"
    result = run("restore", "--yes", "--address", addr, str(OK_SNAP))
    assert result.exit_code == 2
    assert "closed the connection without answering" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------------------
# TLS (NOMAD_CACERT, NOMAD_CLIENT_CERT, NOMAD_CLIENT_KEY, NOMAD_SKIP_VERIFY)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate (openssl CLI)."""
    if not shutil.which("openssl"):
        pytest.skip("the openssl command is not installed")
    d = tmp_path_factory.mktemp("pki")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True, timeout=30)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=snaptool test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for name, ext in (
        ("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"),
        ("client", "extendedKeyUsage=clientAuth\n"),
    ):
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}.global.nomad")
        (d / f"{name}.ext").write_text(ext)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext")
    return d


@pytest.fixture()
def tls_fake(pki: Path) -> Iterator[tuple[FakeNomad, str]]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki / "ca.pem"))
    ctx.load_cert_chain(pki / "server.pem", pki / "server.key")
    ctx.verify_mode = ssl.CERT_REQUIRED  # mutual TLS, as Nomad's verify_https_client
    with serve_fake(ctx) as served:
        yield served


def test_tls_with_ca_and_client_certificate(tls_fake, pki: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    state, addr = tls_fake
    monkeypatch.setenv("NOMAD_ADDR", addr)
    monkeypatch.setenv("NOMAD_CACERT", str(pki / "ca.pem"))
    monkeypatch.setenv("NOMAD_CLIENT_CERT", str(pki / "client.pem"))
    monkeypatch.setenv("NOMAD_CLIENT_KEY", str(pki / "client.key"))
    result = run("save", str(tmp_path / "a.snap"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "a.snap").read_bytes() == state.snapshot
    result = run("restore", "--yes", str(tmp_path / "a.snap"))
    assert result.exit_code == 0, result.output and len(state.puts) == 1


def test_tls_unknown_ca(tls_fake, pki: Path, tmp_path: Path) -> None:
    state, addr = tls_fake
    result = run("save", "--address", addr, "--client-cert", str(pki / "client.pem"),
                 "--client-key", str(pki / "client.key"), str(tmp_path / "a.snap"))
    assert result.exit_code == 2
    assert "TLS handshake" in result.stderr and "NOMAD_CACERT" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert listing(tmp_path) == []


def test_tls_skip_verify(tls_fake, pki: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state, addr = tls_fake
    monkeypatch.setenv("NOMAD_SKIP_VERIFY", "true")
    result = run("save", "--address", addr, "--client-cert", str(pki / "client.pem"),
                 "--client-key", str(pki / "client.key"), str(tmp_path / "a.snap"))
    assert result.exit_code == 0, result.output


def test_tls_no_client_certificate(tls_fake, pki: Path, tmp_path: Path) -> None:
    state, addr = tls_fake
    result = run("save", "--address", addr, "--ca-cert", str(pki / "ca.pem"), str(tmp_path / "a.snap"))
    assert result.exit_code == 2
    # TLS 1.3: an alert after the handshake; TLS 1.2: a failed handshake
    assert ("client certificate" in result.stderr and "NOMAD_CLIENT_CERT" in result.stderr) or (
        "TLS handshake" in result.stderr
    )
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert listing(tmp_path) == []


def test_tls_missing_certificate_file(tmp_path: Path) -> None:
    result = run("save", "--address", "https://127.0.0.1:1", "--ca-cert", str(tmp_path / "nope.pem"),
                 str(tmp_path / "a.snap"))
    assert result.exit_code == 2 and "TLS settings" in result.stderr


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no unix sockets here")
def test_unix_socket_address(tmp_path: Path) -> None:
    import socketserver
    import tempfile

    state = FakeNomad()
    sock_dir = tempfile.mkdtemp(prefix="snaptool-uds-", dir="/tmp")  # short: sun_path is 108 bytes
    sock = os.path.join(sock_dir, "nomad.sock")
    server = socketserver.ThreadingUnixStreamServer(sock, _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        result = run("save", "--address", f"unix://{sock}", str(tmp_path / "a.snap"))
        assert result.exit_code == 0, result.output
        assert (tmp_path / "a.snap").read_bytes() == state.snapshot
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        shutil.rmtree(sock_dir, ignore_errors=True)
