"""The wire formats (msgspec JSON and MessagePack): telling them apart, bytes inside JSON, fidelity.

Every stored value is a JSON object or a MessagePack map, and its first byte says which
(:func:`sniff_format`), so data written under one configured format stays readable under the
other. Bytes round-trip exactly in both: MessagePack stores them raw (``bin``); JSON stores each
``bytes`` value, wherever it sits, as Strands' marker ``{"__bytes_encoded__": true, "data":
"<base64>"}`` (the format of ``strands.types.session.encode_bytes_values``), which keeps JSON
records interchangeable with Strands' ``FileSessionManager`` files.

Both formats return what ``FileSessionManager`` returns for a value (NaN and infinities, ints of
any size, dict keys as the standard library's ``json`` writes them), or refuse it with
:class:`UnfaithfulValueError` naming the path: :func:`encode_json` and :func:`encode_msgpack` keep
a fast path for ordinary records and a slow path for the rest. Nothing here knows a model;
converters (:mod:`kvsession.orm.converters`) use these helpers. Measurements: ``docs/codecs.md``.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime
import decimal
import enum
import gc
import json
import math
import re
import threading
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, Final, Literal

import msgspec

from kvsession.kv.errors import CodecError

__all__ = [
    "BIG_INT_EXT",
    "DECODE_ERRORS",
    "ENCODE_ERRORS",
    "FORMATS",
    "Format",
    "UnfaithfulValueError",
    "big_int_ext",
    "collector_paused",
    "encode_json",
    "encode_msgpack",
    "ext_hook",
    "format_by_first_byte",
    "may_hold_marker",
    "prepare",
    "sniff_format",
    "unmark_bytes",
    "unmark_fields",
]

FORMATS: Final = ("json", "msgpack")
"""Format names accepted by the ``codec=`` option."""

Format = Literal["json", "msgpack"]

_MARKER_KEY: Final = "__bytes_encoded__"
# A JSON string cannot contain an unescaped quote, so this token only occurs as a real key (or value):
# its absence proves the document holds no marker and the decode-side walk can be skipped entirely.
_MARKER_NEEDLE: Final = b'"__bytes_encoded__"'
_MARKER_PREFIX: Final = b'{"__bytes_encoded__":true,"data":'
_JSON_WHITESPACE: Final = frozenset(b" \t\r\n")
ENCODE_ERRORS: Final = (msgspec.EncodeError, TypeError, ValueError, OverflowError, RecursionError)
"""What encoding a hostile or unsupported value may raise."""
# msgspec.DecodeError (and ValidationError) subclass ValueError; TypeError/KeyError guard record
# construction from a hostile shape, RecursionError a pathologically deep document.
DECODE_ERRORS: Final = (ValueError, TypeError, KeyError, RecursionError)
"""What decoding damaged or foreign data may raise."""
BIG_INT_EXT: Final = 1
"""MessagePack extension type of an int beyond 64 bits (two's complement, big-endian bytes)."""
_PLAIN_LEAVES: Final = frozenset({str, bool, type(None)})  # what the slow walk never has to look at
_MSGPACK_LEAVES: Final = frozenset({str, int, float, bool, type(None), bytes})
_CONTAINERS: Final = frozenset({dict, list, tuple})
_INT_MIN: Final = -(2**63)
_UINT_MAX: Final = 2**64 - 1
_INF: Final = float("inf")
_MSGSPEC_STRING_KEYS: Final = (
    uuid.UUID,
    datetime.datetime,
    datetime.date,
    datetime.time,
    decimal.Decimal,
    enum.Enum,
)
# msgspec writes every float as 0xcb and 8 bytes (IEEE 754, big-endian): sign, 11 exponent bits,
# mantissa. A float in [2**-13, 2**53) (biased exponent 0x3f2-0x433) or zero is written alike by
# msgspec and the standard library json, even as a dict key; any other 0xcb (NaN, infinities,
# exponent notation, or a 0xcb byte inside other data) sends the record to the slow path.
_UNSAFE_FLOAT: Final = re.compile(
    rb"\xcb(?![\x40-\x42\xc0-\xc2]|[\x3f\xbf][\x20-\xff]|[\x43\xc3][\x00-\x3f]|[\x00\x80]\x00{7})",
    re.DOTALL,
)
_PROBE: Final = msgspec.msgpack.Encoder()
_JSON: Final = msgspec.json.Encoder()
_MSGPACK: Final = msgspec.msgpack.Encoder()

_pause_lock = threading.Lock()
_pause_depth = 0
_collector_was_enabled = False


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a page of records is decoded.

    Decoding allocates only acyclic containers, yet their number triggers the collector again
    and again: half of a 10,000-message restore (docs/performance.md). The pause is counted
    across threads, so the collector comes back when the last decoding thread is done, and
    only if it was enabled when the first one began (an application may have disabled it).
    """
    global _pause_depth, _collector_was_enabled
    with _pause_lock:
        if _pause_depth == 0:
            _collector_was_enabled = gc.isenabled()
            gc.disable()
        _pause_depth += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pause_depth -= 1
            if _pause_depth == 0 and _collector_was_enabled:
                gc.enable()


def _is_msgpack_map_tag(byte: int) -> bool:
    return 0x80 <= byte <= 0x8F or byte in (0xDE, 0xDF)  # fixmap, map 16, map 32


def sniff_format(data: bytes) -> Format:
    """Tell the format of stored data from its first byte.

    Args:
        data: A stored value.

    Returns:
        ``"json"`` for a JSON object (``{``, optionally after whitespace), ``"msgpack"`` for a
        MessagePack map (first byte 0x80-0x8f, 0xde or 0xdf).

    Raises:
        CodecError: The data is empty or starts like neither.
    """
    for byte in data:
        if byte == 0x7B:
            return "json"
        if _is_msgpack_map_tag(byte):
            return "msgpack"
        if byte not in _JSON_WHITESPACE:
            break
    else:
        raise CodecError("empty value: expected a JSON object or a MessagePack map")
    raise CodecError(f"first byte 0x{byte:02x} starts neither a JSON object nor a MessagePack map")


# --- encoding: the fast path, and the slow path that keeps values faithful --------------------------


class UnfaithfulValueError(ValueError):
    """A value inside cannot be stored so that it reads back equal; names where it sits.

    Attributes:
        path: Where the value sits in the document, e.g. ``$.state.x[2]``.
        reason: What is wrong with it.
    """

    def __init__(self, reason: str, path: str = "$") -> None:
        self.reason = reason
        self.path = path
        super().__init__(f"{reason} at `{path}`")


class _RefusedError(Exception):
    """Raised inside the walk; the path is collected while it unwinds (free when nothing is refused)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.segments: list[object] = []


def _format_path(segments: Sequence[object]) -> str:
    parts = ["$"]
    for segment in segments:
        if isinstance(segment, int) and not isinstance(segment, bool):
            parts.append(f"[{segment}]")
        elif isinstance(segment, str) and segment.isidentifier():
            parts.append(f".{segment}")
        else:
            parts.append(f"[{segment!r}]")
    return "".join(parts)


def _float_key(key: float) -> str:
    # Exactly what the standard library's json writes for a float key (FileSessionManager's format).
    if key != key:
        return "NaN"
    if key == _INF:
        return "Infinity"
    if key == -_INF:
        return "-Infinity"
    return float.__repr__(key)


def _json_key(key: object) -> str:
    """Return the string the standard library's ``json`` makes of a dict key; refuse what it refuses."""
    if isinstance(key, str):
        return key
    if isinstance(key, float):
        return _float_key(key)
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(key)
    if isinstance(key, _MSGSPEC_STRING_KEYS):
        # msgspec's JSON encoder writes these as strings (File's json refuses them): the same string
        # in both formats, so that the codecs agree (docs/codecs.md, "Other types").
        written: str = next(iter(msgspec.json.decode(_JSON.encode({key: None}))))
        return written
    raise _RefusedError(f"a dict key of type {type(key).__name__} (JSON keys are strings)")


def _is_marker_like(value: dict[Any, Any]) -> bool:
    # Strands' decode_bytes_values turns exactly these into bytes (ours reads a subset of them).
    return value.get(_MARKER_KEY) is True and "data" in value


def big_int_ext(value: int) -> msgspec.msgpack.Ext:
    """Return an int beyond 64 bits as a MessagePack extension (two's complement, big-endian)."""
    return msgspec.msgpack.Ext(BIG_INT_EXT, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))


def ext_hook(code: int, data: memoryview) -> Any:
    """Turn our MessagePack extensions back into values (msgspec's ``ext_hook``): big ints."""
    if code == BIG_INT_EXT:
        return int.from_bytes(data, "big", signed=True)
    return msgspec.msgpack.Ext(code, bytes(data))


class _Faithful:
    """The slow path: a copy of a value that encodes faithfully, or :class:`_RefusedError` with its path.

    JSON: dict keys become what the standard library's ``json`` makes of them, bytes become markers
    (``markers=True``) or are refused, marker-like user dicts are refused (they would read back as
    bytes), non-finite floats are noted (``non_finite``: msgspec cannot write them); other types are
    left to msgspec. MessagePack (free-form fields only): dict keys as for JSON, ints beyond 64 bits
    become an extension, values that are not JSON values (or bytes) are refused. Containers are
    copied only where something changes.
    """

    def __init__(self, fmt: Format, *, markers: bool, raw_markers: bool = True) -> None:
        self.json = fmt == "json"
        self.markers = markers
        self.raw_markers = raw_markers
        self.non_finite = False

    def fix(self, value: Any) -> Any:
        if isinstance(value, dict):
            return self._dict(value)
        if isinstance(value, (list, tuple)):
            return self._list(value)
        if isinstance(value, (bytes, bytearray, memoryview)):
            return self._bytes(value)
        if isinstance(value, float):
            if self.json and not math.isfinite(value):
                self.non_finite = True
            return value
        if self.json or isinstance(value, (str, bool)) or value is None:
            return value  # JSON: refused beforehand in free-form fields (_refuse_foreign_values)
        if isinstance(value, int):
            return value if _INT_MIN <= value <= _UINT_MAX else big_int_ext(value)
        # MessagePack would keep a datetime, a set, a UUID ... where JSON (and File) cannot: refused,
        # so that a free-form value reads back alike from both formats or not at all.
        raise _RefusedError(f"a {type(value).__name__}, which is not a JSON value")

    def _dict(self, value: dict[Any, Any]) -> dict[Any, Any]:
        if self.json and self.markers and _is_marker_like(value):
            raise _RefusedError(f"a dict with the key {_MARKER_KEY!r} (it would read back as bytes)")
        changed = False
        items = []
        for key, item in value.items():
            try:
                new_key = key if type(key) is str else _json_key(key)
                new = item if type(item) in _PLAIN_LEAVES else self.fix(item)
            except _RefusedError as refused:
                refused.segments.append(key)
                raise
            if new_key is not key or new is not item:
                changed = True
            items.append((new_key, new))
        return dict(items) if changed else value

    def _list(self, value: list[Any] | tuple[Any, ...]) -> list[Any] | tuple[Any, ...]:
        copied: list[Any] | None = None
        for index, item in enumerate(value):
            if type(item) in _PLAIN_LEAVES:
                continue
            try:
                new = self.fix(item)
            except _RefusedError as refused:
                refused.segments.append(index)
                raise
            if new is not item:
                if copied is None:
                    copied = list(value)
                copied[index] = new
        return value if copied is None else copied

    def _bytes(self, value: bytes | bytearray | memoryview) -> Any:
        if not self.json:
            return value if type(value) is bytes else bytes(value)
        if not self.markers:
            raise _RefusedError("bytes, which this JSON record cannot hold (use msgpack, or base64 yourself)")
        if self.raw_markers:
            # The finished marker as raw JSON: msgspec writes the base64 straight into it, and the
            # encoder copies it without re-scanning a long string for escapes (a quarter off 200 KB).
            return msgspec.Raw(_MARKER_PREFIX + msgspec.json.encode(value) + b"}")
        return {_MARKER_KEY: True, "data": base64.b64encode(value).decode("ascii")}

    def apply(self, value: Any) -> Any:
        """Return the faithful copy, or raise :class:`UnfaithfulValueError` naming the path."""
        try:
            return self.fix(value)
        except _RefusedError as refused:
            raise UnfaithfulValueError(refused.reason, _format_path(refused.segments[::-1])) from None


def _as_document(value: Any) -> Any:
    """Return the builtin document msgspec would write for ``value``: top level only, where possible.

    A dataclass (Strands' records) becomes a dict of its fields, so values inside keep their types
    for the walk (``to_builtins`` would turn a frozenset key into a tuple before we can name it).
    """
    if isinstance(value, (dict, list, tuple)):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    return msgspec.to_builtins(value, builtin_types=(bytes, bytearray, memoryview))


def encode_json(value: Any, *, markers: bool = True, untyped: tuple[str, ...] | None = ()) -> bytes:
    """Encode ``value`` as JSON, faithfully, or raise :class:`UnfaithfulValueError`.

    The fast path is msgspec's encoder after a MessagePack probe (~0.3 µs, in C): when the probe shows
    no bytes (0xc4-0xc6) and no float that needs care (``_UNSAFE_FLOAT``), and the output holds
    no marker key, the output is the record. Anything else takes the slow path (:class:`_Faithful`),
    which writes with the standard library when a NaN or an infinity must be written as json does
    (``NaN``, ``Infinity``, ``-Infinity``).

    Args:
        value: The record.
        markers: Store bytes as Strands' markers (and refuse dicts that look like one); ``False``:
            refuse bytes, and store marker-like dicts as the dicts they are.
        untyped: The free-form fields (``None``: the whole value is one), where a value that is not
            a JSON value (a set, a datetime, a UUID ...) is refused rather than written in msgspec's
            form, which would read back as something else: the same rule as in MessagePack.
    """
    if untyped != ():
        _refuse_foreign_values(value, untyped)
    try:
        probe = _PROBE.encode(value)
    except ENCODE_ERRORS:
        return _encode_json_slowly(value, markers)  # e.g. an int beyond 64 bits, which JSON takes
    # Membership tests of an int are a bare memchr: five times cheaper than of a one-byte bytes.
    if 0xC4 in probe or 0xC5 in probe or 0xC6 in probe or (0xCB in probe and _UNSAFE_FLOAT.search(probe)):
        return _encode_json_slowly(value, markers)
    try:
        out = _JSON.encode(value)
    except ENCODE_ERRORS:
        return _encode_json_slowly(value, markers)  # e.g. a True or None key: json makes "true", "null"
    # The marker key is a 17-character string: 0xb1 (fixstr 17) in the probe comes before the search.
    if markers and 0xB1 in probe and _MARKER_NEEDLE in out:
        return _encode_json_slowly(value, markers)  # a user dict with the marker key: refused if marker-like
    return out


def _encode_json_slowly(value: Any, markers: bool) -> bytes:
    document = _as_document(value)
    faithful = _Faithful("json", markers=markers)
    fixed = faithful.apply(document)
    if not faithful.non_finite:
        return _JSON.encode(fixed)
    # msgspec writes NaN and infinities as null; the standard library writes them as FileSessionManager
    # does, and reads them back. Markers must then be plain dicts, not msgspec.Raw.
    fixed = _Faithful("json", markers=markers, raw_markers=False).apply(document)
    return json.dumps(fixed, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _plain_keys(value: Any) -> bool:
    """Whether every dict inside has only ``str`` keys and every leaf is a plain MessagePack value."""
    if type(value) is dict:
        for key, item in value.items():
            if type(key) is not str:
                return False
            kind = type(item)
            if kind in _MSGPACK_LEAVES:
                continue
            if kind not in _CONTAINERS or not _plain_keys(item):
                return False
        return True
    for item in value:
        kind = type(item)
        if kind in _MSGPACK_LEAVES:
            continue
        if kind not in _CONTAINERS or not _plain_keys(item):
            return False
    return True


def _refuse_foreign_values(value: Any, untyped: tuple[str, ...] | None) -> None:
    """Raise :class:`UnfaithfulValueError` if a free-form position holds a value JSON cannot hold.

    The walk of :func:`_plain_keys` (~0.3-1.8 µs a message) clears the usual record; anything else
    goes through the MessagePack walk, which refuses foreign values with their path and accepts
    what JSON writes faithfully too (other keys, big ints, bytes).
    """
    if untyped is None:
        if type(value) is dict and _plain_keys(value):
            return
    elif all(
        type(item) in _MSGPACK_LEAVES or (type(item) in _CONTAINERS and _plain_keys(item))
        for item in (_field(value, name) for name in untyped)
    ):
        return
    _faithful_fields(value, untyped)


def encode_msgpack(value: Any, untyped: tuple[str, ...] | None) -> bytes:
    """Encode ``value`` as MessagePack; untyped positions read back as they would from JSON.

    Args:
        value: The record.
        untyped: The fields typed ``Any`` (or ``dict[str, Any]`` ...) whose dict keys must become
            strings as in JSON; ``None``: the whole value is such a dict.
    """
    if untyped is None:
        plain = type(value) is dict and _plain_keys(value)
    else:
        plain = True
        as_dict = type(value) is dict
        for name in untyped:
            item = value.get(name) if as_dict else getattr(value, name, None)
            kind = type(item)
            if kind in _MSGPACK_LEAVES:
                continue
            if kind not in _CONTAINERS or not _plain_keys(item):
                plain = False
                break
    if plain:
        try:
            return _MSGPACK.encode(value)
        except OverflowError:
            pass  # an int beyond 64 bits: an extension type in untyped positions
    return _MSGPACK.encode(_faithful_fields(value, untyped))


def _field(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, dict) else getattr(value, name, None)


def _faithful_fields(value: Any, untyped: tuple[str, ...] | None) -> Any:
    faithful = _Faithful("msgpack", markers=False)
    if untyped is None:
        return faithful.apply(value)
    changes = {}
    for name in untyped:
        item = _field(value, name)
        try:
            new = faithful.apply(item)
        except UnfaithfulValueError as exc:
            raise UnfaithfulValueError(exc.reason, "$." + name + exc.path[1:]) from None
        if new is not item:
            changes[name] = new
    if not changes:
        return value
    if isinstance(value, dict):
        return {**value, **changes}
    if isinstance(value, msgspec.Struct):
        return msgspec.structs.replace(value, **changes)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **changes)
    return value


# --- decoding -------------------------------------------------------------------------------------


def unmark_bytes(value: Any) -> Any:
    """Replace marker dicts by bytes, in place: ``value`` was just decoded and belongs to us."""
    if isinstance(value, dict):
        if len(value) == 2 and value.get(_MARKER_KEY) is True:
            data = value.get("data")
            if isinstance(data, str):
                # msgspec's base64 decoder is ~3x faster than base64.b64decode on large images.
                return msgspec.convert(data, bytes)
        for k, item in value.items():
            if isinstance(item, (dict, list)):
                value[k] = unmark_bytes(item)
        return value
    if isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, (dict, list)):
                value[i] = unmark_bytes(item)
    return value


