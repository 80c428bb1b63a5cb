"""Redaction: what ``snaptool redact`` changes in a record or in meta.json.

Deciders for :func:`snaptool.rewrite.rewrite_archive`: root key material as
Nomad's own ``operator snapshot redact`` removes it, ACL token secrets
replaced by unguessable placeholders, OIDC client secrets, and optionally
node secrets, workload identities and server addresses (module notes of
:mod:`snaptool.rewrite`).
"""

from __future__ import annotations

import base64
import dataclasses
import struct
import uuid

from .meta import SnapshotMeta, decode_peers
from .rewrite import (
    KEEP,
    PLACEHOLDER_PREFIX,
    REDACTED_KEY_SUFFIX,
    Decider,
    RewriteReport,
    go_nil,
    go_str,
    splice,
)
from .stream.statewalk import RecordEvent
from .values import decode

__all__ = [
    "REDACTED_TEXT",
    "is_placeholder",
    "peers_text",
    "redact_decider",
    "redact_meta_addresses",
    "secret_placeholder",
]



def secret_placeholder() -> str:
    """A recognisable, unguessable UUID: ``00000000-`` then random hex."""
    return PLACEHOLDER_PREFIX + str(uuid.uuid4())[len(PLACEHOLDER_PREFIX) :]


def is_placeholder(secret: str) -> bool:
    return secret.startswith(PLACEHOLDER_PREFIX) and len(secret) == 36


def _str_field(raw: bytes, name: str) -> str | None:
    value = decode(raw)
    got = value.get(name) if isinstance(value, dict) else None
    return got if isinstance(got, str) else None


def redact_decider(*, node_secrets: bool = False, identities: bool = False) -> Decider:
    """Remove key material and secrets (see the module notes)."""

    def decide(ev: RecordEvent) -> bytes | None:
        assert ev.raw is not None
        if ev.type == 30:
            value = decode(ev.raw)
            if not isinstance(value, dict) or not value.get("WrappedKeys"):
                return KEEP
            key_id = value.get("KeyID") if isinstance(value.get("KeyID"), str) else ""
            new = {"WrappedKeys": go_nil()}
            if not key_id.endswith(REDACTED_KEY_SUFFIX):
                new["KeyID"] = go_str(key_id + REDACTED_KEY_SUFFIX)
            return splice(ev.raw, new)
        if ev.type == 12 or (ev.type == 0 and node_secrets):
            secret = _str_field(ev.raw, "SecretID")
            if not secret or is_placeholder(secret):
                return KEEP
            return splice(ev.raw, {"SecretID": go_str(secret_placeholder())})
        if ev.type == 26:
            return _redact_oidc_secret(ev.raw)
        if ev.type == 4 and identities:
            value = decode(ev.raw)
            if isinstance(value, dict) and value.get("SignedIdentities"):
                return splice(ev.raw, {"SignedIdentities": go_nil()})
        return KEEP

    return decide


#: What an auth method's OIDC client secret becomes.
REDACTED_TEXT = "<redacted>"


def _redact_oidc_secret(raw: bytes) -> bytes | None:
    """ACLAuthMethod ``Config.OIDCClientSecret``: re-encoded with the
    Go-faithful codec, so every other byte stays as it was."""
    from . import codec

    value = codec.decode(raw)
    config = value.get("Config") if isinstance(value, dict) else None
    secret = config.get("OIDCClientSecret") if isinstance(config, dict) else None
    if not secret or secret == REDACTED_TEXT:
        return KEEP
    config["OIDCClientSecret"] = REDACTED_TEXT
    return codec.encode(value)


def _encode_peers(addresses: list[str]) -> bytes:
    n = len(addresses)
    head = bytes([0x90 | n]) if n < 16 else b"\xdc" + struct.pack(">H", n)
    return head + b"".join(go_str(a) for a in addresses)


def redact_meta_addresses(meta: SnapshotMeta, report: RewriteReport) -> None:
    """Replace server addresses in meta.json with documentation addresses."""
    mapping: dict[str, str] = {}

    def placeholder(address: str) -> str:
        if address not in mapping:
            port = address.rsplit(":", 1)[1] if ":" in address else ""
            n = len(mapping) + 1
            mapping[address] = f"192.0.2.{n}" + (f":{port}" if port.isdigit() else "")
        return mapping[address]

    if meta.Servers:
        meta.Servers = [
            dataclasses.replace(s, Address=placeholder(s.Address)) if s.Address else s
            for s in meta.Servers
        ]
    peers = decode_peers(meta.Peers)
    if peers:
        meta.Peers = _encode_peers([placeholder(p) for p in peers])
    if mapping:
        report.meta_changes.append(f"{len(mapping)} server address(es) replaced by 192.0.2.N placeholders")


def peers_text(meta: SnapshotMeta) -> str | None:
    return base64.b64encode(meta.Peers).decode() if meta.Peers is not None else None
