"""``KVSessionRepository``: Strands' ``SessionRepository`` over any ``KeyValueBackend``.

This is where the key scheme (:mod:`kvsession.keys`) meets the codec (:mod:`kvsession.codecs`)
and the backend. Round trips on a networked backend (each backend call is one):

==========================  ==========================================================
operation                   round trips
==========================  ==========================================================
create_message (append)     1  (record + message index + owned keys + session updated_at)
list_messages (restore)     2  (index range, then one multi-get), whatever N or DB size
delete_session              1  (one atomic batch; the session's keys are listed server-side)
create_session              1  (one atomic batch that also clears an expired session's leftovers)
update_agent / message      1  (``created_at`` of agents kept from this repository's cache)
read_session                2  (record, updated_at from the sessions index)
read_agent / read_message   1  (the record and the root, in one multi-get)
==========================  ==========================================================

Restore rule: the session record is the root. A session whose record is missing does not
exist (every read returns ``None`` / ``[]``; ``create_session`` clears any leftovers first). While the
root exists, an index that lists a missing record raises :class:`IncompleteSessionError`
rather than returning part of a conversation. Writes into a session carry the precondition
that its root exists, so a writer holding a deleted or expired session gets :class:`NotFoundError`
and writes nothing.

Expiry (``ttl``): every write stores its record with a ttl of ``ttl * (1 + TTL_SLACK)`` and
queues one server-side :class:`~kvsession.protocol.RefreshTtlOp` over the session's ``:keys``
set, which re-expires all of the session's keys only when less than ``ttl`` is left. So a write
costs no extra round trip, the O(N) re-expiry runs at most once per ``ttl * TTL_SLACK`` seconds
however many writes arrive, and an idle session expires between ``ttl`` and
``ttl * (1 + TTL_SLACK)`` after its last write. The root is refreshed with the group and every
other key is written with a later expiry; a write of the root itself (``update_session``)
forces the group refresh. So the root never outlives its records: a session caught
half-expired reads as absent (the restore rule above).

Cluster key scheme: every key of a session shares the session's hash tag, so each atomic batch
touches one slot. The ``sessions`` index is a single key of its own slot, so there it is
updated by a second call after the batch (a write costs two round trips instead of one).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, TypeVar

from strands.session.session_repository import SessionRepository
from strands.types.session import SessionAgent, SessionMessage

from kvsession.batch import Batch
from kvsession.codecs import Codec, get_codec
from kvsession.config import StoreOptions
from kvsession.errors import (
    ConflictError,
    IncompleteSessionError,
    MessageExistsError,
    NotFoundError,
    RecordExistsError,
    SessionExistsError,
)
from kvsession.keys import KeyScheme, validate_id, validate_message_id
from kvsession.protocol import KeyValueBackend, RequireOp, SetOp, WriteOp
from kvsession.records import Session

if TYPE_CHECKING:
    from strands.multiagent.base import MultiAgentBase
    from strands.types.session import Session as StrandsSession

__all__ = ["TTL_SLACK", "KVSessionRepository"]

logger = logging.getLogger(__name__)

TTL_SLACK = 0.2
"""Extra lifetime, as a fraction of ``ttl``, that lets the group refresh run only now and then."""

ConflictHandler = Callable[[str], Exception | None]
"""Maps the key whose condition failed in a batch to the error to raise (``None``: re-raise)."""

_CACHE_SIZE = 10_000
"""Entries kept by the per-repository cache of agents' ``created_at``."""


_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")


class _BoundedCache(OrderedDict[_K, _V]):
    """A dict that forgets its oldest entries beyond ``_CACHE_SIZE`` (callers hold the lock)."""

    def put(self, key: _K, value: _V) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > _CACHE_SIZE:
            self.popitem(last=False)


def _valid_ttl(ttl: float | timedelta | None) -> float | None:
    if isinstance(ttl, timedelta):
        ttl = ttl.total_seconds()
    if ttl is not None and not (math.isfinite(ttl) and ttl > 0):
        raise ValueError(f"ttl=<{ttl}> | must be a finite number of seconds above 0, or None")
    return ttl


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat()


def _epoch(iso: str) -> float:
    """Seconds since the epoch of an ISO-8601 time (naive means UTC); now if it cannot be parsed."""
    try:
        moment = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return time.time()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


