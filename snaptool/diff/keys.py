"""What identifies a record in a diff: its key fields and secrets per record
type, the scope a diff is limited to, and the digests and key hashes that
pass 1 matches records by (see the strategy in :mod:`snaptool.diff`).
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Iterable
from typing import Any

import msgpack

from ..errors import UsageError
from ..format.records import REGISTRY, by_number
from ..values import ext_hook
from .fields import render

#: Secret fields beyond the registry's, by type name (kept here too so that a
#: registry edit cannot unmask them): ACL token secrets, variable data, root
#: key material, node secrets.
EXTRA_SECRETS: dict[str, frozenset[str]] = {
    "ACLToken": frozenset({"SecretID"}),
    "Variables": frozenset({"Data"}),
    "RootKeyMeta": frozenset({"Key", "RSAKey"}),
    "WrappedRootKeys": frozenset(
        {"WrappedKeys", "Key", "RSAKey", "KeyEncryptionKey", "WrappedDataEncryptionKey",
         "WrappedRSAKey"}
    ),
    "Node": frozenset({"SecretID"}),
    "ACLAuthMethod": frozenset({"OIDCClientSecret"}),
}

# -- keys --------------------------------------------------------------------------


def _key_fields(number: int) -> tuple[str, ...]:
    rt = by_number(number)
    return rt.key if rt is not None else ("ID",)


def secrets_for(number: int) -> frozenset[str]:
    """The secret field names of a record type: the last name of each of the
    registry's dotted paths, plus :data:`EXTRA_SECRETS`. They are matched at
    any depth, which masks at least what the paths name."""
    rt = by_number(number)
    if rt is None:
        return frozenset()
    names = {path.rsplit(".", 1)[-1] for path in rt.secrets}
    return frozenset(names) | EXTRA_SECRETS.get(rt.name, frozenset())


def pick(raw: bytes, names: frozenset[str]) -> dict[str, Any] | None:
    """The named fields of a record's top-level map, decoding nothing else
    (every other value is skipped, and reading stops once all are found);
    None when the value is not a map."""
    up = msgpack.Unpacker(
        raw=False,
        unicode_errors="surrogateescape",
        strict_map_key=False,
        max_buffer_size=max(len(raw), 1),
        ext_hook=ext_hook,
    )
    up.feed(raw)
    found: dict[str, Any] = {}
    try:
        n = up.read_map_header()
        for _ in range(n):
            k = up.unpack()
            if isinstance(k, str) and k in names:
                found[k] = up.unpack()
                if len(found) == len(names):
                    break
            else:
                up.skip()
    except (ValueError, msgpack.UnpackException):
        return None if not found else found
    return found


def parse_types(values: Iterable[str]) -> frozenset[int]:
    """``--type`` values: names (any case, Nomad's or registry aliases) or numbers."""
    by_name = {rt.name.lower(): rt.number for rt in REGISTRY}
    by_name.update({a.lower(): rt.number for rt in REGISTRY for a in rt.aliases})
    out = set()
    for text in values:
        for part in text.split(","):
            p = part.strip()
            if not p:
                continue
            if p.isdigit() and 0 <= int(p) < 256:
                out.add(int(p))
            elif p.lower() in by_name:
                out.add(by_name[p.lower()])
            else:
                raise UsageError(
                    f"unknown record type {p!r} (a number, or one of: "
                    + ", ".join(rt.name for rt in REGISTRY)
                    + ")"
                )
    return frozenset(out)


# -- the passes ------------------------------------------------------------------------


class _Scope:
    def __init__(
        self,
        types: frozenset[int] | None,
        namespaces: tuple[str, ...],
        ids: tuple[str, ...],
    ) -> None:
        self.types = types
        self.namespaces = frozenset(namespaces)
        self.ids = ids
        self._names: dict[int, frozenset[str]] = {}

    def wants_type(self, number: int) -> bool:
        return self.types is None or number in self.types

    def names(self, number: int) -> frozenset[str]:
        names = self._names.get(number)
        if names is None:
            names = frozenset(_key_fields(number))
            if self.namespaces:
                names |= {"Name" if number == 64 else "Namespace"}
            self._names[number] = names
        return names

    def key_of(self, number: int, raw: bytes, ordinal: int) -> dict[str, Any] | None:
        """The record's natural key, or None when the filters exclude it."""
        fields = _key_fields(number)
        names = self.names(number)
        got = pick(raw, names) if names else {}
        if got is not None and all(f in got for f in fields):
            key = {f: _key_value(got[f]) for f in fields}
        else:
            key = {"#": ordinal}
            got = got or {}
        if self.namespaces:
            ns = got.get("Name" if number == 64 else "Namespace")
            if ns not in self.namespaces:
                return None
        if self.ids:
            texts = [str(v) for v in key.values()] + ["/".join(str(v) for v in key.values())]
            if not any(fnmatch.fnmatchcase(t, pat) for pat in self.ids for t in texts):
                return None
        return key


def _key_value(v: Any) -> Any:
    if type(v) is str and v.isprintable():  # the usual case, and never a time
        return v
    if type(v) is int:
        return v
    return render(v)


def _key_hash(number: int, key: dict[str, Any]) -> bytes:
    parts = [str(number)]
    for name, v in key.items():
        parts.append(v if type(v) is str else f"{name}\x01{v!r}")
    text = "\x00".join(parts)
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).digest()[:12]


#: Bytes of a record digest: 96 bits of SHA-256 and the type byte.
DIGEST_SIZE = 13


def _digest(number: int, raw: bytes) -> bytes:
    """96 bits of SHA-256 of the value, and the type byte: a record's identity
    in pass 1. (SHA-256 is the fastest hashlib digest with SHA extensions.)"""
    return hashlib.sha256(raw).digest()[:12] + _TYPE_BYTES[number]


_TYPE_BYTES = [bytes((i,)) for i in range(256)]


