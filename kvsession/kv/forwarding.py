"""``ForwardingBackend``: a backend that hands every call to another, through one method.

Counting, tracing or fault-injecting wrappers subclass it and override :meth:`forward` only
(``kvsession.testing.CountingBackend`` is six lines), instead of re-declaring the protocol.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import Any, cast

from kvsession.kv.config import BackendConfig
from kvsession.kv.protocol import KeyValueBackend, WriteOp

__all__ = ["ForwardingBackend"]


class ForwardingBackend:
    """A :class:`~kvsession.kv.protocol.KeyValueBackend` that forwards to ``inner``.

    Every protocol method calls :meth:`forward` with its name and arguments, so a subclass sees
    each call (and can change it) in one place.

    Args:
        inner: The backend that does the work.
    """

    def __init__(self, inner: KeyValueBackend) -> None:
        self.inner = inner

    def forward(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``method`` of the inner backend; override to count, trace or inject faults."""
        return getattr(self.inner, method)(*args, **kwargs)

    @property
    def config(self) -> BackendConfig:
        """The inner backend's config."""
        return self.inner.config

    def get(self, key: str) -> bytes | None:
        """Forward ``get``."""
        return cast("bytes | None", self.forward("get", key))

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Forward ``get_many``."""
        return cast("list[bytes | None]", self.forward("get_many", keys))

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
        return bool(
            self.forward(
                "set", key, value, only_if_absent=only_if_absent, only_if_present=only_if_present, ttl=ttl
            )
        )

    def delete_many(self, keys: Sequence[str]) -> int:
        """Forward ``delete_many``."""
        return int(self.forward("delete_many", keys))

    def exists(self, key: str) -> bool:
        """Forward ``exists``."""
        return bool(self.forward("exists", key))

    def index_add(self, key: str, members: Mapping[str, float]) -> int:
        """Forward ``index_add``."""
        return int(self.forward("index_add", key, members))

    def index_range(
        self, key: str, *, offset: int = 0, limit: int | None = None, reverse: bool = False
    ) -> list[str]:
        """Forward ``index_range``."""
        return cast(
            "list[str]", self.forward("index_range", key, offset=offset, limit=limit, reverse=reverse)
        )

    def index_range_with_scores(
        self, key: str, *, offset: int = 0, limit: int | None = None, reverse: bool = False
    ) -> list[tuple[str, float]]:
        """Forward ``index_range_with_scores``."""
        return cast(
            "list[tuple[str, float]]",
            self.forward("index_range_with_scores", key, offset=offset, limit=limit, reverse=reverse),
        )

    def index_range_by_prefix(
        self, key: str, prefix: str, *, offset: int = 0, limit: int | None = None
    ) -> list[str]:
        """Forward ``index_range_by_prefix``."""
        return cast(
            "list[str]", self.forward("index_range_by_prefix", key, prefix, offset=offset, limit=limit)
        )

    def index_score(self, key: str, member: str) -> float | None:
        """Forward ``index_score``."""
        return cast("float | None", self.forward("index_score", key, member))

    def index_remove(self, key: str, members: Sequence[str]) -> int:
        """Forward ``index_remove``."""
        return int(self.forward("index_remove", key, members))

    def index_count(self, key: str) -> int:
        """Forward ``index_count``."""
        return int(self.forward("index_count", key))

    def set_add(self, key: str, members: Sequence[str]) -> int:
        """Forward ``set_add``."""
        return int(self.forward("set_add", key, members))

    def set_members(self, key: str) -> builtins.set[str]:
        """Forward ``set_members``."""
        return cast("builtins.set[str]", self.forward("set_members", key))

    def set_remove(self, key: str, members: Sequence[str]) -> int:
        """Forward ``set_remove``."""
        return int(self.forward("set_remove", key, members))

    def expire(self, key: str, ttl: float) -> bool:
        """Forward ``expire``."""
        return bool(self.forward("expire", key, ttl))

    def ttl(self, key: str) -> float | None:
        """Forward ``ttl``."""
        return cast("float | None", self.forward("ttl", key))

    def apply(self, ops: Sequence[WriteOp]) -> None:
        """Forward ``apply``."""
        self.forward("apply", ops)

    def close(self) -> None:
        """Forward ``close``."""
        self.forward("close")
