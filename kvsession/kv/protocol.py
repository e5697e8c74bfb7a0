"""The ``KeyValueBackend`` protocol: what kvsession needs from a store, and nothing more.

A backend stores opaque ``bytes`` values under ``str`` keys, keeps ordered indexes (members
ranked by a float score, like a Valkey sorted set) and plain set indexes, expires keys, and
applies a batch of writes atomically. It knows nothing about sessions: the repository builds
every key and encodes every value.

Round trips: on a networked backend every method below is exactly one round trip, whatever
the number of keys it is given. The repository's round-trip budget rests on this contract.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from kvsession.kv.config import BackendConfig

__all__ = [
    "DeleteGroupOp",
    "DeleteOp",
    "ExpireOp",
    "IndexAddOp",
    "IndexRemoveOp",
    "KeyValueBackend",
    "RefreshTtlOp",
    "RequireOp",
    "SetAddOp",
    "SetOp",
    "SetRemoveOp",
    "WriteOp",
    "WriteTokenOp",
]


@dataclass(frozen=True, slots=True)
class SetOp:
    """Store ``value`` under ``key``.

    Attributes:
        key: Key to write.
        value: Bytes to store.
        only_if_absent: Apply the batch only if ``key`` does not exist.
        only_if_present: Apply the batch only if ``key`` exists.
        ttl: Seconds until the key expires; ``None`` keeps no expiry (and clears an old one).
    """

    key: str
    value: bytes
    only_if_absent: bool = False
    only_if_present: bool = False
    ttl: float | None = None


@dataclass(frozen=True, slots=True)
class DeleteOp:
    """Delete ``keys`` (of any kind); missing keys are ignored."""

    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class IndexAddOp:
    """Add members to the ordered index ``key``, or move existing ones to a new score."""

    key: str
    members: tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True)
class IndexRemoveOp:
    """Remove members from the ordered index ``key``; absent members are ignored."""

    key: str
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SetAddOp:
    """Add members to the set index ``key``."""

    key: str
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SetRemoveOp:
    """Remove members from the set index ``key``; absent members are ignored."""

    key: str
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ExpireOp:
    """Make ``key`` expire ``ttl`` seconds from now (a missing key is ignored)."""

    key: str
    ttl: float


@dataclass(frozen=True, slots=True)
class RefreshTtlOp:
    """Re-expire a group of keys together, but only when it is due.

    If the set index ``members_key`` has less than ``below`` seconds to live (or no expiry), set
    ``ttl`` on it and on every key named by its members; otherwise do nothing. A missing set is
    ignored. Done server-side, so refreshing a group of N keys costs no extra round trip, and it
    runs at most once per ``ttl - below`` seconds however often it is queued.
    """

    members_key: str
    ttl: float
    below: float


@dataclass(frozen=True, slots=True)
class RequireOp:
    """A precondition: apply the batch only if ``key`` exists (``present``) or does not.

    With ``equals`` (and ``present=True``), apply the batch only if ``key`` holds exactly those
    bytes as a value: a missing key, another value, or an index or a set fails the condition
    (a :class:`~kvsession.kv.errors.ConflictError` naming ``key``, never a kind error). This is
    the compare-and-swap of optimistic concurrency and of fencing tokens: a writer states what
    it last saw and the batch refuses to apply over anything else.

    Writes nothing. Judged, like every condition, against the state the ops before it leave (a
    value set earlier in the same batch is compared, a key deleted earlier counts as missing).

    Attributes:
        key: The key judged.
        present: Whether it must exist (``True``) or must not.
        equals: The exact bytes it must hold (``None``: any value, index or set).
    """

    key: str
    present: bool
    equals: bytes | None = None


@dataclass(frozen=True, slots=True)
class DeleteGroupOp:
    """Delete the set index ``members_key`` and every key named by its members, server-side.

    The members are read when the batch runs, not before, so a key added to the group by
    another client a moment earlier is deleted too. A missing set deletes nothing.
    """

    members_key: str


@dataclass(frozen=True, slots=True)
class WriteTokenOp:
    """Make the batch safe to re-send: recognise its own earlier application by ``token``.

    Judged first, before any condition: if ``key`` holds exactly ``token``, this batch (or one
    carrying the same token) was already applied, and ``apply`` returns successfully without
    writing anything, so a batch re-sent after a lost reply neither fails its own conditions
    (an only-if-absent create meeting its own record) nor redoes its writes. Otherwise the batch
    is judged and applied as without a token, and only if it is applied does ``key`` get
    ``token``, written last (replacing whatever the key holds), expiring ``ttl`` seconds later.

    At most one per batch (:class:`~kvsession.kv.errors.BackendError` otherwise); ``key`` must
    not hold an index or a set when the batch starts (``BackendError`` naming it). A token names
    one batch: the writer must never reuse it for a batch with other writes. A writer keeps its
    token key to itself (one per writer), so no other writer replaces the token between an
    applied batch and its retry; the ttl bounds how long a retry is recognised.

    Attributes:
        key: Where the token is kept.
        token: Bytes unique to this batch.
        ttl: Seconds the token is kept after the batch is applied.
    """

    key: str
    token: bytes
    ttl: float


WriteOp = (
    SetOp
    | DeleteOp
    | DeleteGroupOp
    | RequireOp
    | IndexAddOp
    | IndexRemoveOp
    | SetAddOp
    | SetRemoveOp
    | ExpireOp
    | RefreshTtlOp
    | WriteTokenOp
)
"""One write queued in an atomic batch."""


@runtime_checkable
class KeyValueBackend(Protocol):
    """A key-value store with ordered indexes, expiry and atomic batches.

    Keys are ``str``; values are ``bytes`` and come back byte for byte. Index members are
    ``str``. A key holds one kind of thing (value, ordered index or set index); using it as
    another kind raises :class:`~kvsession.kv.errors.BackendError` naming it. Connection failures
    raise :class:`~kvsession.kv.errors.BackendUnavailable`; a value over the backend's size limit
    raises :class:`~kvsession.kv.errors.ValueTooLargeError` before anything is sent.
    """

    @property
    def config(self) -> BackendConfig:
        """The parsed URL and options this backend was created from (scheme, store options ...)."""
        ...

    # -- values -------------------------------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        """Return the value stored under ``key``, or ``None`` if it is missing or expired."""
        ...

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Return the values of ``keys`` in the same order, ``None`` for each missing key."""
        ...

    def set(
        self,
        key: str,
        value: bytes,
        *,
        only_if_absent: bool = False,
        only_if_present: bool = False,
        ttl: float | None = None,
    ) -> bool:
        """Store ``value`` under ``key``.

        Args:
            key: Key to write.
            value: Bytes to store.
            only_if_absent: Write only if the key does not exist (an atomic "create").
            only_if_present: Write only if the key exists (an atomic "update").
            ttl: Seconds until the key expires; ``None`` stores it without expiry.

        Returns:
            ``True`` if the value was written, ``False`` if a condition prevented it.
        """
        ...

    def delete_many(self, keys: Sequence[str]) -> int:
        """Delete ``keys`` of any kind and return how many existed."""
        ...

    def exists(self, key: str) -> bool:
        """Return whether ``key`` exists (as a value or an index)."""
        ...

    # -- ordered index ------------------------------------------------------------------------

    def index_add(self, key: str, members: Mapping[str, float]) -> int:
        """Add ``members`` (member -> score) to the ordered index; return how many were new."""
        ...

    def index_range(
        self, key: str, *, offset: int = 0, limit: int | None = None, reverse: bool = False
    ) -> list[str]:
        """Return members ordered by (score, member), skipping ``offset`` and at most ``limit``.

        ``reverse=True`` orders from the highest score down. A missing index is empty.
        """
        ...

    def index_range_with_scores(
        self, key: str, *, offset: int = 0, limit: int | None = None, reverse: bool = False
    ) -> list[tuple[str, float]]:
        """Return ``(member, score)`` pairs in the order and window of :meth:`index_range`."""
        ...

    def index_range_by_prefix(
        self, key: str, prefix: str, *, offset: int = 0, limit: int | None = None
    ) -> list[str]:
        """Return members starting with ``prefix`` in lexicographic order.

        Meaningful only for an index whose members all share one score (as with Valkey's
        ZRANGEBYLEX): give every member score 0 for a lexicographic index.
        """
        ...

    def index_score(self, key: str, member: str) -> float | None:
        """Return the score of ``member``, or ``None`` if it is not in the index."""
        ...

    def index_remove(self, key: str, members: Sequence[str]) -> int:
        """Remove ``members`` from the ordered index; return how many were there."""
        ...

    def index_count(self, key: str) -> int:
        """Return the number of members of the ordered index (0 if missing)."""
        ...

    # -- set index ----------------------------------------------------------------------------

    def set_add(self, key: str, members: Sequence[str]) -> int:
        """Add ``members`` to the set index; return how many were new."""
        ...

    def set_members(self, key: str) -> builtins.set[str]:
        """Return every member of the set index (empty if missing)."""
        ...

    def set_remove(self, key: str, members: Sequence[str]) -> int:
        """Remove ``members`` from the set index; return how many were there."""
        ...

    # -- expiry -------------------------------------------------------------------------------

    def expire(self, key: str, ttl: float) -> bool:
        """Make ``key`` expire in ``ttl`` seconds; return ``False`` if the key is missing."""
        ...

    def ttl(self, key: str) -> float | None:
        """Return the seconds left before ``key`` expires.

        Returns ``None`` when the key exists without expiry, and raises ``KeyError`` when the
        key does not exist, so the two cases cannot be confused.
        """
        ...

    # -- atomic batch -------------------------------------------------------------------------

    def apply(self, ops: Sequence[WriteOp]) -> None:
        """Apply ``ops`` in order, atomically and in one round trip: all of them or none.

        Every condition (``only_if_absent`` / ``only_if_present``, :class:`RequireOp`) and
        every key's kind is checked before the first write. If one fails, nothing is written and
        :class:`~kvsession.kv.errors.ConflictError` (a condition) or
        :class:`~kvsession.kv.errors.BackendError` (a wrong kind) names the key. No other client
        observes a state in which only part of the batch is applied.

        With a :class:`WriteTokenOp` whose key already holds its token, nothing is judged or
        written and the call returns successfully: the batch was applied before (a retry).
        """
        ...

    def close(self) -> None:
        """Release connections; the backend is unusable afterwards."""
        ...
