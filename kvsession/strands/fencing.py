"""Fencing a session's writers: its incarnation, and the opt-in lease.

A session deleted and created again is another *incarnation*: every write batch requires the
incarnation its writer learned (:data:`INCARNATION`), so a stale worker is refused instead of
writing into the new session. A *lease* (:data:`LEASE`) lets one worker at a time write a
session: the holder's batches require its fencing token and renew it. Both are conditions
queued on a batch; :class:`~kvsession.strands.writes.SessionCore` adds them when it commits.
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from kvsession.kv.batch import Batch
from kvsession.kv.errors import ConflictError
from kvsession.kv.protocol import DeleteOp, ExpireOp, RequireOp, SetOp, WriteOp
from kvsession.orm import KeyTemplate
from kvsession.orm.keys import BoundTemplate
from kvsession.orm.plans import Io, Plan
from kvsession.orm.store_base import ModelStoreBase
from kvsession.strands.bounded_cache import _BoundedCache
from kvsession.strands.errors import SessionBusyError

__all__ = ["INCARNATION", "LEASE", "SessionFencing"]

logger = logging.getLogger(__name__)

INCARNATION = KeyTemplate("session:{session_id}:incarnation", hash_tag="session_id")
"""Which incarnation of a session is stored: random bytes written by ``create_session`` in the
same batch as the root. Every write of the session requires it to hold the bytes the writer
learned, so a worker still holding a session that was deleted and created again gets
``NotFoundError`` instead of writing into the new one. Beside the layout, in its slot, not in its
``:keys`` group (tools listing a session never see it); it expires with the session's records and
is deleted with the session. A session stored without one (before 0.3, or by a tool) has none, and
its writers require that none appears."""

LEASE = KeyTemplate("session:{session_id}:lease", hash_tag="session_id")
"""A session's lease (opt-in): the fencing token of the one worker allowed to write it, with
the lease's ttl. Every write batch of the holder requires the key to hold its token and renews
its ttl; a holder that stops writing loses it after the ttl. Not in the ``:keys`` group."""

_LEASE_POLL_FIRST = 0.01
"""Seconds before the second attempt at a busy lease; doubled per attempt up to ``_LEASE_POLL_MAX``."""
_LEASE_POLL_MAX = 0.2


def _seconds(ttl: float | timedelta) -> float:
    """Return a lease ttl in seconds (a finite number above 0)."""
    seconds = ttl.total_seconds() if isinstance(ttl, timedelta) else float(ttl)
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"ttl=<{ttl}> | a lease lasts a finite number of seconds above 0")
    return seconds


_UNKNOWN = object()
"""An incarnation this repository has not learned yet."""


class SessionFencing:
    """The incarnation and lease part of :class:`~kvsession.strands.writes.SessionCore` (a mixin).

    Its state is set up by ``SessionCore.__init__``: the incarnation of each session known,
    and the leases held (session id -> fencing token, ttl in seconds).
    """

    store: ModelStoreBase[Any]
    _lock: threading.Lock
    _incarnation_template: BoundTemplate
    _incarnations: _BoundedCache[str, bytes | None]
    _lease_template: BoundTemplate
    _leases: dict[str, tuple[bytes, float]]

    if TYPE_CHECKING:

        def _root(self, session_id: object) -> str: ...

    def incarnation_key(self, session_id: str) -> str:
        """Return the key of the session's incarnation (see :data:`INCARNATION`)."""
        return self._incarnation_template(session_id=session_id)

    def _learn_incarnation(self, session_id: str, incarnation: bytes | None) -> None:
        with self._lock:
            self._incarnations.put(session_id, incarnation)

    def _notice_incarnation(self, session_id: str, incarnation: bytes | None) -> None:
        """Learn the incarnation a read found beside the root, unless one is known already.

        A known one is kept: a worker that read the new incarnation of a session it held
        before still holds the old conversation, and stays refused.
        """
        with self._lock:
            if session_id not in self._incarnations:
                self._incarnations.put(session_id, incarnation)

    def _forget_incarnation(self, session_id: str) -> None:
        with self._lock:
            self._incarnations.pop(session_id, None)

    def _plan_fence(self, batch: Batch, session_id: str, root: str) -> Plan[None]:
        """Plan: make a batch that requires the root apply only to the incarnation this repository knows.

        The root must exist (a writer holding a deleted or expired session gets a not-found
        error) and the incarnation key must hold what this repository learned when it created
        the session, restored it (the read plans' multi-get carries it) or first wrote to it: a
        session deleted and created again by another worker is another incarnation, and the
        stale writer's batch is refused whole. Learning it at a first write costs one read, once
        per session and repository (the append stays one round trip). The conditions go right
        after the root's, before any write of the batch.
        """
        key = self.incarnation_key(session_id)
        with self._lock:
            known = self._incarnations.get(session_id, _UNKNOWN)
        if known is _UNKNOWN:
            incarnation, root_data = yield from Io.get_many([key, root])
            if root_data is not None:  # nothing to learn about a session that does not exist
                self._learn_incarnation(session_id, incarnation)
        else:
            incarnation = known  # type: ignore[assignment]
        fence: list[WriteOp] = [RequireOp(key, True, incarnation) if incarnation else RequireOp(key, False)]
        if incarnation and self.store.expiry is not None:  # it lives as long as the records written now
            fence.append(ExpireOp(key, self.store.expiry.record_ttl))
        at = next(i for i, op in enumerate(batch.ops) if type(op) is RequireOp and op.key == root) + 1
        batch.ops[at:at] = fence

    # -- the session lease ---------------------------------------------------------------------

    def lease_key(self, session_id: str) -> str:
        """Return the key of the session's lease (see :data:`LEASE`)."""
        return self._lease_template(session_id=session_id)

    def holds_lease(self, session_id: str) -> bool:
        """Return whether this repository acquired the session's lease (it may have expired since)."""
        with self._lock:
            return session_id in self._leases

    def _plan_try_lease(self, session_id: str, ttl: float) -> Plan[bool]:
        """Plan: take the session's lease if it is free, or renew it if it is ours (1 round trip)."""
        self._root(session_id)
        key = self.lease_key(session_id)
        with self._lock:
            held = self._leases.get(session_id)
        if held is not None:
            try:
                yield from Io.apply([RequireOp(key, True, held[0]), ExpireOp(key, ttl)])
            except ConflictError:
                self._drop_lease(session_id)  # expired, perhaps taken: try to take it afresh
            else:
                with self._lock:
                    self._leases[session_id] = (held[0], ttl)
                return True
        token = secrets.token_hex(12).encode()
        try:
            yield from Io.apply([SetOp(key, token, only_if_absent=True, ttl=ttl)])
        except ConflictError:
            return False
        with self._lock:
            self._leases[session_id] = (token, ttl)
        logger.debug("session_id=<%s>, ttl=<%s> | lease acquired", session_id, ttl)
        return True

    def _plan_release_lease(self, session_id: str) -> Plan[None]:
        """Plan: give the lease back if this repository still holds it (1 round trip, none if not held)."""
        key = self.lease_key(session_id)
        held = self._drop_lease(session_id)
        if held is None:
            return
        try:
            yield from Io.apply([RequireOp(key, True, held[0]), DeleteOp((key,))])
        except ConflictError:
            logger.debug("session_id=<%s> | lease had expired before its release", session_id)

    def _drop_lease(self, session_id: str) -> tuple[bytes, float] | None:
        with self._lock:
            return self._leases.pop(session_id, None)

    def _busy(self, session_id: str, *, waited: float) -> SessionBusyError:
        return SessionBusyError(
            f"session_id=<{session_id}>, waited=<{waited:.3f}s> | another worker holds the session's lease",
            session_id=session_id,
            key=self.lease_key(session_id),
        )

    def _queue_lease(self, batch: Batch, session_id: str) -> None:
        """Fence a write batch with this repository's lease of the session, and renew it."""
        with self._lock:
            held = self._leases.get(session_id)
        if held is not None:
            key = self.lease_key(session_id)
            batch.ops[0:0] = [RequireOp(key, True, held[0]), ExpireOp(key, held[1])]
