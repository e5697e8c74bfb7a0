"""``AsyncKVSessionRepository``: the sync repository's plans, awaited — same budget, data and errors."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from strands.types.exceptions import SessionException

from kvsession.kv.aio import AsyncKeyValueBackend
from kvsession.kv.errors import InvalidIdError, ValueTooLargeError
from kvsession.kv.protocol import WriteOp
from kvsession.strands import (
    IncompleteSessionError,
    KVSessionRepository,
    MessageExistsError,
    SessionExistsError,
    SessionRecordNotFoundError,
)
from kvsession.strands.aio_repository import AsyncKVSessionRepository
from kvsession.strands.models import MESSAGE
from kvsession.testing import AsyncCountingBackend
from tests.records import agent, message, session
from tests.strands_async.conftest import AsyncHarness, counting

T = TypeVar("T")


def run(body: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await body()

    return asyncio.run(main())


def _calls(backend: AsyncKeyValueBackend) -> AsyncCountingBackend:
    assert isinstance(backend, AsyncCountingBackend)
    return backend


def test_round_trips_match_the_sync_budget(akv: AsyncHarness) -> None:
    backend = counting(akv.open())
    calls = _calls(backend)
    repo = AsyncKVSessionRepository(backend)

    async def body() -> dict[str, int]:
        spent: dict[str, int] = {}

        async def measure(name: str, operation: Awaitable[Any]) -> None:
            calls.reset()
            await operation
            spent[name] = calls.round_trips

        await measure("create_session", repo.create_session(session("s1")))
        await measure("create_agent", repo.create_agent("s1", agent("a1")))
        for i in range(20):
            await measure("append", repo.create_message("s1", "a1", message(i)))
        await measure("read_session", repo.read_session("s1"))
        await measure("read_agent", repo.read_agent("s1", "a1"))
        await measure("update_agent", repo.update_agent("s1", agent("a1")))
        await measure("restore", repo.list_messages("s1", "a1"))
        await measure("delete", repo.delete_session("s1"))
        return spent

    spent = run(body)
    assert spent == {
        "create_session": 1,
        "create_agent": 1,
        "append": 1,
        "read_session": 1,
        "read_agent": 1,
        "update_agent": 1,
        "restore": 2,
        "delete": 1,
    }


def test_what_the_async_repository_writes_the_sync_one_reads_and_back(akv: AsyncHarness) -> None:
    repo = AsyncKVSessionRepository(akv.open())
    sync = KVSessionRepository(akv.sync())

    created = session("s1")

    async def write() -> None:
        await repo.create_session(created)
        await repo.create_agent("s1", agent("a1"))
        for i in range(3):
            await repo.create_message("s1", "a1", message(i, f"m{i}"))

    run(write)
    assert sync.read_session("s1") == created
    assert [m.message["content"] for m in sync.list_messages("s1", "a1")] == [
        [{"text": f"m{i}"}] for i in range(3)
    ]
    sync.create_message("s1", "a1", message(3, "from sync"))

    async def read() -> tuple[list[str], list[str], int, float | None]:
        messages = await repo.list_messages("s1", "a1", offset=2)
        texts = [m.message["content"][0]["text"] for m in messages]
        return (
            texts,
            await repo.list_agents("s1"),
            await repo.count_messages("s1", "a1"),
            await repo.last_active("s1"),
        )

    texts, agents, count, active = run(read)
    assert texts == ["m2", "from sync"] and agents == ["a1"] and count == 4 and active is not None
    assert [sid for sid, _ in sync.list_sessions()] == ["s1"]


def test_typed_errors_as_on_the_sync_side(akv: AsyncHarness) -> None:
    backend = counting(akv.open())
    calls = _calls(backend)
    repo = AsyncKVSessionRepository(backend)

    async def body() -> None:
        with pytest.raises(SessionRecordNotFoundError):
            await repo.create_message("nope", "a1", message(0))
        await repo.create_session(session("s1"))
        with pytest.raises(SessionExistsError):
            await repo.create_session(session("s1"))
        await repo.create_agent("s1", agent("a1"))
        await repo.create_message("s1", "a1", message(0))
        with pytest.raises(MessageExistsError):
            await repo.create_message("s1", "a1", message(0, "another"))
        with pytest.raises(SessionRecordNotFoundError):
            await repo.update_message("s1", "a1", message(7))
        with pytest.raises(SessionRecordNotFoundError):
            await repo.delete_session("nope")
        calls.reset()
        for bad in ["x" * 257, "\ud800", 42]:
            with pytest.raises(InvalidIdError):
                await repo.create_message(bad, "a1", message(1))  # type: ignore[arg-type]
            with pytest.raises(InvalidIdError):
                await repo.list_messages("s1", bad)  # type: ignore[arg-type]
        assert calls.round_trips == 0  # refused before the backend is touched
        assert isinstance(MessageExistsError("s", "a", 0, "k"), SessionException)

    run(body)


def test_an_index_listing_a_missing_record_is_an_incomplete_session(akv: AsyncHarness) -> None:
    repo = AsyncKVSessionRepository(akv.open())

    async def body() -> None:
        await repo.create_session(session("s1"))
        await repo.create_agent("s1", agent("a1"))
        for i in range(3):
            await repo.create_message("s1", "a1", message(i))
        key = repo.store.key(MESSAGE, session_id="s1", agent_id="a1", message_id=1)
        await repo.backend.delete_many([key])
        with pytest.raises(IncompleteSessionError):
            await repo.list_messages("s1", "a1")

    run(body)


def test_an_oversized_value_is_refused_and_nothing_is_written(akv: AsyncHarness) -> None:
    repo = AsyncKVSessionRepository(akv.open(max_value_bytes=2000))

    async def body() -> None:
        await repo.create_session(session("s1"))
        await repo.create_agent("s1", agent("a1"))
        with pytest.raises(ValueTooLargeError):
            await repo.create_message("s1", "a1", message(0, "x" * 5000))
        assert await repo.count_messages("s1", "a1") == 0
        await repo.create_message("s1", "a1", message(0, "fits"))
        assert [m.message_id for m in await repo.list_messages("s1", "a1")] == [0]

    run(body)


# -- cancellation -----------------------------------------------------------------------------


class _Gated:
    """Forwards to ``inner``; ``apply`` waits on a gate before (or after) forwarding."""

    def __init__(self, inner: AsyncKeyValueBackend, *, after: bool) -> None:
        self.inner = inner
        self.after = after
        self.reached = asyncio.Event()
        self.gate = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def apply(self, ops: list[WriteOp]) -> None:
        if self.after:
            await self.inner.apply(ops)
        self.reached.set()
        await self.gate.wait()
        if not self.after:
            await self.inner.apply(ops)


def _state(sync: KVSessionRepository) -> tuple[int, list[int], int]:
    """(message index entries, message ids restorable, keys of the session group)."""
    return (
        sync.count_messages("s1", "a1"),
        [m.message_id for m in sync.list_messages("s1", "a1")],
        len(sync.session_keys("s1")),
    )


@pytest.mark.parametrize("applied", [False, True], ids=["before-apply", "after-apply"])
def test_a_task_cancelled_in_an_append_leaves_all_or_nothing_and_the_next_append_works(
    akv: AsyncHarness, applied: bool
) -> None:
    sync = KVSessionRepository(akv.sync())

    async def body() -> None:
        gated = _Gated(akv.open(), after=applied)
        repo = AsyncKVSessionRepository(gated)  # type: ignore[arg-type]
        gated.gate.set()
        await repo.create_session(session("s1"))
        await repo.create_agent("s1", agent("a1"))
        await repo.create_message("s1", "a1", message(0))
        before = _state(sync)
        gated.gate.clear()
        gated.reached.clear()
        task = asyncio.create_task(repo.create_message("s1", "a1", message(1)))
        await gated.reached.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        count, ids, keys = _state(sync)
        if applied:  # the whole batch: record, index entry, group entry
            assert (count, ids, keys) == (2, [0, 1], before[2] + 1)
        else:
            assert (count, ids, keys) == before
        gated.gate.set()
        # Retrying the same append: recognised if it landed, applied if not.
        await repo.create_message("s1", "a1", message(1))
        await repo.create_message("s1", "a1", message(2))
        assert [m.message_id for m in await repo.list_messages("s1", "a1")] == [0, 1, 2]

    run(body)


def test_cancelling_appends_on_the_wire_never_splits_a_batch(networked_akv: AsyncHarness) -> None:
    sync = KVSessionRepository(networked_akv.sync())
    repo = AsyncKVSessionRepository(networked_akv.open())

    async def body() -> None:
        await repo.create_session(session("s1"))
        await repo.create_agent("s1", agent("a1"))
        next_id = 0
        for steps in range(12):  # cancel after 0, 1, 2 ... turns of the loop: every await point
            task = asyncio.create_task(repo.create_message("s1", "a1", message(next_id)))
            for _ in range(steps):
                await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            count, ids, keys = _state(sync)
            assert ids == list(
                range(count)
            )  # never an index entry without its record, or a record without one
            # root, agent, agents index, group; with messages, their index and one key each
            assert keys == (4 if count == 0 else 5 + count)
            next_id = count
        await repo.create_message("s1", "a1", message(next_id))
        assert len(await repo.list_messages("s1", "a1")) == next_id + 1

    run(body)
