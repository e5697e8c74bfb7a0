"""Encoding values faithfully as JSON or MessagePack: a fast path, and a slow path for the rest.

:func:`encode_json` and :func:`encode_msgpack` return what ``FileSessionManager`` would store for
a value (NaN and infinities, ints of any size, dict keys as the standard library's ``json``
writes them, bytes as Strands' marker in JSON), or refuse it with :class:`UnfaithfulValueError`
naming the path. Ordinary records take msgspec's encoder as they are; the rest is copied by a
walk (:class:`_Faithful`) that fixes what the fast path would get wrong. The marker and the
big-int extension written here are read back by :mod:`kvsession.orm.formats`, which re-exports
the public names of this module.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import decimal
import enum
import json
import math
import re
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import msgspec

if TYPE_CHECKING:
    from kvsession.orm.formats import Format

__all__ = [
    "BIG_INT_EXT",
    "ENCODE_ERRORS",
    "UnfaithfulValueError",
    "big_int_ext",
    "encode_json",
    "encode_msgpack",
]

_MARKER_KEY: Final = "__bytes_encoded__"
# A JSON string cannot contain an unescaped quote, so this token only occurs as a real key (or value):
# its absence proves the document holds no marker and the decode-side walk can be skipped entirely.
_MARKER_NEEDLE: Final = b'"__bytes_encoded__"'
_MARKER_PREFIX: Final = b'{"__bytes_encoded__":true,"data":'
ENCODE_ERRORS: Final = (msgspec.EncodeError, TypeError, ValueError, OverflowError, RecursionError)
"""What encoding a hostile or unsupported value may raise."""
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
