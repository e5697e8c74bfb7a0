"""A small builder that queues writes and hands them to ``KeyValueBackend.apply``."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType

from kvsession.kv.protocol import (
    DeleteGroupOp,
    DeleteOp,
    ExpireOp,
    IndexAddOp,
    IndexRemoveOp,
    KeyValueBackend,
    RefreshTtlOp,
    RequireOp,
    SetAddOp,
    SetOp,
    SetRemoveOp,
    WriteOp,
    WriteTokenOp,
)

__all__ = ["Batch"]


class Batch:
    """Queue writes, then apply them atomically in one round trip.

    Example:
        >>> with Batch(backend) as batch:
        ...     batch.set("a", b"1", only_if_absent=True)
        ...     batch.index_add("idx", {"a": 0})

    Leaving the ``with`` block without an exception applies the batch; an exception drops it.
    """

    def __init__(self, backend: KeyValueBackend) -> None:
        self._backend = backend
        self.ops: list[WriteOp] = []

    def set(
        self,
        key: str,
        value: bytes,
        *,
        only_if_absent: bool = False,
        only_if_present: bool = False,
        ttl: float | None = None,
    ) -> Batch:
        """Queue a :class:`SetOp`."""
        self.ops.append(SetOp(key, value, only_if_absent, only_if_present, ttl))
        return self

    def require(self, key: str, *, present: bool = True, equals: bytes | None = None) -> Batch:
        """Queue a :class:`RequireOp`: the batch applies only if ``key`` exists (or does not).

        With ``equals``, only if ``key`` holds exactly those bytes (``present`` must be true).

        Raises:
            ValueError: ``equals`` with ``present=False``.
        """
        if equals is not None and not present:
            raise ValueError(f"key=<{key}> | a key required to hold a value must be present")
        self.ops.append(RequireOp(key, present, equals))
        return self

    def delete_group(self, members_key: str) -> Batch:
        """Queue a :class:`DeleteGroupOp`: the set and every key it names, read server-side."""
        self.ops.append(DeleteGroupOp(members_key))
        return self

    def delete(self, *keys: str) -> Batch:
        """Queue a :class:`DeleteOp` (no-op for zero keys)."""
        if keys:
            self.ops.append(DeleteOp(tuple(keys)))
        return self

    def index_add(self, key: str, members: Mapping[str, float]) -> Batch:
        """Queue an :class:`IndexAddOp`."""
        if members:
            self.ops.append(IndexAddOp(key, tuple(members.items())))
        return self

    def index_remove(self, key: str, *members: str) -> Batch:
        """Queue an :class:`IndexRemoveOp`."""
        if members:
            self.ops.append(IndexRemoveOp(key, tuple(members)))
        return self

    def set_add(self, key: str, *members: str) -> Batch:
        """Queue a :class:`SetAddOp`."""
        if members:
            self.ops.append(SetAddOp(key, tuple(members)))
        return self

    def set_remove(self, key: str, *members: str) -> Batch:
        """Queue a :class:`SetRemoveOp`."""
        if members:
            self.ops.append(SetRemoveOp(key, tuple(members)))
        return self

    def expire(self, key: str, ttl: float) -> Batch:
        """Queue an :class:`ExpireOp`."""
        self.ops.append(ExpireOp(key, ttl))
        return self

    def refresh_ttl(self, members_key: str, ttl: float, *, below: float) -> Batch:
        """Queue a :class:`RefreshTtlOp`."""
        self.ops.append(RefreshTtlOp(members_key, ttl, below))
        return self

    def token(self, key: str, token: bytes, *, ttl: float) -> Batch:
        """Queue a :class:`WriteTokenOp`: a retry of this batch is recognised, not re-applied.

        Raises:
            ValueError: The batch already carries a token (one per batch).
        """
        if any(type(op) is WriteTokenOp for op in self.ops):
            raise ValueError(f"key=<{key}> | a batch carries at most one write token")
        self.ops.append(WriteTokenOp(key, token, ttl))
        return self

    def apply(self) -> None:
        """Apply the queued writes atomically (see ``KeyValueBackend.apply``) and clear the queue."""
        ops, self.ops = self.ops, []
        if ops:
            self._backend.apply(ops)

    def __enter__(self) -> Batch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.apply()
        else:
            self.ops.clear()
