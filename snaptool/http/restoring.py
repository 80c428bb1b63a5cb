"""``snaptool restore``: check the token, the leader and the archive against the
server's own version, then stream the file to ``PUT /v1/operator/snapshot``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..checks import Target
from ..commands import VerifyReport, verify
from ..errors import InputError
from .connection import (
    Connection,
    Progress,
    SNAPSHOT_PATH,
    ServerInfo,
    UPLOAD_CHUNK,
    server_info,
)
from .errors import (
    ERROR_BODY_LIMIT,
    RestoreRefused,
    ServerRefused,
    TransportError,
    _explain,
    _one_line,
    _transport,
)


# ---------------------------------------------------------------------------
# restore


def _stat_key(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass
class RestorePlan:
    """A verified archive and the server it is meant for."""

    path: str
    report: VerifyReport
    server: ServerInfo | None
    stat: tuple[int, int, int, int] = field(repr=False)
    size: int = 0
    token_type: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.report.ok


@dataclass
class RestoreResult:
    path: str
    bytes: int
    index: int | None
    plan: RestorePlan

    def to_dict(self) -> dict[str, Any]:
        meta = self.plan.report.meta
        return {
            "file": self.path,
            "bytes": self.bytes,
            "restored": True,
            "response_index": self.index,
            "snapshot_index": meta.Index if meta is not None else None,
            "server": self.plan.server.to_dict() if self.plan.server else None,
            "verify": self.plan.report.to_dict(),
            "warnings": self.plan.warnings,
        }


def _stat(path: str) -> os.stat_result:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), where=path) from None
    if not os.path.isfile(path):
        raise InputError("not a regular file", where=path)
    return st


def _check_token(client: httpx.Client, conn: Connection, action: str) -> str | None:
    """Refuse early, before sending anything, when ACLs are on and the token is
    missing, unknown or not a management token. Returns the token type when
    known (None with ACLs off)."""
    try:
        resp = client.get("/v1/acl/token/self", params=conn.params())
    except httpx.HTTPError as exc:
        raise _transport(exc, action, conn) from None
    text = _one_line(resp.content[:ERROR_BODY_LIMIT].decode("utf-8", "replace"))
    need = "restoring a snapshot needs a management token (--token or NOMAD_TOKEN)"
    if resp.status_code == 200:
        try:
            kind = (resp.json() or {}).get("Type")
        except ValueError:
            return None
        if kind and kind != "management":
            raise ServerRefused(
                f"{action}: permission denied: the token given is a {kind!r} token; {need}",
                status=403,
            )
        return kind
    if resp.status_code == 403:
        raise _explain(resp, resp.content[:ERROR_BODY_LIMIT], action, conn)
    low = text.lower()
    if resp.status_code == 404 and "token not found" in low:
        raise ServerRefused(
            f"{action}: permission denied: the cluster does not know the token given "
            f"({text}); {need}",
            status=403,
        )
    if resp.status_code == 500 and "missing secret id" in low:
        raise ServerRefused(
            f"{action}: permission denied: ACLs are enabled and no token was given; {need}",
            status=403,
        )
    if resp.status_code == 500 and "token lookup failed" in low:
        raise ServerRefused(
            f"{action}: permission denied: the token given is not valid ({text}); {need}",
            status=403,
        )
    # 400 "ACL support disabled", or an older Nomad: nothing to check
    return None


def _check_leader(client: httpx.Client, conn: Connection, action: str) -> None:
    try:
        resp = client.get("/v1/status/leader", params=conn.params())
    except httpx.HTTPError as exc:
        raise _transport(exc, action, conn) from None
    if resp.status_code != 200:
        return
    try:
        leader = resp.json()
    except ValueError:
        return
    if leader == "":
        raise ServerRefused(
            f"{action}: the cluster has no leader; a restore needs one: fix the cluster first",
            status=500,
        )


def plan_restore(conn: Connection, path: str | os.PathLike[str], *, target: Target | None = None) -> RestorePlan:
    """Everything before sending: the token, the server's version, the full
    verify against that version (``target`` is used only when the server does
    not report one: a server's own version always wins). Raises :class:`RestoreRefused` when the
    archive would be refused or crash the restore."""
    name = os.fspath(path)
    st = _stat(name)
    action = "restore"
    warnings: list[str] = []
    with conn.client() as client:
        token_type = _check_token(client, conn, action)
        server = server_info(client, conn, action, target)
        if server.warning:
            warnings.append(server.warning)
        goal = server.target
        _check_leader(client, conn, action)
    report = verify(name, target=goal, schema=True)  # a bad record would crash the leader
    if _stat_key(_stat(name)) != _stat_key(st):
        raise InputError("changed while it was being verified; try again", where=name)
    plan = RestorePlan(name, report, server, _stat_key(st), st.st_size, token_type, warnings)
    if not report.ok:
        raise RestoreRefused(
            f"{name}: not sent: {goal.describe()} would refuse it or crash restoring it",
            report,
            warnings,
        )
    return plan


def _body(f: Any, size: int, progress: Progress | None) -> Iterator[bytes]:
    done = 0
    while True:
        chunk = f.read(UPLOAD_CHUNK)
        if not chunk:
            break
        done += len(chunk)
        if progress is not None:
            progress(done, size)
        yield chunk
    if done != size:
        raise InputError(f"changed while it was being sent ({done} of {size} bytes)")


def send_restore(conn: Connection, plan: RestorePlan, *, progress: Progress | None = None) -> RestoreResult:
    """``PUT /v1/operator/snapshot`` with the verified file as a streamed body."""
    if not plan.ok:
        raise RestoreRefused(f"{plan.path}: not sent: verify failed", plan.report)
    action = "restore"
    try:
        f = open(plan.path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), where=plan.path) from None
    with f:
        if _stat_key(os.fstat(f.fileno())) != plan.stat:
            raise InputError("changed since it was verified; verify again", where=plan.path)
        with conn.client() as client:
            try:
                resp = client.put(
                    SNAPSHOT_PATH,
                    params=conn.params(),
                    content=_body(f, plan.size, progress),
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Length": str(plan.size),
                    },
                )
            except httpx.HTTPError as exc:
                err = _transport(exc, action, conn)
                if isinstance(exc, httpx.RemoteProtocolError) and "without sending" in str(exc):
                    err = TransportError(
                        f"{action}: {conn.display} closed the connection without answering "
                        f"(did the server crash? a failing restore panics the leader); check "
                        f"the servers' logs and state"
                    )
                elif not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
                    err = TransportError(
                        f"{err.message}; the restore may or may not have been applied: "
                        f"check the servers' logs and state"
                    )
                raise err from None
    if resp.status_code != 200:
        raise _explain(resp, resp.content[:ERROR_BODY_LIMIT], action, conn)
    index = None
    try:
        index = int(resp.headers.get("x-nomad-index", ""))
    except ValueError:
        pass
    return RestoreResult(plan.path, plan.size, index, plan)
