"""``snaptool save``: download a snapshot to a temporary file, check its
``Digest`` header and verify it, then move it into place.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ..checks import Target
from ..commands import VerifyReport, verify
from ..errors import InputError
from .connection import Connection, Progress, SNAPSHOT_PATH, ServerInfo, server_info
from .errors import (
    DigestError,
    ERROR_BODY_LIMIT,
    SaveRefused,
    TransportError,
    _explain,
    _looks_html,
    _one_line,
    _read_head,
    _transport,
)


# ---------------------------------------------------------------------------
# Digest


_ALGORITHMS = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}


@dataclass(frozen=True)
class Digest:
    algorithm: str
    value: str  # base64, as sent

    def expected(self) -> bytes:
        return base64.b64decode(self.value, validate=True)


def parse_digest(header: str | None) -> Digest | None:
    """The ``Digest`` header as Nomad's Go client reads it (``algo=base64``);
    None when absent. Only sha-256 and sha-512 are accepted."""
    if header is None or not header.strip():
        return None
    text = header.strip()
    algo, sep, value = text.partition("=")
    if not sep or not algo or not value:
        raise DigestError(f"malformed Digest header {_one_line(text, 120)!r} (expected sha-256=<base64>)")
    if "," in value:
        raise DigestError(f"malformed Digest header {_one_line(text, 120)!r}: more than one digest")
    algo = algo.strip().lower()
    if algo not in _ALGORITHMS:
        raise DigestError(
            f"unsupported Digest algorithm {algo!r} (snaptool checks sha-256 and sha-512)"
        )
    value = value.strip()
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        raise DigestError(f"malformed Digest header: {value!r} is not base64") from None
    if len(raw) != _ALGORITHMS[algo]().digest_size:
        raise DigestError(
            f"malformed Digest header: {algo} value has {len(raw)} bytes, "
            f"not {_ALGORITHMS[algo]().digest_size}"
        )
    return Digest(algo, value)


# ---------------------------------------------------------------------------
# save


def default_snapshot_name(now: float | None = None) -> str:
    """``nomad-state-%04d%02d%0d-%d.snap`` as the nomad CLI makes it: local
    year, month, unpadded day, unix seconds."""
    ts = time.time() if now is None else now
    t = time.localtime(ts)
    return f"nomad-state-{t.tm_year:04d}{t.tm_mon:02d}{t.tm_mday}-{int(ts)}.snap"


@dataclass
class SaveResult:
    path: str
    bytes: int
    digest: Digest | None
    digest_checked: bool
    report: VerifyReport
    server: ServerInfo | None
    warnings: list[str] = field(default_factory=list)

    @property
    def index(self) -> int | None:
        return self.report.meta.Index if self.report.meta is not None else None

    def to_dict(self) -> dict[str, Any]:
        meta = self.report.meta
        return {
            "file": self.path,
            "bytes": self.bytes,
            "digest": {
                "algorithm": self.digest.algorithm if self.digest else None,
                "value": self.digest.value if self.digest else None,
                "checked": self.digest_checked,
            },
            "index": meta.Index if meta is not None else None,
            "term": meta.Term if meta is not None else None,
            "id": meta.ID if meta is not None else None,
            "server": self.server.to_dict() if self.server else None,
            "verify": self.report.to_dict(),
            "warnings": self.warnings,
        }


def _unlink(path: str | None) -> None:
    if path:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _place(tmp: str, dest: Path, force: bool) -> None:
    """Rename ``tmp`` to ``dest``; without ``force`` never replace a file that
    appeared meanwhile (a hard link fails if ``dest`` exists)."""
    if force:
        os.replace(tmp, dest)
        return
    try:
        os.link(tmp, dest)
    except FileExistsError:
        raise InputError("already exists (use --force to replace it)", where=str(dest)) from None
    except OSError:
        # no hard links here (some network or FAT file systems)
        if os.path.lexists(dest):
            raise InputError("already exists (use --force to replace it)", where=str(dest)) from None
        os.replace(tmp, dest)
        return
    os.unlink(tmp)


def save(
    conn: Connection,
    path: str | os.PathLike[str] | None = None,
    *,
    stale: bool = False,
    force: bool = False,
    target: Target | None = None,
    progress: Progress | None = None,
) -> SaveResult:
    """Download a snapshot to ``path`` (default: Nomad's file name), checked.

    The body goes to a temporary file beside ``path``; the ``Digest`` header is
    checked, then the full verify against the server's own Nomad version
    (``target`` only when the server does not say; else the newest known);
    only a sound archive is renamed into place. On any failure
    no file is left behind and an existing ``path`` is untouched.
    """
    dest = Path(path) if path is not None else Path(default_snapshot_name())
    if dest.is_dir():
        raise InputError("is a directory; give a file name", where=str(dest))
    if os.path.lexists(dest) and not force:
        raise InputError("already exists (use --force to replace it)", where=str(dest))
    parent = dest.parent if str(dest.parent) else Path(".")
    if not parent.is_dir():
        raise InputError("the directory does not exist", where=str(parent))
    warnings: list[str] = []
    action = "save"
    tmp: str | None = None
    try:
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=parent)
        except OSError as exc:
            raise InputError(f"cannot create a temporary file: {exc.strerror or exc}", where=str(parent)) from None
        with os.fdopen(fd, "wb") as out, conn.client() as client:
            server = server_info(client, conn, action, target)
            if server.warning:
                warnings.append(server.warning)
            goal = server.target
            params = conn.params(stale="") if stale else conn.params()
            done = 0
            try:
                with client.stream(
                    "GET", SNAPSHOT_PATH, params=params, headers={"Accept-Encoding": "identity"}
                ) as resp:
                    if resp.status_code != 200:
                        raise _explain(resp, _read_head(resp), action, conn)
                    digest = parse_digest(resp.headers.get("Digest"))
                    if digest is None:
                        warnings.append(
                            "the server sent no Digest header: the download could not be "
                            "checked end to end (the archive itself is verified below)"
                        )
                    hasher = _ALGORITHMS[digest.algorithm]() if digest else None
                    total: int | None = None
                    if "content-encoding" not in resp.headers:
                        try:
                            total = int(resp.headers.get("content-length", ""))
                        except ValueError:
                            total = None
                    ctype = resp.headers.get("content-type", "")
                    for chunk in resp.iter_bytes():
                        if not chunk:
                            continue
                        if not done and chunk[:2] != b"\x1f\x8b" and _looks_html(ctype, chunk):
                            # a proxy's page served with 200: not a snapshot
                            raise _explain(resp, chunk[:ERROR_BODY_LIMIT], action, conn)
                        try:
                            out.write(chunk)
                        except OSError as exc:
                            raise InputError(
                                f"write failed: {exc.strerror or exc}", where=str(dest)
                            ) from None
                        if hasher is not None:
                            hasher.update(chunk)
                        done += len(chunk)
                        if progress is not None:
                            progress(done, total)
            except httpx.HTTPError as exc:
                raise _transport(exc, action, conn, done) from None
            try:
                out.flush()
                os.fsync(out.fileno())
            except OSError as exc:
                raise InputError(f"write failed: {exc.strerror or exc}", where=str(dest)) from None
        if done == 0:
            raise TransportError(
                f"{action}: {conn.display} answered 200 with an empty body (0 bytes); nothing saved"
            )
        digest_checked = False
        if digest is not None and hasher is not None:
            got = hasher.digest()
            if got != digest.expected():
                raise DigestError(
                    f"{action}: Digest mismatch: the server announced {digest.algorithm}="
                    f"{digest.value} but the {done} bytes received give "
                    f"{base64.b64encode(got).decode()} (the download was corrupted or "
                    f"cut short); nothing saved"
                )
            digest_checked = True
        report = verify(tmp, target=goal, schema=True)
        report = dataclasses.replace(report, path=str(dest))
        if not report.ok:
            raise SaveRefused(
                f"{action}: the archive from {conn.display} fails verify for "
                f"{goal.describe()}; nothing saved",
                report,
                warnings,
            )
        _place(tmp, dest, force)
        tmp = None
        _fsync_dir(parent)
        return SaveResult(str(dest), done, digest, digest_checked, report, server, warnings)
    finally:
        _unlink(tmp)
