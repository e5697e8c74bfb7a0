"""``AsyncKeyValueBackend``: the async twin of :class:`~kvsession.kv.protocol.KeyValueBackend`.

The same methods with the same contract, awaited: an async agent's writes and reads never block
its event loop. The write operations (:mod:`kvsession.kv.protocol`'s ``SetOp`` ...) and
:class:`~kvsession.kv.batch.Batch` are shared with the sync side: a batch is built the same way
and handed to ``await backend.apply(batch.ops)``.

A backend with no I/O (the memory backend, an in-process store) gets its async twin for free
from :class:`AsyncShell`, which awaits nothing: each call runs to completion on the loop, so a
cancellation can never split a batch. Networked backends build their commands and parse their
replies once, and send them through a thin sync or async shell (see ``backends/valkey``).
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from kvsession.kv.protocol import KeyValueBackend, WriteOp

if TYPE_CHECKING:
    from kvsession.kv.config import BackendConfig

__all__ = ["AsyncKeyValueBackend", "AsyncShell"]


@runtime_checkable
class AsyncKeyValueBackend(Protocol):
    """A key-value store with ordered indexes, expiry and atomic batches, awaited.

    Every method means exactly what the method of the same name of
    :class:`~kvsession.kv.protocol.KeyValueBackend` means, raises the same typed errors, and on a
    networked backend costs the same one round trip. ``aclose`` releases the connections.
    """

    @property
    def config(self) -> BackendConfig:
        """The parsed URL and options this backend was created from."""
        ...

    async def get(self, key: str) -> bytes | None:
        """See :meth:`KeyValueBackend.get`."""
        ...

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """See :meth:`KeyValueBackend.get_many`."""
        ...

    async def set(
        self,
        key: str,
        value: bytes,
        *,
        only_if_absent: bool = False,
        only_if_present: bool = False,
        ttl: float | None = None,
    ) -> bool:
        """See :meth:`KeyValueBackend.set`."""
        ...

    async def delete_many(self, keys: Sequence[str]) -> int:
        """See :meth:`KeyValueBackend.delete_many`."""
        ...

    async def exists(self, key: str) -> bool:
        """See :meth:`KeyValueBackend.exists`."""
        ...

    async def index_add(self, key: str, members: Mapping[str, float]) -> int:
        """See :meth:`KeyValueBackend.index_add`."""
        ...

    async def index_range(
        self, key: str, *, offset: int = 0, limit: int | None = None, reverse: bool = False
    ) -> list[str]:
        """See :meth:`KeyValueBackend.index_range`."""
        ...

    async def index_range_with_scores(
        self, key: str, *, offset: int = 0, limit: int | None = None, reverse: bool = False
    ) -> list[tuple[str, float]]:
        """See :meth:`KeyValueBackend.index_range_with_scores`."""
        ...

    async def index_range_by_prefix(
        self, key: str, prefix: str, *, offset: int = 0, limit: int | None = None
    ) -> list[str]:
        """See :meth:`KeyValueBackend.index_range_by_prefix`."""
        ...

    async def index_score(self, key: str, member: str) -> float | None:
        """See :meth:`KeyValueBackend.index_score`."""
        ...

    async def index_remove(self, key: str, members: Sequence[str]) -> int:
        """See :meth:`KeyValueBackend.index_remove`."""
        ...

    async def index_count(self, key: str) -> int:
        """See :meth:`KeyValueBackend.index_count`."""
        ...

    async def set_add(self, key: str, members: Sequence[str]) -> int:
        """See :meth:`KeyValueBackend.set_add`."""
        ...

    async def set_members(self, key: str) -> builtins.set[str]:
        """See :meth:`KeyValueBackend.set_members`."""
        ...

    async def set_remove(self, key: str, members: Sequence[str]) -> int:
        """See :meth:`KeyValueBackend.set_remove`."""
        ...

    async def expire(self, key: str, ttl: float) -> bool:
        """See :meth:`KeyValueBackend.expire`."""
        ...

    async def ttl(self, key: str) -> float | None:
        """See :meth:`KeyValueBackend.ttl` (``KeyError`` for a missing key)."""
        ...

    async def apply(self, ops: Sequence[WriteOp]) -> None:
        """See :meth:`KeyValueBackend.apply`: all of ``ops`` or none, in one round trip."""
        ...

    async def aclose(self) -> None:
        """Release the backend's connections."""
        ...


