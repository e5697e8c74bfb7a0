"""``Codec``: the one place stored bytes are made and read, for every model.

Stages, applied in this order on write and undone in reverse on read: the wire format (``json``
or ``msgpack``, chosen per store), then compression and encryption (:mod:`kvsession.orm.at_rest`,
when configured). Reading never trusts the configuration: the format is sniffed from the first
byte, and a stage header (first byte 0xC1) says which stages to undo, so data written under one
codec stays readable under another. Every failure is a :class:`~kvsession.kv.errors.CodecError`
naming the key, the model and, where the decoder knows it, the field (``at `$.message_id```); a
value that cannot be stored faithfully is refused naming its path (``at `$.state.x[2]```).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, TypeVar

from kvsession.kv.errors import CodecError, ConfigError
from kvsession.orm.at_rest import SEALED_PREFIX, ValueStages, stage_reader
from kvsession.orm.formats import (
    DECODE_ERRORS,
    ENCODE_ERRORS,
    FORMATS,
    Format,
    collector_paused,
    format_by_first_byte,
    prepare,
)
from kvsession.orm.model import Model

__all__ = ["Codec", "get_codec"]

T = TypeVar("T")

_FIRST_BYTE: Final = format_by_first_byte()


class Codec:
    """Encodes model objects in one wire format; decodes values written in any.

    Codec objects hold no per-call state and are safe to share between threads.

    Args:
        format: ``"json"`` (default: readable in valkey-cli, interchangeable with Strands'
            JSON files) or ``"msgpack"`` (smaller and faster; needs a bytes-returning connection).
        stages: Compression and/or encryption after the format; ``None`` (default) writes the
            format's bytes as they are. Either way, compressed values read back, and encrypted
            ones do with their key in ``stages.keyring``.

    Raises:
        ConfigError: ``format`` is not a known format.
    """

    def __init__(self, format: str = "json", *, stages: ValueStages | None = None) -> None:
        if format not in FORMATS:
            raise ConfigError(f"codec=<{format}> | unknown codec; valid codecs: {', '.join(FORMATS)}")
        self.format: Format = format  # type: ignore[assignment]
        # None unless a stage is on: the plain path then has no stage on it at all.
        self.stages = stages if stages is not None and stages.active else None
        self._open = stage_reader(stages).open

    @property
    def name(self) -> str:
        """The format this codec writes."""
        return self.format

    def __repr__(self) -> str:
        return (
            f"Codec({self.format!r})"
            if self.stages is None
            else f"Codec({self.format!r}, stages={self.stages!r})"
        )

    def encode(self, model: Model[T], value: T, *, key: str | None = None) -> bytes:
        """Encode ``value`` as a record of ``model``.

        Raises:
            CodecError: A value inside cannot be encoded; names ``key``.
        """
        try:
            data = model.converter.encode(value, self.format)
        except ENCODE_ERRORS as exc:
            raise CodecError(f"cannot encode {model.name} as {self.format}: {exc}", key=key) from exc
        return data if self.stages is None else self.stages.seal(data, key)

    def decode(self, model: Model[T], data: bytes | str, *, key: str) -> T:
        """Decode a stored record of ``model``, in either format.

        Raises:
            CodecError: Empty, truncated, foreign or invalid data; names ``key`` and the field.
        """
        if type(data) is bytes and data[:1] == SEALED_PREFIX:
            data = self._open(data, key)
        raw, fmt = prepare(data, key)
        try:
            return model.converter.reader(fmt)(raw)
        except DECODE_ERRORS as exc:
            raise _decode_failed(model, fmt, exc, key) from exc

    def decode_many(self, model: Model[T], datas: Sequence[bytes | str], keys: Sequence[str]) -> list[T]:
        """Decode many records of ``model`` in order: the restore hot path.

        The cyclic garbage collector is paused meanwhile (decoding allocates many acyclic
        containers, which would trigger it again and again).

        Raises:
            CodecError: One value cannot be decoded; the error names its key.
            ValueError: ``datas`` and ``keys`` differ in length.
        """
        if len(datas) != len(keys):
            raise ValueError(f"got {len(datas)} values but {len(keys)} keys")
        converter = model.converter
        readers = {fmt: converter.reader(fmt) for fmt in FORMATS}
        out: list[T] = []
        append = out.append
        with collector_paused():
            for data, key in zip(datas, keys, strict=True):
                fmt = _FIRST_BYTE[data[0]] if type(data) is bytes and data else None
                if fmt is None:
                    # Off the plain path: a stage header (0xC1), text, or damaged data.
                    if type(data) is bytes and data[:1] == SEALED_PREFIX:
                        data = self._open(data, key)
                    data, fmt = prepare(data, key)
                try:
                    append(readers[fmt](data))  # type: ignore[arg-type]
                except DECODE_ERRORS as exc:
                    raise _decode_failed(model, fmt, exc, key) from exc
        return out


def _decode_failed(model: Model[Any], fmt: Format, exc: BaseException, key: str) -> CodecError:
    return CodecError(f"cannot decode {model.name} record as {fmt}: {exc}", key=key)


_SHARED: Final = {name: Codec(name) for name in FORMATS}


def get_codec(name: str) -> Codec:
    """Return the shared codec of a format name (``"json"`` or ``"msgpack"``).

    Raises:
        ConfigError: ``name`` is not a known format.
    """
    codec = _SHARED.get(name) if isinstance(name, str) else None
    return codec if codec is not None else Codec(name)