def unmark_fields(record: object, names: Sequence[str]) -> None:
    """Replace marker dicts by bytes in the named fields of a just-decoded record, in place."""
    for name in names:
        value = getattr(record, name)
        if isinstance(value, (dict, list)):
            setattr(record, name, unmark_bytes(value))


def may_hold_marker(fmt: Format, data: bytes) -> bool:
    """Whether decoded ``data`` may hold bytes markers to turn back into bytes (JSON only)."""
    return fmt == "json" and _MARKER_NEEDLE in data


# Indexed by the first byte of a stored value: the sniffing of the hot path is one tuple lookup.
_FORMAT_BY_FIRST_BYTE: Final[tuple[Format | None, ...]] = tuple(
    "json" if byte == 0x7B else "msgpack" if _is_msgpack_map_tag(byte) else None for byte in range(256)
)


def format_by_first_byte() -> tuple[Format | None, ...]:
    """Return the format each first byte announces (``None``: neither, or JSON after whitespace)."""
    return _FORMAT_BY_FIRST_BYTE


def prepare(data: bytes | str | None, key: str) -> tuple[bytes, Format]:
    """Return stored ``data`` as bytes, with its format.

    Raises:
        CodecError: naming ``key``: not bytes or text, empty, or neither format.
    """
    if type(data) is bytes and data:
        fmt = _FORMAT_BY_FIRST_BYTE[data[0]]
        if fmt is not None:
            return data, fmt
    if isinstance(data, str):
        if data.lstrip()[:1] != "{":
            raise CodecError(
                "got text that is not a JSON object; MessagePack records need a connection that returns "
                "bytes (decode_responses=False)",
                key=key,
            )
        data = data.encode("utf-8")
    elif isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    elif not isinstance(data, bytes):
        raise CodecError(f"expected bytes to decode, got {type(data).__name__}", key=key)
    try:
        return data, sniff_format(data)
    except CodecError as exc:
        raise CodecError(str(exc), key=key) from None
