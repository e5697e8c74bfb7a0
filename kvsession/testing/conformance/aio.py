"""The kit for async backends: the shared test bodies through :class:`BlockingBackend`, and more.

The more is what only an awaited backend can get wrong: cancelled tasks, many tasks on one
loop, fresh event loops.

A test class of an async suite makes its backend with :meth:`AsyncBackendTestBase.make_async_backend`,
which returns the :class:`~kvsession.kv.aio.AsyncKeyValueBackend`; the kit's ``make_backend``
wraps it in a :class:`BlockingBackend`, so every sync test body runs unchanged, each call a
coroutine awaited on the wrapper's private loop.
"""

# ruff: noqa: D102 -- each test's name states the rule it checks.

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar, cast

import pytest

from kvsession.kv.aio import AsyncKeyValueBackend
from kvsession.kv.errors import BackendError, BackendUnavailable, ConflictError, ValueTooLargeError
from kvsession.kv.protocol import IndexAddOp, KeyValueBackend, SetAddOp, SetOp, WriteOp
from kvsession.testing.blocking import BlockingBackend
from kvsession.testing.conformance.harness import BackendTestBase

__all__ = ["AsyncBackendTestBase", "AsyncOnlyTests"]

T = TypeVar("T")

CONCURRENT_TASKS = 200
CANCELLATION_POINTS = 16


class AsyncBackendTestBase(BackendTestBase):
    """Gives a conformance test an async backend, wrapped so that sync test bodies drive it.

    Override:
        make_async_backend: Required. Return a new, empty
            :class:`~kvsession.kv.aio.AsyncKeyValueBackend` (not ``make_backend``: the kit's
            ``make_backend`` wraps what this returns).
        make_unreachable_backend: Optional. An async backend whose server cannot be reached
            (a closed port), for the lost-connection test; default ``None`` skips it.
        advance: Optional, as for sync backends.
    """

    def make_async_backend(self, **options: Any) -> AsyncKeyValueBackend:
        """Return a new async backend, empty, that the calling test may use alone.

        The kit wraps it in a :class:`BlockingBackend` (:attr:`backend`) and closes it after the
        test; the async backend itself is :attr:`async_backend`. ``options`` as for
        :meth:`~kvsession.testing.conformance.harness.BackendTestBase.make_backend`.
        """
        raise NotImplementedError(f"{type(self).__name__} must override make_async_backend()")

    def make_backend(self, **options: Any) -> KeyValueBackend:
        """Return :meth:`make_async_backend`'s backend, wrapped in a :class:`BlockingBackend`."""
        return BlockingBackend(self.make_async_backend(**options))

    def make_unreachable_backend(self) -> AsyncKeyValueBackend | None:
        """Return an async backend whose server cannot be reached, or ``None`` (no network)."""
        return None

    @property
    def blocking(self) -> BlockingBackend:
        """:attr:`backend`, as the :class:`BlockingBackend` the kit made."""
        return cast("BlockingBackend", self.backend)

    @property
    def async_backend(self) -> AsyncKeyValueBackend:
        """The async backend under test (the one :attr:`backend` drives)."""
        return self.blocking.async_backend

    def run(self, awaitable: Coroutine[Any, Any, T]) -> T:
        """Await ``awaitable`` on the loop the backend under test runs on; return its result."""
        return self.blocking.run(awaitable)


def _batch(prefix: str, size: int) -> tuple[list[str], list[WriteOp]]:
    keys = [f"{prefix}:{i}" for i in range(size)]
    ops: list[WriteOp] = [SetOp(key, key.encode() * 50) for key in keys]
    ops.append(IndexAddOp(f"{prefix}:idx", tuple((key, float(i)) for i, key in enumerate(keys))))
    ops.append(SetAddOp(f"{prefix}:set", tuple(keys)))
    return keys, ops


