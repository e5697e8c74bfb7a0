"""The wire formats (msgspec JSON and MessagePack): telling them apart, and bytes inside JSON.

Every stored value is a JSON object or a MessagePack map, and its first byte says which
(:func:`sniff_format`), so data written under one configured format stays readable under the
other. Bytes round-trip exactly in both: MessagePack stores them raw (``bin``); JSON stores each
``bytes`` value, wherever it sits, as Strands' marker ``{"__bytes_encoded__": true, "data":
"<base64>"}`` (the format of ``strands.types.session.encode_bytes_values``), which keeps JSON
records interchangeable with Strands' ``FileSessionManager`` files. Nothing here knows a model;
converters (:mod:`kvsession.orm.converters`) use these helpers. Measurements: ``docs/codecs.md``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import threading
from collections.abc import Iterator, Sequence
from typing import Any, Final, Literal

import msgspec

from kvsession.kv.errors import CodecError

__all__ = [
    "DECODE_ERRORS",
    "ENCODE_ERRORS",
    "FORMATS",
    "Format",
    "collector_paused",
    "format_by_first_byte",
    "mark_bytes",
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
_LEAF_TYPES: Final = frozenset({str, int, float, bool, type(None)})
_PROBE: Final = msgspec.msgpack.Encoder()

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


# --- bytes <-> JSON marker -------------------------------------------------------------------------


def _may_hold_bytes(value: object) -> bool:
    """Tell cheaply whether ``value`` can contain a bytes-like anywhere.

    Walking a message in Python costs up to ~3 µs even when it finds nothing; msgspec's MessagePack
    encoder traverses it in C for ~0.3 µs and tags every bytes value with 0xc4-0xc6, so when none of
    those bytes occurs in its output there is nothing to mark. The test is sound, not exact: other data
    may contain those bytes too (then we walk for nothing).
    """
    try:
        probe = _PROBE.encode(value)
    except ENCODE_ERRORS:
        return True  # e.g. an int beyond 64 bits, which JSON can still take: let the walk decide
    return b"\xc4" in probe or b"\xc5" in probe or b"\xc6" in probe


def _mark_bytes(value: Any) -> Any:
    """Return ``value`` with every bytes-like replaced by its JSON marker, copying only what changes.

    The result is meant for msgspec's JSON encoder only (markers are ``msgspec.Raw``).
    """
    if isinstance(value, dict):
        changed: dict[Any, Any] | None = None
        for k, item in value.items():
            if type(item) in _LEAF_TYPES:
                continue
            new = _mark_bytes(item)
            if new is not item:
                if changed is None:
                    changed = dict(value)
                changed[k] = new
        return value if changed is None else changed
    if isinstance(value, (list, tuple)):
        copied: list[Any] | None = None
        for i, item in enumerate(value):
            if type(item) in _LEAF_TYPES:
                continue
            new = _mark_bytes(item)
            if new is not item:
                if copied is None:
                    copied = list(value)
                copied[i] = new
        return value if copied is None else copied
    if isinstance(value, (bytes, bytearray, memoryview)):
        # The finished marker as raw JSON: msgspec writes the base64 straight into it, and the encoder
        # copies it without re-scanning a long string for escapes (a quarter off a 200 KB image).
        return msgspec.Raw(_MARKER_PREFIX + msgspec.json.encode(value) + b"}")
    return value


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


def mark_bytes(value: Any) -> Any:
    """Return ``value`` with its bytes marked for JSON, copying only what changes.

    A dict or a plain dataclass (Strands' records) is shallow-copied where a field changes; any
    other object (a msgspec Struct, an attrs class ...) with bytes inside becomes builtins first.
    The result is meant for msgspec's JSON encoder only (markers are ``msgspec.Raw``).
    """
    if not _may_hold_bytes(value):
        return value
    if isinstance(value, (dict, list, tuple)):
        return _mark_bytes(value)
    if not (dataclasses.is_dataclass(value) and hasattr(value, "__dict__")):
        return _mark_bytes(msgspec.to_builtins(value, builtin_types=(bytes, bytearray, memoryview)))
    changes = {}
    for name, item in vars(value).items():
        if type(item) in _LEAF_TYPES:
            continue
        new = _mark_bytes(item)
        if new is not item:
            changes[name] = new
    if not changes:
        return value
    return dataclasses.replace(value, **changes)  # type: ignore[type-var]


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
