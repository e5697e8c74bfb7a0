"""``KVSessionRepository``: Strands' ``SessionRepository`` over any ``KeyValueBackend``.

Sessions, agents, messages and multi-agent state are orm models (:mod:`kvsession.strands.models`);
this class adds what is Strands-specific. Round trips on a networked backend (each backend call
is one):

==========================  ==========================================================
operation                   round trips
==========================  ==========================================================
create_message (append)     1  (record + message index + owned keys + session updated_at)
list_messages (restore)     2  (index range, then one multi-get), whatever N or DB size
delete_session              1  (one atomic batch; the session's keys are listed server-side)
create_session              1  (one atomic batch that also clears an expired session's leftovers)
update_agent                1  (``created_at`` kept from this repository's cache)
update_message              2  (the stored ``created_at`` is read first, as Strands' own do)
read_session                1  (the record as stored; live activity: ``last_active``)
read_agent / read_message   1  (the record and the root, in one multi-get)
==========================  ==========================================================

Restore rule: the session record is the root. A session whose record is missing does not
exist (every read returns ``None`` / ``[]``; ``create_session`` clears any leftovers first). While the
root exists, an index that lists a missing record raises :class:`IncompleteSessionError`
rather than returning part of a conversation. Writes into a session carry the precondition
that its root exists, so a writer holding a deleted or expired session gets a not-found error
and writes nothing.

Expiry (``ttl``): every write stores its record with a ttl of ``ttl * (1 + TTL_SLACK)`` and
queues one server-side refresh of the session's ``:keys`` group, which re-expires all of the
session's keys only when less than ``ttl`` is left (:class:`~kvsession.orm.store.ModelStore`).
A write of the root itself (``update_session``) forces the group refresh, so the root never
outlives its records: a session caught half-expired reads as absent (the restore rule above).

Cluster key space: every key of a session shares the session's hash tag, so each atomic batch
touches one slot. The ``sessions`` index is a single key of its own slot, so there it is
updated by a second call after the batch (a write costs two round trips instead of one).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from strands.session.session_repository import SessionRepository
from strands.types.session import SessionAgent, SessionMessage

from kvsession.kv.errors import CodecError
from kvsession.strands.bulk import BulkWrites
from kvsession.strands.errors import IncompleteSessionError, SessionExistsError, SessionRecordNotFoundError
from kvsession.strands.maintenance import SessionMaintenance
from kvsession.strands.models import AGENT, MESSAGE, MESSAGES, MULTI_AGENT, SESSION, SESSION_GROUP
from kvsession.strands.writes import TTL_SLACK

if TYPE_CHECKING:
    from strands.multiagent.base import MultiAgentBase
    from strands.types.session import Session as StrandsSession

__all__ = ["TTL_SLACK", "KVSessionRepository"]

logger = logging.getLogger(__name__)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat()


class KVSessionRepository(BulkWrites, SessionMaintenance, SessionRepository):
    """Stores Strands sessions, agents, messages and multi-agent state in a ``KeyValueBackend``.

    Args:
        backend: Where bytes go. Its ``config.store`` supplies defaults for the options below.
        codec: ``"json"`` or ``"msgpack"``; reading sniffs the format, so either reads both.
        prefix: Namespace in front of every key.
        cluster: Use the cluster key space (session id as a hash tag).
        ttl: Inactivity after which a session expires, in seconds or as a ``timedelta``
            (``None``: never).
        touch_on_read: Whether reads also keep a session alive.
    """

    # -- sessions -----------------------------------------------------------------------------

    def create_session(self, session: StrandsSession, **kwargs: Any) -> StrandsSession:
        """Create a session; raise :class:`SessionExistsError` if one with the same id exists.

        The record is stored as given: a Strands ``Session`` as Strands' own files hold it, a
        kvsession :class:`~kvsession.strands.records.Session` with its ``metadata``.
        Leftover keys of an expired session with the same id are removed in the same atomic
        batch that writes the new record, so a new session never inherits old messages.

        Returns:
            ``session`` itself, as Strands' repositories do.
        """
        root = self._root(session.session_id)
        session_id = session.session_id
        batch = self.store.batch().require(root, present=False)
        self.store.delete_group(batch, SESSION_GROUP, session_id=session_id)
        self.store.create(batch, SESSION, session)
        self._commit(
            batch, session_id, lambda key: SessionExistsError(session_id, root) if key == root else None
        )
        logger.debug("session_id=<%s> | created session", session_id)
        return session

    def read_session(self, session_id: str, **kwargs: Any) -> StrandsSession | None:
        """Return the session as stored (equal to what was created or last updated), or ``None``.

        A session created from a Strands ``Session`` reads back as one; one created with
        metadata as a kvsession :class:`~kvsession.strands.records.Session`. ``updated_at`` is
        the time the record was written; the time of the session's last write of any kind is
        :meth:`last_active` (and the scores of :meth:`list_sessions`).
        """
        root = self._root(session_id)
        data = self.backend.get(root)
        if data is None:
            return None
        session = self.codec.decode(SESSION, data, key=root)
        self._touch_on_read(session_id)
        return session

    def update_session(self, session: StrandsSession, **kwargs: Any) -> None:
        """Rewrite the session record (e.g. its ``metadata``), keeping ``created_at`` as given.

        Raises:
            SessionRecordNotFoundError: The session does not exist.
        """
        root = self._root(session.session_id)
        session_id = session.session_id
        now = time.time()
        session.updated_at = _iso(now)
        batch = self.store.batch()
        # The root gets a fresh expiry: re-expire the whole group with it (due or not), so the
        # root never outlives its records.
        self.store.update(batch, SESSION, session, force_refresh=True)
        missing = f"session_id=<{session_id}> | session does not exist"
        self._commit(batch, session_id, self._not_found(root, missing), now=now)

    def delete_session(self, session_id: str, **kwargs: Any) -> None:
        """Delete the session and every key it owns, atomically.

        Raises:
            SessionRecordNotFoundError: The session does not exist (as Strands' own repositories do).
        """
        root = self._root(session_id)
        # The group is read server-side when the batch runs: a key a concurrent writer adds to
        # the session a moment before is deleted with the rest, not orphaned.
        batch = self._session_batch(root)
        self.store.delete_group(batch, SESSION_GROUP, session_id=session_id)
        batch.delete(root)
        missing = f"session_id=<{session_id}> | session does not exist"
        self._commit(batch, session_id, self._not_found(root, missing), forget=True)
        with self._lock:
            for cached in [k for k in self._agent_created_at if k[0] == session_id]:
                del self._agent_created_at[cached]
        logger.debug("session_id=<%s> | deleted session", session_id)

    # -- agents -------------------------------------------------------------------------------

    def create_agent(self, session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None:
        """Create an agent record; raise ``SessionRecordExistsError`` if the agent exists."""
        batch = self._session_batch(self._root(session_id))
        key = self.store.create(batch, AGENT, session_agent, session_id=session_id)
        names = {key: f"session_id=<{session_id}>, agent_id=<{session_agent.agent_id}>"}
        self._commit(batch, session_id, self._exists(names, "agent"))
        self._remember_agent(session_id, session_agent.agent_id, session_agent.created_at)

    def read_agent(self, session_id: str, agent_id: str, **kwargs: Any) -> SessionAgent | None:
        """Return the agent record, or ``None``."""
        agent = self._read_agent(session_id, agent_id)
        if agent is not None:
            self._touch_on_read(session_id)
        return agent

    def _read_agent(self, session_id: str, agent_id: str) -> SessionAgent | None:
        key = self.store.key(AGENT, session_id=session_id, agent_id=agent_id)
        data = self._get_under_root(session_id, key)
        if data is None:
            return None
        agent = self.codec.decode(AGENT, data, key=key)
        self._remember_agent(session_id, agent_id, agent.created_at)
        return agent

    def update_agent(self, session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None:
        """Rewrite an agent record, keeping its stored ``created_at``.

        Raises:
            SessionRecordNotFoundError: The agent does not exist.
        """
        root = self._root(session_id)
        agent_id = session_agent.agent_id
        key = self.store.key(AGENT, session_id=session_id, agent_id=agent_id)
        missing = f"session_id=<{session_id}>, agent_id=<{agent_id}> | agent does not exist"
        with self._lock:
            created_at = self._agent_created_at.get((session_id, agent_id))
        if created_at is None:
            stored = self._read_agent(session_id, agent_id)
            if stored is None:
                raise SessionRecordNotFoundError(missing, key=key)
            created_at = stored.created_at
        now = time.time()
        session_agent.created_at = created_at
        session_agent.updated_at = _iso(now)
        batch = self._session_batch(root)
        self.store.update(batch, AGENT, session_agent, session_id=session_id)
        self._commit(batch, session_id, self._not_found(key, missing), now=now)

    # -- messages -----------------------------------------------------------------------------

    def create_message(
        self, session_id: str, agent_id: str, session_message: SessionMessage, **kwargs: Any
    ) -> None:
        """Append a message in one atomic round trip.

        Raises:
            MessageExistsError: A message with this id exists (another writer got there first);
                nothing was written.
        """
        batch = self._session_batch(self._root(session_id))
        key = self.store.create(batch, MESSAGE, session_message, session_id=session_id, agent_id=agent_id)
        self._commit(
            batch, session_id, self._message_exists(session_id, agent_id, {key: session_message.message_id})
        )

    def read_message(
        self, session_id: str, agent_id: str, message_id: int, **kwargs: Any
    ) -> SessionMessage | None:
        """Return one message, or ``None``."""
        key = self.store.key(MESSAGE, session_id=session_id, agent_id=agent_id, message_id=message_id)
        data = self._get_under_root(session_id, key)
        if data is None:
            return None
        self._touch_on_read(session_id)
        return self.codec.decode(MESSAGE, data, key=key)

    def update_message(
        self, session_id: str, agent_id: str, session_message: SessionMessage, **kwargs: Any
    ) -> None:
        """Rewrite a message (e.g. a guardrail redaction): two round trips.

        The stored ``created_at`` is kept (set on ``session_message``, as Strands' own
        repositories do); ``updated_at`` moves.

        Raises:
            SessionRecordNotFoundError: The message does not exist.
        """
        root = self._root(session_id)
        message_id = session_message.message_id
        key = self.store.key(MESSAGE, session_id=session_id, agent_id=agent_id, message_id=message_id)
        missing = (
            f"session_id=<{session_id}>, agent_id=<{agent_id}>, message_id=<{message_id}> | "
            "message does not exist"
        )
        data = self._get_under_root(session_id, key)
        if data is None:
            raise SessionRecordNotFoundError(missing, key=key)
        session_message.created_at = self.codec.decode(MESSAGE, data, key=key).created_at
        now = time.time()
        session_message.updated_at = _iso(now)
        batch = self._session_batch(root)
        self.store.update(batch, MESSAGE, session_message, session_id=session_id, agent_id=agent_id)
        self._commit(batch, session_id, self._not_found(key, missing), now=now)

    def list_messages(
        self,
        session_id: str,
        agent_id: str,
        limit: int | None = None,
        offset: int = 0,
        **kwargs: Any,
    ) -> list[SessionMessage]:
        """Return an agent's messages in order, skipping ``offset``, at most ``limit``.

        Two round trips whatever the number of messages or keys in the database. Follows the
        restore rule in the module docstring: all listed messages, or an error.

        Raises:
            IncompleteSessionError: The index lists messages whose records are missing.
        """
        root = self._root(session_id)
        fields = {"session_id": session_id, "agent_id": agent_id}
        if offset < 0 or (limit is not None and limit < 0):
            self.store.key(MESSAGES.key, **fields)
            raise ValueError(f"offset=<{offset}>, limit=<{limit}> | must not be negative")
        ids = (
            self.store.index_window(
                MESSAGES, offset=offset, limit=limit, session_id=session_id, agent_id=agent_id
            )
            if limit != 0
            else []
        )
        if not ids:
            return []
        keys = self.store.record_keys(MESSAGE, "message_id", ids, **fields)
        # The root rides along in the same multi-get: a missing root means the session is gone
        # (deleted or expired between the two round trips), not that it is damaged.
        values = self.backend.get_many([*keys, root])
        if values[-1] is None:
            return []
        datas = values[:-1]
        missing = [key for key, data in zip(keys, datas, strict=True) if data is None]
        if missing:
            raise IncompleteSessionError(session_id, agent_id, missing)
        messages = self.codec.decode_many(MESSAGE, datas, keys)  # type: ignore[arg-type]
        self._touch_on_read(session_id)
        return messages

    def count_messages(self, session_id: str, agent_id: str) -> int:
        """Return how many messages the agent has (one round trip)."""
        return self.backend.index_count(
            self.store.key(MESSAGES.key, session_id=session_id, agent_id=agent_id)
        )

    # -- multi-agent --------------------------------------------------------------------------

    def create_multi_agent(self, session_id: str, multi_agent: MultiAgentBase, **kwargs: Any) -> None:
        """Store a multi-agent orchestrator's state (``serialize_state()``).

        Raises:
            SessionRecordExistsError: State for this multi-agent id exists; nothing was written.
        """
        batch = self._session_batch(self._root(session_id))
        fields = {"session_id": session_id, "multi_agent_id": multi_agent.id}
        key = self.store.create(batch, MULTI_AGENT, multi_agent.serialize_state(), **fields)
        names = {key: f"session_id=<{session_id}>, multi_agent_id=<{multi_agent.id}>"}
        self._commit(batch, session_id, self._exists(names, "multi-agent state"))

    def read_multi_agent(self, session_id: str, multi_agent_id: str, **kwargs: Any) -> dict[str, Any] | None:
        """Return a multi-agent state dict, or ``None``."""
        key = self.store.key(MULTI_AGENT, session_id=session_id, multi_agent_id=multi_agent_id)
        data = self._get_under_root(session_id, key)
        if data is None:
            return None
        self._touch_on_read(session_id)
        return self.codec.decode(MULTI_AGENT, data, key=key)

    def update_multi_agent(self, session_id: str, multi_agent: MultiAgentBase, **kwargs: Any) -> None:
        """Rewrite a multi-agent state.

        Raises:
            SessionRecordNotFoundError: No state was created for this multi-agent id.
        """
        batch = self._session_batch(self._root(session_id))
        fields: dict[str, Any] = {"session_id": session_id, "multi_agent_id": multi_agent.id}
        key = self.store.key(MULTI_AGENT, **fields)
        missing = f"session_id=<{session_id}>, multi_agent_id=<{multi_agent.id}> | multi-agent does not exist"
        try:
            self.store.update(batch, MULTI_AGENT, multi_agent.serialize_state(), **fields)
        except CodecError:
            # Strands' repositories look the state up before anything else: a missing one is
            # reported as missing even when the new state could not be encoded either.
            if self._get_under_root(session_id, key) is None:
                raise SessionRecordNotFoundError(missing, key=key) from None
            raise
        self._commit(batch, session_id, self._not_found(key, missing))

    # -- internals ----------------------------------------------------------------------------

    def _get_under_root(self, session_id: str, key: str) -> bytes | None:
        """Read ``key`` and the session's root in one round trip; ``None`` if either is missing.

        The restore rule: the records of a session whose root is gone do not exist.
        """
        data, root = self.backend.get_many([key, self.keys.session(session_id)])
        return None if root is None else data
