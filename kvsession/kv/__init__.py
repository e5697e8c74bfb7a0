"""The generic key-value layer: bytes, keys, indexes, expiry and atomic batches.

Importable alone: it loads neither Strands nor a client library, so a third-party backend can
depend on it and nothing else. What is here:

- the contract: :class:`KeyValueBackend` and the write ops of an atomic batch
  (:mod:`kvsession.kv.protocol`), optional abilities (:mod:`kvsession.kv.capabilities`);
- :class:`Batch`, a builder of atomic batches;
- the base of the error tree (:mod:`kvsession.kv.errors`);
- configuration from a URL (:func:`parse_url`) and backend lookup by scheme (:func:`connect`);
- the in-memory backend, and :class:`ForwardingBackend` for wrappers.
"""

from kvsession.kv.aio import AsyncKeyValueBackend, AsyncShell
from kvsession.kv.batch import Batch
from kvsession.kv.capabilities import CompareAndSet, MemoryUsage, RawClient, RawClientAccess
from kvsession.kv.config import BackendConfig, StoreOptions, parse_url
from kvsession.kv.errors import (
    BackendError,
    BackendUnavailable,
    CodecError,
    ConfigError,
    ConflictError,
    CorruptDataError,
    DecryptionError,
    InvalidIdError,
    KVSessionError,
    NotFoundError,
    OutOfMemoryError,
    RecordExistsError,
    ReplicationTimeoutError,
    ValueTooLargeError,
)
from kvsession.kv.forwarding import ForwardingBackend
from kvsession.kv.memory import MemoryBackend
from kvsession.kv.protocol import (
    DeleteGroupOp,
    DeleteOp,
    ExpireOp,
    IndexAddOp,
    IndexRemoveOp,
    KeyValueBackend,
    RefreshTtlOp,
    RequireOp,
    SetAddOp,
    SetOp,
    SetRemoveOp,
    WriteOp,
    WriteTokenOp,
)
from kvsession.kv.registry import available_schemes, connect, connect_async, open_async

__all__ = [
    "AsyncKeyValueBackend",
    "AsyncShell",
    "BackendConfig",
    "BackendError",
    "BackendUnavailable",
    "Batch",
    "CodecError",
    "CompareAndSet",
    "ConfigError",
    "ConflictError",
    "CorruptDataError",
    "DecryptionError",
    "DeleteGroupOp",
    "DeleteOp",
    "ExpireOp",
    "ForwardingBackend",
    "IndexAddOp",
    "IndexRemoveOp",
    "InvalidIdError",
    "KVSessionError",
    "KeyValueBackend",
    "MemoryBackend",
    "MemoryUsage",
    "NotFoundError",
    "OutOfMemoryError",
    "RawClient",
    "RawClientAccess",
    "RecordExistsError",
    "RefreshTtlOp",
    "ReplicationTimeoutError",
    "RequireOp",
    "SetAddOp",
    "SetOp",
    "SetRemoveOp",
    "StoreOptions",
    "ValueTooLargeError",
    "WriteOp",
    "WriteTokenOp",
    "available_schemes",
    "connect",
    "connect_async",
    "open_async",
    "parse_url",
]
