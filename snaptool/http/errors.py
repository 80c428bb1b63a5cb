"""Errors of the HTTP commands, and how a failed request is explained (what
answered, what it said).
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING

import httpx

from ..commands import VerifyReport
from ..errors import SnaptoolError

if TYPE_CHECKING:
    from .connection import Connection


#: How much of an error body is read to explain it.
ERROR_BODY_LIMIT = 64 * 1024


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
