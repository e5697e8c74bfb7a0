"""Errors of :class:`~kvsession.storage.ValkeyStorage`: Strands' ``StorageError`` and kvsession's tree.

Strands' consumers (``SnapshotSessionManager``, the keyword search) catch ``StorageError``;
kvsession callers catch ``KVSessionError``. Both catch these. The backend failure that caused
one is chained as ``__cause__``.
"""

from __future__ import annotations

from strands.types.exceptions import StorageError

from kvsession.kv.errors import KVSessionError

__all__ = ["InvalidStorageKeyError", "ValkeyStorageError"]


class ValkeyStorageError(StorageError, KVSessionError):
    """A storage operation failed; nothing is known to be half-written (each write is atomic).

    Attributes:
        key: The storage key (or list prefix) the operation was given, as the caller wrote it.
    """

    def __init__(self, message: str, *, key: str) -> None:
        self.key = key
        super().__init__(message)


class InvalidStorageKeyError(ValkeyStorageError):
    """A key or prefix is not a valid storage path (empty, a ``..`` segment, a backslash)."""
