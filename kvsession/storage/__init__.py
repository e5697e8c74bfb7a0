"""Strands' ``Storage`` protocol on Valkey: :class:`ValkeyStorage`.

For ``SnapshotSessionManager(storage=...)``, ``Agent(storage=...)`` and every Strands subsystem
that takes a storage. This package imports Strands; :mod:`kvsession.kv` stays free of it.
"""

from kvsession.storage.errors import InvalidStorageKeyError, ValkeyStorageError
from kvsession.storage.layout import StorageLayout
from kvsession.storage.storage import ValkeyStorage

__all__ = ["InvalidStorageKeyError", "StorageLayout", "ValkeyStorage", "ValkeyStorageError"]
