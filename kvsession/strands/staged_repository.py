"""``_StagedRepository``: the ``SessionRepository`` Strands' bookkeeping sees in the async manager.

:class:`~kvsession.strands.aio_manager.AsyncKVSessionManager` drives Strands' own
``RepositorySessionManager``, whose repository calls are sync. Over this repository they never
block the loop: each write becomes a queued plan (:mod:`kvsession.strands.plans`) that the
manager awaits in order, and each read is served from what the manager's restore prefetched.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from strands.session.session_repository import SessionRepository
from strands.types.session import Session as StrandsSession
from strands.types.session import SessionAgent, SessionMessage

from kvsession.strands.aio_repository import AsyncKVSessionRepository

if TYPE_CHECKING:
    from strands.multiagent.base import MultiAgentBase

    from kvsession.orm.plans import Plan


class _StagedRepository(SessionRepository):
    """The ``SessionRepository`` Strands' bookkeeping sees: writes are queued, reads prefetched."""

    def __init__(self, repository: AsyncKVSessionRepository) -> None:
        self.repository = repository
        self.pending: deque[Plan[Any]] = deque()
        self.prefetched: dict[tuple[str, ...], Any] = {}

    def _read(self, *what: str) -> Any:
        try:
            return self.prefetched.pop(what)
        except KeyError:
            raise RuntimeError(f"{what} | not prefetched: the manager reads only while restoring") from None

    def create_session(self, session: StrandsSession, **kwargs: Any) -> StrandsSession:
        self.pending.append(self.repository.plan_create_session(session))
        return session

    def read_session(self, session_id: str, **kwargs: Any) -> StrandsSession | None:
        return self._read("session", session_id)  # type: ignore[no-any-return]

    def create_agent(self, session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None:
        self.pending.append(self.repository.plan_create_agent(session_id, session_agent))

    def read_agent(self, session_id: str, agent_id: str, **kwargs: Any) -> SessionAgent | None:
        return self._read("agent", session_id, agent_id)  # type: ignore[no-any-return]

    def update_agent(self, session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None:
        self.pending.append(self.repository.plan_update_agent(session_id, session_agent))

    def create_message(
        self, session_id: str, agent_id: str, session_message: SessionMessage, **kwargs: Any
    ) -> None:
        self.pending.append(self.repository.plan_create_message(session_id, agent_id, session_message))

    def read_message(
        self, session_id: str, agent_id: str, message_id: int, **kwargs: Any
    ) -> SessionMessage | None:
        raise RuntimeError("read_message | not used by the manager; await manager.repository.read_message")

    def update_message(
        self, session_id: str, agent_id: str, session_message: SessionMessage, **kwargs: Any
    ) -> None:
        self.pending.append(self.repository.plan_update_message(session_id, agent_id, session_message))

    def list_messages(
        self, session_id: str, agent_id: str, limit: int | None = None, offset: int = 0, **kwargs: Any
    ) -> list[SessionMessage]:
        start, messages = self._read("messages", session_id, agent_id)
        if offset < start:
            raise RuntimeError(f"offset=<{offset}> | messages were prefetched from {start}")
        end = None if limit is None else offset - start + limit
        return list(messages[offset - start : end])

    def create_multi_agent(self, session_id: str, multi_agent: MultiAgentBase, **kwargs: Any) -> None:
        self.pending.append(self.repository.plan_create_multi_agent(session_id, multi_agent))

    def read_multi_agent(self, session_id: str, multi_agent_id: str, **kwargs: Any) -> dict[str, Any] | None:
        return self._read("multi_agent", session_id, multi_agent_id)  # type: ignore[no-any-return]

    def update_multi_agent(self, session_id: str, multi_agent: MultiAgentBase, **kwargs: Any) -> None:
        self.pending.append(self.repository.plan_update_multi_agent(session_id, multi_agent))
