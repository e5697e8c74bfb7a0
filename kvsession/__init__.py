"""kvsession: persist Strands Agents sessions in Valkey, or any key-value backend.

Quick start::

    import valkey
    from strands import Agent
    from kvsession import ValkeySessionManager

    client = valkey.Valkey(host="localhost", port=6379, decode_responses=True)
    agent = Agent(session_manager=ValkeySessionManager(session_id="user-42", client=client))

Layers, top to bottom (docs/architecture.md): :mod:`kvsession.strands` (session managers and the
repository), :mod:`kvsession.orm` (typed models, key templates, codecs), :mod:`kvsession.kv`
(backends, atomic batches). Every public name is importable from here; each is loaded on first
use, so ``import kvsession.kv`` alone never loads Strands or a client library.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kvsession.kv import (
        AsyncKeyValueBackend,
        BackendConfig,
        BackendError,
        BackendUnavailable,
        Batch,
        CodecError,
        ConfigError,
        ConflictError,
        CorruptDataError,
        DecryptionError,
        ForwardingBackend,
        InvalidIdError,
        KeyValueBackend,
        KVSessionError,
        MemoryBackend,
        NotFoundError,
        OutOfMemoryError,
        RecordExistsError,
        ReplicationTimeoutError,
        StoreOptions,
        ValueTooLargeError,
        available_schemes,
        connect,
        connect_async,
        open_async,
        parse_url,
    )
    from kvsession.orm import (
        Codec,
        Compression,
        Keyring,
        KeyTemplate,
        Model,
        ModelStore,
        OrderedIndex,
        SetIndex,
    )
    from kvsession.storage import InvalidStorageKeyError, ValkeyStorage, ValkeyStorageError
    from kvsession.strands import (
        AsyncKVSessionManager,
        AsyncKVSessionRepository,
        AsyncValkeySessionManager,
        IncompleteSessionError,
        KVSessionManager,
        KVSessionRepository,
        MessageExistsError,
        Session,
        SessionBusyError,
        SessionConflictError,
        SessionExistsError,
        UnindexedMessagesError,
        ValkeySessionManager,
    )

# Public name -> the module that defines it.
_EXPORTS = {
    **dict.fromkeys(
        [
            "BackendConfig",
            "BackendError",
            "BackendUnavailable",
            "Batch",
            "CodecError",
            "ConfigError",
            "ConflictError",
            "CorruptDataError",
            "DecryptionError",
            "ForwardingBackend",
            "InvalidIdError",
            "KVSessionError",
            "KeyValueBackend",
            "Keyring",
            "MemoryBackend",
            "NotFoundError",
            "OutOfMemoryError",
            "RecordExistsError",
            "ReplicationTimeoutError",
            "StoreOptions",
            "ValueTooLargeError",
            "AsyncKeyValueBackend",
            "AsyncShell",
            "available_schemes",
            "connect",
            "connect_async",
            "open_async",
            "parse_url",
        ],
        "kvsession.kv",
    ),
    **dict.fromkeys(
        ["Codec", "Compression", "KeyTemplate", "Keyring", "Model", "ModelStore", "OrderedIndex", "SetIndex"],
        "kvsession.orm",
    ),
    **dict.fromkeys(
        [
            "AsyncKVSessionManager",
            "AsyncKVSessionRepository",
            "AsyncValkeySessionManager",
            "IncompleteSessionError",
            "KVSessionManager",
            "KVSessionRepository",
            "MessageExistsError",
            "Session",
            "SessionBusyError",
            "SessionConflictError",
            "SessionExistsError",
            "UnindexedMessagesError",
            "ValkeySessionManager",
        ],
        "kvsession.strands",
    ),
    **dict.fromkeys(["InvalidStorageKeyError", "ValkeyStorage", "ValkeyStorageError"], "kvsession.storage"),
}

__all__ = [
    "AsyncKVSessionManager",
    "AsyncKVSessionRepository",
    "AsyncKeyValueBackend",
    "AsyncShell",
    "AsyncValkeySessionManager",
    "BackendConfig",
    "BackendError",
    "BackendUnavailable",
    "Batch",
    "Codec",
    "CodecError",
    "Compression",
    "ConfigError",
    "ConflictError",
    "CorruptDataError",
    "DecryptionError",
    "ForwardingBackend",
    "IncompleteSessionError",
    "InvalidIdError",
    "InvalidStorageKeyError",
    "KVSessionError",
    "KVSessionManager",
    "KVSessionRepository",
    "KeyTemplate",
    "KeyValueBackend",
    "Keyring",
    "MemoryBackend",
    "MessageExistsError",
    "Model",
    "ModelStore",
    "NotFoundError",
    "OrderedIndex",
    "OutOfMemoryError",
    "RecordExistsError",
    "ReplicationTimeoutError",
    "Session",
    "SessionBusyError",
    "SessionConflictError",
    "SessionExistsError",
    "SetIndex",
    "StoreOptions",
    "UnindexedMessagesError",
    "ValkeySessionManager",
    "ValkeyStorage",
    "ValkeyStorageError",
    "ValueTooLargeError",
    "available_schemes",
    "connect",
    "connect_async",
    "open_async",
    "parse_url",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kvsession' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
