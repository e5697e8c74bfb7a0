"""ValkeyStorage keeps Strands' ``Storage`` contract, as InMemory/LocalFile/S3 storages keep it.

Every test runs on memory, fakeredis and a real Valkey server (the ``store`` fixture).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import Counter
from typing import Any, cast

import pytest
from strands.storage import InMemoryStorage, Storage
from strands.storage.search import KeywordSearchStrategy
from strands.storage.storage import _NAMESPACED, StorageSearchResult, _resolve_namespace
from strands.types.exceptions import StorageError

from kvsession.kv.aio import AsyncKeyValueBackend
from kvsession.kv.errors import BackendUnavailable, KVSessionError
from kvsession.storage import InvalidStorageKeyError, ValkeyStorage, ValkeyStorageError
from kvsession.testing import AsyncCountingBackend
from tests.storage.conftest import StorageHarness, run


def test_is_a_strands_storage(store: StorageHarness) -> None:
    assert isinstance(store.storage(), Storage)
    assert isinstance(store.storage().namespace("x"), Storage)


def test_round_trip_missing_overwrite_and_delete(store: StorageHarness) -> None:
    storage = store.storage()

    async def body() -> None:
        assert await storage.read("session/s1/a.json") is None
        await storage.write("session/s1/a.json", b"one")
        assert await storage.read("session/s1/a.json") == b"one"
        await storage.write("session/s1/a.json", b"two")
        assert await storage.read("session/s1/a.json") == b"two"
        await storage.delete("session/s1/a.json")
        assert await storage.read("session/s1/a.json") is None
        assert await storage.list("") == []
        await storage.delete("session/s1/a.json")  # missing: a no-op
        await storage.delete("never/written")

    run(body())


def test_every_byte_round_trips_and_the_value_is_copied(store: StorageHarness) -> None:
    storage = store.storage()
    data = bytearray(range(256))

    async def body() -> None:
        await storage.write("blob", data)  # type: ignore[arg-type]  # a bytes-like buffer
        data[0] = 255  # mutating the caller's buffer afterwards changes nothing stored
        assert await storage.read("blob") == bytes(range(256))
        await storage.write("empty/value", b"")
        assert await storage.read("empty/value") == b""

    run(body())


def test_list_is_sorted_and_filtered_by_prefix(store: StorageHarness) -> None:
    storage = store.storage()
    keys = [
        "c/3",
        "a/1",
        "b/2",
        "a/sub/3",
        "a/sub/deeper/4",
        "deep/nested/x/1",
        "deep/nested/y",
        "deep/other",
        "ab/file.txt",
        "abc/file.txt",
        "sessions/s1/state.json",
        "offloader/x",
        "solo",
        "solo2",
    ]

    async def body() -> dict[str, list[str]]:
        assert await storage.list("") == []
        for key in keys:
            await storage.write(key, key.encode())
        queries = ["", "a/", "a/sub/", "deep/nested/", "deep/", "abc/", "ab/", "ab", "sessions/", "solo"]
        queries += ["missing/", "a/sub/deeper/4", "deep/nested/x/1/more", "s", "a/s"]
        return {query: await storage.list(query) for query in queries}

    listed = run(body())
    assert listed[""] == sorted(keys)
    for query, found in listed.items():
        assert found == sorted(key for key in keys if key.startswith(query)), query
    assert listed["abc/"] == ["abc/file.txt"]  # ab/file.txt is not under abc/
    assert listed["ab/"] == ["ab/file.txt"]
    assert listed["missing/"] == []


def test_list_orders_bytes_not_tags(store: StorageHarness) -> None:
    # "a/b-c" sorts before "a/b/x" ('-' < '/'), though tag "a/b" sorts before tag "a/b-c".
    storage = store.storage()

    async def body() -> list[str]:
        for key in ["a/b/x", "a/b-c", "a/b", "a/é/1", "a/z"]:
            await storage.write(key, b"v")
        return await storage.list("a/")

    assert run(body()) == sorted(["a/b/x", "a/b-c", "a/b", "a/é/1", "a/z"])


def test_keys_are_normalized_as_strands_normalizes_them(store: StorageHarness) -> None:
    storage = store.storage()

    async def body() -> None:
        await storage.write("//foo///bar//", b"x")
        assert await storage.read("foo/bar") == b"x"
        assert await storage.read("/foo/bar/") == b"x"
        assert await storage.list("") == ["foo/bar"]
        assert await storage.list("//foo//") == ["foo/bar"]
        await storage.delete("foo//bar/")
        assert await storage.list("") == []

    run(body())


@pytest.mark.parametrize("bad", ["", "/", "//", "../etc/passwd", "a/../b", "a/..", "a\\b"])
def test_bad_keys_raise_storage_error(store: StorageHarness, bad: str) -> None:
    storage = store.storage()
    for operation in (storage.read(bad), storage.delete(bad), storage.write(bad, b"x")):
        with pytest.raises(InvalidStorageKeyError) as caught:
            run(operation)
        assert isinstance(caught.value, StorageError)
        assert isinstance(caught.value, KVSessionError)
        assert caught.value.key == bad


@pytest.mark.parametrize("bad", ["../x", "a/../", "a\\"])
def test_bad_prefixes_raise_storage_error(store: StorageHarness, bad: str) -> None:
    storage = store.storage()
    with pytest.raises(StorageError):
        run(storage.list(bad))
    with pytest.raises(StorageError):
        storage.namespace(bad)


def test_namespace_scopes_reads_writes_lists_and_deletes(store: StorageHarness) -> None:
    root = store.storage()
    scoped = root.namespace("scope")
    assert isinstance(scoped, ValkeyStorage)
    assert scoped._namespaced is _NAMESPACED
    assert root._namespaced is not _NAMESPACED
    assert _resolve_namespace(scoped, "other") is scoped  # Strands does not prefix it again
    assert _resolve_namespace(root, "other").prefix == "other/"  # type: ignore[attr-defined]

    async def body() -> None:
        await scoped.write("key", b"scoped")
        await root.write("outside/key", b"root")
        assert await root.read("scope/key") == b"scoped"
        assert await scoped.read("key") == b"scoped"
        assert await scoped.list("") == ["key"]
        assert await root.list("") == ["outside/key", "scope/key"]

        nested = scoped.namespace("a").namespace("b/")
        assert nested.prefix == "scope/a/b/"
        await nested.write("deep", b"d")
        assert await root.read("scope/a/b/deep") == b"d"
        assert await scoped.list("a/") == ["a/b/deep"]
        assert await nested.list("") == ["deep"]

        assert root.namespace("").prefix == ""
        assert await root.namespace("//").list("") == await root.list("")
        assert await root.namespace("missing").list("") == []

        await scoped.delete("key")
        assert await root.read("scope/key") is None
        assert await scoped.list("") == ["a/b/deep"]

    run(body())


def test_namespace_with_a_session_sized_prefix(store: StorageHarness) -> None:
    # A view two segments deep (one session) lists its keys in one range of one tag.
    session = store.storage().namespace("session/s1")

    async def body() -> None:
        await session.write("scopes/agent/a1/snapshots/snapshot_latest.json", b"{}")
        await session.write("z", b"z")
        assert await session.list("") == ["scopes/agent/a1/snapshots/snapshot_latest.json", "z"]
        assert await session.list("scopes/") == ["scopes/agent/a1/snapshots/snapshot_latest.json"]

    run(body())


ENTRIES = {
    "notes/dark-mode.md": b"The settings page has a toggle for the dark theme.",
    "notes/fonts.md": b"Use a larger font on small screens.",
    "notes/mode.md": b"Dark colours everywhere; mode of operation: quiet.",
    "notes/binary.bin": bytes(range(256)),
    "other/readme.md": b"unrelated words: dark matter",
}


def _write_entries(storage: ValkeyStorage, entries: dict[str, bytes]) -> None:
    async def body() -> None:
        for key, data in entries.items():
            await storage.write(key, data)

    run(body())


def test_search_finds_the_matching_entry(store: StorageHarness) -> None:
    storage = store.storage()
    _write_entries(storage, {"prefs/dark-mode.md": b"toggle", "prefs/fonts.md": b"serif please"})
    results = run(storage.search("dark mode"))
    assert [result.key for result in results] == ["prefs/dark-mode.md"]
    assert results[0].score > 0
    assert results[0].data == b"toggle"
    assert run(storage.search("the and of")) == []  # stop words only


def test_search_scores_as_strands_default_strategy(store: StorageHarness) -> None:
    storage = store.storage()
    _write_entries(storage, ENTRIES)
    reference = InMemoryStorage()

    async def expected(query: str) -> list[tuple[str, float]]:
        for key, data in ENTRIES.items():
            await reference.write(key, data)
        found = await KeywordSearchStrategy().search(reference, query)
        return sorted((result.key, result.score) for result in found)

    for query in ["dark mode", "dark", "font screens", "quiet theme toggle", "nothing-matches"]:
        ours = run(storage.search(query))
        assert sorted((result.key, result.score) for result in ours) == run(expected(query)), query
        assert [result.score for result in ours] == sorted((r.score for r in ours), reverse=True)
        assert all(result.data == ENTRIES[result.key] for result in ours)


def test_search_in_a_namespace_sees_only_it_and_scores_relative_keys(store: StorageHarness) -> None:
    root = store.storage()
    _write_entries(root, ENTRIES)
    notes = root.namespace("notes")
    results = run(notes.search("dark"))
    assert sorted(result.key for result in results) == ["dark-mode.md", "mode.md"]
    # "notes" is in every key of the root, not in the relative keys the view scores.
    assert run(notes.search("notes")) == []
    assert [result.key for result in run(root.search("notes"))] != []


class RecordingStrategy:
    """A search strategy that records what the storage hands it."""

    def __init__(self, *, fail_index: bool = False) -> None:
        self.indexed: list[tuple[Any, str, bytes]] = []
        self.searched: list[tuple[Any, str]] = []
        self.fail_index = fail_index

    async def index(self, storage: Any, key: str, data: bytes, **kwargs: Any) -> None:
        if self.fail_index:
            raise RuntimeError("index unavailable")
        self.indexed.append((storage, key, data))

    async def search(self, storage: Any, query: str, **kwargs: Any) -> list[StorageSearchResult]:
        self.searched.append((storage, query))
        return [StorageSearchResult(key="hit", score=1.0)]


def test_a_search_strategy_indexes_writes_and_answers_searches(store: StorageHarness) -> None:
    strategy = RecordingStrategy()
    storage = store.storage(search_strategy=strategy)
    scoped = storage.namespace("ns")
    run(storage.write("key", b"data"))
    run(scoped.write("inner", b"more"))
    assert strategy.indexed == [(storage, "key", b"data"), (scoped, "inner", b"more")]
    assert [result.key for result in run(storage.search("query"))] == ["hit"]
    assert run(scoped.search("q2"))[0].score == 1.0
    assert strategy.searched == [(storage, "query"), (scoped, "q2")]


def test_a_failing_index_raises_after_the_write(store: StorageHarness) -> None:
    storage = store.storage(search_strategy=RecordingStrategy(fail_index=True))
    with pytest.raises(ValkeyStorageError, match="Wrote 'key' but indexing failed") as caught:
        run(storage.write("key", b"data"))
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert run(storage.read("key")) == b"data"


def test_a_session_shares_one_hash_tag(store: StorageHarness) -> None:
    storage = store.storage(prefix="app")

    async def body() -> None:
        await storage.write("session/s1/scopes/agent/a/snapshots/snapshot_latest.json", b"1")
        await storage.write("session/s1/scopes/agent/a/snapshots/immutable_history/snapshot_x.json", b"2")
        await storage.write("session/s2/x", b"3")
        await storage.write("session/we:i{r}d id/x", b"4")
        await storage.write("solo", b"5")

    run(body())
    keys = [key for key in store.physical_keys() if key != "app:tags"]
    assert all(key.startswith("app:{") for key in keys), keys
    tags = Counter(re.match(r"app:\{([^}]*)\}", key).group(1) for key in keys)  # type: ignore[union-attr]
    # value keys, index and group of each tag; the odd id's braces and colon are escaped.
    assert tags == {"session/s1": 4, "session/s2": 3, "session/we{3ai{7br{7dd{20id": 3, "solo": 3}
    assert "app:tags" in store.physical_keys()


def test_ttl_expires_a_session_together_and_writes_refresh_it(store: StorageHarness) -> None:
    ttl = 10.0 if store.clock is not None else 1.0
    storage = store.storage(ttl=ttl)

    async def write(key: str) -> None:
        await storage.write(key, key.encode())

    run(write("session/s1/old"))
    run(write("session/s2/other"))
    store.advance(ttl * 0.6)
    run(write("session/s1/new"))  # refreshes s1's old key too, not s2's
    store.advance(ttl * 0.6)
    assert run(storage.read("session/s1/old")) == b"session/s1/old"
    assert run(storage.read("session/s2/other")) is None
    assert run(storage.list("")) == ["session/s1/new", "session/s1/old"]
    store.advance(ttl * 0.6)
    assert run(storage.read("session/s1/old")) is None
    assert run(storage.read("session/s1/new")) is None
    assert run(storage.list("session/s1/")) == []
    assert run(storage.list("")) == []
    assert store.physical_keys() == []  # expired tags were pruned from the tags index


def test_index_and_values_share_one_expiry(store: StorageHarness) -> None:
    storage = store.storage(ttl=100.0)
    run(storage.write("session/s1/a", b"a"))
    store.advance(1.0)
    run(storage.write("session/s1/b", b"b"))
    layout = storage.layout

    async def ttls() -> list[float | None]:
        keys = [
            layout.value_key("session/s1/a"),
            layout.value_key("session/s1/b"),
            layout.index_key("session/s1"),
            layout.group_key("session/s1"),
        ]
        return [await storage.backend.ttl(key) for key in keys]

    found = run(ttls())
    assert all(value is not None for value in found)
    numbers = [value for value in found if value is not None]
    assert max(numbers) - min(numbers) < 0.5  # a listed key never outlives or predeceases its value
    assert max(numbers) > 98.0


def test_deleting_the_last_key_of_a_tag_forgets_the_tag(store: StorageHarness) -> None:
    storage = store.storage()

    async def body() -> None:
        await storage.write("session/s1/a", b"a")
        await storage.delete("session/s1/a")
        assert await storage.list("session/") == []  # prunes the empty tag

    run(body())
    assert store.physical_keys() == []


def test_cluster_mode_lists_tags_through_a_separate_call(store: StorageHarness) -> None:
    storage = store.storage(cluster=True)

    async def body() -> None:
        await storage.write("session/s1/a", b"a")
        await storage.write("session/s1/b", b"b")
        await storage.write("session/s2/a", b"c")
        assert await storage.list("") == ["session/s1/a", "session/s1/b", "session/s2/a"]
        assert await storage.list("session/s1/") == ["session/s1/a", "session/s1/b"]

    run(body())


def test_many_concurrent_writes_on_one_loop(store: StorageHarness) -> None:
    storage = store.storage()
    keys = [f"session/s{i % 7}/k{i:03d}" for i in range(120)]

    async def body() -> list[str]:
        await asyncio.gather(*(storage.write(key, key.encode()) for key in keys))
        return await storage.list("")

    assert run(body()) == sorted(keys)


def test_one_storage_serves_many_event_loops_and_threads(store: StorageHarness) -> None:
    # Strands calls storage from the agent's loop and from fresh loops in worker threads.
    from concurrent.futures import ThreadPoolExecutor

    storage = store.storage()
    run(storage.write("session/s1/a", b"1"))
    run(storage.write("session/s1/b", b"2"))
    with ThreadPoolExecutor(max_workers=2) as pool:
        listed = pool.submit(run, storage.list("session/s1/")).result()
        read = pool.submit(run, storage.read("session/s1/b")).result()
    assert listed == ["session/s1/a", "session/s1/b"]
    assert read == b"2"


def test_from_url_opens_and_closes_its_backend(store: StorageHarness) -> None:
    async def body() -> None:
        async with ValkeyStorage.from_url(store.url, prefix="p", ttl=60) as storage:
            await storage.write("a/b/c", b"x")
            assert await storage.read("a/b/c") == b"x"
            assert storage.layout.ttl == 60

    run(body())


def test_a_valkey_asyncio_client_is_accepted_on_any_loop(networked_store: StorageHarness) -> None:
    store = networked_store  # a client needs a server: [fakeredis], [valkey]
    import valkey.asyncio
    from fakeredis import FakeAsyncValkey

    from kvsession_fakeredis import shared_server

    if store.name == "valkey":
        port = int(store.url.rsplit(":", 1)[1].split("/")[0])
        client: valkey.asyncio.Valkey = valkey.asyncio.Valkey(host="127.0.0.1", port=port, max_connections=4)
    else:
        client = FakeAsyncValkey(server=shared_server(store.url.removeprefix("fakeredis://")))
    storage = ValkeyStorage(client=client)

    async def write_and_list() -> list[str]:
        await storage.write("session/s1/a", b"x")
        return await storage.list("session/")

    assert run(write_and_list()) == ["session/s1/a"]  # one loop
    assert run(storage.read("session/s1/a")) == b"x"  # another: a client per loop
    assert run(store.storage().read("session/s1/a")) == b"x"  # the same data as the harness's

    async def close() -> bool:
        await storage.aclose()
        pong = await client.ping()  # the client is yours: never used, still usable
        await client.aclose()
        return bool(pong)

    assert run(close())


def test_constructor_checks_its_arguments(store: StorageHarness) -> None:
    from kvsession.kv.errors import ConfigError

    with pytest.raises(ConfigError):
        ValkeyStorage()
    with pytest.raises(ConfigError):
        ValkeyStorage(object(), backend=store.backend)
    with pytest.raises(ConfigError):
        ValkeyStorage(backend=store.backend, ttl=0)
    with pytest.raises(ConfigError):
        ValkeyStorage(backend=store.backend, prefix="")


class FailingBackend(AsyncCountingBackend):
    """Every call fails the way a lost connection does."""

    def __getattr__(self, name: str) -> Any:
        target = super().__getattr__(name)
        if not callable(target) or name == "aclose":
            return target

        async def failing(*args: Any, **kwargs: Any) -> Any:
            raise BackendUnavailable("connection lost", key=str(args[0]) if args else None)

        return failing


def test_backend_failures_are_storage_errors_naming_the_key(store: StorageHarness) -> None:
    storage = ValkeyStorage(backend=cast(AsyncKeyValueBackend, FailingBackend(store.backend)))
    calls = {
        "Failed to write 'session/s1/a'": storage.write("session/s1/a", b"x"),
        "Failed to read 'session/s1/a'": storage.read("session/s1/a"),
        "Failed to delete 'session/s1/a'": storage.delete("session/s1/a"),
        "Failed to list keys with prefix 'session/'": storage.list("session/"),
        "Failed to search 'dark mode'": storage.search("dark mode"),
    }
    for message, call in calls.items():
        with pytest.raises(ValkeyStorageError, match=re.escape(message)) as caught:
            run(call)
        assert isinstance(caught.value, StorageError) and isinstance(caught.value, KVSessionError)
        assert isinstance(caught.value.__cause__, BackendUnavailable)
    assert caught.value.key == ""  # a search names the view's namespace


def test_an_unreachable_server_is_a_storage_error() -> None:
    storage = ValkeyStorage.from_url("valkey://127.0.0.1:1/0?socket_connect_timeout=1&retries=0")
    with pytest.raises(ValkeyStorageError, match="Failed to write 'k'") as caught:
        run(storage.write("k", b"x"))
    assert isinstance(caught.value.__cause__, BackendUnavailable)
    assert caught.value.key == "k"
    run(storage.aclose())


def test_a_cancelled_write_is_all_or_nothing(store: StorageHarness) -> None:
    storage = store.storage()

    async def body() -> None:
        for attempt in range(20):
            task = asyncio.ensure_future(storage.write(f"session/s1/k{attempt}", b"x"))
            for _ in range(attempt % 4):
                await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        listed = await storage.list("session/s1/")
        values = await storage.backend.get_many(
            storage.layout.value_keys(f"session/s1/k{i}" for i in range(20))
        )
        written = [f"session/s1/k{i}" for i, value in enumerate(values) if value is not None]
        assert listed == sorted(written)  # the index lists exactly the values that exist

    run(body())
