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

The encoders live in :mod:`kvsession.orm.faithful_encoding` (re-exported here); this module tells
the formats apart and turns decoded markers and extensions back into values.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator, Sequence
from typing import Any, Final, Literal

import msgspec

from kvsession.kv.errors import CodecError
from kvsession.orm.faithful_encoding import (
    _MARKER_KEY,
    _MARKER_NEEDLE,
    BIG_INT_EXT,
    ENCODE_ERRORS,
    UnfaithfulValueError,
    big_int_ext,
    encode_json,
    encode_msgpack,
)

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

_JSON_WHITESPACE: Final = frozenset(b" \t\r\n")
# msgspec.DecodeError (and ValidationError) subclass ValueError; TypeError/KeyError guard record
# construction from a hostile shape, RecursionError a pathologically deep document.
DECODE_ERRORS: Final = (ValueError, TypeError, KeyError, RecursionError)
"""What decoding damaged or foreign data may raise."""

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


def ext_hook(code: int, data: memoryview) -> Any:
    """Turn our MessagePack extensions back into values (msgspec's ``ext_hook``): big ints."""
    if code == BIG_INT_EXT:
        return int.from_bytes(data, "big", signed=True)
    return msgspec.msgpack.Ext(code, bytes(data))


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
