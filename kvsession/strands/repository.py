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
that its root exists, and that it is the incarnation of the session this repository created or
restored, so a writer holding a deleted, expired or deleted-and-re-created session gets a
not-found error and writes nothing.

Two workers on one session (docs/keys.md): agent and multi-agent updates are optimistic (a
stale one raises :class:`~kvsession.strands.errors.SessionConflictError`), and the opt-in
session lease (:meth:`KVSessionRepository.acquire_lease`, a fencing token checked in every
write batch) keeps one writer per session.

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

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from strands.session.session_repository import SessionRepository
from strands.types.session import SessionAgent, SessionMessage

from kvsession.kv.protocol import KeyValueBackend
from kvsession.strands.bulk import BulkWrites
from kvsession.strands.fencing import _LEASE_POLL_FIRST, _LEASE_POLL_MAX, _seconds
from kvsession.strands.maintenance import SessionMaintenance
from kvsession.strands.plans import RepositoryPlans
from kvsession.strands.writes import TTL_SLACK

if TYPE_CHECKING:
    from strands.multiagent.base import MultiAgentBase
    from strands.types.session import Session as StrandsSession

__all__ = ["TTL_SLACK", "KVSessionRepository"]


class KVSessionRepository(
    BulkWrites, SessionMaintenance, RepositoryPlans[KeyValueBackend], SessionRepository
):
    """Stores Strands sessions, agents, messages and multi-agent state in a ``KeyValueBackend``.

    Each method runs the plan of the same name (:mod:`kvsession.strands.plans`), which
    :class:`~kvsession.strands.aio_repository.AsyncKVSessionRepository` awaits instead.

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
        return self._run(self.plan_create_session(session))

    def read_session(self, session_id: str, **kwargs: Any) -> StrandsSession | None:
        """Return the session as stored (equal to what was created or last updated), or ``None``.

        A session created from a Strands ``Session`` reads back as one; one created with
        metadata as a kvsession :class:`~kvsession.strands.records.Session`. ``updated_at`` is
        the time the record was written; the time of the session's last write of any kind is
        :meth:`last_active` (and the scores of :meth:`list_sessions`).
        """
        return self._run(self.plan_read_session(session_id))

    def update_session(self, session: StrandsSession, **kwargs: Any) -> None:
        """Rewrite the session record (e.g. its ``metadata``), keeping ``created_at`` as given.

        Raises:
            SessionRecordNotFoundError: The session does not exist.
        """
        self._run(self.plan_update_session(session))

    def delete_session(self, session_id: str, **kwargs: Any) -> None:
        """Delete the session and every key it owns, atomically.

        Raises:
            SessionRecordNotFoundError: The session does not exist (as Strands' own repositories do).
        """
        self._run(self.plan_delete_session(session_id))

    # -- the session lease ---------------------------------------------------------------------

    def acquire_lease(self, session_id: str, ttl: float | timedelta, *, wait: float = 0.0) -> None:
        """Take the session's lease: until released or expired, only this repository writes it.

        While held, every write of this repository requires the lease (its fencing token,
        checked inside the write batch) and renews it for ``ttl``; if its holder stops writing
        (it died, or a turn outlasted ``ttl``) the lease expires and another worker may take
        it. Every worker of a session must use the lease for it to exclude anyone (docs/keys.md,
        "Two workers on one session"). Acquiring a lease this repository holds renews it.

        Args:
            session_id: The session (it need not exist yet).
            ttl: How long the lease lasts after its last write, seconds or a ``timedelta``.
            wait: Seconds to wait for a busy lease (polling with backoff) before giving up.

        Raises:
            SessionBusyError: Another worker held the lease for all of ``wait``.
        """
        seconds = _seconds(ttl)
        started = time.monotonic()
        delay = _LEASE_POLL_FIRST
        while not self._run(self._plan_try_lease(session_id, seconds)):
            waited = time.monotonic() - started
            if waited >= wait:
                raise self._busy(session_id, waited=waited)
            time.sleep(min(delay, wait - waited))
            delay = min(delay * 2, _LEASE_POLL_MAX)

    def release_lease(self, session_id: str) -> None:
        """Give the session's lease back (no-op if this repository does not hold it, or it expired)."""
        self._run(self._plan_release_lease(session_id))

    # -- agents -------------------------------------------------------------------------------

    def create_agent(self, session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None:
        """Create an agent record; raise ``SessionRecordExistsError`` if the agent exists."""
        self._run(self.plan_create_agent(session_id, session_agent))

    def read_agent(self, session_id: str, agent_id: str, **kwargs: Any) -> SessionAgent | None:
        """Return the agent record, or ``None``."""
        return self._run(self.plan_read_agent(session_id, agent_id))

    def update_agent(self, session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None:
        """Rewrite an agent record, keeping its stored ``created_at``.

        Raises:
            SessionRecordNotFoundError: The agent does not exist.
        """
        self._run(self.plan_update_agent(session_id, session_agent))

    # -- messages -----------------------------------------------------------------------------

    def create_message(
        self, session_id: str, agent_id: str, session_message: SessionMessage, **kwargs: Any
    ) -> None:
        """Append a message in one atomic round trip.

        Raises:
            MessageExistsError: A message with this id exists (another writer got there first);
                nothing was written.
        """
        self._run(self.plan_create_message(session_id, agent_id, session_message))

    def read_message(
        self, session_id: str, agent_id: str, message_id: int, **kwargs: Any
    ) -> SessionMessage | None:
        """Return one message, or ``None``."""
        return self._run(self.plan_read_message(session_id, agent_id, message_id))

    def update_message(
        self, session_id: str, agent_id: str, session_message: SessionMessage, **kwargs: Any
    ) -> None:
        """Rewrite a message (e.g. a guardrail redaction): two round trips.

        The stored ``created_at`` is kept (set on ``session_message``, as Strands' own
        repositories do); ``updated_at`` moves.

        Raises:
            SessionRecordNotFoundError: The message does not exist.
        """
        self._run(self.plan_update_message(session_id, agent_id, session_message))

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
        return self._run(self.plan_list_messages(session_id, agent_id, limit, offset))

    def count_messages(self, session_id: str, agent_id: str) -> int:
        """Return how many messages the agent has (one round trip)."""
        return self._run(self.plan_count_messages(session_id, agent_id))

    # -- multi-agent --------------------------------------------------------------------------

    def create_multi_agent(self, session_id: str, multi_agent: MultiAgentBase, **kwargs: Any) -> None:
        """Store a multi-agent orchestrator's state (``serialize_state()``).

        Raises:
            SessionRecordExistsError: State for this multi-agent id exists; nothing was written.
        """
        self._run(self.plan_create_multi_agent(session_id, multi_agent))

    def read_multi_agent(self, session_id: str, multi_agent_id: str, **kwargs: Any) -> dict[str, Any] | None:
        """Return a multi-agent state dict, or ``None``."""
        return self._run(self.plan_read_multi_agent(session_id, multi_agent_id))

    def update_multi_agent(self, session_id: str, multi_agent: MultiAgentBase, **kwargs: Any) -> None:
        """Rewrite a multi-agent state.

        Raises:
            SessionRecordNotFoundError: No state was created for this multi-agent id.
        """
        self._run(self.plan_update_multi_agent(session_id, multi_agent))
