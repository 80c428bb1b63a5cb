"""Reading a manifest and the names it may use (top-level keys, meta fields,
record type names).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import InputError, SnaptoolError
from ..format.records import REGISTRY, RecordType


_BY_NAME: dict[str, RecordType] = {rt.name.lower(): rt for rt in REGISTRY}
_BY_NAME["sitokenaccessor"] = _BY_NAME["serviceidentitytokenaccessor"]
_BY_NAME["hostvolume"] = _BY_NAME["hostvolumesnapshot"]

DEFAULT_ADDRESS = "127.0.0.1:4647"

_TOP_KEYS = {"from", "meta", "indexes", "derive", "remove", "patch", "records", "expect", "about"}
_META_KEYS = {
    "index": "Index",
    "term": "Term",
    "id": "ID",
    "version": "Version",
    "configurationindex": "ConfigurationIndex",
    "servers": "Servers",
}


class ManifestError(SnaptoolError):
    """A manifest snaptool cannot build (names the manifest and the entry)."""


def load_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML or JSON manifest (``.json`` is read as JSON, else YAML)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except IsADirectoryError:
        raise InputError("is a directory, not a manifest", where=str(p)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(getattr(exc, "strerror", None) or str(exc), where=str(p)) from None
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except ValueError as exc:  # json.JSONDecodeError
        raise ManifestError(f"not valid JSON: {exc}", where=str(p)) from None
    except Exception as exc:  # noqa: BLE001 - yaml.YAMLError and friends
        first = " ".join(str(exc).split())
        raise ManifestError(f"not valid YAML: {first}", where=str(p)) from None
    if not isinstance(data, dict):
        raise ManifestError("the manifest must be a mapping (meta, records, ...)", where=str(p))
    return data
