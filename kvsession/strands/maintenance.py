"""Looking after a store of sessions: listing, pruning the sessions index, a session's keys.

Expiry removes a session's keys but cannot remove its entry from the global ``sessions``
index, and an expired session may leave keys behind; these methods, used by the command line
and long-running services, tidy both without scanning the keyspace.
"""

from __future__ import annotations

import logging
import time

from kvsession.kv.errors import ConflictError
from kvsession.kv.protocol import KeyValueBackend
from kvsession.strands.models import MESSAGE, MESSAGES, SESSION_GROUP
from kvsession.strands.plans import RepositoryPlans, is_message_id
from kvsession.strands.writes import SessionWrites

__all__ = ["SessionMaintenance"]

logger = logging.getLogger(__name__)


class SessionMaintenance(SessionWrites, RepositoryPlans[KeyValueBackend]):
    """Inspection and upkeep methods of the repository."""

    def list_sessions(self, *, limit: int | None = None, offset: int = 0) -> list[tuple[str, float]]:
        """Return ``(session_id, updated_at epoch)`` pairs, most recently updated first.

        One round trip; in the cluster key space one per bucket in use, plus one (see
        :mod:`kvsession.strands.models`). Never scans the keyspace.
        """
        return self._run(self.plan_list_sessions(limit=limit, offset=offset))

    def sessions_indexes(self) -> list[str]:
        """Return every key of the sessions index: ``sessions``, or the cluster's buckets in use."""
        return self._run(self.plan_sessions_indexes())

    def count_sessions(self) -> int:
        """Return how many sessions the sessions index lists (expired ones until pruned)."""
        return self._run(self.plan_count_sessions())

    def last_active(self, session_id: str) -> float | None:
        """Return the epoch time of the session's last write of any kind, or ``None`` (one round trip).

        Appends move it without rewriting the session record, so it is usually later than the
        ``updated_at`` that :meth:`read_session` returns.
        """
        return self._run(self.plan_last_active(session_id))

    def list_agents(self, session_id: str) -> list[str]:
        """Return the ids of the session's agents, sorted."""
        return self._run(self.plan_list_agents(session_id))

    def list_multi_agents(self, session_id: str) -> list[str]:
        """Return the ids of the session's multi-agent states, sorted."""
        return self._run(self.plan_list_multi_agents(session_id))

    def session_keys(self, session_id: str) -> list[str]:
        """Return every key the session owns (records and indexes), sorted."""
        owned = self.store.key(SESSION_GROUP, session_id=session_id)
        keys = self.backend.set_members(owned)
        return sorted(keys | {owned}) if keys else []

    def clear_leftovers(self, session_id: str) -> bool:
        """Delete what an expired session left behind, if its record is gone; one round trip.

        Returns:
            ``False`` if the session exists (nothing is touched), else ``True``.
        """
        root = self._root(session_id)
        batch = self.store.batch().require(root, present=False)
        self.store.delete_group(batch, SESSION_GROUP, session_id=session_id)
        try:
            self._run(self._plan_commit(batch, session_id, lambda key: None, forget=True))
        except ConflictError:
            return False
        return True

    def repair_messages_index(self, session_id: str, agent_id: str) -> int:
        """List again the agent's message records that its index lost; return how many were added.

        What ``UnindexedMessagesError`` asks for: the session's group (``:keys``) names every
        record the session owns, so the agent's message records that still exist are added to
        its index (score = id) in one atomic batch, which requires the session's root. Three
        round trips; nothing is scanned. A session that does not exist is left alone (``0``;
        see :meth:`clear_leftovers`).
        """
        root = self._root(session_id)
        fields = {"session_id": session_id, "agent_id": agent_id}
        index = self.store.key(MESSAGES.key, **fields)
        group = self.store.key(SESSION_GROUP, session_id=session_id)
        head = self.store.key(MESSAGE, message_id=0, **fields)[:-1]  # "...:message:"
        keys = [key for key in self.backend.set_members(group) if key.startswith(head)]
        keys = [key for key in keys if is_message_id(key[len(head) :])]
        if not keys:
            return 0
        values = self.backend.get_many([*keys, root])
        if values[-1] is None:
            return 0
        present = {key[len(head) :] for key, data in zip(keys, values, strict=False) if data is not None}
        present.difference_update(self.backend.index_range(index))
        if not present:
            return 0
        batch = self.store.batch().require(root, present=True)
        batch.index_add(index, {member: float(member) for member in present})
        batch.set_add(group, index)
        self.store.keep_alive(batch, group, index)
        try:
            batch.apply()
        except ConflictError:  # deleted meanwhile
            return 0
        logger.debug(
            "session_id=<%s>, agent_id=<%s>, added=<%d> | repaired messages index",
            session_id,
            agent_id,
            len(present),
        )
        return len(present)

    def prune_sessions(self, *, grace: float = 60.0, page: int = 1000) -> int:
        """Drop sessions-index entries whose session is gone (expired); return how many.

        Entries updated within ``grace`` seconds are left alone. An entry is removed in one
        atomic batch with the precondition that its session's record is still absent, so a
        session re-created while the prune runs keeps its entry. Two round trips per ``page``
        sessions of an index (in the cluster key space, per bucket: its sessions share its slot).
        """
        pruned = 0
        for index in self.sessions_indexes():
            pruned += self._prune_index(index, time.time() - grace, page)
        return pruned

    def _prune_index(self, index: str, horizon: float, page: int) -> int:
        pruned = 0
        offset = 0
        while True:
            entries = self.backend.index_range_with_scores(index, offset=offset, limit=page)
            old = [session_id for session_id, updated in entries if updated < horizon]
            roots = self.backend.get_many([self.keys.session(session_id) for session_id in old])
            gone = [sid for sid, root in zip(old, roots, strict=True) if root is None]
            if gone:
                pruned += self._remove_from_sessions_index(index, gone)
            if len(entries) < page or len(old) < len(entries):
                return pruned
            offset += page - len(gone)

    def _remove_from_sessions_index(self, index: str, session_ids: list[str]) -> int:
        """Remove index entries of sessions whose record is absent; return how many."""
        remaining = list(session_ids)
        while remaining:
            batch = self.store.batch()
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
