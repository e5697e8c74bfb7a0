"""The keyspace of the in-memory backend: typed entries with an expiry, and the primitives on them.

:class:`MemoryKeyspace` holds what :class:`~kvsession.kv.memory.MemoryBackend` builds on: an
entry per key (a value, an ordered index or a set), expired lazily on access, and the primitive
reads and writes every protocol method and batch op is made of, with Valkey's rules (no empty
containers, a key of another kind is an error). The caller holds the backend's lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from kvsession.kv.errors import BackendError, ValueTooLargeError
from kvsession.kv.protocol import SetOp

__all__ = ["Clock", "Kind", "MemoryKeyspace"]

Kind = Literal["value", "index", "set"]
Clock = Callable[[], float]


@dataclass
class _Entry:
    kind: Kind
    value: bytes | dict[str, float] | set[str]
    expires_at: float | None = None


class MemoryKeyspace:
    """The entries of a memory backend and the primitives on them (the caller holds the lock).

    The state is set up by ``MemoryBackend.__init__``.
    """

    _data: dict[str, _Entry]
    _clock: Clock
    _max_value_bytes: int

    def _live(self, key: str) -> _Entry | None:
        entry = self._data.get(key)
        if entry is not None and entry.expires_at is not None and entry.expires_at <= self._clock():
            del self._data[key]
            return None
        return entry

    def _typed(self, key: str, kind: Kind) -> _Entry | None:
        entry = self._live(key)
        if entry is not None and entry.kind != kind:
            raise BackendError(f"holds a {entry.kind}, not a {kind}", key=key)
        return entry

    def _index(self, key: str) -> dict[str, float]:
        entry = self._typed(key, "index")
        if entry is None:
            return {}
        assert isinstance(entry.value, dict)
        return entry.value

    def _set(self, key: str) -> set[str]:
        entry = self._typed(key, "set")
        if entry is None:
            return set()
        assert isinstance(entry.value, set)
        return entry.value

    def _check_size(self, key: str, value: bytes) -> None:
        if len(value) > self._max_value_bytes:
            raise ValueTooLargeError(key, len(value), self._max_value_bytes)

    def _expiry(self, ttl: float | None) -> float | None:
        return None if ttl is None else self._clock() + ttl

    def _write_value(self, op: SetOp) -> None:
        self._data[op.key] = _Entry("value", bytes(op.value), self._expiry(op.ttl))

    def _add_to_index(self, key: str, members: Iterable[tuple[str, float]]) -> int:
        members = list(members)
        entry = self._typed(key, "index")
        if not members:  # Valkey holds no empty containers: an empty add creates nothing
            return 0
        if entry is None:
            entry = self._data[key] = _Entry("index", {})
        assert isinstance(entry.value, dict)
        before = len(entry.value)
        entry.value.update(members)
        return len(entry.value) - before

    def _remove_from_index(self, key: str, members: Iterable[str]) -> int:
        index = self._index(key)
        removed = sum(1 for m in members if index.pop(m, None) is not None)
        if not index:
            self._data.pop(key, None)
        return removed

    def _add_to_set(self, key: str, members: Iterable[str]) -> int:
        members = list(members)
        entry = self._typed(key, "set")
        if not members:  # as for indexes: no empty containers
            return 0
        if entry is None:
            entry = self._data[key] = _Entry("set", set())
        assert isinstance(entry.value, set)
        before = len(entry.value)
        entry.value.update(members)
        return len(entry.value) - before

    def _remove_from_set(self, key: str, members: Iterable[str]) -> int:
        members_set = self._set(key)
        removed = 0
        for member in members:
            if member in members_set:
                members_set.discard(member)
                removed += 1
        if not members_set:
            self._data.pop(key, None)
        return removed

    def _expire(self, key: str, ttl: float) -> bool:
        entry = self._live(key)
        if entry is None:
            return False
        entry.expires_at = self._clock() + ttl
        return True