class AsyncOnlyTests(AsyncBackendTestBase):
    """What only an awaited backend can get wrong."""

    def test_implements_the_async_protocol_with_coroutines(self) -> None:
        backend = self.async_backend
        assert isinstance(backend, AsyncKeyValueBackend)
        for name, member in vars(AsyncKeyValueBackend).items():
            if inspect.iscoroutinefunction(member):
                assert inspect.iscoroutinefunction(getattr(backend, name)), name

    def test_a_cancelled_apply_leaves_all_or_nothing(self) -> None:
        backend = self.async_backend

        async def cancel_after(point: int) -> None:
            _, ops = _batch(f"c{point}", 20)
            task = asyncio.ensure_future(backend.apply(ops))
            if point % 2:
                await asyncio.sleep(0.0002 * point)  # somewhere in the round trip
            else:
                for _ in range(point // 2):
                    await asyncio.sleep(0)  # between the steps of the call
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        async def cancel_everywhere() -> None:
            await backend.exists("warm-up")  # a pooled connection: the first step then sends the batch
            for point in range(CANCELLATION_POINTS):
                await cancel_after(point)

        self.run(cancel_everywhere())
        for point in range(CANCELLATION_POINTS):
            keys, _ = _batch(f"c{point}", 20)
            values = self.backend.get_many(keys)
            applied = values[0] is not None
            assert values == ([key.encode() * 50 for key in keys] if applied else [None] * len(keys)), point
            assert self.backend.index_range(f"c{point}:idx") == (keys if applied else []), point
            assert self.backend.set_members(f"c{point}:set") == (set(keys) if applied else set()), point
        # The connection a cancelled command was on never hands its late reply to a later call.
        self.backend.set("after", b"fresh")
        assert self.backend.get_many(["after", "c0:0"])[0] == b"fresh"

    def test_many_concurrent_applies_on_one_loop_are_all_applied(self) -> None:
        backend = self.async_backend

        async def write_all() -> None:
            await asyncio.gather(
                *(
                    backend.apply(
                        [
                            SetOp(f"m{i}", str(i).encode()),
                            IndexAddOp("idx", ((f"m{i}", float(i)),)),
                            SetAddOp("set", (f"m{i}",)),
                        ]
                    )
                    for i in range(CONCURRENT_TASKS)
                )
            )

        self.run(write_all())
        keys = [f"m{i}" for i in range(CONCURRENT_TASKS)]
        assert self.backend.get_many(keys) == [str(i).encode() for i in range(CONCURRENT_TASKS)]
        assert self.backend.index_range("idx") == keys
        assert self.backend.set_members("set") == set(keys)

    def test_concurrent_reads_each_get_their_own_reply(self) -> None:
        backend = self.async_backend
        self.backend.apply([SetOp(f"r{i}", str(i).encode()) for i in range(CONCURRENT_TASKS)])

        async def read_all() -> list[bytes | None]:
            return list(await asyncio.gather(*(backend.get(f"r{i}") for i in range(CONCURRENT_TASKS))))

        assert self.run(read_all()) == [str(i).encode() for i in range(CONCURRENT_TASKS)]

    def test_awaited_errors_are_the_typed_errors(self) -> None:
        backend = self.async_backend
        small = cast("BlockingBackend", self.another(max_value_bytes=100))

        async def wrong_kinds() -> None:
            await backend.set("v", b"x")
            with pytest.raises(BackendError) as caught:
                await backend.index_add("v", {"m": 1.0})
            assert caught.value.key == "v"
            with pytest.raises(BackendError) as caught:
                await backend.apply([SetOp("fresh", b"1"), IndexAddOp("v", (("m", 1.0),))])
            assert caught.value.key == "v"
            with pytest.raises(ConflictError) as conflict:
                await backend.apply([SetOp("fresh", b"1"), SetOp("v", b"2", only_if_absent=True)])
            assert conflict.value.key == "v"
            assert await backend.get("fresh") is None

        async def too_large() -> None:
            with pytest.raises(ValueTooLargeError):
                await small.async_backend.set("big", b"x" * 101)
            with pytest.raises(ValueTooLargeError):
                await small.async_backend.apply([SetOp("ok", b"1"), SetOp("big", b"x" * 101)])
            assert await small.async_backend.get("ok") is None

        self.run(wrong_kinds())
        small.run(too_large())

    def test_an_unreachable_server_raises_backend_unavailable(self) -> None:
        unreachable = self.make_unreachable_backend()
        if unreachable is None:
            pytest.skip("this backend has no server to lose")
        blocking = BlockingBackend(unreachable)
        try:
            with pytest.raises(BackendUnavailable) as caught:
                blocking.run(unreachable.get("k"))
            assert caught.value.key == "k"
            with pytest.raises(BackendUnavailable):
                blocking.run(unreachable.apply([SetOp("k", b"v")]))
        finally:
            blocking.close()

    def test_usable_from_fresh_event_loops_in_turn_and_in_threads(self) -> None:
        """Strands runs sync calls on a fresh loop in a worker thread each time (``run_async``)."""
        backend = self.async_backend
        asyncio.run(backend.set("first", b"1"))
        assert asyncio.run(backend.get("first")) == b"1"
        errors: list[BaseException] = []

        def in_thread(i: int) -> None:
            try:
                asyncio.run(backend.apply([SetOp(f"t{i}", b"t"), IndexAddOp("threads", ((f"t{i}", i),))]))
            except BaseException as exc:  # surfaced below; a thread must not die silently
                errors.append(exc)

        workers = [threading.Thread(target=in_thread, args=(i,)) for i in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert errors == []
        assert self.backend.index_range("threads") == ["t0", "t1", "t2", "t3"]
        assert self.backend.get("first") == b"1"  # and still on the kit's own loop
