"""A throwaway real Nomad server on 127.0.0.1 for tests (stdlib only).

Server-only agent (no client: nothing runs tasks), random free ports, a temp
data dir, update checks off, consul/vault off. Use as a context manager; the
agent's process group is killed on exit, whatever happened.

Binaries come from ``tests/harness/build_nomad.sh``
(``~/.cache/snaptool/nomad/<version>/nomad``, or ``SNAPTOOL_NOMAD_CACHE``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent / "harness"))
from make_fixtures import loopback_server_hcl  # noqa: E402  (one agent config for every harness)

CACHE = Path(os.environ.get("SNAPTOOL_NOMAD_CACHE", Path.home() / ".cache" / "snaptool" / "nomad"))


def nomad_binary(version: str) -> Path | None:
    """The cached binary for ``version`` (``v1.6.1``), or None."""
    path = CACHE / version / "nomad"
    return path if path.is_file() and os.access(path, os.X_OK) else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ApiError(Exception):
    def __init__(self, status: int, body: bytes, what: str) -> None:
        super().__init__(f"{what} -> HTTP {status}: {body[:300]!r}")
        self.status = status
        self.body = body


class Agent:
    """``with Agent(binary) as a: a.get("/v1/jobs")``."""

    def __init__(self, binary: Path, *, leader_timeout: float = 60.0) -> None:
        self.binary = Path(binary)
        self.leader_timeout = leader_timeout
        self.tmp = tempfile.TemporaryDirectory(prefix="snaptool-nomadlive-")
        self.dir = Path(self.tmp.name)
        self.http, self.rpc, self.serf = _free_port(), _free_port(), _free_port()
        self.addr = f"http://127.0.0.1:{self.http}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = None

    def config(self) -> str:
        return loopback_server_hcl(str(self.dir / "data"), self.http, self.rpc, self.serf, log_level="INFO")

    # -- lifetime --------------------------------------------------------------

    def __enter__(self) -> Agent:
        try:
            self.start()
            self.wait_leader()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def start(self) -> None:
        (self.dir / "data").mkdir()
        cfg = self.dir / "agent.hcl"
        cfg.write_text(self.config())
        self._log = open(self.dir / "agent.log", "wb")  # noqa: SIM115 - closed in stop()
        env = {k: v for k, v in os.environ.items() if not k.startswith("NOMAD_")}
        self.proc = subprocess.Popen(
            [str(self.binary), "agent", "-config", str(cfg)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=self.dir,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n: int = 30) -> str:
        try:
            lines = (self.dir / "agent.log").read_bytes().splitlines()[-n:]
        except OSError:
            return ""
        return "\n".join(x.decode("utf-8", "replace") for x in lines)

    def wait_leader(self) -> None:
        deadline = time.monotonic() + self.leader_timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"nomad agent exited early:\n{self.log_tail()}")
            try:
                if self.get("/v1/status/leader", timeout=2):
                    return
            except (OSError, ApiError, ValueError):
                pass
            time.sleep(0.3)
        raise RuntimeError(f"no leader after {self.leader_timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGINT)
                proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None
        self.tmp.cleanup()

    # -- HTTP and CLI ------------------------------------------------------------

    def request(self, method: str, path: str, body: bytes | None = None, timeout: float = 30) -> tuple[int, bytes]:
        req = urllib.request.Request(self.addr + path, data=body, method=method)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            raise ApiError(e.code, e.read(), f"{method} {path}") from None

    def get(self, path: str, timeout: float = 10) -> Any:
        return json.loads(self.request("GET", path, timeout=timeout)[1] or b"null")

    def restore(self, archive: bytes, timeout: float = 60) -> int:
        """``PUT /v1/operator/snapshot``; returns the HTTP status."""
        return self.request("PUT", "/v1/operator/snapshot", archive, timeout=timeout)[0]

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NOMAD_")}
        env["NOMAD_ADDR"] = self.addr
        return subprocess.run([str(self.binary), *args], capture_output=True, text=True, env=env, timeout=timeout)


def run_cli(binary: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the nomad CLI without an agent (e.g. ``operator snapshot inspect``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOMAD_")}
    return subprocess.run([str(binary), *args], capture_output=True, text=True, env=env, timeout=timeout)
