"""snaptool: read, check, compare and write Nomad snapshot archives offline.

The public API, imported lazily so that the command line starts fast::

    import snaptool
    report = snaptool.verify("backup.snap")          # VerifyReport: .ok, .findings
    info = snaptool.inspect("backup.snap")            # InspectReport: .meta, .rows
    snaptool.build("fixture.yaml", "out.snap")        # see snaptool.build docs

``snaptool.build`` is the function; reach the module with
``from snaptool.build import load_manifest`` and the like.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = {
    "verify": ("commands", "verify"),
    "inspect": ("commands", "inspect"),
    "read_input": ("commands", "read_input"),
    "VerifyReport": ("commands", "VerifyReport"),
    "InspectReport": ("commands", "InspectReport"),
    "Target": ("checks", "Target"),
    "Finding": ("findings", "Finding"),
    "SnapshotMeta": ("meta", "SnapshotMeta"),
    "Limits": ("stream.reader", "Limits"),
    "SnaptoolError": ("errors", "SnaptoolError"),
    "build": ("build", "build"),
    "Built": ("build", "Built"),
    "ManifestError": ("build", "ManifestError"),
    "load_manifest": ("build", "load_manifest"),
}

__all__ = sorted([*_API, "__version__"])


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'snaptool' has no attribute {name!r}")
    module_name, attr = _API[name]
    value = getattr(importlib.import_module(f".{module_name}", __name__), attr)
    globals()[name] = value  # also undoes the submodule binding of "build"
    return value
