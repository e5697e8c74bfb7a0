"""``ModelStore``: typed reads, and typed writes queued onto one atomic batch.

A store binds a backend, a codec, a key space (prefix, cluster hash tags) and an expiry policy.
Reads are one round trip each (a list through an index two). Writes are queued onto a
:class:`~kvsession.kv.batch.Batch`, so records of several models, their index entries and
their group are written together or not at all, in one round trip::

    store = ModelStore(backend)
    with store.batch() as batch:
        store.create(batch, PROFILE, profile)
        store.create(batch, PREFERENCES, prefs, user_id="u1")
    store.get(PROFILE, user_id="u1")

Sync and async share everything but the I/O. Each read is written once as a *plan*: a generator
that yields the backend calls it needs (:class:`Call`) and returns the decoded result. A sync
store runs a plan with :func:`run_plan`, an :class:`AsyncModelStore` with :func:`run_plan_async`
(``await backend.<method>`` instead of ``backend.<method>``); key building, validation, the codec
and the queuing of writes are the same code for both::

    store = AsyncModelStore(await kvsession.connect_async("valkey://..."))
    batch = store.batch()
    store.create(batch, PROFILE, profile)
    await store.apply(batch)
    await store.get(PROFILE, user_id="u1")

Expiry: with a ttl, every record written expires ``ttl * (1 + slack)`` after its write, and the
record's group is re-expired together, server-side, only when less than ``ttl`` is left — so a
write costs no extra round trip and the O(N) refresh of a group runs at most once per
``ttl * slack`` seconds however many writes arrive.

Where each part lives: the plans and their drivers in :mod:`kvsession.orm.plans`, the expiry
policy in :mod:`kvsession.orm.expiry`, keys, codec, read plans and queued writes in
:mod:`kvsession.orm.store_base`; this module holds the two shells that run them, and
re-exports the rest so that every name stays importable from here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, cast

from kvsession.kv.aio import AsyncKeyValueBackend
from kvsession.kv.batch import Batch
from kvsession.kv.protocol import KeyValueBackend
from kvsession.orm.expiry import Expiry
from kvsession.orm.model import Model, OrderedIndex, SetIndex
from kvsession.orm.plans import Call, Io, Plan, run_plan, run_plan_async
from kvsession.orm.store_base import ModelStoreBase, _AwaitedBatches
from kvsession.orm.store_base import WriteMode as WriteMode  # importable from here, as before

__all__ = [
    "AsyncModelStore",
    "Call",
    "Expiry",
    "Io",
    "ModelStore",
    "ModelStoreBase",
    "Plan",
    "run_plan",
    "run_plan_async",
]

T = TypeVar("T")


class ModelStore(ModelStoreBase[KeyValueBackend]):
    """Reads and writes model records in one backend (arguments: see :class:`ModelStoreBase`)."""

    def batch(self) -> Batch:
        """Start an atomic batch on this store's backend (apply it, or use it as a ``with`` block)."""
        return Batch(self.backend)

    def run(self, plan: Plan[T]) -> T:
        """Run a plan against this store's backend."""
        return run_plan(self.backend, plan)

    def get(self, model: Model[T], **fields: Any) -> T | None:
        """Return the record of ``model`` with these key fields, or ``None`` (one round trip)."""
        plan = self.plan_get(model, **fields)
        return run_plan(self.backend, plan)

    def get_many(self, model: Model[T], fields: Sequence[Mapping[str, Any]]) -> list[T | None]:
        """Return the records named by each mapping of key fields, ``None`` where missing (one round trip)."""
        return run_plan(self.backend, self.plan_get_many(model, fields))

    def members(self, index: SetIndex, **fields: Any) -> set[str]:
        """Return the members of a set index (one round trip)."""
        return run_plan(self.backend, self.plan_members(index, **fields))

    def index_window(
        self,
        index: OrderedIndex,
        *,
        offset: int = 0,
        limit: int | None = None,
        reverse: bool = False,
        **fields: Any,
    ) -> list[str]:
        """Return the members of an ordered index in order, skipping ``offset``, at most ``limit``."""
        plan = self.plan_index_window(index, offset=offset, limit=limit, reverse=reverse, **fields)
        return run_plan(self.backend, plan)

    def list_indexed(
        self,
        model: Model[T],
        index: OrderedIndex,
        *,
        offset: int = 0,
        limit: int | None = None,
        reverse: bool = False,
        **fields: Any,
    ) -> list[T]:
        """Return the records an ordered index lists, in its order (two round trips).

        ``index.member`` must be a field of the model's key; ``fields`` give the index's other
        fields. An entry whose record is gone (deleted or expired between the two round trips)
        is left out.
        """
        plan = self.plan_list_indexed(model, index, offset=offset, limit=limit, reverse=reverse, **fields)
        return run_plan(self.backend, plan)

    def touch(self, group: str) -> None:
        """With a ttl, keep a group alive now if its refresh is due (one round trip)."""
        run_plan(self.backend, self.plan_touch(group))


class AsyncModelStore(ModelStoreBase[AsyncKeyValueBackend]):
    """:class:`ModelStore` over an :class:`~kvsession.kv.aio.AsyncKeyValueBackend`: the same reads, awaited.

    Writes are queued exactly as on :class:`ModelStore` (``store.create(batch, ...)``) and
    applied with ``await store.apply(batch)``. Arguments: see :class:`ModelStoreBase`.
    """

    def batch(self) -> Batch:
        """Start an atomic batch; apply it with ``await store.apply(batch)`` (its own ``apply`` raises)."""
        return Batch(cast("KeyValueBackend", _AwaitedBatches()))

    async def apply(self, batch: Batch) -> None:
        """Apply the queued writes atomically in one round trip, and clear the batch."""
        ops, batch.ops = batch.ops, []
        await run_plan_async(self.backend, Io.apply(ops))

    async def run(self, plan: Plan[T]) -> T:
        """Run a plan against this store's backend."""
        return await run_plan_async(self.backend, plan)

    async def get(self, model: Model[T], **fields: Any) -> T | None:
        """See :meth:`ModelStore.get`."""
        plan = self.plan_get(model, **fields)
        return await run_plan_async(self.backend, plan)

    async def get_many(self, model: Model[T], fields: Sequence[Mapping[str, Any]]) -> list[T | None]:
        """See :meth:`ModelStore.get_many`."""
        return await run_plan_async(self.backend, self.plan_get_many(model, fields))

    async def members(self, index: SetIndex, **fields: Any) -> set[str]:
        """See :meth:`ModelStore.members`."""
        return await run_plan_async(self.backend, self.plan_members(index, **fields))

    async def index_window(
        self,
        index: OrderedIndex,
        *,
        offset: int = 0,
        limit: int | None = None,
        reverse: bool = False,
        **fields: Any,
    ) -> list[str]:
        """See :meth:`ModelStore.index_window`."""
        plan = self.plan_index_window(index, offset=offset, limit=limit, reverse=reverse, **fields)
        return await run_plan_async(self.backend, plan)

    async def list_indexed(
        self,
        model: Model[T],
        index: OrderedIndex,
        *,
        offset: int = 0,
        limit: int | None = None,
        reverse: bool = False,
        **fields: Any,
    ) -> list[T]:
        """See :meth:`ModelStore.list_indexed`."""
        plan = self.plan_list_indexed(model, index, offset=offset, limit=limit, reverse=reverse, **fields)
        return await run_plan_async(self.backend, plan)

    async def touch(self, group: str) -> None:
        """See :meth:`ModelStore.touch`."""
        await run_plan_async(self.backend, self.plan_touch(group))
