"""kvsession: persist Strands Agents sessions in Valkey, or any key-value backend.

Quick start::

    import valkey
    from strands import Agent
    from kvsession import ValkeySessionManager

    client = valkey.Valkey(host="localhost", port=6379, decode_responses=True)
    agent = Agent(session_manager=ValkeySessionManager(session_id="user-42", client=client))

Layers, top to bottom: :mod:`kvsession.strands` (session managers), :mod:`kvsession.repository`
(key scheme + indexes), :mod:`kvsession.codecs` (bytes), :mod:`kvsession.protocol` (backends).
"""

from kvsession.batch import Batch
from kvsession.config import BackendConfig, StoreOptions, parse_url
from kvsession.errors import (
    BackendError,
    BackendUnavailable,
    CodecError,
    ConfigError,
    ConflictError,
    IncompleteSessionError,
    InvalidIdError,
    KVSessionError,
    MessageExistsError,
    NotFoundError,
    RecordExistsError,
    SessionExistsError,
    ValueTooLargeError,
)
from kvsession.memory import MemoryBackend
from kvsession.protocol import KeyValueBackend
from kvsession.records import Session
from kvsession.registry import available_schemes, connect
from kvsession.repository import KVSessionRepository
from kvsession.strands import KVSessionManager, ValkeySessionManager

__all__ = [
    "BackendConfig",
    "BackendError",
    "BackendUnavailable",
    "Batch",
    "CodecError",
    "ConfigError",
    "ConflictError",
    "IncompleteSessionError",
    "InvalidIdError",
    "KVSessionError",
    "KVSessionManager",
    "KVSessionRepository",
    "KeyValueBackend",
    "MemoryBackend",
    "MessageExistsError",
    "NotFoundError",
    "RecordExistsError",
    "Session",
    "SessionExistsError",
    "StoreOptions",
    "ValkeySessionManager",
    "ValueTooLargeError",
    "available_schemes",
    "connect",
    "parse_url",
]

__version__ = "0.1.0"