class AsyncShell:
    """The async face of a sync backend that does no I/O (memory, an in-process store).

    Each call runs the sync method to completion without awaiting anything, so it never blocks
    the loop for longer than the operation itself and a cancelled task cannot interrupt a batch
    half-way. The wrapped backend stays usable (and shares its data) through :attr:`sync`.

    Args:
        backend: The sync backend; it must not do network or disk I/O.
    """

    def __init__(self, backend: KeyValueBackend) -> None:
        self.sync = backend

    def __repr__(self) -> str:
        return f"AsyncShell({self.sync!r})"

    @property
    def config(self) -> BackendConfig:
        """The wrapped backend's config."""
        return self.sync.config

    async def get(self, key: str) -> bytes | None:
        """See :meth:`KeyValueBackend.get`."""
        return self.sync.get(key)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """See :meth:`KeyValueBackend.get_many`."""
        return self.sync.get_many(keys)

    async def set(
        self,
        key: str,
        value: bytes,
        *,
        only_if_absent: bool = False,
        only_if_present: bool = False,
        ttl: float | None = None,
    ) -> bool:
        """See :meth:`KeyValueBackend.set`."""
        return self.sync.set(
            key, value, only_if_absent=only_if_absent, only_if_present=only_if_present, ttl=ttl
        )

    async def delete_many(self, keys: Sequence[str]) -> int:
        """See :meth:`KeyValueBackend.delete_many`."""
        return self.sync.delete_many(keys)

    async def exists(self, key: str) -> bool:
        """See :meth:`KeyValueBackend.exists`."""
        return self.sync.exists(key)

    async def index_add(self, key: str, members: Mapping[str, float]) -> int:
        """See :meth:`KeyValueBackend.index_add`."""
        return self.sync.index_add(key, members)

    async def index_range(
        self, key: str, *, offset: int = 0, limit: int | None = None, reverse: bool = False
    ) -> list[str]:
        """See :meth:`KeyValueBackend.index_range`."""
        return self.sync.index_range(key, offset=offset, limit=limit, reverse=reverse)

    async def index_range_with_scores(
        self, key: str, *, offset: int = 0, limit: int | None = None, reverse: bool = False
    ) -> list[tuple[str, float]]:
        """See :meth:`KeyValueBackend.index_range_with_scores`."""
        return self.sync.index_range_with_scores(key, offset=offset, limit=limit, reverse=reverse)

    async def index_range_by_prefix(
        self, key: str, prefix: str, *, offset: int = 0, limit: int | None = None
    ) -> list[str]:
        """See :meth:`KeyValueBackend.index_range_by_prefix`."""
        return self.sync.index_range_by_prefix(key, prefix, offset=offset, limit=limit)

    async def index_score(self, key: str, member: str) -> float | None:
        """See :meth:`KeyValueBackend.index_score`."""
        return self.sync.index_score(key, member)

    async def index_remove(self, key: str, members: Sequence[str]) -> int:
        """See :meth:`KeyValueBackend.index_remove`."""
        return self.sync.index_remove(key, members)

    async def index_count(self, key: str) -> int:
        """See :meth:`KeyValueBackend.index_count`."""
        return self.sync.index_count(key)

    async def set_add(self, key: str, members: Sequence[str]) -> int:
        """See :meth:`KeyValueBackend.set_add`."""
        return self.sync.set_add(key, members)

    async def set_members(self, key: str) -> builtins.set[str]:
        """See :meth:`KeyValueBackend.set_members`."""
        return self.sync.set_members(key)

    async def set_remove(self, key: str, members: Sequence[str]) -> int:
        """See :meth:`KeyValueBackend.set_remove`."""
        return self.sync.set_remove(key, members)

    async def expire(self, key: str, ttl: float) -> bool:
        """See :meth:`KeyValueBackend.expire`."""
        return self.sync.expire(key, ttl)

    async def ttl(self, key: str) -> float | None:
        """See :meth:`KeyValueBackend.ttl`."""
        return self.sync.ttl(key)

    async def apply(self, ops: Sequence[WriteOp]) -> None:
        """See :meth:`KeyValueBackend.apply`."""
        self.sync.apply(ops)

    async def aclose(self) -> None:
        """Close the wrapped backend."""
        self.sync.close()
