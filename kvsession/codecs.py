"""Codecs: typed records to bytes and back, in msgspec JSON (the default) or MessagePack.

A codec knows nothing about keys; ``key`` arguments only label errors. Every codec object decodes
*both* formats, sniffed from the first byte, so stored data stays readable after the configured codec
changes. Decoding returns fresh objects; encoding never modifies its argument.

Bytes round-trip exactly. MessagePack stores them raw (``bin``). JSON stores each ``bytes`` value,
wherever it sits, as Strands' marker ``{"__bytes_encoded__": true, "data": "<base64>"}`` (the format of
``strands.types.session.encode_bytes_values``), which keeps JSON records interchangeable with Strands'
``FileSessionManager`` files in both directions. Design notes and measurements: ``docs/codecs.md``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import threading
from collections.abc import Iterator, Sequence
from typing import Any, Final, Literal, Protocol, TypeVar, cast

import msgspec
from strands.types.session import Session as StrandsSession

from kvsession.errors import CodecError, ConfigError
from kvsession.records import MessageRecord, Session, SessionAgent, SessionMessage, SessionRecord

__all__ = ["CODECS", "Codec", "JsonCodec", "MsgpackCodec", "get_codec", "sniff_format"]

CODECS: Final = ("json", "msgpack")
"""Names accepted by ``get_codec`` (and by the ``codec=`` connection option)."""

Format = Literal["json", "msgpack"]

_MARKER_KEY: Final = "__bytes_encoded__"
# A JSON string cannot contain an unescaped quote, so this token only occurs as a real key (or value):
# its absence proves the document holds no marker and the decode-side walk can be skipped entirely.
_MARKER_NEEDLE: Final = b'"__bytes_encoded__"'
_MARKER_PREFIX: Final = b'{"__bytes_encoded__":true,"data":'
_JSON_WHITESPACE: Final = frozenset(b" \t\r\n")
_ENCODE_ERRORS: Final = (msgspec.EncodeError, TypeError, ValueError, OverflowError, RecursionError)
# msgspec.DecodeError (and ValidationError) subclass ValueError; TypeError/KeyError guard record
# construction from a hostile shape, RecursionError a pathologically deep document.
_DECODE_ERRORS: Final = (ValueError, TypeError, KeyError, RecursionError)
_LEAF_TYPES: Final = frozenset({str, int, float, bool, type(None)})
_PROBE: Final = msgspec.msgpack.Encoder()

_T = TypeVar("_T")


class Codec(Protocol):
    """Turns session records into bytes and back.

    Every ``decode_*`` method accepts data in either format (see ``sniff_format``), returns a new
    object owned by the caller, and raises ``CodecError`` naming ``key`` for anything it cannot decode:
    empty, truncated, garbage, or the wrong shape. Every ``encode_*`` method leaves its argument
    untouched and raises ``CodecError`` for a value it cannot encode.

    Attributes:
        name: ``"json"`` or ``"msgpack"``: the format this codec writes.
    """

    name: str

    def encode_session(self, session: StrandsSession, *, key: str | None = None) -> bytes:
        """Encode a session; a plain Strands ``Session`` is stored with empty metadata."""
        ...

    def encode_agent(self, agent: SessionAgent, *, key: str | None = None) -> bytes:
        """Encode a Strands ``SessionAgent`` (state, conversation manager and internal state)."""
        ...

    def encode_message(self, message: SessionMessage, *, key: str | None = None) -> bytes:
        """Encode a Strands ``SessionMessage``."""
        ...

    def encode_state(self, state: dict[str, Any], *, key: str | None = None) -> bytes:
        """Encode a free-form dict (multi-agent state, session metadata ...)."""
        ...

    def decode_session(self, data: bytes | str, *, key: str) -> Session:
        """Decode a session record into a kvsession ``Session`` (with ``metadata``)."""
        ...

    def decode_agent(self, data: bytes | str, *, key: str) -> SessionAgent:
        """Decode an agent record into a Strands ``SessionAgent``."""
        ...

    def decode_message(self, data: bytes | str, *, key: str) -> SessionMessage:
        """Decode a message record into a Strands ``SessionMessage``."""
        ...

    def decode_messages(self, datas: Sequence[bytes | str], *, keys: Sequence[str]) -> list[SessionMessage]:
        """Decode many message records in order; ``keys[i]`` labels ``datas[i]``."""
        ...

    def decode_state(self, data: bytes | str, *, key: str) -> dict[str, Any]:
        """Decode a dict written by ``encode_state``."""
        ...


_pause_lock = threading.Lock()
_pause_depth = 0
_collector_was_enabled = False


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
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
    except _ENCODE_ERRORS:
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


def _unmark_bytes(value: Any) -> Any:
    """Replace marker dicts by bytes, in place: ``value`` was just decoded and belongs to us."""
    if isinstance(value, dict):
        if len(value) == 2 and value.get(_MARKER_KEY) is True:
            data = value.get("data")
            if isinstance(data, str):
                # msgspec's base64 decoder is ~3x faster than base64.b64decode on large images.
                return msgspec.convert(data, bytes)
        for k, item in value.items():
            if isinstance(item, (dict, list)):
                value[k] = _unmark_bytes(item)
        return value
    if isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, (dict, list)):
                value[i] = _unmark_bytes(item)
    return value


def _marked(value: _T) -> _T:
    """Return a dict or record dataclass with its bytes marked, shallow-copying only what changes."""
    if not _may_hold_bytes(value):
        return value
    if isinstance(value, dict):
        return cast(_T, _mark_bytes(value))
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


def _unmark_fields(record: object, names: Sequence[str]) -> None:
    for name in names:
        value = getattr(record, name)
        if isinstance(value, (dict, list)):
            setattr(record, name, _unmark_bytes(value))


# --- readers: one set of typed decoders per format, shared by every codec object ---------------------

_AGENT_FIELDS: Final = tuple(field.name for field in dataclasses.fields(SessionAgent))


class _Reader:
    """Typed decoders for one wire format; msgspec decoders are stateless, so one instance serves all."""

    def __init__(self, fmt: Format) -> None:
        module: Any = msgspec.json if fmt == "json" else msgspec.msgpack
        self.format: Format = fmt
        self.unmarks_bytes = fmt == "json"
        self.session = module.Decoder(SessionRecord)
        self.agent = module.Decoder(SessionAgent)
        self.message = module.Decoder(MessageRecord)
        self.state = module.Decoder(dict[str, Any])

    def needs_unmark(self, data: bytes) -> bool:
        return self.unmarks_bytes and _MARKER_NEEDLE in data


_READERS: Final = {"json": _Reader("json"), "msgpack": _Reader("msgpack")}
# Indexed by the first byte of a stored value: the sniffing of the hot path is one tuple lookup.
_READER_BY_FIRST_BYTE: Final = tuple(
    _READERS["json"] if byte == 0x7B else _READERS["msgpack"] if _is_msgpack_map_tag(byte) else None
    for byte in range(256)
)


def _prepare(data: bytes | str | None, key: str) -> tuple[bytes, _Reader]:
    if type(data) is bytes and data:
        reader = _READER_BY_FIRST_BYTE[data[0]]
        if reader is not None:
            return data, reader
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
        return data, _READERS[sniff_format(data)]
    except CodecError as exc:
        raise CodecError(str(exc), key=key) from None


def _decode_failed(kind: str, reader: _Reader, exc: BaseException, key: str) -> CodecError:
    return CodecError(f"cannot decode {kind} record as {reader.format}: {exc}", key=key)


# --- codecs --------------------------------------------------------------------------------------------


class _MsgspecCodec:
    """Shared implementation; subclasses choose the encoder and whether bytes need marking."""

    name: str
    _marks_bytes: bool

    def __init__(self, encoder: msgspec.json.Encoder | msgspec.msgpack.Encoder) -> None:
        self._encoder = encoder

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def _encode(self, kind: str, value: object, key: str | None) -> bytes:
        try:
            if self._marks_bytes:
                value = _marked(value)
            return self._encoder.encode(value)
        except _ENCODE_ERRORS as exc:
            raise CodecError(f"cannot encode {kind} as {self.name}: {exc}", key=key) from exc

    def encode_session(self, session: StrandsSession, *, key: str | None = None) -> bytes:
        """Encode a session; a plain Strands ``Session`` is stored with empty metadata.

        Args:
            session: A kvsession ``Session`` or a Strands ``Session``.
            key: Only used to label an error.

        Returns:
            The encoded record.

        Raises:
            CodecError: A value inside cannot be encoded.
        """
        return self._encode("session", session, key)

    def encode_agent(self, agent: SessionAgent, *, key: str | None = None) -> bytes:
        """Encode a Strands ``SessionAgent``.

        Args:
            agent: The agent record; bytes anywhere in its state round-trip.
            key: Only used to label an error.

        Returns:
            The encoded record.

        Raises:
            CodecError: A value inside cannot be encoded.
        """
        return self._encode("agent", agent, key)

    def encode_message(self, message: SessionMessage, *, key: str | None = None) -> bytes:
        """Encode a Strands ``SessionMessage``.

        Args:
            message: The message record; bytes anywhere in it (images, documents, tool data) round-trip.
            key: Only used to label an error.

        Returns:
            The encoded record.

        Raises:
            CodecError: A value inside cannot be encoded.
        """
        return self._encode("message", message, key)

    def encode_state(self, state: dict[str, Any], *, key: str | None = None) -> bytes:
        """Encode a free-form dict (multi-agent state, session metadata ...).

        Args:
            state: A dict of JSON values and bytes.
            key: Only used to label an error.

        Returns:
            The encoded dict.

        Raises:
            CodecError: ``state`` is not a dict or holds a value that cannot be encoded.
        """
        if not isinstance(state, dict):
            raise CodecError(f"state must be a dict, not {type(state).__name__}", key=key)
        return self._encode("state", state, key)

    def decode_session(self, data: bytes | str, *, key: str) -> Session:
        """Decode a session record.

        Args:
            data: The stored value, in either format.
            key: The key it was read from, named in errors.

        Returns:
            A kvsession ``Session``; records written by Strands itself get ``metadata={}``.

        Raises:
            CodecError: The value cannot be decoded as a session record.
        """
        raw, reader = _prepare(data, key)
        try:
            record: SessionRecord = reader.session.decode(raw)
            if reader.needs_unmark(raw):
                record.metadata = _unmark_bytes(record.metadata)
            return record.to_session()
        except _DECODE_ERRORS as exc:
            raise _decode_failed("session", reader, exc, key) from exc

    def decode_agent(self, data: bytes | str, *, key: str) -> SessionAgent:
        """Decode an agent record.

        Args:
            data: The stored value, in either format.
            key: The key it was read from, named in errors.

        Returns:
            A Strands ``SessionAgent``.

        Raises:
            CodecError: The value cannot be decoded as an agent record.
        """
        raw, reader = _prepare(data, key)
        try:
            agent: SessionAgent = reader.agent.decode(raw)
            if reader.needs_unmark(raw):
                _unmark_fields(agent, _AGENT_FIELDS)
            return agent
        except _DECODE_ERRORS as exc:
            raise _decode_failed("agent", reader, exc, key) from exc

    def decode_message(self, data: bytes | str, *, key: str) -> SessionMessage:
        """Decode a message record.

        Args:
            data: The stored value, in either format.
            key: The key it was read from, named in errors.

        Returns:
            A Strands ``SessionMessage``.

        Raises:
            CodecError: The value cannot be decoded as a message record.
        """
        raw, reader = _prepare(data, key)
        try:
            record: MessageRecord = reader.message.decode(raw)
            if reader.needs_unmark(raw):
                _unmark_fields(record, MessageRecord.__struct_fields__)
            return record.to_session_message()
        except _DECODE_ERRORS as exc:
            raise _decode_failed("message", reader, exc, key) from exc

    def decode_messages(self, datas: Sequence[bytes | str], *, keys: Sequence[str]) -> list[SessionMessage]:
        """Decode many message records: the restore hot path.

        Args:
            datas: Stored values, in any mix of formats.
            keys: The key of each value, same length and order, named in errors.

        Returns:
            The messages, in the order of ``datas``.

        Raises:
            CodecError: One value cannot be decoded; the error names its key.
            ValueError: ``datas`` and ``keys`` differ in length.
        """
        if len(datas) != len(keys):
            raise ValueError(f"got {len(datas)} values but {len(keys)} keys")
        decode = self.decode_message
        with _collector_paused():
            return [decode(data, key=key) for data, key in zip(datas, keys, strict=True)]

    def decode_state(self, data: bytes | str, *, key: str) -> dict[str, Any]:
        """Decode a dict written by ``encode_state``.

        Args:
            data: The stored value, in either format.
            key: The key it was read from, named in errors.

        Returns:
            The dict, with bytes restored.

        Raises:
            CodecError: The value is not an encoded dict.
        """
        raw, reader = _prepare(data, key)
        try:
            state: dict[str, Any] = reader.state.decode(raw)
            if reader.needs_unmark(raw):
                state = _unmark_bytes(state)
                if not isinstance(state, dict):
                    raise TypeError("the document is a bytes marker, not a dict")
            return state
        except _DECODE_ERRORS as exc:
            raise _decode_failed("state", reader, exc, key) from exc


class JsonCodec(_MsgspecCodec):
    """msgspec JSON, the default: readable in ``valkey-cli`` and compatible with Strands' JSON files."""

    name = "json"
    _marks_bytes = True

    def __init__(self) -> None:
        super().__init__(msgspec.json.Encoder())


class MsgpackCodec(_MsgspecCodec):
    """msgspec MessagePack: smaller and faster, bytes stored raw; needs a byte-returning connection."""

    name = "msgpack"
    _marks_bytes = False

    def __init__(self) -> None:
        super().__init__(msgspec.msgpack.Encoder())


_CODECS: Final[dict[str, Codec]] = {"json": JsonCodec(), "msgpack": MsgpackCodec()}


def get_codec(name: str) -> Codec:
    """Return the shared codec object for a name.

    Codec objects hold no per-call state and are safe to share between threads.

    Args:
        name: One of ``CODECS``.

    Returns:
        The codec.

    Raises:
        ConfigError: ``name`` is not a known codec.
    """
    try:
        return _CODECS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"codec=<{name}> | unknown codec; valid codecs: {', '.join(CODECS)}") from None
