"""The codec stages after the wire format: zstd compression, then AES-256-GCM encryption.

Order on write: encode (JSON or MessagePack) → compress → encrypt; reversed on read. A value a
stage touched starts with a small header, so reading never trusts the configuration: plain,
compressed and encrypted values mix freely in one store, whatever the store is set to write.

Header (all values big-endian bytes)::

    0xC1          magic: starts neither a JSON object nor a MessagePack map (0xC1 is the one
                  byte MessagePack never uses), so plain values are told apart by their first byte
    0x01          header version
    flags         bit 0: zstd-compressed; bit 1: AES-256-GCM; the other bits must be 0
    [encrypted]   key id length n (1-32), key id (n ASCII bytes), 12-byte random nonce
    payload       the (compressed) value; encrypted: ciphertext followed by the 16-byte GCM tag

Encryption binds the header (version, flags, key id) and the record's key name as associated
data: a value copied under another key, or a flag flipped, fails to decrypt instead of decoding
into another record. Compression is kept only when it saves bytes, and only for values of at
least ``threshold`` bytes; a value no stage changed is stored exactly as the format wrote it
(no header), so a store with only compression configured keeps its small values plain.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from kvsession.kv.errors import CodecError, ConfigError, DecryptionError
from kvsession.orm.formats import Format, sniff_format
from kvsession.orm.keyring import Keyring

if TYPE_CHECKING:
    from kvsession.kv.config import StoreOptions

__all__ = [
    "COMPRESSIONS",
    "SEALED_PREFIX",
    "Compression",
    "StoredForm",
    "ValueStages",
    "stage_reader",
    "stored_form",
    "value_stages",
]

SEALED_PREFIX: Final = b"\xc1"
"""First byte of every value a stage changed."""

COMPRESSIONS: Final = ("none", "zstd")
"""Values of the ``compress=`` option."""

_MAGIC: Final = 0xC1
_VERSION: Final = 1
_ZSTD: Final = 0x01
_AESGCM: Final = 0x02
_KNOWN_FLAGS: Final = _ZSTD | _AESGCM
_MIN_SEALED: Final = 4 + 1 + 12 + 16  # header with a 1-byte key id, nonce, tag
_NONCE_BYTES: Final = 12
_TAG_BYTES: Final = 16
# Valkey's largest string (proto-max-bulk-len): a frame claiming more is hostile or damaged, and
# must not make the reader allocate it.
_MAX_DECOMPRESSED: Final = 512 * 1024 * 1024
_COMPRESSED_HEADER: Final = bytes((_MAGIC, _VERSION, _ZSTD))
_EXTRA: Final = "pip install 'kvsession[compression]'"


@dataclass(frozen=True)
class Compression:
    """How values are compressed (zstd, via the ``zstandard`` package).

    Attributes:
        threshold: Encoded values shorter than this many bytes are stored uncompressed
            (small messages gain little and would pay the time); default 1 KiB.
        level: zstd level; 3 (zstd's default) compresses JSON 3-6× at hundreds of MB/s.
    """

    threshold: int = 1024
    level: int = 3

    def __post_init__(self) -> None:
        if self.threshold < 0:
            raise ConfigError(f"compress_threshold=<{self.threshold}> | must be 0 or more bytes")
        if not 1 <= self.level <= 22:
            raise ConfigError(f"compress_level=<{self.level}> | zstd levels go from 1 to 22")


class _Zstd:
    """zstd contexts, one per thread: a context must not be used by two threads at once."""

    def __init__(self) -> None:
        try:
            import zstandard
        except ImportError:
            raise ConfigError(f"compression needs the zstandard package: {_EXTRA}") from None
        self._zstd: Any = zstandard
        self._local = threading.local()

    def compress(self, data: bytes, level: int) -> bytes:
        compressors: dict[int, Any] | None = getattr(self._local, "compressors", None)
        if compressors is None:
            compressors = self._local.compressors = {}
        compressor = compressors.get(level)
        if compressor is None:
            compressor = compressors[level] = self._zstd.ZstdCompressor(level=level)
        packed: bytes = compressor.compress(data)
        return packed

    def decompress(self, data: bytes, key: str) -> bytes:
        decompressor = getattr(self._local, "decompressor", None)
        if decompressor is None:
            decompressor = self._local.decompressor = self._zstd.ZstdDecompressor()
        try:
            size = self._zstd.frame_content_size(data)
            if not 0 <= size <= _MAX_DECOMPRESSED:
                raise CodecError(f"compressed value claims {size} bytes: damaged or foreign", key=key)
            out: bytes = decompressor.decompress(data)
        except self._zstd.ZstdError as exc:
            raise CodecError(f"cannot decompress (zstd): {exc}", key=key) from exc
        return out


_zstd_lock = threading.Lock()
_zstd: _Zstd | None = None


def _get_zstd() -> _Zstd:
    """Return the zstd stage, imported on first use (reading a compressed value needs it too)."""
    global _zstd
    if _zstd is None:
        with _zstd_lock:
            if _zstd is None:
                _zstd = _Zstd()
    return _zstd


class ValueStages:
    """The compression and encryption stages of one store; either may be off.

    Reading undoes whatever a value's header says, whatever is configured: compressed values
    always read back; encrypted ones need their key id in ``keyring``.

    Args:
        compression: Compress values of at least ``compression.threshold`` bytes; ``None``: never.
        keyring: Encrypt every value with the keyring's newest key; ``None``: never.

    Raises:
        ConfigError: A stage's package is missing (``kvsession[compression]``,
            ``kvsession[encryption]``).
    """

    def __init__(self, *, compression: Compression | None = None, keyring: Keyring | None = None) -> None:
        self.compression = compression
        self.keyring = keyring
        if compression is not None:
            _get_zstd()  # fail now, not at the first large write
        # Every header an encrypted value of this keyring can start with -> its key's cipher.
        self._by_header: dict[bytes, Any] = {}
        if keyring is not None:
            from cryptography.exceptions import InvalidTag

            self._invalid_tag: type[Exception] = InvalidTag
            for known_id in keyring.key_ids:
                raw_id = known_id.encode("ascii")
                for flags in (_AESGCM, _AESGCM | _ZSTD):
                    header = bytes((_MAGIC, _VERSION, flags, len(raw_id))) + raw_id
                    self._by_header[header] = keyring.cipher(known_id)
        writing_id = keyring.current_id if keyring is not None else None
        self._writing_id = None if writing_id is None else writing_id.encode("ascii")
        self._writing_cipher = None if writing_id is None or keyring is None else keyring.cipher(writing_id)

    @property
    def active(self) -> bool:
        """Whether a write goes through any stage."""
        return self.compression is not None or self.keyring is not None

    def __repr__(self) -> str:
        compression = (
            "off"
            if self.compression is None
            else f"zstd>={self.compression.threshold}B@{self.compression.level}"
        )
        return f"ValueStages(compression={compression}, keyring={self.keyring!r})"

    def seal(self, data: bytes, key: str | None) -> bytes:
        """Compress and/or encrypt the encoded value ``data`` of record ``key``.

        Raises:
            CodecError: Encryption is on and ``key`` is ``None`` (it is bound to the value).
        """
        flags = 0
        compression = self.compression
        if compression is not None and len(data) >= compression.threshold:
            packed = _get_zstd().compress(data, compression.level)
            if len(packed) + len(_COMPRESSED_HEADER) < len(data):
                data, flags = packed, _ZSTD
        cipher, key_id = self._writing_cipher, self._writing_id
        if cipher is None or key_id is None:
            return _COMPRESSED_HEADER + data if flags else data
        if key is None:
            raise CodecError("an encrypted value needs the key it is stored under (bound as associated data)")
        header = bytes((_MAGIC, _VERSION, flags | _AESGCM, len(key_id))) + key_id
        nonce = os.urandom(_NONCE_BYTES)
        return header + nonce + cipher.encrypt(nonce, data, header + key.encode())

    def open(self, data: bytes, key: str) -> bytes:
        """Undo the stages ``data``'s header names; return the value as the format wrote it.

        Raises:
            DecryptionError: Encrypted with a key id the keyring lacks (or no keyring), with
                another key, or altered or copied from another key; names the key id and ``key``.
            CodecError: A damaged header or compressed frame, or a newer header version.
        """
        # Fast path (restore decodes thousands): a header this keyring wrote, looked up whole;
        # a shorter value fails the tag check and takes the slow path, which names the problem.
        if len(data) > _MIN_SEALED:
            end = 4 + data[3]
            header = data[:end]
            cipher = self._by_header.get(header)
            if cipher is not None:
                nonce_end = end + _NONCE_BYTES
                try:
                    plain: bytes = cipher.decrypt(
                        data[end:nonce_end], data[nonce_end:], header + key.encode()
                    )
                except (self._invalid_tag, ValueError):  # ValueError: a nonce cut short
                    pass
                else:
                    return plain if header[2] == _AESGCM else _get_zstd().decompress(plain, key)
        flags, key_id, start = _header(data, key)
        payload = data[start:]
        if flags & _AESGCM:
            payload = self._decrypt(data[:start], payload, key_id or "", key)
        if flags & _ZSTD:
            payload = _get_zstd().decompress(payload, key)
        return payload

    def _decrypt(self, header: bytes, payload: bytes, key_id: str, key: str) -> bytes:
        keyring = self.keyring
        cipher = keyring.cipher(key_id) if keyring is not None else None
        if cipher is None:
            known = "no keyring is configured" if keyring is None else f"known: {', '.join(keyring.key_ids)}"
            raise DecryptionError(
                f"key id <{key_id}> is not in the keyring ({known})", key=key, key_id=key_id
            )
        if len(payload) < _NONCE_BYTES + _TAG_BYTES:
            raise DecryptionError("encrypted value is truncated", key=key, key_id=key_id)
        nonce = payload[:_NONCE_BYTES]
        try:
            plain: bytes = cipher.decrypt(nonce, payload[_NONCE_BYTES:], header + key.encode())
        except self._invalid_tag:
            raise DecryptionError(
                f"cannot decrypt with key id <{key_id}>: a different key under that id, or the value "
                "was altered or copied from another key",
                key=key,
                key_id=key_id,
            ) from None
        return plain


def _header(data: bytes, key: str) -> tuple[int, str | None, int]:
    """Parse a stage header: ``(flags, key id or None, offset of the payload)``."""
    if len(data) < 3 or data[0] != _MAGIC:
        raise CodecError("truncated stage header", key=key)
    version, flags = data[1], data[2]
    if version != _VERSION or flags & ~_KNOWN_FLAGS:
        raise CodecError(
            f"stage header version {version}, flags 0x{flags:02x}: written by a newer kvsession?", key=key
        )
    if not flags & _AESGCM:
        return flags, None, 3
    length = data[3] if len(data) > 3 else 0
    raw_id = data[4 : 4 + length]
    if not length or len(raw_id) != length or not raw_id.isascii():
        raise CodecError("damaged key id in the stage header", key=key)
    return flags, raw_id.decode("ascii"), 4 + length


@dataclass(frozen=True)
class StoredForm:
    """How a stored value is written (what ``kvsession stats`` and ``recode`` compare).

    Attributes:
        format: ``"json"`` or ``"msgpack"``; ``None`` when encrypted and not opened.
        compressed: Whether the value is zstd-compressed.
        key_id: The key id it is encrypted with, ``None`` if it is not encrypted.
    """

    format: Format | None
    compressed: bool = False
    key_id: str | None = None


def stored_form(data: bytes, key: str = "", stages: ValueStages | None = None) -> StoredForm:
    """Tell how ``data`` is stored; with ``stages``, an encrypted value is opened to tell its format.

    Raises:
        CodecError: Neither format nor a valid stage header (or, opening, a :class:`DecryptionError`).
    """
    if data[:1] != SEALED_PREFIX:
        try:
            return StoredForm(sniff_format(data))
        except CodecError as exc:
            raise CodecError(str(exc), key=key or None) from None
    flags, key_id, _ = _header(data, key)
    fmt: Format | None = None
    if not flags & _AESGCM or stages is not None:
        fmt = sniff_format((stages or _READER).open(data, key))
    return StoredForm(fmt, bool(flags & _ZSTD), key_id)


_READER: Final = ValueStages()
"""Reads compressed values for codecs without stages (encrypted ones then raise DecryptionError)."""


def stage_reader(stages: ValueStages | None) -> ValueStages:
    """Return what opens stage headers for a codec with ``stages`` (``None``: compression only)."""
    return stages if stages is not None else _READER


def value_stages(
    options: StoreOptions,
    *,
    compression: Compression | Literal["none", "zstd"] | None = None,
    keyring: Keyring | None = None,
) -> ValueStages | None:
    """Build a store's stages from its URL options, with keyword arguments taking precedence.

    ``encrypt=env:NAME`` reads the keys from the environment variable ``NAME`` now (see
    :meth:`Keyring.parse`); the URL never holds a key.

    Returns:
        The stages, or ``None`` when neither is on (the plain path, with no stage on it).

    Raises:
        ConfigError: ``encrypt=`` names an unset variable or malformed keys, or a package is missing.
    """
    if compression is None:
        compression = options.compress
    if isinstance(compression, str):
        compression = Compression(threshold=options.compress_threshold) if compression == "zstd" else None
    if keyring is None and options.encrypt is not None:
        keyring = Keyring.from_env(options.encrypt.removeprefix("env:"))
    if compression is None and keyring is None:
        return None
    return ValueStages(compression=compression, keyring=keyring)
