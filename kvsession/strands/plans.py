"""Every Strands repository operation, written once as a plan for the sync and async repositories.

A plan (:mod:`kvsession.orm.plans`) builds the batch or the keys, yields the backend calls it
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

from kvsession.kv.batch import Batch
from kvsession.kv.errors import BackendError, BackendUnavailable, CodecError
from kvsession.orm.plans import Io, Plan
from kvsession.strands.errors import (
    IncompleteSessionError,
    SessionConflictError,
    SessionExistsError,
    SessionRecordNotFoundError,
)
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
from kvsession.strands.restore_rule import RestoreRule, _check_message_id, _message_ids, is_message_id
from kvsession.strands.writes import SessionBackend

if TYPE_CHECKING:
    from strands.multiagent.base import MultiAgentBase
    from strands.types.session import Session as StrandsSession

__all__ = ["RepositoryPlans", "is_message_id"]

logger = logging.getLogger(__name__)


_KIND_CHECKS = 3
"""How many missing keys of a restore are checked for another kind of data (a round trip each)."""


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat()


class RepositoryPlans(RestoreRule[SessionBackend]):
    """The plans of the repository's methods (``plan_<method>``), shared by sync and async."""

    # -- sessions -----------------------------------------------------------------------------

    def plan_create_session(self, session: StrandsSession) -> Plan[StrandsSession]:
        """Plan of ``create_session`` (1 round trip; 2 in the cluster key space: the bucket listed)."""
        root = self._root(session.session_id)
        session_id = session.session_id
        batch = self.store.batch().require(root, present=False)
        self.store.delete_group(batch, SESSION_GROUP, session_id=session_id)
        self.store.create(batch, SESSION, session)
        # A new incarnation (queued by the commit, from its write token): writers of an earlier
        # session with this id are refused from now on.
        yield from self._plan_commit(
            batch,
            session_id,
            lambda key: SessionExistsError(session_id, root) if key == root else None,
            incarnate=True,
            register=True,
        )
        logger.debug("session_id=<%s> | created session", session_id)
        return session

    def plan_read_session(self, session_id: str) -> Plan[StrandsSession | None]:
        """Plan of ``read_session`` (1 round trip)."""
        root = self._root(session_id)
        try:
            data = yield from Io.get(root)
        except BackendUnavailable:
            raise
        except BackendError as exc:
            yield from self._plan_check_kind(root)
            raise exc from None
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
        batch = self._session_batch(root)
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
        batch.delete(root, self.incarnation_key(session_id))
        missing = f"session_id=<{session_id}> | session does not exist"
        yield from self._plan_commit(batch, session_id, self._not_found(root, missing), forget=True)
        self._forget_incarnation(session_id)
        with self._lock:
            for cached in [k for k in self._agent_created_at if k[0] == session_id]:
                del self._agent_created_at[cached]
        self._forget_stored(session_id)
        logger.debug("session_id=<%s> | deleted session", session_id)

    # -- agents -------------------------------------------------------------------------------

    def plan_create_agent(self, session_id: str, session_agent: SessionAgent) -> Plan[None]:
        """Plan of ``create_agent`` (1 round trip)."""
        batch = self._session_batch(self._root(session_id))
        key = self.store.create(batch, AGENT, session_agent, session_id=session_id)
        names = {key: f"session_id=<{session_id}>, agent_id=<{session_agent.agent_id}>"}
        written = self._value_of(batch, key)
        yield from self._plan_commit(batch, session_id, self._exists(names, "agent"))
        self._remember_agent(session_id, session_agent.agent_id, session_agent.created_at)
        self._remember_stored(session_id, key, written)

    def plan_read_agent(self, session_id: str, agent_id: str) -> Plan[SessionAgent | None]:
        """Plan of ``read_agent`` (1 round trip)."""
        agent = yield from self._plan_read_agent(session_id, agent_id)
        if agent is not None:
            yield from self._plan_touch_on_read(session_id)
        return agent

    def _plan_read_agent(self, session_id: str, agent_id: str) -> Plan[SessionAgent | None]:
        key = self.store.key(AGENT, session_id=session_id, agent_id=agent_id)
        data = yield from self._plan_get_under_root(session_id, key, check_missing=False)
        if data is None:
            return None
        agent = self.codec.decode(AGENT, data, key=key)
        self._remember_agent(session_id, agent_id, agent.created_at)
        self._remember_stored(session_id, key, data)  # the base of this repository's next update
        return agent

    def plan_update_agent(self, session_id: str, session_agent: SessionAgent) -> Plan[None]:
        """Plan of ``update_agent`` (1 round trip; 2 if this repository never saw the agent).

        Optimistic: applies only over the record this repository last read or wrote, else
        :class:`SessionConflictError` (another writer updated the agent in between).
        """
        root = self._root(session_id)
        agent_id = session_agent.agent_id
        key = self.store.key(AGENT, session_id=session_id, agent_id=agent_id)
        missing = f"session_id=<{session_id}>, agent_id=<{agent_id}> | agent does not exist"
        with self._lock:
            created_at = self._agent_created_at.get((session_id, agent_id))
        base = self._stored_base(session_id, key)
        if created_at is None or base is None:
            stored = yield from self._plan_read_agent(session_id, agent_id)
            if stored is None:
                raise SessionRecordNotFoundError(missing, key=key)
            created_at = stored.created_at
            base = self._stored_base(session_id, key)
        now = time.time()
        session_agent.created_at = created_at
        session_agent.updated_at = _iso(now)
        batch = self._session_batch(root)
        if base is not None:
            batch.require(key, equals=base)
        self.store.update(batch, AGENT, session_agent, session_id=session_id)
        yield from self._plan_update_state(batch, session_id, key, missing, f"agent <{agent_id}>", now=now)

    def _plan_update_state(
        self, batch: Batch, session_id: str, key: str, missing: str, what: str, *, now: float | None = None
    ) -> Plan[None]:
        """Plan: commit an optimistic update of ``key``; remember what it wrote as the next base."""
        written = self._value_of(batch, key)
        try:
            yield from self._plan_commit(batch, session_id, self._conflict(session_id, key, what), now=now)
        except SessionConflictError:
            # The record differs from the base, or is gone: one read (on this error path only)
            # tells which.
            if (yield from self._plan_get_under_root(session_id, key)) is None:
                raise SessionRecordNotFoundError(missing, key=key) from None
            raise
        except BaseException:
            self._forget_stored(session_id, key)  # outcome unknown: read it again before the next update
            raise
        self._remember_stored(session_id, key, written)

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
        message = self.codec.decode(MESSAGE, data, key=key)
        _check_message_id(message, message_id, key)
        yield from self._plan_touch_on_read(session_id)
        return message

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
        index = self.store.key(MESSAGES.key, **fields)
        members = yield from Io.index_range(index, offset=offset, limit=limit)
        ids = _message_ids(members, index)
        if not ids:
            # An empty window: no messages, or an index that was lost or emptied while the
            # records stayed (the session's group still lists them). Costs a round trip more.
            yield from self._plan_check_index(session_id, agent_id, index, (), offset=offset)
            return []
        # Keys from the members as listed: a record whose id is not its place in the run is
        # then caught by the message_id check below, not read in place of another.
        keys: list[str] = self.store.record_keys(MESSAGE, "message_id", members, **fields)
        # The root rides along in the same multi-get: a missing root means the session is gone
        # (deleted or expired between the two round trips), not that it is damaged.
        values = yield from Io.get_many([*keys, root])
        if values[-1] is None:
            yield from self._plan_check_kind(root)
            return []
        datas = values[:-1]
        missing = [key for key, data in zip(keys, datas, strict=True) if data is None]
        if missing:
            for key in missing[:_KIND_CHECKS]:  # a key of another kind reads as missing too
                yield from self._plan_check_kind(key)
            raise IncompleteSessionError(session_id, agent_id, missing)
        messages = self.codec.decode_many(MESSAGE, datas, keys)  # type: ignore[arg-type]
        for message, message_id, key in zip(messages, ids, keys, strict=True):
            _check_message_id(message, message_id, key)
        if ids[0] != offset or ids[-1] != offset + len(ids) - 1:
            # Strands numbers an agent's messages 0, 1, 2 ...: a window that is not the next run
            # of ids may come from an index that lost entries; the group says (2 more round trips).
            yield from self._plan_check_index(session_id, agent_id, index, keys)
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
        return (yield from Io.index_score(self.keys.sessions_index(session_id), session_id))

    def plan_list_sessions(
        self, *, limit: int | None = None, offset: int = 0
    ) -> Plan[list[tuple[str, float]]]:
        """Plan of ``list_sessions``: most recently updated first.

        1 round trip; in the cluster key space 16 (the bucket registries) + one per bucket in
        use (a bucket per slot holding sessions), each read up to ``offset + limit`` entries,
        merged here.
        """
        if not self.keys.cluster:
            index = self.keys.sessions_indexes()[0]
            return (yield from Io.index_range_with_scores(index, offset=offset, limit=limit, reverse=True))
        if offset < 0 or (limit is not None and limit < 0):
            raise ValueError(f"offset and limit must not be negative, got offset={offset}, limit={limit}")
        wanted = None if limit is None else offset + limit
        entries: list[tuple[str, float]] = []
        for bucket in (yield from self.plan_sessions_indexes()):
            entries += yield from Io.index_range_with_scores(bucket, limit=wanted, reverse=True)
        # The order one sorted set would give: score, then member, both descending.
        entries.sort(key=lambda entry: (entry[1], entry[0]), reverse=True)
        return entries[offset:] if wanted is None else entries[offset:wanted]

    def plan_count_sessions(self) -> Plan[int]:
        """Plan of ``count_sessions``: 1 round trip (cluster: 16 + one per bucket in use)."""
        total = 0
        for index in (yield from self.plan_sessions_indexes()):
            total += yield from Io.index_count(index)
        return total

    def plan_sessions_indexes(self) -> Plan[list[str]]:
        """Plan: every key of the sessions index (cluster: the buckets in use, from the registries)."""
        if not self.keys.cluster:
            return self.keys.sessions_indexes()
        tags: set[str] = set()
        for registry in self.keys.listing_keys():
            tags |= yield from Io.set_members(registry)
        return self.keys.sessions_indexes(tags)

    # -- multi-agent --------------------------------------------------------------------------

    def plan_create_multi_agent(self, session_id: str, multi_agent: MultiAgentBase) -> Plan[None]:
        """Plan of ``create_multi_agent`` (1 round trip)."""
        batch = self._session_batch(self._root(session_id))
        fields = {"session_id": session_id, "multi_agent_id": multi_agent.id}
        key = self.store.create(batch, MULTI_AGENT, multi_agent.serialize_state(), **fields)
        names = {key: f"session_id=<{session_id}>, multi_agent_id=<{multi_agent.id}>"}
        written = self._value_of(batch, key)
        yield from self._plan_commit(batch, session_id, self._exists(names, "multi-agent state"))
        self._remember_stored(session_id, key, written)

    def plan_read_multi_agent(self, session_id: str, multi_agent_id: str) -> Plan[dict[str, Any] | None]:
        """Plan of ``read_multi_agent`` (1 round trip)."""
        key = self.store.key(MULTI_AGENT, session_id=session_id, multi_agent_id=multi_agent_id)
        data = yield from self._plan_get_under_root(session_id, key)
        if data is None:
            return None
        self._remember_stored(session_id, key, data)  # the base of this repository's next update
        yield from self._plan_touch_on_read(session_id)
        return self.codec.decode(MULTI_AGENT, data, key=key)

    def plan_update_multi_agent(self, session_id: str, multi_agent: MultiAgentBase) -> Plan[None]:
        """Plan of ``update_multi_agent`` (1 round trip; 2 if this repository never saw the state).

        Optimistic like ``update_agent``: :class:`SessionConflictError` if another writer
        updated the state since this repository read or wrote it.
        """
        root = self._root(session_id)
        fields: dict[str, Any] = {"session_id": session_id, "multi_agent_id": multi_agent.id}
        key = self.store.key(MULTI_AGENT, **fields)
        missing = f"session_id=<{session_id}>, multi_agent_id=<{multi_agent.id}> | multi-agent does not exist"
        base = self._stored_base(session_id, key)
        if base is None:
            base = yield from self._plan_get_under_root(session_id, key)
            if base is None:
                raise SessionRecordNotFoundError(missing, key=key)
        batch = self._session_batch(root).require(key, equals=base)
        try:
            self.store.update(batch, MULTI_AGENT, multi_agent.serialize_state(), **fields)
        except CodecError:
            # Strands' repositories look the state up before anything else: a missing one is
            # reported as missing even when the new state could not be encoded either.
            if (yield from self._plan_get_under_root(session_id, key)) is None:
                raise SessionRecordNotFoundError(missing, key=key) from None
            raise
        what = f"multi-agent state <{multi_agent.id}>"
        yield from self._plan_update_state(batch, session_id, key, missing, what)
