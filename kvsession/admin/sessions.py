"""Looking at what a store holds: live sessions, their summaries, a session's keys.

The services behind ``kvsession sessions``, ``show --raw`` and ``rm``. Everything is found
through the sessions index and each session's own indexes, never by scanning the keyspace.
"""

from __future__ import annotations

from collections.abc import Iterator

import msgspec
from strands.types.session import Session

from kvsession.admin.layout import SessionLayout
from kvsession.kv.errors import CodecError
from kvsession.orm import stored_form
from kvsession.strands.repository import KVSessionRepository

__all__ = ["KeyRow", "SessionSummary", "clear_leftovers", "iter_sessions", "key_rows", "summarize"]

_PAGE = 200


class SessionSummary(msgspec.Struct, kw_only=True):
    """A session in a listing.

    Attributes:
        session_id: The session.
        session_type: Strands' session type.
        created_at: ISO-8601 creation time.
        updated_at: ISO-8601 time of the last write (the sessions index score).
        agents: Agent id -> number of messages.
        messages: Messages of all agents.
        multi_agents: Ids of multi-agent states.
    """

    session_id: str
    session_type: str
    created_at: str
    updated_at: str
    agents: dict[str, int]
    messages: int
    multi_agents: list[str]


def iter_sessions(repo: KVSessionRepository) -> Iterator[Session]:
    """Yield every live session, most recently updated first, from the sessions index.

    Index entries whose session record is gone (expired) are skipped.
    """
    offset = 0
    while True:
        page = repo.list_sessions(limit=_PAGE, offset=offset)
        for session_id, _ in page:
            session = repo.read_session(session_id)
            if session is not None:
                yield session
        if len(page) < _PAGE:
            return
        offset += len(page)


def summarize(repo: KVSessionRepository, session: Session) -> SessionSummary:
    """Count a session's agents, messages and multi-agent states (index reads only)."""
    counts = {
        agent_id: repo.count_messages(session.session_id, agent_id)
        for agent_id in repo.list_agents(session.session_id)
    }
    return SessionSummary(
        session_id=session.session_id,
        session_type=str(getattr(session.session_type, "value", session.session_type)),
        created_at=session.created_at,
        updated_at=session.updated_at,
        agents=counts,
        messages=sum(counts.values()),
        multi_agents=repo.list_multi_agents(session.session_id),
    )


class KeyRow(msgspec.Struct):
    """One key a session owns.

    Attributes:
        key: The key.
        type: ``index``, ``set``, or the record's kind and format (``message (json)``).
        size: Members of an index, bytes of a value.
        ttl: Seconds left before it expires (``None``: no expiry).
    """

    key: str
    type: str
    size: int
    ttl: float | None

    @property
    def is_index(self) -> bool:
        """Whether the key is an index (its size counts members, not bytes)."""
        return self.type in ("index", "set")


def key_rows(repo: KVSessionRepository, layout: SessionLayout) -> list[KeyRow]:
    """Describe every key the session owns; keys gone since they were listed are left out."""
    backend = repo.backend
    keys = repo.session_keys(layout.session_id)
    value_keys = [key for key in keys if not layout.is_index(key)]
    values: dict[str, bytes | None] = {}
    for start in range(0, len(value_keys), _PAGE):
        page = value_keys[start : start + _PAGE]
        values.update(zip(page, backend.get_many(page), strict=True))
    rows: list[KeyRow] = []
    for key in keys:
        kind = layout.kind(key)
        try:
            ttl = backend.ttl(key)
        except KeyError:
            continue  # deleted or expired since the key list was read
        if kind == "index":
            rows.append(KeyRow(key, "index", backend.index_count(key), ttl))
        elif kind == "set":
            rows.append(KeyRow(key, "set", len(backend.set_members(key)), ttl))
        else:
            value = values.get(key)
            if value is not None:
                rows.append(KeyRow(key, f"{kind} ({_format_of(value)})", len(value), ttl))
    return rows


def _format_of(value: bytes) -> str:
    try:
        form = stored_form(value)
    except CodecError:
        return "unknown"
    shown: list[str] = [form.format or "encrypted"]
    if form.compressed:
        shown.append("zstd")
    if form.key_id is not None:
        shown.append(f"key {form.key_id}")
    return "+".join(shown)


def clear_leftovers(repo: KVSessionRepository, session_id: str) -> int:
    """Remove the keys of a session whose record is gone; return how many there were.

    Returns 0 and touches nothing if the session exists (or was created meanwhile).
    """
    count = len(repo.session_keys(session_id))
    if not repo.clear_leftovers(session_id):
        return 0
    return count
