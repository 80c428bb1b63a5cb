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

from .connection import (
    CHUNK,
    Connection,
    DEFAULT_ADDRESS,
    Progress,
    SNAPSHOT_PATH,
    ServerInfo,
    UPLOAD_CHUNK,
    server_info,
)
from .errors import (
    DigestError,
    ERROR_BODY_LIMIT,
    NotNomad,
    ProxyPage,
    RestoreRefused,
    SaveRefused,
    ServerRefused,
    TransportError,
    html_title,
)
from ..errors import InputError, UsageError
from .saving import Digest, SaveResult, default_snapshot_name, parse_digest, save
from .restoring import RestorePlan, RestoreResult, plan_restore, send_restore

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

# Importable from here before the split, though not in __all__.
_ALSO_PUBLIC = (
    CHUNK,
    DEFAULT_ADDRESS,
    Digest,
    ERROR_BODY_LIMIT,
    InputError,
    Progress,
    SNAPSHOT_PATH,
    UPLOAD_CHUNK,
    UsageError,
    html_title,
)
