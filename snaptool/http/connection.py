"""Connection settings as the ``nomad`` CLI reads them, and what the server
says it is (its Nomad version, for the verify target).
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from .. import __version__
from ..checks import Target
from ..errors import UsageError
from ..format.records import LATEST_NOMAD, parse_version
from .errors import (
    ERROR_BODY_LIMIT,
    NotNomad,
    ProxyPage,
    ServerRefused,
    _explain,
    _transport,
)


DEFAULT_ADDRESS = "http://127.0.0.1:4646"
SNAPSHOT_PATH = "/v1/operator/snapshot"
CHUNK = 1 << 20
#: Upload chunk: what is read from the file per write to the socket.
UPLOAD_CHUNK = 256 * 1024

#: ``progress(bytes_done, bytes_total_or_None)``
Progress = Callable[[int, "int | None"], None]


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
