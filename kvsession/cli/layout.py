"""What each key of a session is, told from the repository's key scheme (never by parsing keys).

Every key comes from :class:`kvsession.keys.KeyScheme` (``repo.keys``); this module only asks it
which keys a session's records and indexes live under, so tools can label and page through
them without scanning the keyspace.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from kvsession.repository import KVSessionRepository

__all__ = ["KeyKind", "SessionLayout", "all_session_ids", "message_key_pages", "session_layout"]

KeyKind = Literal["session", "agent", "message", "multi_agent", "index", "set"]
"""What a key holds: a record of some kind, an ordered index, or a set index."""


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
    return repo.backend.index_range(repo.keys.sessions_index(), reverse=True)


def message_key_pages(
    repo: KVSessionRepository, session_id: str, agent_id: str, *, page_size: int = 500
) -> Iterator[list[tuple[int, str]]]:
    """Yield an agent's ``(message_id, key)`` pairs in order, ``page_size`` at a time."""
    index = repo.keys.messages_index(session_id, agent_id)
    offset = 0
    while True:
        ids = repo.backend.index_range(index, offset=offset, limit=page_size)
        if not ids:
            return
        yield [(int(mid), repo.keys.message(session_id, agent_id, int(mid))) for mid in ids]
        if len(ids) < page_size:
            return
        offset += len(ids)
