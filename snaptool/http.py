"""Save and restore snapshots through Nomad's HTTP API, safely.

``save`` streams ``GET /v1/operator/snapshot`` into a temporary file beside
the destination (never into memory), checks the ``Digest`` header, runs the
full :func:`snaptool.commands.verify`, and only then renames the file into
place. ``restore`` runs the full verify against the server's own Nomad version
first and sends nothing that would be refused or crash the restore; the body
of ``PUT /v1/operator/snapshot`` is streamed from the file.

Connection settings follow the ``nomad`` CLI: ``NOMAD_ADDR`` (default
``http://127.0.0.1:4646``; ``unix://`` paths too), ``NOMAD_TOKEN``,
``NOMAD_REGION``, ``NOMAD_CACERT``, ``NOMAD_CAPATH``, ``NOMAD_CLIENT_CERT``,
``NOMAD_CLIENT_KEY``, ``NOMAD_SKIP_VERIFY``, ``NOMAD_HTTP_AUTH``. Like Go's
``http.ProxyFromEnvironment``, proxy variables are honoured except for
loopback addresses.

Nothing here prints; errors are :class:`~snaptool.errors.SnaptoolError`
subclasses whose ``exit_code`` is 1 when Nomad itself said no
(:class:`ServerRefused`, :class:`SaveRefused`, :class:`RestoreRefused`) and 2
for trouble on the way (:class:`TransportError`, :class:`DigestError`, local
files, usage).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import html
import ipaddress
import os
import re
import ssl
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from . import __version__
from .checks import Target
from .commands import VerifyReport, verify
from .errors import InputError, SnaptoolError, UsageError
from .format.records import LATEST_NOMAD, parse_version

__all__ = [
    "Connection",
    "DigestError",
    "RestorePlan",
    "RestoreRefused",
    "RestoreResult",
    "SaveRefused",
    "SaveResult",
    "ServerInfo",
    "ServerRefused",
    "ProxyPage",
    "NotNomad",
    "TransportError",
    "default_snapshot_name",
    "parse_digest",
    "plan_restore",
    "save",
    "send_restore",
    "server_info",
]

DEFAULT_ADDRESS = "http://127.0.0.1:4646"
SNAPSHOT_PATH = "/v1/operator/snapshot"
CHUNK = 1 << 20
#: Upload chunk: what is read from the file per write to the socket.
UPLOAD_CHUNK = 256 * 1024
#: How much of an error body is read to explain it.
ERROR_BODY_LIMIT = 64 * 1024

#: ``progress(bytes_done, bytes_total_or_None)``
Progress = Callable[[int, "int | None"], None]


# ---------------------------------------------------------------------------
# errors


class TransportError(SnaptoolError):
    """Trouble between snaptool and Nomad: refused connection, timeout, TLS,
    a proxy's HTML page, a broken stream."""

    exit_code = 2


class ProxyPage(TransportError):
    """An HTML page answered instead of Nomad (a proxy, a load balancer)."""


class NotNomad(TransportError):
    """The answer is not what Nomad sends (not JSON where JSON was due)."""


class DigestError(SnaptoolError):
    """The ``Digest`` header is malformed, of an unsupported algorithm, or does
    not match the bytes received."""

    exit_code = 2


class ServerRefused(SnaptoolError):
    """Nomad answered with an error status."""

    exit_code = 1

    def __init__(self, message: str, *, status: int = 0, where: str = "") -> None:
        super().__init__(message, where=where)
        self.status = status


class SaveRefused(SnaptoolError):
    """The downloaded archive failed verify; nothing was saved."""

    exit_code = 1

    def __init__(self, message: str, report: VerifyReport, warnings: list[str] | None = None) -> None:
        super().__init__(message)
        self.report = report
        self.warnings = list(warnings or [])


class RestoreRefused(SnaptoolError):
    """verify says the server would refuse the archive or crash restoring it;
    nothing was sent."""

    exit_code = 1

    def __init__(self, message: str, report: VerifyReport, warnings: list[str] | None = None) -> None:
        super().__init__(message)
        self.report = report
        self.warnings = list(warnings or [])


# ---------------------------------------------------------------------------
# connection settings


