"""Start a real Nomad agent for tests: loopback only, random ports, temp data dir.

    from tests.nomad_agent import NomadAgent, nomad_binary

    with NomadAgent(nomad_binary(), tmp_path, acl=True) as agent:
        agent.bootstrap()                      # ACL bootstrap; agent.token is then set
        agent.put("/v1/jobs", {"Job": ...})
        agent.cli("operator", "snapshot", "save", "x.snap")

A server-only agent (no client: nothing is run, no fingerprinting), with
update checks, Consul and Vault off. Every wait is bounded; ``stop()`` (also
on ``__exit__``) ends the agent's process group and waits for it. Stdlib only.
The agent configuration follows tests/harness/make_fixtures.py.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

NOMAD_VERSION = "v1.6.1"
CACHE = Path(os.environ.get("SNAPTOOL_NOMAD_CACHE", Path.home() / ".cache" / "snaptool" / "nomad"))


def nomad_binary(version: str = NOMAD_VERSION) -> Path:
    """Where tests/harness/build_nomad.sh puts the binary (may not exist)."""
    override = os.environ.get("SNAPTOOL_NOMAD")
    return Path(override) if override else CACHE / version / "nomad"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ApiError(Exception):
    def __init__(self, status: int, body: bytes, method: str, path: str) -> None:
        super().__init__(f"{method} {path} -> HTTP {status}: {body[:300]!r}")
        self.status = status
        self.body = body


class NomadAgent:
    """One ``nomad agent`` process (server only) in a temp directory."""

    def __init__(self, binary: str | os.PathLike[str], root: str | os.PathLike[str], *,
                 acl: bool = False, name: str = "snaptool-test") -> None:
        self.binary = os.fspath(binary)
        self.acl = acl
        self.name = name
        self.dir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=root))
        self.data_dir = self.dir / "data"
        self.data_dir.mkdir()
        self.http, self.rpc, self.serf = free_port(), free_port(), free_port()
        self.addr = f"http://127.0.0.1:{self.http}"
        self.token: str | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.dir / "agent.log"

    # -- configuration and process ----------------------------------------------

    def config(self) -> str:
        acl = "\nacl {\n  enabled = true\n}\n" if self.acl else ""
        return f'''name                 = "{self.name}-{self.http}"
region               = "global"
datacenter           = "dc1"
data_dir             = "{self.data_dir}"
bind_addr            = "127.0.0.1"
log_level            = "INFO"
disable_update_check = true

ports {{
  http = {self.http}
  rpc  = {self.rpc}
  serf = {self.serf}
}}

addresses {{
  http = "127.0.0.1"
  rpc  = "127.0.0.1"
  serf = "127.0.0.1"
}}

advertise {{
  http = "127.0.0.1:{self.http}"
  rpc  = "127.0.0.1:{self.rpc}"
  serf = "127.0.0.1:{self.serf}"
}}

server {{
  enabled          = true
  bootstrap_expect = 1
}}

client {{
  enabled = false
}}

consul {{
  auto_advertise   = false
  server_auto_join = false
  client_auto_join = false
}}

vault {{
  enabled = false
}}
{acl}'''

    def start(self, timeout: float = 60.0) -> NomadAgent:
        cfg = self.dir / "agent.hcl"
        cfg.write_text(self.config())
        env = {k: v for k, v in os.environ.items() if not k.startswith("NOMAD_")}
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [self.binary, "agent", "-config", str(cfg)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, start_new_session=True, cwd=self.dir,
            )
        try:
            self.wait_leader(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def __enter__(self) -> NomadAgent:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_leader(self, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"nomad agent exited ({self.proc and self.proc.returncode})\n{self.log_tail()}")
            try:
                leader = self.get("/v1/status/leader", timeout=2)
                if leader:
                    return str(leader)
            except (OSError, ApiError, ValueError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"no leader after {timeout:g} s\n{self.log_tail()}")

    def stop(self, timeout: float = 15.0) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=10)
        self.proc = None

    # -- HTTP (urllib, never through a proxy) -----------------------------------

    def request(self, method: str, path: str, body: Any = None, *, token: str | None = None,
                raw: bool = False, timeout: float = 30.0) -> tuple[int, dict[str, str], bytes]:
        data = None
        if body is not None:
            data = body if raw else json.dumps(body).encode()
        headers = {}
        tok = self.token if token is None else token
        if tok:
            headers["X-Nomad-Token"] = tok
        req = urllib.request.Request(self.addr + path, data=data, method=method, headers=headers)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(req, timeout=timeout) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            raise ApiError(e.code, e.read(), method, path) from None

    def get(self, path: str, **kw: Any) -> Any:
        return json.loads(self.request("GET", path, **kw)[2] or b"null")

    def put(self, path: str, body: Any = None, **kw: Any) -> Any:
        out = self.request("PUT", path, body, **kw)[2]
        return json.loads(out) if out.strip() else None

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        out = self.request("POST", path, body, **kw)[2]
        return json.loads(out) if out.strip() else None

    # -- conveniences ------------------------------------------------------------

    def bootstrap(self) -> dict[str, Any]:
        """ACL bootstrap; sets and returns the management token."""
        result = self.post("/v1/acl/bootstrap")
        self.token = result["SecretID"]
        return result

    def register_job(self, job_id: str, *, jtype: str = "service", count: int = 1) -> None:
        """A raw_exec job: no client here, so it only lands in the state store."""
        hcl = f'''job "{job_id}" {{
  datacenters = ["dc1"]
  type        = "{jtype}"
  group "g" {{
    count = {count}
    task "t" {{
      driver = "raw_exec"
      config {{
        command = "/bin/true"
      }}
    }}
  }}
}}
'''
        job = self.post("/v1/jobs/parse", {"JobHCL": hcl, "Canonicalize": True})
        self.post("/v1/jobs", {"Job": job})

    def job_ids(self) -> list[str]:
        return sorted(f"{j.get('Namespace', 'default')}/{j['ID']}" for j in self.get("/v1/jobs?namespace=*"))

    def raft_indexes(self) -> dict[str, str]:
        raft = (self.get("/v1/agent/self").get("stats") or {}).get("raft") or {}
        return {k: raft.get(k, "") for k in ("last_log_index", "applied_index", "last_snapshot_index")}

    def cli(self, *args: str, timeout: float = 60.0, token: str | None = None) -> subprocess.CompletedProcess[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NOMAD_")}
        env["NOMAD_ADDR"] = self.addr
        tok = self.token if token is None else token
        if tok:
            env["NOMAD_TOKEN"] = tok
        return subprocess.run([self.binary, *args], capture_output=True, env=env, timeout=timeout,
                              cwd=self.dir)
