"""A Go-faithful msgpack codec: decode a record, edit it, write Nomad's bytes.

Nomad encodes state.bin records with hashicorp/go-msgpack and its own handle
(FORMAT-NOTES 4). msgpack-python cannot write those bytes back: it writes
unsigned formats for Go's positive signed ints, never writes float32, and
uses str8/bin. This module decodes one value into Python objects that
remember everything the wire said, and encodes them back byte for byte.
Pure Python: it runs only on records being built or edited, never on a hot
read path.

Decoded values (:func:`decode`)
-------------------------------

======================  ==================================================
wire                    Python value
======================  ==================================================
nil ``c0``              ``None``
``c2``/``c3``           ``bool``
fixint (``00-7f``,      plain ``int`` (Go's encoder picks fixint for
``e0-ff``)              -32..127 whether the Go type is signed or not)
``cc cd ce cf``         :class:`U8` :class:`U16` :class:`U32` :class:`U64`
                        (subclasses of :class:`Uint`, so of ``int``)
``d0 d1 d2 d3``         :class:`I8` :class:`I16` :class:`I32` :class:`I64`
                        (subclasses of :class:`Int`, so of ``int``)
``ca`` / ``cb``         :class:`Float32` / ``float``
str family, canonical   :class:`GoTime` when it is a ``time.MarshalBinary``
header (fixstr, ``da``  value (15 bytes, version 1; 16 bytes, version 2,
for 32..65535, ``db``)  sane fields); else ``str`` when the bytes are UTF-8;
                        else ``bytes`` (Go ``[]byte`` such as hashes and
                        ciphertext)
any other raw header    :class:`Raw` (str8 ``d9``, a longer header than
(``d9``, ``c4-c6``,     needed, bin): bytes that remember their header byte
oversized ``da``/``db``)
map                     ``dict`` in wire order; :class:`Map` (a dict that
                        remembers a non-minimal header); :class:`Pairs` when
                        keys repeat or cannot be dict keys
array                   ``list``; :class:`Array` for a non-minimal header
ext (``c7-c9 d4-d8``)   :class:`Ext`
======================  ==================================================

Because every value keeps its format, ``encode(decode(b)) == b`` for every
msgpack value ``b`` (except float32 NaNs whose payload Python's float
conversion changes). Nomad never writes str8, bin, ext or non-minimal
headers; they are kept only so that foreign bytes survive an edit too.

Encoding Python values (:func:`encode`)
---------------------------------------

What Nomad's handle writes, chosen from the Python type:

* ``None`` -> ``c0``; ``bool`` -> ``c2``/``c3``;
* a plain ``int`` (or :class:`Int`) is a **Go signed int**: fixint for
  -32..127, positive values above 127 as ``d1``/``d2``/``d3`` (int16, 32,
  64), negative ones as the smallest of ``d0``-``d3``; values of 2**63 and
  more, which no signed Go type holds, as ``cf``;
* :class:`Uint` is a **Go unsigned int**: the smallest of fixint, ``cc``,
  ``cd``, ``ce``, ``cf``;
* the exact-format classes (:class:`U8` ... :class:`I64`) write their own
  format;
* ``float`` -> ``cb``; :class:`Float32` -> ``ca``;
* ``str`` (UTF-8, surrogate escapes allowed), ``bytes`` and :class:`GoTime`
  -> the old-spec str family only: fixstr, ``da``, ``db``; never ``d9``,
  never bin;
* ``dict`` -> map with keys in the dict's order; ``list``/``tuple`` -> array.

Manifest values (:func:`typed`)
-------------------------------

JSON or YAML values carry no Go types. :func:`typed` converts a record body
from a manifest into the values above, choosing Go's formats from the field
names (see :data:`UNSIGNED_FIELDS`, :data:`GO_TIME_FIELDS`,
:data:`NANOS_TIME_FIELDS`, :data:`BYTES_FIELDS`):

* an integer is unsigned (uint64 etc.) when its field name ends in
  ``Index`` or is in :data:`UNSIGNED_FIELDS` (``Version`` of jobs and job
  versions, ``JobVersion``, ``Restarts``, the ``Value`` of an ``Index``
  record, ...); every other integer is a Go signed int. Field names come
  from Nomad 1.6.1's ``nomad/structs`` (where a name is both, the common
  persisted use wins: ``TaskHandle.Version`` is an exception handled by
  path, ``DesiredUpdates.Canary`` is not persisted);
* a string in RFC 3339 form (``2024-05-01T12:00:00Z``, fractions up to
  nanoseconds, any offset) is converted in time fields: to the 15-byte
  ``time.Time`` binary in the fields of :data:`GO_TIME_FIELDS` (and
  ``CreateTime``/``ModifyTime`` of ACL tokens, auth methods and binding
  rules, ``Time`` of a TimeTable entry and of an allocation state), to int64
  Unix nanoseconds in :data:`NANOS_TIME_FIELDS` (``SubmitTime``,
  ``CreateTime``/``ModifyTime`` elsewhere, ``Time`` of task and scaling
  events, ...). An integer in a time.Time field is taken as Unix
  nanoseconds; ``null`` stays nil (a nil ``*time.Time``);
* a string in a ``[]byte`` field (:data:`BYTES_FIELDS`: ``Hash``,
  ``Payload``, ``Data`` of a variable, ...) is base64 (standard, padded);
  YAML ``!!binary`` values are bytes anywhere;
* explicit forms override the rules anywhere: ``{"$uint": n}``,
  ``{"$int": n}``, ``{"$float32": x}``, ``{"$float64": x}``,
  ``{"$bytes": "<base64>"}``, ``{"$time": "<RFC 3339>"}``,
  ``{"$str": "..."}`` (a string left alone);
* floats are float64; ``[]``, ``{}`` and ``null`` stay distinct.

:func:`plain` goes the other way for display and comparison: times as RFC
3339 (nanoseconds kept), binary as base64, numbers as Python numbers.
"""

from __future__ import annotations

from .wiretypes import (
    Array,
    CodecError,
    Ext,
    Float32,
    GoTime,
    I16,
    I32,
    I64,
    I8,
    Int,
    Map,
    Pairs,
    Raw,
    U16,
    U32,
    U64,
    U8,
    Uint,
    is_rfc3339,
)
from .decoder import MAX_DEPTH, decode, decode_prefix
from .encoder import encode
from .manifest import (
    BYTES_FIELDS,
    GO_TIME_FIELDS,
    ManifestValueError,
    NANOS_TIME_FIELDS,
    UNSIGNED_FIELDS,
    plain,
    typed,
)

__all__ = [
    "Array",
    "CodecError",
    "Ext",
    "Float32",
    "GoTime",
    "I8",
    "I16",
    "I32",
    "I64",
    "Int",
    "Map",
    "Pairs",
    "Raw",
    "U8",
    "U16",
    "U32",
    "U64",
    "Uint",
    "decode",
    "decode_prefix",
    "encode",
    "plain",
    "typed",
]

# Importable from here before the split, though not in __all__.
_ALSO_PUBLIC = (
    BYTES_FIELDS,
    GO_TIME_FIELDS,
    MAX_DEPTH,
    ManifestValueError,
    NANOS_TIME_FIELDS,
    UNSIGNED_FIELDS,
    is_rfc3339,
)
