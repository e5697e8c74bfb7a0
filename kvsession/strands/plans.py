"""Every Strands repository operation, written once as a plan for the sync and async repositories.

A plan (:mod:`kvsession.orm.store`) builds the batch or the keys, yields the backend calls it
needs and turns the replies into records or typed errors, without doing I/O itself.
:class:`~kvsession.strands.repository.KVSessionRepository` runs each plan with ``backend.<call>``,
:class:`~kvsession.strands.aio_repository.AsyncKVSessionRepository` with ``await backend.<call>``;
so both have the same round trips, restore rule, write tokens and errors by construction. The
behaviour is documented on the sync methods (and in docs/keys.md).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from strands.types.session import SessionAgent, SessionMessage

from kvsession.kv.errors import CodecError
from kvsession.orm.store import Io, Plan
from kvsession.strands.errors import IncompleteSessionError, SessionExistsError, SessionRecordNotFoundError
from kvsession.strands.models import (
    AGENT,
    AGENTS,
    MESSAGE,
    MESSAGES,
    MULTI_AGENT,
    MULTI_AGENTS,
    SESSION,
    SESSION_GROUP,
)
from kvsession.strands.writes import SessionBackend, SessionCore

if TYPE_CHECKING:
    from strands.multiagent.base import MultiAgentBase
    from strands.types.session import Session as StrandsSession

__all__ = ["RepositoryPlans"]

logger = logging.getLogger(__name__)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat()


class RepositoryPlans(SessionCore[SessionBackend]):
    """The plans of the repository's methods (``plan_<method>``), shared by sync and async."""

    # -- sessions -----------------------------------------------------------------------------

    def plan_create_session(self, session: StrandsSession) -> Plan[StrandsSession]:
        """Plan of ``create_session`` (1 round trip)."""
        root = self._root(session.session_id)
        session_id = session.session_id
        batch = self.store.batch().require(root, present=False)
        self.store.delete_group(batch, SESSION_GROUP, session_id=session_id)
        self.store.create(batch, SESSION, session)
        yield from self._plan_commit(
            batch, session_id, lambda key: SessionExistsError(session_id, root) if key == root else None
        )
        logger.debug("session_id=<%s> | created session", session_id)
        return session

    def plan_read_session(self, session_id: str) -> Plan[StrandsSession | None]:
        """Plan of ``read_session`` (1 round trip)."""
        root = self._root(session_id)
        data = yield from Io.get(root)
        if data is None:
            return None
        session = self.codec.decode(SESSION, data, key=root)
        yield from self._plan_touch_on_read(session_id)
        return session

    def plan_update_session(self, session: StrandsSession) -> Plan[None]:
        """Plan of ``update_session`` (1 round trip)."""
        root = self._root(session.session_id)
        session_id = session.session_id
        now = time.time()
        session.updated_at = _iso(now)
        batch = self.store.batch()
        # The root gets a fresh expiry: re-expire the whole group with it (due or not), so the
        # root never outlives its records.
        self.store.update(batch, SESSION, session, force_refresh=True)
        missing = f"session_id=<{session_id}> | session does not exist"
        yield from self._plan_commit(batch, session_id, self._not_found(root, missing), now=now)

    def plan_delete_session(self, session_id: str) -> Plan[None]:
        """Plan of ``delete_session`` (1 round trip)."""
        root = self._root(session_id)
        # The group is read server-side when the batch runs: a key a concurrent writer adds to
        # the session a moment before is deleted with the rest, not orphaned.
        batch = self._session_batch(root)
        self.store.delete_group(batch, SESSION_GROUP, session_id=session_id)
        batch.delete(root)
        missing = f"session_id=<{session_id}> | session does not exist"
        yield from self._plan_commit(batch, session_id, self._not_found(root, missing), forget=True)
        with self._lock:
            for cached in [k for k in self._agent_created_at if k[0] == session_id]:
                del self._agent_created_at[cached]
        logger.debug("session_id=<%s> | deleted session", session_id)

    # -- agents -------------------------------------------------------------------------------

    def plan_create_agent(self, session_id: str, session_agent: SessionAgent) -> Plan[None]:
        """Plan of ``create_agent`` (1 round trip)."""
        batch = self._session_batch(self._root(session_id))
        key = self.store.create(batch, AGENT, session_agent, session_id=session_id)
        names = {key: f"session_id=<{session_id}>, agent_id=<{session_agent.agent_id}>"}
        yield from self._plan_commit(batch, session_id, self._exists(names, "agent"))
        self._remember_agent(session_id, session_agent.agent_id, session_agent.created_at)

    def plan_read_agent(self, session_id: str, agent_id: str) -> Plan[SessionAgent | None]:
        """Plan of ``read_agent`` (1 round trip)."""
        agent = yield from self._plan_read_agent(session_id, agent_id)
        if agent is not None:
            yield from self._plan_touch_on_read(session_id)
        return agent

    def _plan_read_agent(self, session_id: str, agent_id: str) -> Plan[SessionAgent | None]:
        key = self.store.key(AGENT, session_id=session_id, agent_id=agent_id)
        data = yield from self._plan_get_under_root(session_id, key)
        if data is None:
            return None
        agent = self.codec.decode(AGENT, data, key=key)
        self._remember_agent(session_id, agent_id, agent.created_at)
        return agent

    def plan_update_agent(self, session_id: str, session_agent: SessionAgent) -> Plan[None]:
        """Plan of ``update_agent`` (1 round trip; 2 if this repository never saw the agent)."""
        root = self._root(session_id)
        agent_id = session_agent.agent_id
        key = self.store.key(AGENT, session_id=session_id, agent_id=agent_id)
        missing = f"session_id=<{session_id}>, agent_id=<{agent_id}> | agent does not exist"
        with self._lock:
            created_at = self._agent_created_at.get((session_id, agent_id))
        if created_at is None:
            stored = yield from self._plan_read_agent(session_id, agent_id)
            if stored is None:
                raise SessionRecordNotFoundError(missing, key=key)
            created_at = stored.created_at
        now = time.time()
        session_agent.created_at = created_at
        session_agent.updated_at = _iso(now)
        batch = self._session_batch(root)
        self.store.update(batch, AGENT, session_agent, session_id=session_id)
        yield from self._plan_commit(batch, session_id, self._not_found(key, missing), now=now)

    # -- messages -----------------------------------------------------------------------------

    def plan_create_message(
        self, session_id: str, agent_id: str, session_message: SessionMessage
    ) -> Plan[None]:
        """Plan of ``create_message``, the append (1 round trip)."""
        batch = self._session_batch(self._root(session_id))
        key = self.store.create(batch, MESSAGE, session_message, session_id=session_id, agent_id=agent_id)
        yield from self._plan_commit(
            batch, session_id, self._message_exists(session_id, agent_id, {key: session_message.message_id})
        )

    def plan_read_message(
        self, session_id: str, agent_id: str, message_id: int
    ) -> Plan[SessionMessage | None]:
        """Plan of ``read_message`` (1 round trip)."""
        key = self.store.key(MESSAGE, session_id=session_id, agent_id=agent_id, message_id=message_id)
        data = yield from self._plan_get_under_root(session_id, key)
        if data is None:
            return None
        yield from self._plan_touch_on_read(session_id)
        return self.codec.decode(MESSAGE, data, key=key)

    def plan_update_message(
        self, session_id: str, agent_id: str, session_message: SessionMessage
    ) -> Plan[None]:
        """Plan of ``update_message`` (2 round trips: the stored ``created_at`` is read first)."""
        root = self._root(session_id)
        message_id = session_message.message_id
        key = self.store.key(MESSAGE, session_id=session_id, agent_id=agent_id, message_id=message_id)
        missing = (
            f"session_id=<{session_id}>, agent_id=<{agent_id}>, message_id=<{message_id}> | "
            "message does not exist"
        )
        data = yield from self._plan_get_under_root(session_id, key)
        if data is None:
            raise SessionRecordNotFoundError(missing, key=key)
        session_message.created_at = self.codec.decode(MESSAGE, data, key=key).created_at
        now = time.time()
        session_message.updated_at = _iso(now)
        batch = self._session_batch(root)
        self.store.update(batch, MESSAGE, session_message, session_id=session_id, agent_id=agent_id)
        yield from self._plan_commit(batch, session_id, self._not_found(key, missing), now=now)

    def plan_list_messages(
        self, session_id: str, agent_id: str, limit: int | None = None, offset: int = 0
    ) -> Plan[list[SessionMessage]]:
        """Plan of ``list_messages``, the restore (2 round trips whatever the length)."""
        root = self._root(session_id)
        fields: dict[str, Any] = {"session_id": session_id, "agent_id": agent_id}
        if offset < 0 or (limit is not None and limit < 0):
            self.store.key(MESSAGES.key, **fields)
            raise ValueError(f"offset=<{offset}>, limit=<{limit}> | must not be negative")
        if limit == 0:
            return []
        ids = yield from self.store.plan_index_window(MESSAGES, offset=offset, limit=limit, **fields)
        if not ids:
            return []
        keys: list[str] = self.store.record_keys(MESSAGE, "message_id", ids, **fields)
        # The root rides along in the same multi-get: a missing root means the session is gone
        # (deleted or expired between the two round trips), not that it is damaged.
        values = yield from Io.get_many([*keys, root])
        if values[-1] is None:
            return []
        datas = values[:-1]
        missing = [key for key, data in zip(keys, datas, strict=True) if data is None]
        if missing:
            raise IncompleteSessionError(session_id, agent_id, missing)
        messages = self.codec.decode_many(MESSAGE, datas, keys)  # type: ignore[arg-type]
        yield from self._plan_touch_on_read(session_id)
        return messages

    def plan_count_messages(self, session_id: str, agent_id: str) -> Plan[int]:
        """Plan of ``count_messages`` (1 round trip)."""
        return (
            yield from Io.index_count(self.store.key(MESSAGES.key, session_id=session_id, agent_id=agent_id))
        )

    def plan_list_agents(self, session_id: str) -> Plan[list[str]]:
        """Plan of ``list_agents`` (1 round trip): the session's agent ids, sorted."""
        return sorted((yield from self.store.plan_members(AGENTS, session_id=session_id)))

    def plan_list_multi_agents(self, session_id: str) -> Plan[list[str]]:
        """Plan of ``list_multi_agents`` (1 round trip): the session's multi-agent ids, sorted."""
        return sorted((yield from self.store.plan_members(MULTI_AGENTS, session_id=session_id)))

    def plan_last_active(self, session_id: str) -> Plan[float | None]:
        """Plan of ``last_active`` (1 round trip)."""
        self._root(session_id)
        return (yield from Io.index_score(self.keys.sessions_index(), session_id))

    def plan_list_sessions(
        self, *, limit: int | None = None, offset: int = 0
    ) -> Plan[list[tuple[str, float]]]:
        """Plan of ``list_sessions`` (1 round trip): most recently updated first."""
        index = self.keys.sessions_index()
        return (yield from Io.index_range_with_scores(index, offset=offset, limit=limit, reverse=True))

    # -- multi-agent --------------------------------------------------------------------------

    def plan_create_multi_agent(self, session_id: str, multi_agent: MultiAgentBase) -> Plan[None]:
        """Plan of ``create_multi_agent`` (1 round trip)."""
        batch = self._session_batch(self._root(session_id))
        fields = {"session_id": session_id, "multi_agent_id": multi_agent.id}
        key = self.store.create(batch, MULTI_AGENT, multi_agent.serialize_state(), **fields)
        names = {key: f"session_id=<{session_id}>, multi_agent_id=<{multi_agent.id}>"}
        yield from self._plan_commit(batch, session_id, self._exists(names, "multi-agent state"))

    def plan_read_multi_agent(self, session_id: str, multi_agent_id: str) -> Plan[dict[str, Any] | None]:
        """Plan of ``read_multi_agent`` (1 round trip)."""
        key = self.store.key(MULTI_AGENT, session_id=session_id, multi_agent_id=multi_agent_id)
        data = yield from self._plan_get_under_root(session_id, key)
        if data is None:
            return None
        yield from self._plan_touch_on_read(session_id)
        return self.codec.decode(MULTI_AGENT, data, key=key)

    def plan_update_multi_agent(self, session_id: str, multi_agent: MultiAgentBase) -> Plan[None]:
        """Plan of ``update_multi_agent`` (1 round trip)."""
        batch = self._session_batch(self._root(session_id))
        fields: dict[str, Any] = {"session_id": session_id, "multi_agent_id": multi_agent.id}
        key = self.store.key(MULTI_AGENT, **fields)
        missing = f"session_id=<{session_id}>, multi_agent_id=<{multi_agent.id}> | multi-agent does not exist"
        try:
            self.store.update(batch, MULTI_AGENT, multi_agent.serialize_state(), **fields)
        except CodecError:
            # Strands' repositories look the state up before anything else: a missing one is
            # reported as missing even when the new state could not be encoded either.
            if (yield from self._plan_get_under_root(session_id, key)) is None:
                raise SessionRecordNotFoundError(missing, key=key) from None
            raise
        yield from self._plan_commit(batch, session_id, self._not_found(key, missing))

    # -- internals ----------------------------------------------------------------------------

    def _plan_get_under_root(self, session_id: str, key: str) -> Plan[bytes | None]:
        """Read ``key`` and the session's root in one round trip; ``None`` if either is missing.

        The restore rule: the records of a session whose root is gone do not exist.
        """
        data, root = yield from Io.get_many([key, self.keys.session(session_id)])
        return None if root is None else data
