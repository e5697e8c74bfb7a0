"""How a write of one session is committed.

Its preconditions, the sessions index, the error a failed condition becomes, and recognising a
retry of our own write.

:class:`SessionCore` holds the store (codec, key space, expiry) and the session layout's key
names, and builds every commit as a plan (:mod:`kvsession.orm.store`): the batch, its token,
what a failed condition becomes. It does no I/O, so the sync
:class:`~kvsession.strands.repository.KVSessionRepository` (over :class:`SessionWrites`) and the
:class:`~kvsession.strands.aio_repository.AsyncKVSessionRepository` run the same plans, one with
``backend.apply(ops)``, the other with ``await backend.apply(ops)``.

Retries of our own writes (write tokens). A batch whose reply is lost may have been applied;
re-sent (by the backend's own retry, or by a caller retrying the call), a create would meet its
own record and a delete would miss its own root. So every batch whose conditions its own writes
would defeat (a create: only-if-absent; a session delete: required present, then deleted)
carries a :class:`~kvsession.kv.protocol.WriteTokenOp`: a token unique to the batch, stored when
the batch applies under a key of this writer's own, :data:`WRITER`. A re-sent batch finds its
token there and is taken as applied; nothing is compared byte for byte, so an identical record
created by another call (or another writer) is a conflict like any other.

A writer is one repository *and thread*: a concurrent writer never replaces our token between
our applied batch and its retry (the async repository's tasks on one loop share one writer, so
there the last token per session is the last task's). The token key lives in the session's
slot (its hash tag), is not one of the session's ``:keys`` (tools listing a session never see
it; a session delete leaves it, so a re-sent delete still finds its token) and expires after
:data:`WRITE_TOKEN_TTL`.

When a batch fails with its outcome unknown (the backend was unreachable, or any error other
than a failed condition), the repository remembers its token and what it creates or deletes
(bounded, per repository). The same create (or session delete) made again *from the same
thread* — a caller retrying, perhaps with a record it rebuilt — reuses that token: if the first
attempt landed the call succeeds (the first record is kept), else it is applied as usual. The
limits: a write of the same thread to the same session in between stores a newer token, and
after :data:`WRITE_TOKEN_TTL` the token is gone; in both cases the retry is judged as a new
write (a create of a record that landed raises the usual exists error, nothing is overwritten).
A recognised retry reports the write that landed, even if another writer has deleted it since
(as it would have, had the reply arrived).
"""

from __future__ import annotations

import itertools
import logging
import math
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, Literal, TypedDict, TypeVar

from kvsession.kv.aio import AsyncKeyValueBackend
from kvsession.kv.batch import Batch
from kvsession.kv.errors import ConflictError
from kvsession.kv.protocol import (
    DeleteOp,
    ExpireOp,
    KeyValueBackend,
    RefreshTtlOp,
    RequireOp,
    SetOp,
    WriteOp,
    WriteTokenOp,
)
from kvsession.orm import Compression, Expiry, Keyring, KeySpace, KeyTemplate, ModelStore
from kvsession.orm.store import Io, ModelStoreBase, Plan, run_plan
from kvsession.strands.errors import (
    MessageExistsError,
    SessionBusyError,
    SessionConflictError,
    SessionRecordExistsError,
    SessionRecordNotFoundError,
)
from kvsession.strands.models import SESSION, SessionKeys

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "INCARNATION",
    "LEASE",
    "TTL_SLACK",
    "WRITER",
    "WRITE_TOKEN_TTL",
    "ConflictHandler",
    "RepositoryOptions",
    "SessionBackend",
    "SessionCore",
    "SessionWrites",
]

logger = logging.getLogger(__name__)

TTL_SLACK = 0.2
"""Extra lifetime, as a fraction of ``ttl``, that lets the group refresh run only now and then."""

WRITER = KeyTemplate("session:{session_id}:writer:{writer_id}", hash_tag="session_id")
"""Where one writer (a repository, in one thread) keeps the token of its last create or delete
in a session: beside the session layout (:mod:`kvsession.strands.models`), in its slot, but not
in its ``:keys`` group."""

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

WRITE_TOKEN_TTL = 300.0
"""Seconds a write token is kept, so how long after a write its retry is still recognised.

A backend's own retries re-send within a minute (valkey: ``retries=3`` with backoff capped at
1 s and 5 s timeouts, under 45 s), and a caller retrying after an outage or a failover does
so within minutes; each token key is about a hundred bytes, one per session and writer thread
active in the last five minutes."""

