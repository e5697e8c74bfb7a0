"""How a write of one session is committed.

Its preconditions, the sessions index, the error a failed condition becomes, and recognising a
retry of our own write.

:class:`SessionCore` holds the store (codec, key space, expiry) and the session layout's key
names, and builds every commit as a plan (:mod:`kvsession.orm.plans`): the batch, its token,
what a failed condition becomes. It does no I/O, so the sync
:class:`~kvsession.strands.repository.KVSessionRepository` (over :class:`SessionWrites`) and the
:class:`~kvsession.strands.aio_repository.AsyncKVSessionRepository` run the same plans, one with
``backend.apply(ops)``, the other with ``await backend.apply(ops)``.

The two fences and the retry recognition are parts of :class:`SessionCore` of their own:
:mod:`kvsession.strands.fencing` (the session's incarnation and its lease) and
:mod:`kvsession.strands.write_tokens` (recognising a retry of our own write). Their public
names are re-exported here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, Literal, TypedDict, TypeVar

from kvsession.kv.aio import AsyncKeyValueBackend
from kvsession.kv.batch import Batch
from kvsession.kv.errors import ConflictError
from kvsession.kv.protocol import ExpireOp, KeyValueBackend, RefreshTtlOp, RequireOp, SetOp
from kvsession.orm import Compression, Expiry, Keyring, KeySpace, ModelStore
from kvsession.orm.plans import Io, Plan, run_plan
from kvsession.orm.store_base import ModelStoreBase
from kvsession.strands.bounded_cache import _BoundedCache
from kvsession.strands.errors import (
    MessageExistsError,
    SessionBusyError,
    SessionConflictError,
    SessionRecordExistsError,
    SessionRecordNotFoundError,
)
from kvsession.strands.fencing import INCARNATION, LEASE, SessionFencing
from kvsession.strands.models import SESSION, SessionKeys
from kvsession.strands.write_tokens import WRITE_TOKEN_TTL, WRITER, Claim, WriteTokens, _Writer, _Written

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

TTL_SLACK = 0.2
"""Extra lifetime, as a fraction of ``ttl``, that lets the group refresh run only now and then."""

ConflictHandler = Callable[[str], Exception | None]
"""Maps the key whose condition failed in a batch to the error to raise (``None``: re-raise)."""

_V = TypeVar("_V")


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


class SessionCore(SessionFencing, WriteTokens, Generic[SessionBackend]):
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
        # Write tokens (see kvsession.strands.write_tokens): each thread's identity as a
        # writer, and the writes whose outcome is unknown, by what they claim.
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
                of the session's slot in its registry set first (one round trip more).
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
            yield from Io.set_add(self.keys.registry_key(session_id), [self.keys.bucket_tag(session_id)])
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
