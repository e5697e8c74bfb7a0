"""Write one session's records in batches, root last: the shared writer of ``import`` and ``migrate``.

Order is what makes a load safe to interrupt: agents, messages and multi-agent states go first,
the session record last. Until the root exists the session does not exist (the repository's
restore rule), so a load cut short leaves nothing visible, and the next run clears the leftovers
and loads the session again from the start. Messages are buffered and written many per atomic
batch (bounded by count and by bytes), so memory stays flat however long the session is.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import replace
from typing import Any, Literal

from strands.types.session import Session, SessionAgent, SessionMessage

from kvsession.admin.times import Latest
from kvsession.kv.errors import NotFoundError
from kvsession.strands.repository import KVSessionRepository

__all__ = ["BATCH_BYTES", "BATCH_MESSAGES", "ExistingPolicy", "SessionWriter"]

BATCH_MESSAGES = 500
"""Most messages written in one atomic batch."""

BATCH_BYTES = 8 * 1024 * 1024
"""Approximate most bytes of messages written in one atomic batch."""

logger = logging.getLogger(__name__)

ExistingPolicy = Literal["skip", "replace"]
"""What :meth:`SessionWriter.begin` does with a session that exists: leave it, or replace it."""


class SessionWriter:
    """Loads one session: call :meth:`begin`, then add records, then :meth:`finish`.

    Args:
        repo: Where to write.
        session: The session record (written last).
        latest_updated_at: Make the session's ``updated_at`` the latest time seen on any of
            its records (for sources whose session record never moves, like Strands' files).
    """

    def __init__(
        self, repo: KVSessionRepository, session: Session, *, latest_updated_at: bool = False
    ) -> None:
        self.repo = repo
        self.session = session
        self.agents = 0
        self.messages = 0
        self.multi_agents = 0
        self._latest_updated_at = latest_updated_at
        self._latest = Latest(session.updated_at)
        self._buffer: list[SessionMessage] = []
        self._buffer_agent: str | None = None
        self._buffer_bytes = 0

    @property
    def session_id(self) -> str:
        """The id of the session being loaded."""
        return self.session.session_id

    def exists(self) -> Session | None:
        """Return the stored session with this id, or ``None``."""
        return self.repo.read_session(self.session_id)

    def begin(self, existing: ExistingPolicy) -> bool:
        """Prepare the target; return ``False`` when the session exists and is to be skipped.

        Leftover keys of a session whose record is missing (an interrupted load, an expired
        session) are deleted first; with ``replace`` an existing session is deleted too.
        """
        if self.exists() is not None:
            if existing == "skip":
                return False
            with contextlib.suppress(NotFoundError):
                self.repo.delete_session(self.session_id)
            logger.debug("session_id=<%s> | replacing the existing session", self.session_id)
        # False: the session was created by someone else meanwhile; leave it alone.
        return self.repo.clear_leftovers(self.session_id)

    def add_agent(self, agent: SessionAgent) -> None:
        """Write an agent record (immediately: agents are few)."""
        self._flush()
        self._seen(agent.updated_at)
        self.repo.put_agents(self.session_id, [agent])
        self.agents += 1

    def add_message(self, agent_id: str, message: SessionMessage, *, size_hint: int = 0) -> None:
        """Queue a message; the queue is written when full or when the agent changes.

        Args:
            agent_id: The agent the message belongs to.
            message: The record, written as given.
            size_hint: Approximate encoded size, to bound the bytes of one batch.
        """
        if self._buffer_agent != agent_id:
            self._flush()
            self._buffer_agent = agent_id
        self._seen(message.updated_at)
        self._buffer.append(message)
        self._buffer_bytes += size_hint
        if len(self._buffer) >= BATCH_MESSAGES or self._buffer_bytes >= BATCH_BYTES:
            self._flush()

    def add_multi_agent(self, multi_agent_id: str, state: dict[str, Any]) -> None:
        """Write a multi-agent state."""
        self._flush()
        self.repo.put_multi_agent_state(self.session_id, multi_agent_id, state)
        self.multi_agents += 1

    def finish(self) -> None:
        """Write what is queued, then the session record: the session now exists, whole."""
        self._flush()
        session = self.session
        latest = self._latest.isoformat()
        if self._latest_updated_at and latest is not None:
            session = replace(session, updated_at=latest)
        self.repo.put_session(session)
        logger.debug(
            "session_id=<%s>, agents=<%d>, messages=<%d> | session loaded",
            self.session_id,
            self.agents,
            self.messages,
        )

    def _seen(self, updated_at: str) -> None:
        self._latest.see(updated_at)

    def _flush(self) -> None:
        if self._buffer and self._buffer_agent is not None:
            self.repo.put_messages(self.session_id, self._buffer_agent, self._buffer)
            self.messages += len(self._buffer)
        self._buffer = []
        self._buffer_bytes = 0