_LEASE_POLL_FIRST = 0.01
"""Seconds before the second attempt at a busy lease; doubled per attempt up to ``_LEASE_POLL_MAX``."""
_LEASE_POLL_MAX = 0.2


def _seconds(ttl: float | timedelta) -> float:
    """Return a lease ttl in seconds (a finite number above 0)."""
    seconds = ttl.total_seconds() if isinstance(ttl, timedelta) else float(ttl)
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"ttl=<{ttl}> | a lease lasts a finite number of seconds above 0")
    return seconds


ConflictHandler = Callable[[str], Exception | None]
"""Maps the key whose condition failed in a batch to the error to raise (``None``: re-raise)."""

_CACHE_SIZE = 10_000
"""Entries kept by the per-repository caches (agents' ``created_at``, unsure writes)."""

_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")

Claim = tuple[Literal["create", "delete", "update"], str]
"""What a batch does that a retry of it would trip over: creates a key, deletes a required one,
or rewrites a key it required to hold given bytes."""

_UNKNOWN = object()
"""An incarnation this repository has not learned yet."""


_Written = tuple[WriteTokenOp, frozenset[Claim]]
"""The write token a batch carries, and what the batch claims (see :func:`_claims`)."""


class _Writer(threading.local):
    """The calling thread as a writer of one repository: its id, token counter and last key.

    Each thread gets a random id of its own the first time it writes (a thread id could be
    reused by a later thread), and counts its tokens without a lock.
    """

    def __init__(self) -> None:
        self.id = secrets.token_hex(8)
        self.tokens = itertools.count(1)
        self.session_id: str | None = None
        self.key = ""


def _claims(ops: Sequence[WriteOp]) -> frozenset[Claim]:
    """Return what in ``ops`` a re-sent copy of the applied batch would fail on (empty: none).

    A key created only if absent (or required absent, then written), a key required present,
    then deleted, and a key required to hold given bytes, then rewritten (optimistic
    concurrency). Other updates (only-if-present writes) and deletes without a condition
    re-apply harmlessly and carry no token.
    """
    claims: list[Claim] = []
    required: dict[str, bool] = {}
    compared: set[str] = set()
    for op in ops:  # exact type tests: this runs on every append
        if type(op) is SetOp:
            if op.only_if_absent or required.get(op.key) is False:
                claims.append(("create", op.key))
            elif op.key in compared:
                claims.append(("update", op.key))
        elif type(op) is RequireOp:
            required[op.key] = op.present
            if op.equals is not None:
                compared.add(op.key)
        elif type(op) is DeleteOp:
            claims.extend(("delete", key) for key in op.keys if required.get(key))
    return frozenset(claims)


class _BoundedCache(OrderedDict[_K, _V]):
    """A dict that forgets its oldest entries beyond ``_CACHE_SIZE`` (callers hold the lock)."""

    def put(self, key: _K, value: _V) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > _CACHE_SIZE:
            self.popitem(last=False)


class RepositoryOptions(TypedDict, total=False):
    """A repository's store options; each defaults to the backend URL's.

    Attributes:
        codec: ``"json"`` or ``"msgpack"``; reading sniffs the format, so either reads both.
        prefix: Namespace in front of every key.
        cluster: Use the cluster key space (session id as a hash tag).
        ttl: Inactivity after which a session expires, in seconds or as a ``timedelta``
            (``None``: never).
        touch_on_read: Whether reads also keep a session alive.
        compress: ``"zstd"``, ``"none"`` or a :class:`~kvsession.orm.Compression`; compressed
            values read back either way.
        keyring: Encrypt every value with this :class:`~kvsession.orm.Keyring`'s newest key;
            default the keys named by the URL's ``encrypt=env:NAME`` (none: no encryption).
    """

    codec: str | None
    prefix: str | None
    cluster: bool | None
    ttl: float | timedelta | None
    touch_on_read: bool | None
    compress: Compression | Literal["none", "zstd"] | None
    keyring: Keyring | None


SessionBackend = TypeVar("SessionBackend", KeyValueBackend, AsyncKeyValueBackend)
"""The backend of a repository: sync or async (its store and its plans runner follow)."""


