"""What each ValkeyStorage call costs in round trips, and that ``list`` ignores unrelated keys.

A counting wrapper counts backend calls: on a networked backend each call is one round trip.
"""

from __future__ import annotations

from typing import cast

from kvsession.kv.aio import AsyncKeyValueBackend
from kvsession.storage import ValkeyStorage
from kvsession.storage.search import FETCH_CHUNK
from kvsession.testing import AsyncCountingBackend
from tests.storage.conftest import StorageHarness, run

UNRELATED = 10_000


def _counted(store: StorageHarness, **options: object) -> tuple[ValkeyStorage, AsyncCountingBackend]:
    counting = AsyncCountingBackend(store.backend)
    storage = ValkeyStorage(backend=cast(AsyncKeyValueBackend, counting), **options)  # type: ignore[arg-type]
    return storage, counting


def test_write_read_delete_and_a_session_list_are_one_round_trip_each(store: StorageHarness) -> None:
    storage, counting = _counted(store, ttl=3600)
    key = "session/s1/scopes/agent/a1/snapshots/snapshot_latest.json"

    run(storage.write(key, b"{}"))
    assert counting.calls == {"apply": 1}
    counting.reset()
    assert run(storage.read(key)) == b"{}"
    assert counting.calls == {"get": 1}
    counting.reset()
    assert run(storage.list("session/s1/")) == [key]
    assert counting.calls == {"index_range_by_prefix": 1}
    counting.reset()
    run(storage.delete(key))
    assert counting.calls == {"apply": 1}


def _fill_unrelated(store: StorageHarness) -> None:
    """Store UNRELATED keys in other tags, through the storage's own batches (chunked)."""
    layout = ValkeyStorage(backend=store.backend).layout

    async def body() -> None:
        ops = []
        for i in range(UNRELATED):
            ops.extend(layout.write_ops(f"other/{i}/value.json", b"x" * 16))
            if len(ops) >= 2_000:
                await store.backend.apply(ops)
                ops = []
        if ops:
            await store.backend.apply(ops)

    run(body())


def test_list_cost_does_not_grow_with_unrelated_keys(store: StorageHarness) -> None:
    storage, counting = _counted(store)
    session_keys = [
        f"session/s{s}/scopes/agent/a/snapshots/snapshot_{i}.json" for s in (1, 2) for i in (1, 2, 3)
    ]

    async def write_all() -> None:
        for key in session_keys:
            await storage.write(key, b"{}")

    async def lists() -> tuple[list[str], list[str], list[str]]:
        return (
            await storage.list("session/s1/"),
            await storage.list("session/s1/scopes/agent/a/snapshots/"),
            await storage.list("session/"),
        )

    run(write_all())
    counting.reset()
    before = run(lists())
    calls_before = dict(counting.calls)

    _fill_unrelated(store)
    counting.reset()
    after = run(lists())
    calls_after = dict(counting.calls)

    assert before == after
    assert after[2] == sorted(session_keys)
    assert after[0] == session_keys[:3]
    # Two one-tag ranges, then the tags index plus one range per session tag: 2 + 1 + 2.
    assert calls_before == calls_after == {"index_range_by_prefix": 3, "index_range": 2}
    # They are there, listed in byte order (other/10 < other/2) across 10,000 tags.
    assert run(storage.list("other/")) == sorted(f"other/{i}/value.json" for i in range(UNRELATED))


def test_search_fetches_values_in_chunks_per_session(store: StorageHarness) -> None:
    storage, counting = _counted(store)
    keys = [f"session/s1/note-{i:04d}.md" for i in range(FETCH_CHUNK + 10)] + ["session/s2/dark.md"]

    async def write_all() -> None:
        layout = storage.layout
        ops = [op for key in keys for op in layout.write_ops(key, b"dark theme" if "dark" in key else b"x")]
        await store.backend.apply(ops)

    run(write_all())
    counting.reset()
    results = run(storage.search("dark"))
    assert [result.key for result in results] == ["session/s2/dark.md"]
    # The tags index, one range per tag, and one multi-get per chunk of one tag's keys (2 + 1).
    assert counting.calls == {"index_range_by_prefix": 1, "index_range": 2, "get_many": 3}

    counting.reset()
    assert [result.key for result in run(storage.namespace("session/s2").search("dark"))] == ["dark.md"]
    assert counting.calls == {"index_range_by_prefix": 1, "get_many": 1}
