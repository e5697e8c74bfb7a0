"""``Keyring``: the AES-256 keys that encrypt stored values, by key id, newest last.

Values are written with the newest key and read with whichever key their header names, so keys
rotate without downtime: append a new key (it becomes the writing key), let ``kvsession recode``
re-encrypt the store under it, then drop the old one. Keys come from code or from an environment
variable (``?encrypt=env:KVSESSION_KEYS``), never from the URL, and are never printed: a
keyring's repr shows only its key ids. The cipher is ``cryptography``'s AES-GCM
(``pip install 'kvsession[encryption]'``); see ``docs/security.md``.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Final

from kvsession.kv.errors import ConfigError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["ENV_KEYS", "KEY_BYTES", "Keyring"]

ENV_KEYS: Final = "KVSESSION_KEYS"
"""The environment variable conventionally named by ``?encrypt=env:KVSESSION_KEYS``."""

KEY_BYTES: Final = 32
"""Length of every key: AES-256."""

_KEY_ID: Final = re.compile(r"[A-Za-z0-9._-]{1,32}")
_URLSAFE: Final = str.maketrans("-_", "+/")
_EXTRA: Final = "pip install 'kvsession[encryption]'"


def _aesgcm() -> type[AESGCM]:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError:
        raise ConfigError(f"encryption needs the cryptography package: {_EXTRA}") from None
    return AESGCM


class Keyring:
    """AES-256 keys by key id; the last one given is the newest, which every write uses.

    Example:
        >>> keyring = Keyring([("2026-01", key_a), ("2026-07", key_b)])  # writes use 2026-07
        >>> KVSessionRepository(backend, keyring=keyring)

    Args:
        keys: ``(key_id, key)`` pairs (or a mapping, in its order), oldest first. A key id is
            1-32 characters of ``A-Z a-z 0-9 . _ -`` and is stored in every value's header;
            a key is 32 bytes (:meth:`generate_key` makes one).
        read_only: Only decrypt: values are written unencrypted. To turn encryption off, read
            with such a keyring and ``kvsession recode``, then drop it.

    Raises:
        ConfigError: No key, a duplicate or invalid key id, a key that is not 32 bytes, or the
            ``cryptography`` package is missing. Messages name key ids, never key material.
    """

    def __init__(
        self, keys: Mapping[str, bytes] | Iterable[tuple[str, bytes]], *, read_only: bool = False
    ) -> None:
        self.read_only = read_only
        pairs: list[tuple[str, bytes]] = list(keys.items() if isinstance(keys, Mapping) else keys)
        if not pairs:
            raise ConfigError("keyring | no key given")
        cipher = _aesgcm()
        self._ciphers: dict[str, AESGCM] = {}
        for key_id, key in pairs:
            if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
                raise ConfigError(f"keyring | invalid key id {key_id!r}: use 1-32 of A-Z a-z 0-9 . _ -")
            if key_id in self._ciphers:
                raise ConfigError(f"key_id=<{key_id}> | the keyring holds this key id twice")
            if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_BYTES:
                raise ConfigError(f"key_id=<{key_id}> | a key must be {KEY_BYTES} bytes (AES-256)")
            self._ciphers[key_id] = cipher(bytes(key))
        self._current: str = pairs[-1][0]

    @classmethod
    def parse(cls, text: str, *, source: str = "keyring") -> Keyring:
        """Build a keyring from ``key_id:base64key[,key_id:base64key...]``, oldest first.

        Args:
            text: The keys; whitespace around entries is ignored.
            source: What to name in errors (e.g. ``env:KVSESSION_KEYS``).

        Raises:
            ConfigError: An entry is malformed; the message names its position or key id only.
        """
        pairs: list[tuple[str, bytes]] = []
        for number, entry in enumerate(text.split(","), start=1):
            key_id, colon, encoded = entry.strip().partition(":")
            if not colon or not key_id:
                raise ConfigError(f"{source} | entry {number} is not key_id:base64key")
            try:
                # Standard or URL-safe alphabet, whichever was used.
                key = base64.b64decode(encoded.strip().translate(_URLSAFE), validate=True)
            except (binascii.Error, ValueError):
                raise ConfigError(f"{source}, key_id=<{key_id}> | the key is not valid base64") from None
            pairs.append((key_id, key))
        try:
            return cls(pairs)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None

    @classmethod
    def from_env(cls, name: str = ENV_KEYS) -> Keyring:
        """Build a keyring from the environment variable ``name`` (see :meth:`parse`).

        Raises:
            ConfigError: The variable is unset or empty, or its keys are malformed.
        """
        text = os.environ.get(name, "").strip()
        if not text:
            raise ConfigError(f"env:{name} | the environment variable holding the encryption keys is not set")
        return cls.parse(text, source=f"env:{name}")

    @staticmethod
    def generate_key() -> bytes:
        """Return a new random 32-byte key."""
        return os.urandom(KEY_BYTES)

    @staticmethod
    def new_entry(key_id: str) -> str:
        """Return ``key_id:base64key`` with a new random key, to append to ``KVSESSION_KEYS``."""
        if not _KEY_ID.fullmatch(key_id):
            raise ConfigError(f"keyring | invalid key id {key_id!r}: use 1-32 of A-Z a-z 0-9 . _ -")
        return f"{key_id}:{base64.b64encode(Keyring.generate_key()).decode()}"

    @property
    def current_id(self) -> str | None:
        """The newest key id, which every write is encrypted with; ``None`` if read-only."""
        return None if self.read_only else self._current

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key id, oldest first."""
        return tuple(self._ciphers)

    def cipher(self, key_id: str) -> AESGCM | None:
        """Return the AES-GCM cipher of ``key_id``, or ``None`` if the keyring does not hold it."""
        return self._ciphers.get(key_id)

    def __repr__(self) -> str:
        return f"Keyring(key_ids={self.key_ids!r}, current={self.current_id!r})"