class KVSessionRepository(SessionRepository):
    """Stores Strands sessions, agents, messages and multi-agent state in a ``KeyValueBackend``.

    Args:
        backend: Where bytes go. Its ``config.store`` supplies defaults for the options below.
        codec: ``"json"`` or ``"msgpack"``; reading sniffs the format, so either reads both.
        prefix: Namespace in front of every key.
        cluster: Use the cluster key scheme (session id as a hash tag).
        ttl: Inactivity after which a session expires, in seconds or as a ``timedelta``
            (``None``: never).
        touch_on_read: Whether reads also keep a session alive.
    """

    def __init__(
        self,
        backend: KeyValueBackend,
        *,
        codec: str | None = None,
        prefix: str | None = None,
        cluster: bool | None = None,
        ttl: float | timedelta | None = None,
        touch_on_read: bool | None = None,
    ) -> None:
        store: StoreOptions = backend.config.store
        self.backend = backend
        self.codec: Codec = get_codec(codec or store.codec)
        self.keys = KeyScheme(
            prefix=store.prefix if prefix is None else prefix,
            cluster=(store.key_scheme == "cluster") if cluster is None else cluster,
        )
        self.ttl = _valid_ttl(store.ttl if ttl is None else ttl)
        self.touch_on_read = store.touch_on_read if touch_on_read is None else touch_on_read
        # created_at of agents this repository has read or written, so update_agent keeps it
        # without reading the record again (Strands hands update_agent a fresh SessionAgent).
        self._agent_created_at: _BoundedCache[tuple[str, str], str] = _BoundedCache()
        self._lock = threading.Lock()

    # -- sessions -----------------------------------------------------------------------------

    def create_session(self, session: StrandsSession, **kwargs: Any) -> Session:
        """Create a session; raise :class:`SessionExistsError` if one with the same id exists.

        Leftover keys of an expired session with the same id are removed in the same atomic
        batch that writes the new record, so a new session never inherits old messages.
        """
        session_id = validate_id("session_id", session.session_id)
        record = session if isinstance(session, Session) else Session.from_strands(session)
        root = self.keys.session(session_id)
        owned = self.keys.owned_keys(session_id)
        batch = Batch(self.backend).require(root, present=False).delete_group(owned)
        batch.set(root, self.codec.encode_session(record), ttl=self._record_ttl)
        batch.set_add(owned, root)
        self._keep_alive(batch, session_id)
        self._commit(
            batch, session_id, lambda key: SessionExistsError(session_id, root) if key == root else None
        )
        logger.debug("session_id=<%s> | created session", session_id)
        return record

    def read_session(self, session_id: str, **kwargs: Any) -> Session | None:
        """Return the session (``updated_at`` is the last write to any of its records), or ``None``."""
        session_id = validate_id("session_id", session_id)
        root = self.keys.session(session_id)
        data = self.backend.get(root)
        if data is None:
            return None
        session = self.codec.decode_session(data, key=root)
        updated = self.backend.index_score(self.keys.sessions_index(), session_id)
        if updated is not None:
            session.updated_at = _iso(updated)
        self._touch_on_read(session_id)
        return session

    def update_session(self, session: Session, **kwargs: Any) -> None:
        """Rewrite the session record (e.g. its ``metadata``), keeping ``created_at`` as given.

        Raises:
            NotFoundError: The session does not exist.
        """
        session_id = validate_id("session_id", session.session_id)
        root = self.keys.session(session_id)
        now = time.time()
        session.updated_at = _iso(now)
        batch = Batch(self.backend)
        batch.set(root, self.codec.encode_session(session), only_if_present=True, ttl=self._record_ttl)
        # The root gets a fresh expiry: re-expire the whole group with it (due or not), so the
        # root never outlives its records.
        self._keep_alive(batch, session_id, force=True)
        missing = f"session_id=<{session_id}> | session does not exist"
        self._commit(batch, session_id, self._not_found(root, missing), now=now)

    def delete_session(self, session_id: str, **kwargs: Any) -> None:
        """Delete the session and every key it owns, atomically.

        Raises:
            NotFoundError: The session does not exist (as Strands' own repositories do).
        """
        session_id = validate_id("session_id", session_id)
        root = self.keys.session(session_id)
        # The group is read server-side when the batch runs: a key a concurrent writer adds to
        # the session a moment before is deleted with the rest, not orphaned.
        batch = Batch(self.backend).require(root, present=True)
        batch.delete_group(self.keys.owned_keys(session_id)).delete(root)
        missing = f"session_id=<{session_id}> | session does not exist"
        self._commit(batch, session_id, self._not_found(root, missing), forget=True)
        with self._lock:
            for cached in [k for k in self._agent_created_at if k[0] == session_id]:
                del self._agent_created_at[cached]
        logger.debug("session_id=<%s> | deleted session", session_id)

    def clear_leftovers(self, session_id: str) -> bool:
        """Delete what an expired session left behind, if its record is gone; one round trip.

        Returns:
            ``False`` if the session exists (nothing is touched), else ``True``.
        """
        session_id = validate_id("session_id", session_id)
        root = self.keys.session(session_id)
        batch = (
            Batch(self.backend).require(root, present=False).delete_group(self.keys.owned_keys(session_id))
        )
        try:
            self._commit(batch, session_id, lambda key: None, forget=True)
        except ConflictError:
            return False
        return True

    # -- agents -------------------------------------------------------------------------------

    def create_agent(self, session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None:
        """Create an agent record; raise :class:`RecordExistsError` if the agent exists."""
        session_id = validate_id("session_id", session_id)
        batch = self._session_batch(session_id)
        keys = self._queue_agents(batch, session_id, [session_agent], replace=False)
        self._commit(batch, session_id, self._agent_exists(session_id, keys))
        self._remember_agent(session_id, session_agent.agent_id, session_agent.created_at)

    def read_agent(self, session_id: str, agent_id: str, **kwargs: Any) -> SessionAgent | None:
        """Return the agent record, or ``None``."""
        session_id = validate_id("session_id", session_id)
        agent_id = validate_id("agent_id", agent_id)
        agent = self._read_agent(session_id, agent_id)
        if agent is not None:
            self._touch_on_read(session_id)
        return agent

    def _read_agent(self, session_id: str, agent_id: str) -> SessionAgent | None:
        key = self.keys.agent(session_id, agent_id)
        data = self._get_under_root(session_id, key)
        if data is None:
            return None
        agent = self.codec.decode_agent(data, key=key)
        self._remember_agent(session_id, agent_id, agent.created_at)
        return agent

    def update_agent(self, session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None:
        """Rewrite an agent record, keeping its stored ``created_at``.

        Raises:
            NotFoundError: The agent does not exist.
        """
        session_id = validate_id("session_id", session_id)
        agent_id = validate_id("agent_id", session_agent.agent_id)
        key = self.keys.agent(session_id, agent_id)
        missing = f"session_id=<{session_id}>, agent_id=<{agent_id}> | agent does not exist"
        with self._lock:
            created_at = self._agent_created_at.get((session_id, agent_id))
        if created_at is None:
            stored = self._read_agent(session_id, agent_id)
            if stored is None:
                raise NotFoundError(missing, key=key)
            created_at = stored.created_at
        now = time.time()
        session_agent.created_at = created_at
        session_agent.updated_at = _iso(now)
        batch = self._session_batch(session_id)
        batch.set(key, self.codec.encode_agent(session_agent), only_if_present=True, ttl=self._record_ttl)
        self._keep_alive(batch, session_id)
        self._commit(batch, session_id, self._not_found(key, missing), now=now)

    def list_agents(self, session_id: str) -> list[str]:
        """Return the ids of the session's agents, sorted."""
        session_id = validate_id("session_id", session_id)
        return sorted(self.backend.set_members(self.keys.agents_index(session_id)))

    # -- messages -----------------------------------------------------------------------------

    def create_message(
        self, session_id: str, agent_id: str, session_message: SessionMessage, **kwargs: Any
    ) -> None:
        """Append a message in one atomic round trip.

        Raises:
            MessageExistsError: A message with this id exists (another writer got there first);
                nothing was written.
        """
        session_id = validate_id("session_id", session_id)
        agent_id = validate_id("agent_id", agent_id)
        batch = self._session_batch(session_id)
        keys = self._queue_messages(batch, session_id, agent_id, [session_message], replace=False)
        self._commit(batch, session_id, self._message_exists(session_id, agent_id, keys))

    def read_message(
        self, session_id: str, agent_id: str, message_id: int, **kwargs: Any
    ) -> SessionMessage | None:
        """Return one message, or ``None``."""
        session_id = validate_id("session_id", session_id)
        key = self.keys.message(
            session_id, validate_id("agent_id", agent_id), validate_message_id(message_id)
        )
        data = self._get_under_root(session_id, key)
        if data is None:
            return None
        self._touch_on_read(session_id)
        return self.codec.decode_message(data, key=key)

    def update_message(
        self, session_id: str, agent_id: str, session_message: SessionMessage, **kwargs: Any
    ) -> None:
        """Rewrite a message (e.g. a guardrail redaction) in one round trip.

        ``created_at`` is kept as carried by ``session_message`` (Strands passes the record it
        created); ``updated_at`` moves.

        Raises:
            NotFoundError: The message does not exist.
        """
        session_id = validate_id("session_id", session_id)
        agent_id = validate_id("agent_id", agent_id)
        message_id = validate_message_id(session_message.message_id)
        key = self.keys.message(session_id, agent_id, message_id)
        now = time.time()
        session_message.updated_at = _iso(now)
        batch = self._session_batch(session_id)
        batch.set(key, self.codec.encode_message(session_message), only_if_present=True, ttl=self._record_ttl)
        self._keep_alive(batch, session_id)
        missing = f"session_id=<{session_id}>, agent_id=<{agent_id}>, message_id=<{message_id}> | "
        self._commit(batch, session_id, self._not_found(key, missing + "message does not exist"), now=now)

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
        session_id = validate_id("session_id", session_id)
        agent_id = validate_id("agent_id", agent_id)
        if offset < 0 or (limit is not None and limit < 0):
            raise ValueError(f"offset=<{offset}>, limit=<{limit}> | must not be negative")
        if limit == 0:
            return []
        ids = self.backend.index_range(
            self.keys.messages_index(session_id, agent_id), offset=offset, limit=limit
        )
        if not ids:
            return []
        keys = [self.keys.message(session_id, agent_id, int(message_id)) for message_id in ids]
        root = self.keys.session(session_id)
        # The root rides along in the same multi-get: a missing root means the session is gone
        # (deleted or expired between the two round trips), not that it is damaged.
        values = self.backend.get_many([*keys, root])
        if values[-1] is None:
            return []
        datas = values[:-1]
        missing = [key for key, data in zip(keys, datas, strict=True) if data is None]
        if missing:
            raise IncompleteSessionError(session_id, agent_id, missing)
        messages = self.codec.decode_messages(datas, keys=keys)  # type: ignore[arg-type]
        self._touch_on_read(session_id)
        return messages

    def count_messages(self, session_id: str, agent_id: str) -> int:
        """Return how many messages the agent has (one round trip)."""
        return self.backend.index_count(
            self.keys.messages_index(validate_id("session_id", session_id), validate_id("agent_id", agent_id))
        )

    # -- multi-agent --------------------------------------------------------------------------

    def create_multi_agent(self, session_id: str, multi_agent: MultiAgentBase, **kwargs: Any) -> None:
        """Store a multi-agent orchestrator's state (``serialize_state()``).

        Raises:
            RecordExistsError: State for this multi-agent id exists; nothing was written.
        """
        session_id = validate_id("session_id", session_id)
        batch = self._session_batch(session_id)
        key = self._queue_multi_agent(batch, session_id, multi_agent.id, multi_agent.serialize_state(), False)
        self._commit(batch, session_id, self._multi_agent_exists(session_id, multi_agent.id, key))

    def read_multi_agent(self, session_id: str, multi_agent_id: str, **kwargs: Any) -> dict[str, Any] | None:
        """Return a multi-agent state dict, or ``None``."""
        session_id = validate_id("session_id", session_id)
        key = self.keys.multi_agent(session_id, validate_id("multi_agent_id", multi_agent_id))
        data = self._get_under_root(session_id, key)
        if data is None:
            return None
        self._touch_on_read(session_id)
        return self.codec.decode_state(data, key=key)

    def update_multi_agent(self, session_id: str, multi_agent: MultiAgentBase, **kwargs: Any) -> None:
        """Rewrite a multi-agent state.

        Raises:
            NotFoundError: No state was created for this multi-agent id.
        """
        session_id = validate_id("session_id", session_id)
        multi_agent_id = validate_id("multi_agent_id", multi_agent.id)
        key = self.keys.multi_agent(session_id, multi_agent_id)
        state = self.codec.encode_state(multi_agent.serialize_state())
        batch = self._session_batch(session_id).set(key, state, only_if_present=True, ttl=self._record_ttl)
        self._keep_alive(batch, session_id)
        missing = f"session_id=<{session_id}>, multi_agent_id=<{multi_agent_id}> | multi-agent does not exist"
        self._commit(batch, session_id, self._not_found(key, missing))

    def list_multi_agents(self, session_id: str) -> list[str]:
        """Return the ids of the session's multi-agent states, sorted."""
        session_id = validate_id("session_id", session_id)
        return sorted(self.backend.set_members(self.keys.multi_agents_index(session_id)))

    # -- inspection ---------------------------------------------------------------------------

    def list_sessions(self, *, limit: int | None = None, offset: int = 0) -> list[tuple[str, float]]:
        """Return ``(session_id, updated_at epoch)`` pairs, most recently updated first (one round trip)."""
        return self.backend.index_range_with_scores(
            self.keys.sessions_index(), offset=offset, limit=limit, reverse=True
        )

    def prune_sessions(self, *, grace: float = 60.0, page: int = 1000) -> int:
        """Drop sessions-index entries whose session is gone (expired); return how many.

        Expiry removes a session's keys but cannot remove its entry from the ``sessions``
        index, so a long-running store calls this now and then (``kvsession sessions --prune``).
        Entries updated within ``grace`` seconds are left alone. An entry is removed in one
        atomic batch with the precondition that its session's record is still absent, so a
        session re-created while the prune runs keeps its entry. Two round trips per ``page``
        sessions (cluster key scheme: one per session, and without that precondition, as the
        index and the records live in different slots).
        """
        index = self.keys.sessions_index()
        horizon = time.time() - grace
        pruned = 0
        offset = 0
        while True:
            entries = self.backend.index_range_with_scores(index, offset=offset, limit=page)
            old = [session_id for session_id, updated in entries if updated < horizon]
            roots = self._get_roots(old)
            gone = [sid for sid, root in zip(old, roots, strict=True) if root is None]
            if gone:
                pruned += self._remove_from_sessions_index(gone)
            if len(entries) < page or len(old) < len(entries):
                return pruned
            offset += page - len(gone)

    def _remove_from_sessions_index(self, session_ids: list[str]) -> int:
        """Remove index entries of sessions whose record is absent; return how many."""
        index = self.keys.sessions_index()
        if self.keys.cluster:
            return self.backend.index_remove(index, session_ids)
        remaining = list(session_ids)
        while remaining:
            batch = Batch(self.backend)
            for session_id in remaining:
                batch.require(self.keys.session(session_id), present=False)
            batch.index_remove(index, *remaining)
            try:
                batch.apply()
            except ConflictError as exc:  # re-created meanwhile: keep its entry, retry the rest
                remaining = [sid for sid in remaining if self.keys.session(sid) != exc.key]
                continue
            return len(remaining)
        return 0

    def _get_roots(self, session_ids: Sequence[str]) -> list[bytes | None]:
        keys = [self.keys.session(session_id) for session_id in session_ids]
        if self.keys.cluster:  # roots of different sessions live in different slots
            return [self.backend.get(key) for key in keys]
        return self.backend.get_many(keys) if keys else []

    def session_keys(self, session_id: str) -> list[str]:
        """Return every key the session owns (records and indexes), sorted."""
        session_id = validate_id("session_id", session_id)
        owned = self.keys.owned_keys(session_id)
        keys = self.backend.set_members(owned)
        return sorted(keys | {owned}) if keys else []

    # -- bulk writes, for tools (`kvsession import`, `migrate`) --------------------------------
    #
    # The put_* methods store records *as given* (timestamps kept) with every index the create_*
    # methods maintain, many records per atomic batch. They never clear leftovers, and only
    # put_session adds the session to the sessions index, so a tool writes a session's agents,
    # messages and multi-agent states first and its root last: until the root exists the session
    # does not exist (restore rule), so a half-done import stays invisible and is redone from
    # scratch by the next run. ``replace=True`` overwrites whatever the key holds, of any type,
    # in the same atomic step (used to rewrite another package's records in place); otherwise an
    # existing record fails the whole batch.

    def put_session(self, session: StrandsSession, *, replace: bool = False) -> None:
        """Write a session record as given; its ``updated_at`` becomes the sessions-index score.

        Unlike :meth:`create_session` it neither clears leftover keys nor moves ``updated_at``.
        Write the root last (see the section comment). With a ttl, the whole session is
        re-expired together with the root, so the root does not outlive its records.

        Args:
            session: The record (a kvsession ``Session`` keeps its ``metadata``).
            replace: Overwrite an existing value under the root key instead of failing.

        Raises:
            SessionExistsError: ``replace`` is false and the root exists; nothing was written.
        """
        session_id = validate_id("session_id", session.session_id)
        root = self.keys.session(session_id)
        owned = self.keys.owned_keys(session_id)
        batch = Batch(self.backend)
        self._put_value(batch, root, self.codec.encode_session(session), replace)
        batch.set_add(owned, root)
        self._keep_alive(batch, session_id, force=True)
        exists: ConflictHandler = lambda key: SessionExistsError(session_id, root) if key == root else None  # noqa: E731
        self._commit(batch, session_id, exists, now=_epoch(session.updated_at))

    def put_agents(self, session_id: str, agents: Sequence[SessionAgent], *, replace: bool = False) -> None:
        """Write agent records as given, with the agents index, in one atomic batch.

        Raises:
            RecordExistsError: ``replace`` is false and one of the agents exists; nothing was written.
        """
        session_id = validate_id("session_id", session_id)
        if not agents:
            return
        batch = Batch(self.backend)
        keys = self._queue_agents(batch, session_id, agents, replace=replace)
        self._commit(batch, session_id, self._agent_exists(session_id, keys), updated=False)
        for agent in agents:
            self._remember_agent(session_id, agent.agent_id, agent.created_at)

    def put_messages(
        self, session_id: str, agent_id: str, messages: Sequence[SessionMessage], *, replace: bool = False
    ) -> None:
        """Write many message records as given, with the message index, in one atomic batch.

        Raises:
            MessageExistsError: ``replace`` is false and one of the messages exists; nothing
                was written.
        """
        session_id = validate_id("session_id", session_id)
        agent_id = validate_id("agent_id", agent_id)
        if not messages:
            return
        batch = Batch(self.backend)
        keys = self._queue_messages(batch, session_id, agent_id, messages, replace=replace)
        self._commit(batch, session_id, self._message_exists(session_id, agent_id, keys), updated=False)

    def put_multi_agent_state(
        self, session_id: str, multi_agent_id: str, state: dict[str, Any], *, replace: bool = False
    ) -> None:
        """Write a multi-agent state dict as given, with the multi-agents index.

        Raises:
            RecordExistsError: ``replace`` is false and the state exists; nothing was written.
        """
        session_id = validate_id("session_id", session_id)
        batch = Batch(self.backend)
        key = self._queue_multi_agent(batch, session_id, multi_agent_id, state, replace)
        self._commit(
            batch, session_id, self._multi_agent_exists(session_id, multi_agent_id, key), updated=False
        )

    # -- internals: what a write queues --------------------------------------------------------

    def _queue_agents(
        self, batch: Batch, session_id: str, agents: Sequence[SessionAgent], *, replace: bool
    ) -> dict[str, str]:
        """Queue agent records and their indexes; return ``{key: agent_id}``."""
        agents_index = self.keys.agents_index(session_id)
        keys: dict[str, str] = {}
        for agent in agents:
            agent_id = validate_id("agent_id", agent.agent_id)
            key = self.keys.agent(session_id, agent_id)
            keys[key] = agent_id
            self._put_value(batch, key, self.codec.encode_agent(agent), replace)
        batch.set_add(agents_index, *keys.values())
        message_indexes = [self.keys.messages_index(session_id, agent_id) for agent_id in keys.values()]
        batch.set_add(self.keys.owned_keys(session_id), *keys, agents_index, *message_indexes)
        self._keep_alive(batch, session_id, agents_index)
        return keys

    def _queue_messages(
        self,
        batch: Batch,
        session_id: str,
        agent_id: str,
        messages: Sequence[SessionMessage],
        *,
        replace: bool,
    ) -> dict[str, int]:
        """Queue message records and their index entries; return ``{key: message_id}``."""
        index = self.keys.messages_index(session_id, agent_id)
        keys: dict[str, int] = {}
        for message in messages:
            message_id = validate_message_id(message.message_id)
            key = self.keys.message(session_id, agent_id, message_id)
            keys[key] = message_id
            self._put_value(batch, key, self.codec.encode_message(message), replace)
        batch.index_add(index, {str(message_id): message_id for message_id in keys.values()})
        # The index is listed too: an agent written without create_agent still deletes whole.
        batch.set_add(self.keys.owned_keys(session_id), *keys, index)
        self._keep_alive(batch, session_id, index)
        return keys

    def _queue_multi_agent(
        self, batch: Batch, session_id: str, multi_agent_id: str, state: dict[str, Any], replace: bool
    ) -> str:
        """Queue a multi-agent state record and its index entry; return its key."""
        multi_agent_id = validate_id("multi_agent_id", multi_agent_id)
        key = self.keys.multi_agent(session_id, multi_agent_id)
        multi_index = self.keys.multi_agents_index(session_id)
        self._put_value(batch, key, self.codec.encode_state(state), replace)
        batch.set_add(multi_index, multi_agent_id)
        batch.set_add(self.keys.owned_keys(session_id), key, multi_index)
        self._keep_alive(batch, session_id, multi_index)
        return key

    def _put_value(self, batch: Batch, key: str, value: bytes, replace: bool) -> None:
        """Queue a create (only-if-absent), or with ``replace`` an overwrite of any kind."""
        if replace:
            # DEL then SET in one atomic batch replaces a value of any type (e.g. the reference
            # package's RedisJSON document) without asking the server what the key holds.
            batch.delete(key)
        batch.set(key, value, only_if_absent=not replace, ttl=self._record_ttl)

    # -- internals: expiry and updated_at ------------------------------------------------------

    @property
    def _record_ttl(self) -> float | None:
        return None if self.ttl is None else self.ttl * (1 + TTL_SLACK)

    def _keep_alive(self, batch: Batch, session_id: str, *indexes: str, force: bool = False) -> None:
        """With a ttl, queue the session's group refresh (runs only when due, or always if ``force``).

        ``indexes`` are index keys this batch adds to; they get a fresh expiry because one may
        have just been created and the group refresh, not due yet, would not cover it.
        """
        record_ttl = self._record_ttl
        if self.ttl is None or record_ttl is None:
            return
        for index in indexes:
            batch.expire(index, record_ttl)
        # ``below`` above the ttl makes the refresh due now: every key gets the same expiry.
        below = 2 * record_ttl if force else self.ttl
        batch.refresh_ttl(self.keys.owned_keys(session_id), record_ttl, below=below)

    def _touch_on_read(self, session_id: str) -> None:
        """With ``touch_on_read``, keep the session alive on a read (one extra round trip)."""
        record_ttl = self._record_ttl
        if self.ttl is None or record_ttl is None or not self.touch_on_read:
            return
        Batch(self.backend).refresh_ttl(self.keys.owned_keys(session_id), record_ttl, below=self.ttl).apply()

    def _get_under_root(self, session_id: str, key: str) -> bytes | None:
        """Read ``key`` and the session's root in one round trip; ``None`` if either is missing.

        The restore rule: the records of a session whose root is gone do not exist.
        """
        data, root = self.backend.get_many([key, self.keys.session(session_id)])
        return None if root is None else data

    # -- internals: applying a write -----------------------------------------------------------

    def _commit(
        self,
        batch: Batch,
        session_id: str,
        on_conflict: ConflictHandler,
        *,
        now: float | None = None,
        updated: bool = True,
        forget: bool = False,
    ) -> None:
        """Apply a write batch of one session and move its ``updated_at`` (sessions-index score).

        Args:
            batch: The session's writes.
            session_id: The session written.
            on_conflict: Maps a failed condition's key to the error to raise.
            now: The ``updated_at`` to record (default: now).
            updated: Record ``updated_at`` at all (bulk writes leave it to the root, written last).
            forget: Remove the session from the sessions index instead (deletes).
        """
        root = self.keys.session(session_id)
        if any(type(op) is RequireOp and op.key == root and op.present for op in batch.ops):
            specific = on_conflict

            def on_conflict(key: str) -> Exception | None:
                error = specific(key)
                if error is None and key == root:
                    return NotFoundError(f"session_id=<{session_id}> | session does not exist", key=root)
                return error

        index = self.keys.sessions_index()
        separate = self.keys.cluster  # the sessions index lives in another slot
        target = Batch(self.backend) if separate else batch
        if forget:
            target.index_remove(index, session_id)
        elif updated:
            target.index_add(index, {session_id: time.time() if now is None else now})
        self._apply(batch, on_conflict)
        if separate:
            target.apply()

    def _session_batch(self, session_id: str) -> Batch:
        """Start a batch that applies only while the session exists (its root is present).

        A writer that still holds a session that was deleted or expired gets
        :class:`NotFoundError` instead of writing records no index will ever show.
        """
        return Batch(self.backend).require(self.keys.session(session_id), present=True)

    def _apply(self, batch: Batch, on_conflict: ConflictHandler) -> None:
        """Apply ``batch``; a failed condition raises what ``on_conflict`` maps its key to."""
        ops = batch.ops  # apply() hands the batch a fresh list; this one stays as sent
        try:
            batch.apply()
        except ConflictError as exc:
            if exc.key is None:
                raise
            if self._applied_by_us(ops, exc.key):
                logger.debug("key=<%s> | a retried batch found its own write; already applied", exc.key)
                return
            error = on_conflict(exc.key)
            if error is None:
                raise
            raise error from exc

    def _applied_by_us(self, ops: Sequence[WriteOp], key: str) -> bool:
        """Whether the batch that failed on ``key`` is already applied: a retry of itself.

        A backend that retries after a lost reply re-sends a batch that was applied; its creates
        then meet their own records. If every key the batch creates (only-if-absent) holds
        exactly the bytes the batch writes there, the batch counts as done. The bytes carry the
        records' timestamps, so only the same records, written again, compare equal; one extra
        round trip, on the conflict path only.
        """
        written: dict[str, bytes] = {}
        created: list[str] = []
        for op in ops:
            if type(op) is SetOp:
                written[op.key] = op.value
                if op.only_if_absent:
                    created.append(op.key)
            elif type(op) is RequireOp and not op.present:
                created.append(op.key)
        if key not in created or any(created_key not in written for created_key in created):
            return False
        stored = self.backend.get_many(created)
        return all(value == written[k] for k, value in zip(created, stored, strict=True))

    @staticmethod
    def _not_found(key: str, message: str) -> ConflictHandler:
        return lambda failed: NotFoundError(message, key=key) if failed == key else None

    @staticmethod
    def _agent_exists(session_id: str, keys: dict[str, str]) -> ConflictHandler:
        def error(failed: str) -> Exception | None:
            if failed not in keys:
                return None
            message = f"session_id=<{session_id}>, agent_id=<{keys[failed]}> | agent already exists"
            return RecordExistsError(message, key=failed)

        return error

    @staticmethod
    def _message_exists(session_id: str, agent_id: str, keys: dict[str, int]) -> ConflictHandler:
        def error(failed: str) -> Exception | None:
            return MessageExistsError(session_id, agent_id, keys[failed], failed) if failed in keys else None

        return error

    @staticmethod
    def _multi_agent_exists(session_id: str, multi_agent_id: str, key: str) -> ConflictHandler:
        message = f"session_id=<{session_id}>, multi_agent_id=<{multi_agent_id}> | multi-agent exists"
        return lambda failed: RecordExistsError(message, key=key) if failed == key else None

    def _remember_agent(self, session_id: str, agent_id: str, created_at: str) -> None:
        with self._lock:
            self._agent_created_at.put((session_id, agent_id), created_at)
