"""How a write of one session is committed.

Its preconditions, the sessions index, the error a failed condition becomes, and recognising a
retry of our own write.

:class:`SessionWrites` is the base of :class:`~kvsession.strands.repository.KVSessionRepository`:
it holds the store (backend, codec, key space, expiry) and the session layout's key names, and
everything the create/update/put methods share.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from datetime import timedelta
from typing import Literal, TypeVar

from kvsession.kv.batch import Batch
from kvsession.kv.errors import ConflictError
from kvsession.kv.protocol import KeyValueBackend, RequireOp, SetOp, WriteOp
from kvsession.orm import Compression, Expiry, Keyring, KeySpace, ModelStore
from kvsession.strands.errors import MessageExistsError, SessionRecordExistsError, SessionRecordNotFoundError
from kvsession.strands.models import SESSION, SessionKeys

__all__ = ["TTL_SLACK", "ConflictHandler", "SessionWrites"]

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


class SessionWrites:
    """The store of a session repository and how its batches are committed.

    Args:
        backend: Where bytes go. Its ``config.store`` supplies defaults for the options below.
        codec: ``"json"`` or ``"msgpack"``; reading sniffs the format, so either reads both.
        prefix: Namespace in front of every key.
        cluster: Use the cluster key space (session id as a hash tag).
        ttl: Inactivity after which a session expires, in seconds or as a ``timedelta``
            (``None``: never).
        touch_on_read: Whether reads also keep a session alive.
        compress: ``"zstd"``, ``"none"`` or a :class:`~kvsession.orm.Compression`; default
            the URL's ``compress``. Compressed values read back either way.
        keyring: Encrypt every value with this :class:`~kvsession.orm.Keyring`'s newest key;
            default the keys named by the URL's ``encrypt=env:NAME`` (none: no encryption).
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
        compress: Compression | Literal["none", "zstd"] | None = None,
        keyring: Keyring | None = None,
    ) -> None:
        options = backend.config.store
        self.backend = backend
        self.store = ModelStore(
            backend,
            codec=codec or options.codec,
            keys=KeySpace(
                prefix=options.prefix if prefix is None else prefix,
                cluster=(options.key_scheme == "cluster") if cluster is None else cluster,
            ),
            expiry=Expiry.of(options.ttl if ttl is None else ttl, TTL_SLACK),
            compress=compress,
            keyring=keyring,
        )
        self.codec = self.store.codec
        self.keys = SessionKeys(self.store)
        self.touch_on_read = options.touch_on_read if touch_on_read is None else touch_on_read
        # created_at of agents this repository has read or written, so update_agent keeps it
        # without reading the record again (Strands hands update_agent a fresh SessionAgent).
        self._agent_created_at: _BoundedCache[tuple[str, str], str] = _BoundedCache()
        self._lock = threading.Lock()

    def _remember_agent(self, session_id: str, agent_id: str, created_at: str) -> None:
        with self._lock:
            self._agent_created_at.put((session_id, agent_id), created_at)

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

    def _touch_on_read(self, session_id: str) -> None:
        """With ``touch_on_read``, keep the session alive on a read (one extra round trip)."""
        if self.touch_on_read:
            self.store.touch(self.keys.owned_keys(session_id))

    # -- applying a write ---------------------------------------------------------------------

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
                    return SessionRecordNotFoundError(
                        f"session_id=<{session_id}> | session does not exist", key=root
                    )
                return error

        index = self.keys.sessions_index()
        separate = self.keys.cluster  # the sessions index lives in another slot
        target = self.store.batch() if separate else batch
        if forget:
            target.index_remove(index, session_id)
        elif updated:
            target.index_add(index, {session_id: time.time() if now is None else now})
        self._apply(batch, on_conflict)
        if separate:
            target.apply()

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