_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def _go_bool(name: str, text: str) -> bool:
    """Go's ``strconv.ParseBool``, which the nomad CLI uses for its variables."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise UsageError(f"{name}={text!r} is not a boolean (use true or false)")


@dataclass(frozen=True)
class Connection:
    """Where Nomad is and how to talk to it (the nomad CLI's conventions)."""

    address: str = DEFAULT_ADDRESS
    token: str | None = field(default=None, repr=False)
    region: str | None = None
    ca_cert: str | None = None
    ca_path: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    skip_verify: bool = False
    http_auth: str | None = field(default=None, repr=False)
    #: Seconds without progress (connect, each read, each write) before giving up.
    timeout: float = 300.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Connection:
        """Settings from ``NOMAD_*`` variables; non-None ``overrides`` (the
        command-line flags) win."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for attr, var in (
            ("address", "NOMAD_ADDR"),
            ("token", "NOMAD_TOKEN"),
            ("region", "NOMAD_REGION"),
            ("ca_cert", "NOMAD_CACERT"),
            ("ca_path", "NOMAD_CAPATH"),
            ("client_cert", "NOMAD_CLIENT_CERT"),
            ("client_key", "NOMAD_CLIENT_KEY"),
            ("http_auth", "NOMAD_HTTP_AUTH"),
        ):
            if env.get(var):
                values[attr] = env[var]
        if env.get("NOMAD_SKIP_VERIFY"):
            values["skip_verify"] = _go_bool("NOMAD_SKIP_VERIFY", env["NOMAD_SKIP_VERIFY"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        conn = cls(**values)
        conn.base()  # validate the address now
        if conn.timeout <= 0:
            raise UsageError(f"--timeout must be positive, not {conn.timeout}")
        return conn

    # -- derived ---------------------------------------------------------------

    def base(self) -> tuple[str, str | None]:
        """(base URL, unix socket path or None)."""
        addr = self.address.strip()
        if addr.startswith("unix://"):
            sock = addr[len("unix://") :]
            if not sock:
                raise UsageError(f"address {self.address!r} names no socket path")
            return "http://localhost", sock
        if "://" not in addr:
            addr = "http://" + addr
        parts = urlsplit(addr)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(
                f"address {self.address!r} is not an http://, https:// or unix:// address"
            )
        return addr.rstrip("/"), None

    @property
    def display(self) -> str:
        return self.address.strip() or DEFAULT_ADDRESS

    def _loopback(self) -> bool:
        url, sock = self.base()
        if sock:
            return True
        host = urlsplit(url).hostname or ""
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def _ssl(self) -> ssl.SSLContext:
        try:
            ctx = ssl.create_default_context(cafile=self.ca_cert, capath=self.ca_path)
            if self.client_cert:
                ctx.load_cert_chain(self.client_cert, self.client_key)
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(f"TLS settings: {exc}") from None
        if self.client_key and not self.client_cert:
            raise UsageError("a client key (NOMAD_CLIENT_KEY) needs a client certificate too")
        if self.skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def client(self) -> httpx.Client:
        url, sock = self.base()
        headers = {"User-Agent": f"snaptool/{__version__}"}
        if self.token:
            headers["X-Nomad-Token"] = self.token
        auth = None
        if self.http_auth:
            user, _, password = self.http_auth.partition(":")
            auth = httpx.BasicAuth(user, password)
        # Plain http never does TLS (no redirects are followed): a verifying
        # context with no CA loaded is enough, and much cheaper to make.
        verify = self._ssl() if url.startswith("https:") else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        transport = httpx.HTTPTransport(uds=sock, verify=verify) if sock else None
        return httpx.Client(
            base_url=url,
            headers=headers,
            auth=auth,
            verify=verify,
            transport=transport,
            timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 30.0)),
            trust_env=not self._loopback(),
            follow_redirects=False,
        )

    def params(self, **extra: str) -> dict[str, str]:
        out = dict(extra)
        if self.region:
            out["region"] = self.region
        return out


# ---------------------------------------------------------------------------
# explaining failures


_TITLE = re.compile(rb"<title[^>]*>(.*?)</title\s*>", re.I | re.S)
_H1 = re.compile(rb"<h1[^>]*>(.*?)</h1\s*>", re.I | re.S)
_TAGS = re.compile(r"<[^>]+>")


def _looks_html(content_type: str, head: bytes) -> bool:
    if "html" in content_type.lower():
        return True
    start = head.lstrip()[:64].lower()
    return start.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or (
        start.startswith(b"<") and b"<title" in head[:4096].lower()
    )


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def html_title(head: bytes) -> str:
    """The ``<title>`` (else the first ``<h1>``) of an HTML page, on one line."""
    for rx in (_TITLE, _H1):
        m = rx.search(head)
        if m:
            raw = m.group(1).decode("utf-8", "replace")
            text = _one_line(html.unescape(_TAGS.sub(" ", raw)))
            if text:
                return text
    return ""


def _status_line(resp: httpx.Response) -> str:
    reason = resp.reason_phrase or ""
    return f"HTTP {resp.status_code}{' ' + reason if reason else ''}"


def _read_head(resp: httpx.Response, limit: int = ERROR_BODY_LIMIT) -> bytes:
    buf = bytearray()
    try:
        for chunk in resp.iter_bytes():
            buf += chunk
            if len(buf) >= limit:
                break
    except (httpx.HTTPError, OSError):
        pass
    return bytes(buf[:limit])


def _explain(resp: httpx.Response, head: bytes, action: str, conn: Connection) -> SnaptoolError:
    """One clear error for a response that is not what ``action`` needed."""
    status = resp.status_code
    ctype = resp.headers.get("content-type", "")
    if _looks_html(ctype, head):
        title = html_title(head)
        what = f"{_status_line(resp)}" + (f", page title {title!r}" if title else "")
        hint = "a proxy or load balancer between snaptool and Nomad?"
        if status == 413:
            hint = (
                "a proxy's request-size limit is below the snapshot's size "
                "(nginx: client_max_body_size)"
            )
        return ProxyPage(
            f"{action}: got an HTML page instead of a Nomad response ({what}) from "
            f"{conn.display}; {hint}"
        )
    text = _one_line(head.decode("utf-8", "replace")) or resp.reason_phrase or ""
    if status == 403:
        who = "the token given is not one" if conn.token else "no token was given"
        return ServerRefused(
            f"{action}: permission denied (HTTP 403: {text}): this needs a management "
            f"token and {who}; pass --token or set NOMAD_TOKEN",
            status=status,
        )
    if status == 500 and "no cluster leader" in text.lower():
        hint = (
            "; retry with --stale to take the snapshot from this server without a leader"
            if action.startswith("save")
            else "; a restore needs a leader: fix the cluster first"
        )
        return ServerRefused(
            f"{action}: the cluster has no leader (HTTP 500: {text}){hint}", status=status
        )
    if status in (301, 302, 303, 307, 308):
        return TransportError(
            f"{action}: {conn.display} redirects to {resp.headers.get('location', '?')!r} "
            f"({_status_line(resp)}); point --address at Nomad itself"
        )
    return ServerRefused(f"{action}: Nomad said {_status_line(resp)}: {text}", status=status)


def _transport(exc: BaseException, action: str, conn: Connection, done: int | None = None) -> TransportError:
    addr = conn.display
    after = f" after {done} bytes" if done else ""
    if isinstance(exc, httpx.TimeoutException):
        kind = "connecting to" if isinstance(exc, httpx.ConnectTimeout) else "waiting for"
        return TransportError(
            f"{action}: timed out {kind} {addr}{after} (nothing for {conn.timeout:g} s; "
            f"raise --timeout if the cluster is slow)"
        )
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        low = text.lower()
        if "refused" in low:
            return TransportError(
                f"{action}: cannot connect to {addr}: connection refused (is Nomad running "
                f"there? set --address or NOMAD_ADDR)"
            )
        if "certificate" in low or "ssl" in low or "tls" in low:
            return TransportError(
                f"{action}: TLS handshake with {addr} failed: {_one_line(text)} "
                f"(NOMAD_CACERT, NOMAD_CLIENT_CERT, NOMAD_SKIP_VERIFY)"
            )
        return TransportError(f"{action}: cannot connect to {addr}: {_one_line(text)}")
    if "certificate required" in text.lower() or "certificate_required" in text.lower():
        return TransportError(
            f"{action}: {addr} wants a client certificate: {_one_line(text)} "
            f"(--client-cert and --client-key, or NOMAD_CLIENT_CERT and NOMAD_CLIENT_KEY)"
        )
    return TransportError(f"{action}: connection to {addr} failed{after}: {_one_line(text)}")


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
# the server's version


@dataclass
class ServerInfo:
    """What the server says about itself, for the restore target."""

    target: Target
    #: "members" (the oldest alive server), "agent" (the agent answering), or
    #: "default" (not known: the newest Nomad snaptool knows).
    source: str
    version: str | None = None
    name: str | None = None
    region: str | None = None
    warning: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "edition": self.target.edition,
            "source": self.source,
            "name": self.name,
            "region": self.region,
            "target": ".".join(map(str, self.target.version)),
        }


def _edition(version_text: str, metadata: str = "") -> str:
    return "ent" if "ent" in metadata.lower() or "+ent" in version_text.lower() else "ce"


def _get_json(client: httpx.Client, path: str, conn: Connection, action: str) -> Any:
    try:
        resp = client.get(path, params=conn.params())
    except httpx.HTTPError as exc:
        raise _transport(exc, action, conn) from None
    if resp.status_code != 200:
        raise _explain(resp, resp.content[:ERROR_BODY_LIMIT], f"{action} (GET {path})", conn)
    try:
        return resp.json()
    except ValueError:
        raise NotNomad(
            f"{action}: GET {path} on {conn.display} did not answer with JSON; is this Nomad?"
        ) from None


_FALLBACK = (ServerRefused, ProxyPage, NotNomad)


def server_info(
    client: httpx.Client, conn: Connection, action: str = "restore", fallback: Target | None = None
) -> ServerInfo:
    """The Nomad version a restore would run on: the oldest alive server of
    the region (``/v1/agent/members``), else the answering agent's own version
    (``/v1/agent/self``), else ``fallback`` (default: the newest Nomad
    snaptool knows), with a warning. Connection trouble is raised; refusals
    only lead to the fallback."""
    problems: list[str] = []
    self_info: dict[str, Any] = {}
    try:
        self_info = _get_json(client, "/v1/agent/self", conn, action) or {}
    except _FALLBACK as exc:
        problems.append(str(exc))
    config = self_info.get("config") or {}
    member = self_info.get("member") or {}
    region = conn.region or config.get("Region") or (member.get("Tags") or {}).get("region")
    name = member.get("Name") or config.get("NodeName")

    # the servers: every one of them applies the restored snapshot
    try:
        members = _get_json(client, "/v1/agent/members", conn, action) or {}
        region = region or members.get("ServerRegion")
        oldest: tuple[tuple[int, int, int], str, str] | None = None
        for m in members.get("Members") or []:
            tags = m.get("Tags") or {}
            if m.get("Status") != "alive" or tags.get("role") != "nomad":
                continue
            if region and tags.get("region") and tags.get("region") != region:
                continue
            build = tags.get("build") or ""
            try:
                parsed = parse_version(build)
            except ValueError:
                continue
            if oldest is None or parsed < oldest[0]:
                oldest = (parsed, build, m.get("Name") or "")
        if oldest is not None:
            parsed, build, who = oldest
            return ServerInfo(
                Target(parsed, _edition(build)), "members", build.split("+")[0], who, region
            )
    except _FALLBACK as exc:
        problems.append(str(exc))

    version = config.get("Version")
    if isinstance(version, dict) and version.get("Version"):
        text = str(version["Version"])
        try:
            parsed = parse_version(text)
            return ServerInfo(
                Target(parsed, _edition(text, str(version.get("VersionMetadata") or ""))),
                "agent",
                text,
                name,
                region,
            )
        except ValueError:
            problems.append(f"unreadable version {text!r}")
    build = (member.get("Tags") or {}).get("build")
    if build:
        try:
            return ServerInfo(Target(parse_version(build), _edition(build)), "agent", build, name, region)
        except ValueError:
            problems.append(f"unreadable build tag {build!r}")

    newest = ".".join(map(str, LATEST_NOMAD))
    why = problems[0] if problems else "the agent did not report a version"
    if fallback is not None:
        against = f"{fallback.describe()} as given by --target"
    else:
        against = f"the newest Nomad snaptool knows, {newest} (use --target to name the server's)"
    return ServerInfo(
        fallback or Target(),
        "default",
        None,
        name,
        region,
        warning=f"could not learn the server's Nomad version ({why}); checking against {against}",
    )


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
        report = verify(tmp, target=goal)
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
    report = verify(name, target=goal)
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
