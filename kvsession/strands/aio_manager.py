"""``AsyncKVSessionManager``: a session manager for async agents that never blocks their loop.

What Strands' hooks allow (strands 1.62, ``strands/hooks/registry.py``, ``agent/agent.py``):

- ``MessageAddedEvent``, ``BeforeInvocationEvent``, ``AfterInvocationEvent`` and the multi-agent
  ``Before/AfterMultiAgentInvocationEvent`` / ``AfterNodeCallEvent`` callbacks are awaited on the
  agent's loop when they are ``async def``: every write here is awaited there.
- ``AgentInitializedEvent`` callbacks must be sync (they run inside ``Agent.__init__``), and
  ``MultiAgentInitializedEvent`` runs on a throwaway loop in another thread. So the restore is
  *lazy*: ``initialize`` only records the agent, and the first ``BeforeInvocationEvent`` awaits
  the restore (session, agent, messages: 4 round trips, as the sync manager). ``await
  manager.restore(agent)`` does it earlier, for code that reads ``agent.messages`` before the
  first invocation.
- ``redact_latest_message`` (a guardrail redaction) and ``sync_agent`` (after a context overflow)
  are called *sync* by Strands from inside the loop. They do not block: their writes are queued
  in order and awaited by the next hook (at the latest ``AfterInvocationEvent``).

The bookkeeping (message indexes, redaction, state-change detection, the restore of the
conversation manager and of broken tool-use pairs) is Strands' own ``RepositorySessionManager``,
driven over a staged repository (:mod:`kvsession.strands.staged_repository`): its writes become
queued plans (:mod:`kvsession.strands.plans`) awaited in order on the loop; its reads are served
from what the restore prefetched.

Errors: a failed write raises its typed error (``SessionException`` leaves, ``BackendUnavailable``,
``ValueTooLargeError`` ...) from the hook, to the caller of ``invoke_async`` / ``stream_async``.
Strands re-raises errors of the hooks that follow the assistant message and tool results as
``EventLoopException`` with the typed error as ``__cause__`` (and ``.original_exception``); the
user prompt's append and the end of invocation raise it unchanged. A failed (or cancelled) write
is dropped from the queue, the conversation goes on from the next index, and a batch is applied
whole or not at all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

import valkey.asyncio
import valkey.asyncio.cluster
from strands.hooks.events import (
    AfterInvocationEvent,
    AfterMultiAgentInvocationEvent,
    AfterNodeCallEvent,
    AgentInitializedEvent,
    BeforeInvocationEvent,
    BeforeMultiAgentInvocationEvent,
    MessageAddedEvent,
    MultiAgentInitializedEvent,
)
from strands.hooks.registry import HookOrder, HookRegistry
from strands.session.repository_session_manager import RepositorySessionManager
from strands.session.session_manager import SessionManager
from strands.types.agent import LocalAgent
from strands.types.exceptions import SessionException
from strands.types.session import Session as StrandsSession
from strands.types.session import SessionType

from kvsession.kv.config import parse_url, resolve_url
from kvsession.kv.registry import open_async
from kvsession.strands.aio_repository import AsyncKVSessionRepository
from kvsession.strands.manager import merge_messages
from kvsession.strands.records import ListedMessage, Session, metadata_of
from kvsession.strands.staged_repository import _StagedRepository

if TYPE_CHECKING:
    from strands.multiagent.base import MultiAgentBase
    from strands.types.content import Message
    from typing_extensions import Unpack

    from kvsession.kv.aio import AsyncKeyValueBackend
    from kvsession.strands.writes import RepositoryOptions

__all__ = ["AsyncKVSessionManager", "AsyncValkeySessionManager"]

logger = logging.getLogger(__name__)


class AsyncKVSessionManager(SessionManager[LocalAgent]):
    """Persist an async Strands agent's session without blocking its event loop.

    Example:
        >>> backend = await kvsession.connect_async("valkey://localhost:6379/0")
        >>> sm = AsyncKVSessionManager("user-42", backend=backend)
        >>> agent = Agent(session_manager=sm)
        >>> await agent.invoke_async("hello")

    One backend (one connection pool) serves any number of managers and agents on a loop: pass
    the same ``backend`` to each (docs/async.md).

    Args:
        session_id: The session to resume, created on first use if it does not exist.
        backend: A connected async backend; default ``kvsession.open_async(url)``.
        url: Used when ``backend`` is not given (default ``$KVSESSION_URL``).
        metadata: Stored on the session record when this manager creates the session.
        lease: Hold the session's lease (seconds or a ``timedelta``), taken when the session is
            opened (first hook, or :meth:`open`), renewed by every write, given back by
            :meth:`aclose`; as for :class:`~kvsession.strands.manager.KVSessionManager`.
        lease_wait: Seconds to wait for a lease another worker holds before raising
            :class:`~kvsession.strands.errors.SessionBusyError` (default 0).
        **options: ``codec``, ``prefix``, ``ttl``, ``touch_on_read``, ``cluster``, ``compress``,
            ``keyring``, overriding the URL's (:class:`~kvsession.strands.writes.RepositoryOptions`).

    Raises:
        InvalidIdError: ``session_id`` cannot be stored (before anything is sent).
    """

    def __init__(
        self,
        session_id: str,
        *,
        backend: AsyncKeyValueBackend | None = None,
        url: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        lease: float | timedelta | None = None,
        lease_wait: float = 0.0,
        **options: Unpack[RepositoryOptions],
    ) -> None:
        self._owns_backend = backend is None
        self.repository = AsyncKVSessionRepository(
            backend if backend is not None else open_async(url), **options
        )
        self.repository._root(session_id)  # a bad id fails here, as with the sync manager
        self.session_id = session_id
        self._initial_metadata = dict(metadata or {})
        self._staged = _StagedRepository(self.repository)
        self._strands: RepositorySessionManager | None = None  # once the session is read or created
        self._to_restore: dict[str, LocalAgent] = {}
        self._multi_agents_to_restore: dict[str, MultiAgentBase] = {}
        self._flushing: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        self._lease = lease
        self._lease_wait = lease_wait

    # -- hooks --------------------------------------------------------------------------------

    def register_hooks(self, registry: HookRegistry, **kwargs: Any) -> None:
        """Register the sync ``initialize`` and the async write hooks (see the module docstring)."""
        registry.add_callback(AgentInitializedEvent, self._on_agent_initialized)
        registry.add_callback(BeforeInvocationEvent, self._on_before_invocation, order=HookOrder.SDK_FIRST)
        registry.add_callback(MessageAddedEvent, self._on_message_added)
        registry.add_callback(AfterInvocationEvent, self._on_after_invocation)
        registry.add_callback(MultiAgentInitializedEvent, self._on_multi_agent_initialized)
        registry.add_callback(
            BeforeMultiAgentInvocationEvent, self._on_before_multi_agent, order=HookOrder.SDK_FIRST
        )
        registry.add_callback(AfterNodeCallEvent, self._on_multi_agent_progress)
        registry.add_callback(AfterMultiAgentInvocationEvent, self._on_multi_agent_progress)

    def _on_agent_initialized(self, event: AgentInitializedEvent) -> None:
        self.initialize(event.agent)

    async def _on_before_invocation(self, event: BeforeInvocationEvent) -> None:
        await self.restore(event.agent)

    async def _on_message_added(self, event: MessageAddedEvent) -> None:
        await self.restore(event.agent)  # a message added before any invocation
        self.append_message(event.message, event.agent)
        self.sync_agent(event.agent)
        await self.flush()

    async def _on_after_invocation(self, event: AfterInvocationEvent) -> None:
        if event.agent.agent_id not in self._to_restore:
            self.sync_agent(event.agent)
        await self.flush()

    def _on_multi_agent_initialized(self, event: MultiAgentInitializedEvent) -> None:
        self.initialize_multi_agent(event.source)

    async def _on_before_multi_agent(self, event: BeforeMultiAgentInvocationEvent) -> None:
        await self.restore_multi_agent(event.source)

    async def _on_multi_agent_progress(
        self, event: AfterNodeCallEvent | AfterMultiAgentInvocationEvent
    ) -> None:
        await self.restore_multi_agent(event.source)
        self.sync_multi_agent(event.source)
        await self.flush()

    # -- SessionManager: sync entry points, queued ----------------------------------------------

    def initialize(self, agent: LocalAgent, **kwargs: Any) -> None:
        """Record ``agent`` for restore at its first invocation (Strands calls this sync).

        Raises:
            SessionException: Another agent with this ``agent_id`` is in the session.
        """
        if agent.agent_id in self._to_restore or (
            self._strands is not None and agent.agent_id in self._strands._latest_agent_message
        ):
            raise SessionException("The `agent_id` of an agent must be unique in a session.")
        self._to_restore[agent.agent_id] = agent

    def append_message(self, message: Message, agent: LocalAgent, **kwargs: Any) -> None:
        """Queue the append of ``message`` (awaited by the hook that called it, or the next one)."""
        self._bookkeeping().append_message(message, agent)

    def redact_latest_message(self, redact_message: Message, agent: LocalAgent, **kwargs: Any) -> None:
        """Queue the redaction of the latest message (Strands calls this sync, from the loop)."""
        self._bookkeeping().redact_latest_message(redact_message, agent)

    def sync_agent(self, agent: LocalAgent, **kwargs: Any) -> None:
        """Queue a write of the agent's state if it changed (Strands may call this sync, from the loop)."""
        self._bookkeeping().sync_agent(agent)

    def initialize_multi_agent(self, source: MultiAgentBase, **kwargs: Any) -> None:
        """Record a Swarm or Graph for restore at its first invocation."""
        self._multi_agents_to_restore[source.id] = source

    def sync_multi_agent(self, source: MultiAgentBase, **kwargs: Any) -> None:
        """Queue a write of a Swarm's or Graph's state."""
        self._bookkeeping().sync_multi_agent(source)

    def _bookkeeping(self) -> RepositorySessionManager:
        if self._strands is None:
            raise SessionException(f"session_id=<{self.session_id}> | the session is not open yet")
        return self._strands

    # -- awaited ------------------------------------------------------------------------------

    async def open(self) -> StrandsSession:
        """Read the session, creating it if it does not exist (done by the first hook, once)."""
        if self._strands is None:
            if self._lease is not None and not self.repository.holds_lease(self.session_id):
                # Before the session is read: the agent restores what the previous holder wrote.
                await self.repository.acquire_lease(self.session_id, self._lease, wait=self._lease_wait)
            session = await self.repository.read_session(self.session_id)
            if session is None and self._initial_metadata:
                session = Session.from_strands(
                    StrandsSession(session_id=self.session_id, session_type=SessionType.AGENT),
                    dict(self._initial_metadata),
                )
                await self.repository.create_session(session)
                self._staged.prefetched["session", self.session_id] = None
                strands = RepositorySessionManager(self.session_id, self._staged)
                self._staged.pending.clear()  # its create_session: done above, with the metadata
                strands.session = session
            else:
                self._staged.prefetched["session", self.session_id] = session
                strands = RepositorySessionManager(self.session_id, self._staged)
                await self._drain()  # the create_session of a new session
            self._strands = strands
        return self._strands.session

    async def restore(self, agent: LocalAgent) -> None:
        """Restore ``agent`` from the session now, if it is waiting (at most once per agent).

        The first ``BeforeInvocationEvent`` does this; call it to see the restored
        ``agent.messages`` and state before the first invocation. A new agent is created in the
        session instead (with any messages it was built with).
        """
        if agent.agent_id not in self._to_restore:
            return
        strands_manager = self._strands
        if strands_manager is None:
            await self.open()
            strands_manager = self._bookkeeping()
        if not strands_manager._is_new_session:
            stored = await self.repository.read_agent(self.session_id, agent.agent_id)
            self._staged.prefetched["agent", self.session_id, agent.agent_id] = stored
            if stored is not None:
                offset = int(stored.conversation_manager_state.get("removed_message_count", 0))
                messages = await self.repository.list_messages(self.session_id, agent.agent_id, offset=offset)
                self._staged.prefetched["messages", self.session_id, agent.agent_id] = (offset, messages)
        if self._to_restore.pop(agent.agent_id, None) is None:
            return  # restored by a concurrent call meanwhile
        strands_manager.initialize(agent)
        self._staged.prefetched.clear()
        await self.flush()

    async def restore_multi_agent(self, source: MultiAgentBase) -> None:
        """Restore a Swarm's or Graph's state now, if it is waiting."""
        if source.id not in self._multi_agents_to_restore:
            return
        await self.open()
        strands_manager = self._bookkeeping()
        if not strands_manager._is_new_session:
            state = await self.repository.read_multi_agent(self.session_id, source.id)
            self._staged.prefetched["multi_agent", self.session_id, source.id] = state
        if self._multi_agents_to_restore.pop(source.id, None) is None:
            return
        strands_manager.initialize_multi_agent(source)
        self._staged.prefetched.clear()
        await self.flush()

    async def flush(self) -> None:
        """Await every queued write, in order (the hooks do; call it after a sync ``redact``/``sync``).

        Raises:
            Exception: The typed error of the first write that failed; it is dropped from the queue,
                the writes after it stay queued for the next flush.
        """
        if not self._staged.pending:
            return
        loop = asyncio.get_running_loop()
        if self._flushing is None or self._flushing[0] is not loop:
            self._flushing = (loop, asyncio.Lock())
        async with self._flushing[1]:  # concurrent agents of one session: one writer at a time, in order
            await self._drain()

    async def _drain(self) -> None:
        pending = self._staged.pending
        while pending:
            await self.repository._run(pending.popleft())

    # -- the reference API, awaited ---------------------------------------------------------------

    @property
    def backend(self) -> AsyncKeyValueBackend:
        """The backend this manager stores into."""
        return self.repository.backend

    @property
    def session(self) -> StrandsSession:
        """The session record (after the first hook or :meth:`open`)."""
        return self._bookkeeping().session

    @property
    def metadata(self) -> dict[str, Any]:
        """The session's metadata dict (as read or created by this manager)."""
        return metadata_of(self.session)

    async def update_metadata(self, metadata: Mapping[str, Any]) -> None:
        """Replace the session's metadata and store it (one round trip)."""
        await self.open()
        session = Session.from_strands(self.session, dict(metadata))
        await self.repository.update_session(session)
        self._bookkeeping().session = session

    async def read_session(self, session_id: str | None = None) -> StrandsSession | None:
        """Read a session (default: this manager's)."""
        return await self.repository.read_session(self.session_id if session_id is None else session_id)

    async def delete_session(self, session_id: str | None = None) -> None:
        """Delete a session and every key it owns (default: this manager's)."""
        await self.repository.delete_session(self.session_id if session_id is None else session_id)

    async def list_messages(
        self,
        session_id: str | None = None,
        agent_id: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[ListedMessage]:
        """List messages in order, as ``KVSessionManager.list_messages`` (default: the whole session).

        Returns:
            :class:`~kvsession.strands.records.ListedMessage` objects (``msg.role``, ``msg["content"]``).
        """
        session_id = self.session_id if session_id is None else session_id
        repository = self.repository
        if agent_id is not None:
            messages = await repository.list_messages(session_id, agent_id, limit, offset)
        else:
            agents = await repository.list_agents(session_id)
            if len(agents) == 1:
                messages = await repository.list_messages(session_id, agents[0], limit, offset)
            else:
                per_agent = {agent: await repository.list_messages(session_id, agent) for agent in agents}
                messages = merge_messages(per_agent, limit, offset)
        return cast("list[ListedMessage]", ListedMessage.adopt(messages))

    async def aclose(self) -> None:
        """Release the session lease if held; close the backend if this manager opened it.

        A backend you passed stays open.
        """
        try:
            if self.repository.holds_lease(self.session_id):
                await self.repository.release_lease(self.session_id)
        finally:
            if self._owns_backend:
                await self.repository.aclose()


class AsyncValkeySessionManager(AsyncKVSessionManager):
    """:class:`AsyncKVSessionManager` over a ``valkey.asyncio.Valkey`` client you built.

    Example:
        >>> pool = valkey.asyncio.BlockingConnectionPool(host="localhost", max_connections=50)
        >>> client = valkey.asyncio.Valkey(connection_pool=pool)
        >>> sm = AsyncValkeySessionManager(session_id="user-42", client=client)
        >>> agent = Agent(session_manager=sm)
        >>> await agent.invoke_async("hello")

    Pass the same client to every manager on a loop: its pool serves them all. A client is bound
    to the event loop it is used on first; on several loops, pass ``url`` instead (one client per
    loop is then built from it).

    Args:
        session_id: The session to resume, created on first use if it does not exist.
        client: A ``valkey.asyncio.Valkey`` or ``valkey.asyncio.cluster.ValkeyCluster``
            (``decode_responses`` either way); if omitted, clients are made from ``url``.
        url: ``valkey://...`` URL used when ``client`` is omitted (default ``$KVSESSION_URL``).
        **options: ``codec``, ``prefix``, ``ttl``, ``touch_on_read``, ``metadata``, ``compress``,
            ``keyring``, as for :class:`AsyncKVSessionManager`.
    """

    def __init__(
        self,
        session_id: str,
        client: valkey.asyncio.Valkey | valkey.asyncio.cluster.ValkeyCluster | None = None,
        *,
        url: str | None = None,
        **options: Any,
    ) -> None:
        # Imported here: kvsession_valkey imports kvsession's modules (see ValkeySessionManager).
        from kvsession_valkey import AsyncValkeyBackend

        config = parse_url(resolve_url(url) if client is None else "valkey://")
        backend = AsyncValkeyBackend(client=client, config=config)
        super().__init__(session_id, backend=backend, **options)
        self._owns_backend = client is None