class SessionCore(Generic[SessionBackend]):
    """What the sync and async repositories share: the store, the layout, and commit plans.

    Args:
        backend: Where bytes go (sync or async). Its ``config.store`` supplies the defaults of
            ``options``.
        **options: :class:`RepositoryOptions`.
    """

    backend: SessionBackend
    store: ModelStoreBase[SessionBackend]
    keys: SessionKeys

    def __init__(self, backend: SessionBackend, **options: Unpack[RepositoryOptions]) -> None:
        config = backend.config.store
        ttl = options.get("ttl")
        prefix = options.get("prefix")
        cluster = options.get("cluster")
        touch_on_read = options.get("touch_on_read")
        self.backend = backend
        self.store = self._open_store(
            backend,
            codec=options.get("codec") or config.codec,
            keys=KeySpace(
                prefix=config.prefix if prefix is None else prefix,
                cluster=(config.key_scheme == "cluster") if cluster is None else cluster,
            ),
            expiry=Expiry.of(config.ttl if ttl is None else ttl, TTL_SLACK),
            compress=options.get("compress"),
            keyring=options.get("keyring"),
        )
        self.codec = self.store.codec
        self.keys = SessionKeys(self.store)
        self.touch_on_read = config.touch_on_read if touch_on_read is None else touch_on_read
        # created_at of agents this repository has read or written, so update_agent keeps it
        # without reading the record again (Strands hands update_agent a fresh SessionAgent).
        self._agent_created_at: _BoundedCache[tuple[str, str], str] = _BoundedCache()
        # The bytes of each agent and multi-agent state record this repository last read or
        # wrote, by (session id, key): the base its next update requires to be still stored
        # (optimistic concurrency: another writer's update in between is a conflict).
        self._stored: _BoundedCache[tuple[str, str], bytes] = _BoundedCache()
        self._lock = threading.Lock()
        # Write tokens (see the module docstring): each thread's identity as a writer, and the
        # writes whose outcome is unknown, by what they claim.
        self.write_token_ttl = WRITE_TOKEN_TTL
        self._writer = _Writer()
        self._writer_template = self.store.template(WRITER)
        # The incarnation of each session this repository created, wrote or first wrote to
        # (None: stored without one); see INCARNATION.
        self._incarnation_template = self.store.template(INCARNATION)
        self._incarnations: _BoundedCache[str, bytes | None] = _BoundedCache()
        # Leases this repository holds: session id -> (fencing token, ttl in seconds).
        self._lease_template = self.store.template(LEASE)
        self._leases: dict[str, tuple[bytes, float]] = {}
        self._unsure: _BoundedCache[Claim, _Written] = _BoundedCache()

    def _open_store(self, backend: SessionBackend, **store: Any) -> ModelStoreBase[SessionBackend]:
        """Build the model store over ``backend`` (a ``ModelStore`` or an ``AsyncModelStore``)."""
        raise NotImplementedError

    def _remember_agent(self, session_id: str, agent_id: str, created_at: str) -> None:
        with self._lock:
            self._agent_created_at.put((session_id, agent_id), created_at)

    def _remember_stored(self, session_id: str, key: str, data: bytes) -> None:
        with self._lock:
            self._stored.put((session_id, key), data)

    def _stored_base(self, session_id: str, key: str) -> bytes | None:
        with self._lock:
            return self._stored.get((session_id, key))

    def _forget_stored(self, session_id: str, key: str | None = None) -> None:
        """Forget one record's base, or (``key=None``) every base of the session."""
        with self._lock:
            if key is not None:
                self._stored.pop((session_id, key), None)
                return
            for cached in [k for k in self._stored if k[0] == session_id]:
                del self._stored[cached]

    @staticmethod
    def _value_of(batch: Batch, key: str) -> bytes:
        """Return the bytes ``batch`` writes to ``key`` (its last set of it)."""
        return next(op.value for op in reversed(batch.ops) if type(op) is SetOp and op.key == key)

    def _conflict(self, session_id: str, key: str, what: str) -> ConflictHandler:
        """Map a failed require-equals on ``key`` to :class:`SessionConflictError`."""
        message = (
            f"session_id=<{session_id}> | {what} was changed by another writer since this repository "
            "read or wrote it; nothing was written (read it again, or hold the session lease)"
        )
        return lambda failed: (
            SessionConflictError(message, session_id=session_id, key=key) if failed == key else None
        )

    @property
    def ttl(self) -> float | None:
        """Seconds of inactivity after which a session expires (``None``: never)."""
        return None if self.store.expiry is None else self.store.expiry.ttl

    # -- starting a batch ---------------------------------------------------------------------

    def _root(self, session_id: object) -> str:
        """Validate ``session_id`` and return its root key (the one validation of an entry point)."""
        return self.store.key(SESSION, session_id=session_id)

    def _session_batch(self, root: str) -> Batch:
        """Start a batch that applies only while the session exists (its root is present).

        A writer that still holds a session that was deleted or expired gets a not-found error
        instead of writing records no index will ever show.
        """
        return self.store.batch().require(root, present=True)

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

    def _keep_alive(self, batch: Batch, session_id: str, *, force: bool = False) -> None:
        """Queue the refresh of the session's group (see ``ModelStore.keep_alive``)."""
        self.store.keep_alive(batch, self.keys.owned_keys(session_id), force=force)

    def _plan_touch_on_read(self, session_id: str) -> Plan[None]:
        """With ``touch_on_read``, keep the session alive on a read (one extra round trip).

        The incarnation key (not in the group) is re-expired with it, so a session kept alive
        by reads alone never outlives the incarnation its writers require.
        """
        expiry = self.store.expiry
        if self.touch_on_read and expiry is not None:
            group = self.keys.owned_keys(session_id)
            yield from Io.apply(
                [
                    RefreshTtlOp(group, expiry.record_ttl, expiry.ttl),
                    ExpireOp(self.incarnation_key(session_id), expiry.record_ttl),
                ]
            )

    # -- applying a write ---------------------------------------------------------------------

    def _plan_commit(
        self,
        batch: Batch,
        session_id: str,
        on_conflict: ConflictHandler,
        *,
        now: float | None = None,
        updated: bool = True,
        forget: bool = False,
        incarnate: bool = False,
        register: bool = False,
    ) -> Plan[None]:
        """Plan: apply a write batch of one session and move its ``updated_at`` (sessions-index score).

        Args:
            batch: The session's writes.
            session_id: The session written.
            on_conflict: Maps a failed condition's key to the error to raise.
            now: The ``updated_at`` to record (default: now).
            updated: Record ``updated_at`` at all (bulk writes leave it to the root, written last).
            forget: Remove the session from the sessions index instead (deletes).
            incarnate: Store a new incarnation of the session (``create_session``; see
                :data:`INCARNATION`), learned once the batch is applied.
            register: The batch creates the root: in the cluster key space, list the bucket
                of the session's slot in ``sessions:buckets`` first (one round trip more).
        """
        root = self.keys.session(session_id)
        if any(type(op) is RequireOp and op.key == root and op.present for op in batch.ops):
            yield from self._plan_fence(batch, session_id, root)
            specific = on_conflict
            incarnation_key = self.incarnation_key(session_id)

            def on_conflict(key: str) -> Exception | None:
                error = specific(key)
                if error is None and key == root:
                    return SessionRecordNotFoundError(
                        f"session_id=<{session_id}> | session does not exist", key=root
                    )
                if error is None and key == incarnation_key:
                    return SessionRecordNotFoundError(
                        f"session_id=<{session_id}> | session does not exist: it was deleted and "
                        "created again since this writer learned it",
                        key=root,
                    )
                return error

        if self._leases:
            self._queue_lease(batch, session_id)
            lease_key = self.lease_key(session_id)
            fenced = on_conflict

            def on_conflict(key: str) -> Exception | None:
                if key == lease_key:
                    self._drop_lease(session_id)
                    return SessionBusyError(
                        f"session_id=<{session_id}> | this worker's lease expired or was taken "
                        "by another worker; nothing was written",
                        session_id=session_id,
                        key=lease_key,
                    )
                return fenced(key)

        index = self.keys.sessions_index(session_id)  # in the session's slot, cluster or not
        if forget:
            batch.index_remove(index, session_id)
        elif updated:
            batch.index_add(index, {session_id: time.time() if now is None else now})
        if register and self.keys.cluster:
            # Listed before its first entry: list_sessions never misses a bucket in use.
            yield from Io.set_add(self.keys.listing_key(), [self.keys.bucket_tag(session_id)])
        written = self._queue_write_token(batch, session_id)
        incarnation: bytes | None = None
        if incarnate and written is not None:
            # Named by the write token, so a retry that reuses the token (an applied create
            # whose reply was lost) learns the incarnation that was stored, not a new one.
            incarnation = self._writer.id.encode() + b"." + written[0].token
            ttl = None if self.store.expiry is None else self.store.expiry.record_ttl
            batch.ops.insert(-1, SetOp(self.incarnation_key(session_id), incarnation, ttl=ttl))
        yield from self._plan_apply(batch, on_conflict, written)
        if incarnation is not None:
            self._learn_incarnation(session_id, incarnation)

    def _plan_apply(
        self, batch: Batch, on_conflict: ConflictHandler, written: _Written | None = None
    ) -> Plan[None]:
        """Plan: apply ``batch``; a failed condition raises what ``on_conflict`` maps its key to.

        ``written``: the batch's write token; remembered if the outcome is unknown (any other
        error, a lost connection, or a task cancelled while the batch was on its way).
        """
        try:
            yield from Io.apply(batch.ops)
        except ConflictError as exc:
            self._forget_unsure(written)  # judged and refused: nothing was applied
            if exc.key is None:
                raise
            error = on_conflict(exc.key)
            if error is None:
                raise
            raise error from exc
        except BaseException:
            self._remember_unsure(written)
            raise
        self._forget_unsure(written)

    # -- write tokens -------------------------------------------------------------------------

    def token_key(self, session_id: str) -> str:
        """Return the key of the calling thread's write token in a session (see the module docstring)."""
        writer = self._writer
        if writer.session_id != session_id:  # appends come in runs: keep the last key
            writer.key = self._writer_template(session_id=session_id, writer_id=writer.id)
            writer.session_id = session_id
        return writer.key

    def _queue_write_token(self, batch: Batch, session_id: str) -> _Written | None:
        """Queue a write token on a batch that a re-sent copy of itself would trip over.

        The token of an earlier attempt whose outcome is unknown is reused when this batch
        claims exactly what that one did, from the same thread (see the module docstring).
        """
        claims = _claims(batch.ops)
        if not claims:
            return None
        key = self.token_key(session_id)
        token: WriteTokenOp | None = None
        if self._unsure:
            with self._lock:
                earlier = self._unsure.get(next(iter(claims)))
            if earlier is not None and earlier[0].key == key and earlier[1] == claims:
                token = earlier[0]
                logger.debug("key=<%s> | reusing the token of an attempt whose outcome is unknown", key)
        if token is None:
            token = WriteTokenOp(key, b"%x" % next(self._writer.tokens), self.write_token_ttl)
        batch.ops.append(token)  # what Batch.token() queues, without its check: none is queued
        return token, claims

    def _remember_unsure(self, written: _Written | None) -> None:
        """Remember a batch whose outcome is unknown, so that the same write made again reuses its token."""
        if written is None:
            return
        with self._lock:
            for claim in written[1]:
                self._unsure.put(claim, written)

    def _forget_unsure(self, written: _Written | None) -> None:
        """Forget what a batch whose outcome is now known claimed (if it was remembered)."""
        if written is None or not self._unsure:  # the usual case: nothing unsure, no lock
            return
        with self._lock:
            for claim in written[1]:
                if self._unsure.get(claim) == written:
                    del self._unsure[claim]

    # -- what a failed condition means --------------------------------------------------------

    @staticmethod
    def _not_found(key: str, message: str) -> ConflictHandler:
        return lambda failed: SessionRecordNotFoundError(message, key=key) if failed == key else None

    @staticmethod
    def _exists(keys: dict[str, str], what: str) -> ConflictHandler:
        """``keys``: record key -> the ids that name it in a message (``session_id=<s>, ...``)."""
        return lambda failed: (
            SessionRecordExistsError(f"{keys[failed]} | {what} already exists", key=failed)
            if failed in keys
            else None
        )

    @staticmethod
    def _message_exists(session_id: str, agent_id: str, keys: dict[str, int]) -> ConflictHandler:
        def error(failed: str) -> Exception | None:
            return MessageExistsError(session_id, agent_id, keys[failed], failed) if failed in keys else None

        return error


class SessionWrites(SessionCore[KeyValueBackend]):
    """The sync base of :class:`~kvsession.strands.repository.KVSessionRepository`: its store and runner."""

    store: ModelStore

    def _open_store(self, backend: KeyValueBackend, **store: Any) -> ModelStore:
        return ModelStore(backend, **store)

    def _run(self, plan: Plan[_V]) -> _V:
        """Run a plan against the backend."""
        return run_plan(self.backend, plan)
