"""Say what a file is from its first bytes, for errors about non-snapshots."""

from __future__ import annotations

import re

__all__ = ["describe"]

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def describe(head: bytes, size: int) -> str:
    """A short description such as ``an HTML page ("413 Request Entity Too
    Large")`` or ``an uncompressed tar archive``."""
    if size == 0 or not head:
        return "an empty file"
    if head[:3] == b"\x1f\x8b\x08":
        return "gzip data"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "an uncompressed tar archive (read it with --tar)"
    stripped = head.lstrip()
    lower = stripped[:64].lower()
    if lower.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in head[:512].lower():
        match = _TITLE.search(head)
        title = match.group(1).decode("utf-8", "replace").strip() if match else ""
        return f"an HTML page{f' ({title!r})' if title else ''}, {size} bytes"
    if stripped[:1] in (b"{", b"["):
        return f"JSON or other text, {size} bytes: {_preview(stripped)}"
    if head[:1] == b"\x80":
        return "a bare state.bin (starts with Nomad's 0x80 header), not an archive (read it with --state)"
    if head[:4] == b"\x81\xa9La":
        return "a bare Consul state.bin, not an archive"
    if head[:3] == b"BZh":
        return "bzip2 data"
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz data"
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd data"
    if head[:4] == b"PK\x03\x04":
        return "a zip archive"
    if _is_text(head):
        return f"text, {size} bytes: {_preview(stripped)}"
    return f"binary data, {size} bytes, starting {head[:8].hex(' ')}"


def _is_text(data: bytes) -> bool:
    sample = data[:512]
    return all(b in b"\t\n\r" or 32 <= b < 127 for b in sample)


def _preview(data: bytes) -> str:
    text = data[:60].decode("utf-8", "replace").replace("\n", " ").replace("\r", " ")
    return repr(text + ("..." if len(data) > 60 else ""))
