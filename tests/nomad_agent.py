"""A real Nomad agent for tests, with ACLs, tokens and JSON writes.

Builds on :mod:`tests.nomadlive` (server only, loopback, random ports, temp
data dir, process group killed on exit, bounded waits) and adds what the
save/restore tests need:

    from tests.nomad_agent import NomadAgent, nomad_binary

    with NomadAgent(nomad_binary("v1.6.1"), acl=True) as agent:
        agent.bootstrap()                      # ACL bootstrap; agent.token is then sent
        agent.register_job("web")
        agent.cli("operator", "snapshot", "save", "x.snap")
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .nomadlive import Agent, ApiError, nomad_binary

__all__ = ["ApiError", "NomadAgent", "nomad_binary"]


class NomadAgent(Agent):
    """``nomadlive.Agent`` plus ``acl``, a token sent with every request, and
    JSON ``post``/``put``."""

    def __init__(self, binary: Path, *, acl: bool = False, leader_timeout: float = 60.0) -> None:
        super().__init__(binary, leader_timeout=leader_timeout)
        self.acl = acl
        self.token: str | None = None

    def config(self) -> str:
        return super().config() + ("\nacl {\n  enabled = true\n}\n" if self.acl else "")

    def request(self, method: str, path: str, body: bytes | None = None, timeout: float = 30,
                *, token: str | None = None) -> tuple[int, bytes]:
        headers = {}
        tok = self.token if token is None else token
        if tok:
            headers["X-Nomad-Token"] = tok
        req = urllib.request.Request(self.addr + path, data=body, method=method, headers=headers)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            raise ApiError(e.code, e.read(), f"{method} {path}") from None

    def post(self, path: str, body: Any = None, timeout: float = 30) -> Any:
        data = None if body is None else json.dumps(body).encode()
        out = self.request("POST", path, data, timeout=timeout)[1]
        return json.loads(out) if out.strip() else None

    def bootstrap(self) -> dict[str, Any]:
        """ACL bootstrap; the management token is then sent with every request."""
        result = self.post("/v1/acl/bootstrap")
        self.token = result["SecretID"]
        return result

    def register_job(self, job_id: str, *, jtype: str = "service", count: int = 1) -> None:
        """A raw_exec job; with no client it only lands in the state store."""
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
        return {k: raft.get(k, "") for k in ("last_log_index", "applied_index")}

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NOMAD_")}
        env["NOMAD_ADDR"] = self.addr
        if self.token:
            env["NOMAD_TOKEN"] = self.token
        return subprocess.run([str(self.binary), *args], capture_output=True, text=True, env=env,
                              timeout=timeout, cwd=self.dir)
