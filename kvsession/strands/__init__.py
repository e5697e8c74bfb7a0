"""Strands Agents integration: the session repository and managers, over the orm.

- :class:`KVSessionRepository`: Strands' ``SessionRepository`` over any backend;
- :class:`KVSessionManager` / :class:`ValkeySessionManager`: drop-in session managers;
- :class:`AsyncKVSessionManager` / :class:`AsyncValkeySessionManager` and
  :class:`AsyncKVSessionRepository`: the same for async agents, awaited on their loop (docs/async.md);
- :mod:`kvsession.strands.models`: sessions, agents, messages and multi-agent state as models;
- :mod:`kvsession.strands.errors`: the errors Strands sees, all ``SessionException``s.
"""

from kvsession.strands.aio_manager import AsyncKVSessionManager, AsyncValkeySessionManager
from kvsession.strands.aio_repository import AsyncKVSessionRepository
from kvsession.strands.errors import (
    IncompleteSessionError,
    MessageExistsError,
    SessionBusyError,
    SessionConflictError,
    SessionExistsError,
    SessionRecordExistsError,
    SessionRecordNotFoundError,
    UnindexedMessagesError,
)
from kvsession.strands.manager import KVSessionManager
from kvsession.strands.records import Session
from kvsession.strands.repository import KVSessionRepository
from kvsession.strands.valkey import ValkeySessionManager

__all__ = [
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
    "SessionRecordExistsError",
    "SessionRecordNotFoundError",
    "UnindexedMessagesError",
    "ValkeySessionManager",
]
