"""What each key of a session is, told from the session models (never by parsing keys).

Every key comes from the repository's key names (``repo.keys``, built from the models of
:mod:`kvsession.strands.models`); this module only asks them which keys a session's records
and indexes live under, so tools can label and page through them without scanning the keyspace.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from kvsession.orm import Model
from kvsession.strands.models import AGENT, MESSAGE, MESSAGES, MULTI_AGENT, SESSION
from kvsession.strands.repository import KVSessionRepository

__all__ = [
    "MODELS",
    "KeyKind",
    "RecordKind",
    "SessionLayout",
    "all_session_ids",
    "message_key_pages",
    "session_layout",
]

KeyKind = Literal["session", "agent", "message", "multi_agent", "index", "set"]
"""What a key holds: a record of some kind, an ordered index, or a set index."""

RecordKind = Literal["session", "agent", "message", "multi_agent"]
"""The kinds of key that hold a record."""

MODELS: dict[RecordKind, Model[Any]] = {
    "session": SESSION,
    "agent": AGENT,
    "message": MESSAGE,
    "multi_agent": MULTI_AGENT,
}
"""The model of each kind of record."""


@dataclass
class SessionLayout:
    """The keys of one session, except its message records (page through those).

    Attributes:
        session_id: The session.
        root: Key of the session record.
        agents: Agent id -> key of the agent record.
        multi_agents: Multi-agent id -> key of its state record.
        ordered_indexes: Keys of ordered indexes (one message index per agent).
        set_indexes: Keys of set indexes (agents, multi-agents, owned keys).
    """

    session_id: str
    root: str
    agents: dict[str, str] = field(default_factory=dict)
    multi_agents: dict[str, str] = field(default_factory=dict)
    ordered_indexes: set[str] = field(default_factory=set)
    set_indexes: set[str] = field(default_factory=set)

    def kind(self, key: str) -> KeyKind:
        """Return what ``key`` (one the session owns) holds; unknown value keys are messages."""
        if key == self.root:
            return "session"
        if key in self.ordered_indexes:
            return "index"
        if key in self.set_indexes:
            return "set"
        if key in self.agents.values():
            return "agent"
        if key in self.multi_agents.values():
            return "multi_agent"
        return "message"

    def is_index(self, key: str) -> bool:
        """Whether ``key`` is one of the session's indexes (ordered or set) rather than a record."""
        return key in self.ordered_indexes or key in self.set_indexes


def session_layout(repo: KVSessionRepository, session_id: str) -> SessionLayout:
    """Return the keys of ``session_id``'s root, agents, multi-agent states and indexes."""
    keys = repo.keys
    agent_ids = repo.list_agents(session_id)
    multi_ids = repo.list_multi_agents(session_id)
    return SessionLayout(
        session_id=session_id,
        root=keys.session(session_id),
        agents={agent_id: keys.agent(session_id, agent_id) for agent_id in agent_ids},
        multi_agents={ma_id: keys.multi_agent(session_id, ma_id) for ma_id in multi_ids},
        ordered_indexes={keys.messages_index(session_id, agent_id) for agent_id in agent_ids},
        set_indexes={
            keys.owned_keys(session_id),
            keys.agents_index(session_id),
            keys.multi_agents_index(session_id),
        },
    )


def all_session_ids(repo: KVSessionRepository) -> list[str]:
    """Return every id in the sessions index, most recently updated first, read in one call.

    Tools that visit every session take this snapshot rather than paging by offset: a session
    updated meanwhile moves to the front of the index, and offset paging would then skip it.
    Entries of expired sessions may be listed; reading their record returns ``None``.
    """
    return [session_id for session_id, _ in repo.list_sessions()]


def message_key_pages(
    repo: KVSessionRepository, session_id: str, agent_id: str, *, page_size: int = 500
) -> Iterator[list[tuple[int, str]]]:
    """Yield an agent's ``(message_id, key)`` pairs in order, ``page_size`` at a time."""
    store = repo.store
    fields: dict[str, object] = {"session_id": session_id, "agent_id": agent_id}
    offset = 0
    while True:
        ids = store.index_window(
            MESSAGES, offset=offset, limit=page_size, session_id=session_id, agent_id=agent_id
        )
        if not ids:
            return
        keys = store.record_keys(MESSAGE, "message_id", ids, **fields)
        yield [(int(mid), key) for mid, key in zip(ids, keys, strict=True)]
        if len(ids) < page_size:
            return
        offset += len(ids)
