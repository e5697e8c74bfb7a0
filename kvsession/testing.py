"""Test utilities that ship with kvsession: count what your code asks of a backend.

``CountingBackend`` wraps any backend and counts calls per method. Every backend method is one
round trip on a networked backend (see :mod:`kvsession.protocol`), so the count of calls is the
count of round trips — the unit of kvsession's performance budget.
"""

from __future__ import annotations

import builtins
from collections import Counter
from collections.abc import Mapping, Sequence

from kvsession.config import BackendConfig
from kvsession.protocol import KeyValueBackend, WriteOp

__all__ = ["CountingBackend"]


class CountingBackend:
    """A ``KeyValueBackend`` that forwards to ``inner`` and counts each call.

    Attributes:
        calls: Calls per method name since the last :meth:`reset`.
    """

    def __init__(self, inner: KeyValueBackend) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    @property
    def config(self) -> BackendConfig:
        """The wrapped backend's config."""
        return self.inner.config

    @property
    def round_trips(self) -> int:
        """Total calls (round trips) since the last reset."""
        return sum(self.calls.values())

    def reset(self) -> None:
        """Forget the counts."""
        self.calls.clear()

    def get(self, key: str) -> bytes | None:
        """Forward ``get``."""
        self.calls["get"] += 1
        return self.inner.get(key)

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Forward ``get_many``."""
        self.calls["get_many"] += 1
        return self.inner.get_many(keys)

    def set(
        self,
        key: str,
        value: bytes,
        *,
        only_if_absent: bool = False,
        only_if_present: bool = False,
        ttl: float | None = None,
    ) -> bool:
        """Forward ``set``."""
        self.calls["set"] += 1
        return self.inner.set(
            key, value, only_if_absent=only_if_absent, only_if_present=only_if_present, ttl=ttl
        )

    def delete_many(self, keys: Sequence[str]) -> int:
        """Forward ``delete_many``."""
        self.calls["delete_many"] += 1
        return self.inner.delete_many(keys)

    def exists(self, key: str) -> bool:
        """Forward ``exists``."""
        self.calls["exists"] += 1
        return self.inner.exists(key)

    def index_add(self, key: str, members: Mapping[str, float]) -> int:
        """Forward ``index_add``."""
        self.calls["index_add"] += 1
        return self.inner.index_add(key, members)

    def index_range(
        self, key: str, *, offset: int = 0, limit: int | None = None, reverse: bool = False
    ) -> list[str]:
        """Forward ``index_range``."""
        self.calls["index_range"] += 1
        return self.inner.index_range(key, offset=offset, limit=limit, reverse=reverse)

    def index_range_with_scores(
        self, key: str, *, offset: int = 0, limit: int | None = None, reverse: bool = False
    ) -> list[tuple[str, float]]:
        """Forward ``index_range_with_scores``."""
        self.calls["index_range_with_scores"] += 1
        return self.inner.index_range_with_scores(key, offset=offset, limit=limit, reverse=reverse)

    def index_range_by_prefix(
        self, key: str, prefix: str, *, offset: int = 0, limit: int | None = None
    ) -> list[str]:
        """Forward ``index_range_by_prefix``."""
        self.calls["index_range_by_prefix"] += 1
        return self.inner.index_range_by_prefix(key, prefix, offset=offset, limit=limit)

    def index_score(self, key: str, member: str) -> float | None:
        """Forward ``index_score``."""
        self.calls["index_score"] += 1
        return self.inner.index_score(key, member)

    def index_remove(self, key: str, members: Sequence[str]) -> int:
        """Forward ``index_remove``."""
        self.calls["index_remove"] += 1
        return self.inner.index_remove(key, members)

    def index_count(self, key: str) -> int:
        """Forward ``index_count``."""
        self.calls["index_count"] += 1
        return self.inner.index_count(key)

    def set_add(self, key: str, members: Sequence[str]) -> int:
        """Forward ``set_add``."""
        self.calls["set_add"] += 1
        return self.inner.set_add(key, members)

    def set_members(self, key: str) -> builtins.set[str]:
        """Forward ``set_members``."""
        self.calls["set_members"] += 1
        return self.inner.set_members(key)

    def set_remove(self, key: str, members: Sequence[str]) -> int:
        """Forward ``set_remove``."""
        self.calls["set_remove"] += 1
        return self.inner.set_remove(key, members)

    def expire(self, key: str, ttl: float) -> bool:
        """Forward ``expire``."""
        self.calls["expire"] += 1
        return self.inner.expire(key, ttl)

    def ttl(self, key: str) -> float | None:
        """Forward ``ttl``."""
        self.calls["ttl"] += 1
        return self.inner.ttl(key)

    def apply(self, ops: Sequence[WriteOp]) -> None:
        """Forward ``apply``."""
        self.calls["apply"] += 1
        self.inner.apply(ops)

    def close(self) -> None:
        """Forward ``close`` (not counted)."""
        self.inner.close()
