"""``AsyncKVSessionRepository``: the session repository over an ``AsyncKeyValueBackend``, awaited.

Every method awaits the same plan the sync :class:`~kvsession.strands.repository.KVSessionRepository`
runs (:mod:`kvsession.strands.plans`): the same batches, keys, write tokens, restore rule and
typed errors, and the same round trips — append 1, restore (``list_messages``) 2, delete 1.

Cancellation: a batch is one ``apply`` call, sent as one atomic command (MULTI/EXEC or a
script) on a networked backend and run without awaiting anything on the memory backend, so a task
cancelled during a write leaves the whole batch applied or none of it. Its outcome is then
unknown to the caller, exactly as after a lost reply: the write token is remembered, and the same
write made again is recognised if it had landed (docs/keys.md, Retries).
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from kvsession.kv.aio import AsyncKeyValueBackend
from kvsession.orm.store import AsyncModelStore, Plan, run_plan_async
from kvsession.strands.fencing import _LEASE_POLL_FIRST, _LEASE_POLL_MAX, _seconds
from kvsession.strands.plans import RepositoryPlans
from kvsession.strands.writes import TTL_SLACK

if TYPE_CHECKING:
    from strands.multiagent.base import MultiAgentBase
    from strands.types.session import Session as StrandsSession
    from strands.types.session import SessionAgent, SessionMessage

__all__ = ["TTL_SLACK", "AsyncKVSessionRepository"]

T = TypeVar("T")


class AsyncKVSessionRepository(RepositoryPlans[AsyncKeyValueBackend]):
    """Strands sessions, agents, messages and multi-agent state in an ``AsyncKeyValueBackend``.

    The methods of :class:`~kvsession.strands.repository.KVSessionRepository`, awaited; each is
    documented there.

    Example:
        >>> repo = AsyncKVSessionRepository(await kvsession.connect_async("valkey://..."))
        >>> await repo.create_message("user-42", "default", message)

    Args:
        backend: Where bytes go. Its ``config.store`` supplies the defaults of ``options``.
        **options: ``codec``, ``prefix``, ``cluster``, ``ttl``, ``touch_on_read``, ``compress``,
            ``keyring``, as for the sync repository
            (:class:`~kvsession.strands.writes.RepositoryOptions`).
    """

    store: AsyncModelStore

    def _open_store(self, backend: AsyncKeyValueBackend, **store: Any) -> AsyncModelStore:
        return AsyncModelStore(backend, **store)

    async def _run(self, plan: Plan[T]) -> T:
        return await run_plan_async(self.backend, plan)

    async def aclose(self) -> None:
        """Close the backend."""
        await self.backend.aclose()

    # -- the session lease ---------------------------------------------------------------------

    async def acquire_lease(self, session_id: str, ttl: float | timedelta, *, wait: float = 0.0) -> None:
        """See :meth:`KVSessionRepository.acquire_lease` (1 round trip per attempt)."""
        seconds = _seconds(ttl)
        started = time.monotonic()
        delay = _LEASE_POLL_FIRST
        while not await self._run(self._plan_try_lease(session_id, seconds)):
            waited = time.monotonic() - started
            if waited >= wait:
                raise self._busy(session_id, waited=waited)
            await asyncio.sleep(min(delay, wait - waited))
            delay = min(delay * 2, _LEASE_POLL_MAX)

    async def release_lease(self, session_id: str) -> None:
        """See :meth:`KVSessionRepository.release_lease`."""
        await self._run(self._plan_release_lease(session_id))

    # -- sessions -----------------------------------------------------------------------------

    async def create_session(self, session: StrandsSession, **kwargs: Any) -> StrandsSession:
        """See :meth:`KVSessionRepository.create_session` (1 round trip)."""
        return await self._run(self.plan_create_session(session))

    async def read_session(self, session_id: str, **kwargs: Any) -> StrandsSession | None:
        """See :meth:`KVSessionRepository.read_session` (1 round trip)."""
        return await self._run(self.plan_read_session(session_id))

    async def update_session(self, session: StrandsSession, **kwargs: Any) -> None:
        """See :meth:`KVSessionRepository.update_session` (1 round trip)."""
        await self._run(self.plan_update_session(session))

    async def delete_session(self, session_id: str, **kwargs: Any) -> None:
        """See :meth:`KVSessionRepository.delete_session` (1 round trip)."""
        await self._run(self.plan_delete_session(session_id))

    async def list_sessions(self, *, limit: int | None = None, offset: int = 0) -> list[tuple[str, float]]:
        """See :meth:`KVSessionRepository.list_sessions` (1 round trip)."""
        return await self._run(self.plan_list_sessions(limit=limit, offset=offset))

    async def last_active(self, session_id: str) -> float | None:
        """See :meth:`KVSessionRepository.last_active` (1 round trip)."""
        return await self._run(self.plan_last_active(session_id))

    # -- agents -------------------------------------------------------------------------------

    async def create_agent(self, session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None:
        """See :meth:`KVSessionRepository.create_agent` (1 round trip)."""
        await self._run(self.plan_create_agent(session_id, session_agent))

    async def read_agent(self, session_id: str, agent_id: str, **kwargs: Any) -> SessionAgent | None:
        """See :meth:`KVSessionRepository.read_agent` (1 round trip)."""
        return await self._run(self.plan_read_agent(session_id, agent_id))

    async def update_agent(self, session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None:
        """See :meth:`KVSessionRepository.update_agent` (1 round trip)."""
        await self._run(self.plan_update_agent(session_id, session_agent))

    async def list_agents(self, session_id: str) -> list[str]:
        """See :meth:`KVSessionRepository.list_agents` (1 round trip)."""
        return await self._run(self.plan_list_agents(session_id))

    # -- messages -----------------------------------------------------------------------------

    async def create_message(
        self, session_id: str, agent_id: str, session_message: SessionMessage, **kwargs: Any
    ) -> None:
        """See :meth:`KVSessionRepository.create_message`: the append, 1 round trip."""
        await self._run(self.plan_create_message(session_id, agent_id, session_message))

    async def read_message(
        self, session_id: str, agent_id: str, message_id: int, **kwargs: Any
    ) -> SessionMessage | None:
        """See :meth:`KVSessionRepository.read_message` (1 round trip)."""
        return await self._run(self.plan_read_message(session_id, agent_id, message_id))

    async def update_message(
        self, session_id: str, agent_id: str, session_message: SessionMessage, **kwargs: Any
    ) -> None:
        """See :meth:`KVSessionRepository.update_message` (2 round trips)."""
        await self._run(self.plan_update_message(session_id, agent_id, session_message))

    async def list_messages(
        self, session_id: str, agent_id: str, limit: int | None = None, offset: int = 0, **kwargs: Any
    ) -> list[SessionMessage]:
        """See :meth:`KVSessionRepository.list_messages`: the restore, 2 round trips."""
        return await self._run(self.plan_list_messages(session_id, agent_id, limit, offset))

    async def count_messages(self, session_id: str, agent_id: str) -> int:
        """See :meth:`KVSessionRepository.count_messages` (1 round trip)."""
        return await self._run(self.plan_count_messages(session_id, agent_id))

    # -- multi-agent --------------------------------------------------------------------------

    async def create_multi_agent(self, session_id: str, multi_agent: MultiAgentBase, **kwargs: Any) -> None:
        """See :meth:`KVSessionRepository.create_multi_agent` (1 round trip)."""
        await self._run(self.plan_create_multi_agent(session_id, multi_agent))

    async def read_multi_agent(
        self, session_id: str, multi_agent_id: str, **kwargs: Any
    ) -> dict[str, Any] | None:
        """See :meth:`KVSessionRepository.read_multi_agent` (1 round trip)."""
        return await self._run(self.plan_read_multi_agent(session_id, multi_agent_id))

    async def update_multi_agent(self, session_id: str, multi_agent: MultiAgentBase, **kwargs: Any) -> None:
        """See :meth:`KVSessionRepository.update_multi_agent` (1 round trip)."""
        await self._run(self.plan_update_multi_agent(session_id, multi_agent))

    async def list_multi_agents(self, session_id: str) -> list[str]:
        """See :meth:`KVSessionRepository.list_multi_agents` (1 round trip)."""
        return await self._run(self.plan_list_multi_agents(session_id))
