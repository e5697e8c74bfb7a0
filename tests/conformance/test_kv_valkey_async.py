"""What only the async Valkey backends have: per-loop clients, the URL's options on async pools,
user-built async clients, round trips, a cancellation while the batch script is in flight.

The shared behaviour (every operation, typed errors, cancelled batches, fresh loops) is the
kit's (``test_async_*_backend.py``); these are about how the async shell uses valkey.asyncio.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import fakeredis
import pytest
import valkey
import valkey.asyncio
from valkey.asyncio.connection import AbstractConnection
from valkey.asyncio.connection import SSLConnection as AsyncSSLConnection
from valkey.asyncio.retry import Retry as AsyncRetry

import kvsession.kv
from kvsession.kv.errors import BackendUnavailable
from kvsession.kv.protocol import IndexAddOp, SetAddOp, SetOp, WriteOp
from kvsession_fakeredis import AsyncFakeRedisBackend, FakeRedisBackend, drop_shared_server
from kvsession_valkey import AsyncValkeyBackend, ValkeyBackend

NON_UTF8 = b"\x80\x81\xfe\xff\xc3\x28" + bytes(range(256))


def _connected_clients(client: valkey.Valkey, *, at_most: int | None = None) -> int:
    """Count the server's connections (waiting up to a second for closed ones to go, if ``at_most``)."""
    deadline = time.monotonic() + 1
    while True:
        count = len(client.client_list())  # type: ignore[arg-type]
        if at_most is None or count <= at_most or time.monotonic() > deadline:
            return count
        time.sleep(0.01)


def test_connect_async_finds_the_async_twin(valkey_url: str) -> None:
    async def main() -> None:
        backend = await kvsession.kv.connect_async(valkey_url + "?max_connections=3")
        assert isinstance(backend, AsyncValkeyBackend)
        assert isinstance(backend, kvsession.kv.AsyncKeyValueBackend)
        await backend.set("k", b"v")
        assert await backend.get("k") == b"v"
        await backend.aclose()

    asyncio.run(main())
    assert isinstance(ValkeyBackend.from_config_async(kvsession.kv.parse_url(valkey_url)), AsyncValkeyBackend)


def test_url_options_reach_each_loops_pool() -> None:
    backend = AsyncValkeyBackend(
        url="valkeys://alice:s3cret@127.0.0.1:6390/3?max_connections=7&socket_timeout=1.5"
        "&socket_connect_timeout=0.25&retries=2&health_check_interval=30&client_name=kv"
        "&ssl_cert_reqs=none&pool_timeout=2&codec=msgpack"
    )

    async def pool_of_this_loop() -> Any:
        client = backend.client_for_running_loop()
        assert client.retry_policy.retries == 2  # type: ignore[union-attr]
        return client.connection_pool  # type: ignore[union-attr]

    first, second = asyncio.run(pool_of_this_loop()), asyncio.run(pool_of_this_loop())
    assert first is not second  # one pool per event loop
    for pool in (first, second):
        params = pool.connection_kwargs
        assert (params["host"], params["port"], params["db"]) == ("127.0.0.1", 6390, 3)
        assert (params["username"], params["password"]) == ("alice", "s3cret")
        assert (params["socket_timeout"], params["socket_connect_timeout"]) == (1.5, 0.25)
        assert (params["health_check_interval"], params["client_name"]) == (30, "kv")
        assert isinstance(params["retry"], AsyncRetry)
        assert params["retry"]._retries == 0  # each connection tries once
        assert params["ssl_cert_reqs"] == "none"
        assert issubclass(pool.connection_class, AsyncSSLConnection)
        assert isinstance(pool, valkey.asyncio.BlockingConnectionPool)
        assert (pool.max_connections, pool.timeout) == (7, 2)
    assert backend.config.store.codec == "msgpack"
    assert "s3cret" not in repr(backend)


def test_pool_timeout_makes_the_sync_pool_blocking_too() -> None:
    pool = ValkeyBackend(  # type: ignore[union-attr]
        url="valkey://127.0.0.1:6390/0?max_connections=4&pool_timeout=0.5"
    ).client.connection_pool
    assert isinstance(pool, valkey.BlockingConnectionPool)
    assert (pool.max_connections, pool.timeout) == (4, 0.5)
    plain = ValkeyBackend(url="valkey://127.0.0.1:6390/0?max_connections=4").client.connection_pool  # type: ignore[union-attr]
    assert not isinstance(plain, valkey.BlockingConnectionPool)


def test_each_loops_connections_close_with_their_loop(valkey_url: str, valkey_client: valkey.Valkey) -> None:
    backend = AsyncValkeyBackend(url=valkey_url)
    baseline = _connected_clients(valkey_client)

    async def use(check: bool) -> None:
        await asyncio.gather(*(backend.set(f"k{i}", b"v") for i in range(5)))
        if check:  # (not from two threads at once: the sync client would open a second connection)
            assert _connected_clients(valkey_client) > baseline

    asyncio.run(use(True))
    asyncio.run(use(True))
    threads = [threading.Thread(target=lambda: asyncio.run(use(False))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (
        _connected_clients(valkey_client, at_most=baseline) <= baseline
    )  # asyncio.run closed each loop's pool

    async def close() -> None:
        await backend.aclose()

    asyncio.run(close())


def test_a_capped_pool_waits_for_a_free_connection_only_with_pool_timeout(valkey_url: str) -> None:
    async def burst(query: str) -> None:
        backend = AsyncValkeyBackend(url=f"{valkey_url}?{query}")
        try:
            await asyncio.gather(*(backend.apply([SetOp(f"p{i}", b"x" * 500)]) for i in range(200)))
        finally:
            await backend.aclose()

    asyncio.run(burst("max_connections=10&pool_timeout=5"))  # 200 tasks share 10 connections
    with pytest.raises(BackendUnavailable, match="Too many connections"):
        asyncio.run(burst("max_connections=10"))


def test_a_user_client_is_used_on_its_loop_and_left_open(valkey_url: str) -> None:
    async def main() -> None:
        client = valkey.asyncio.Valkey.from_url(valkey_url.replace("valkey://", "redis://"))
        backend = AsyncValkeyBackend(client)
        assert backend.config.url == valkey_url
        assert backend.client_for_running_loop() is client
        await backend.set("k", b"v")
        await backend.aclose()
        assert await client.get("k") == b"v"  # aclose() leaves a client you passed in open
        with pytest.raises(BackendUnavailable, match="closed"):
            await backend.get("k")
        await client.aclose()

    asyncio.run(main())


def test_a_client_factory_is_called_once_per_loop(valkey_url: str) -> None:
    made: list[valkey.asyncio.Valkey] = []

    def factory() -> valkey.asyncio.Valkey:
        client: valkey.asyncio.Valkey = valkey.asyncio.Valkey.from_url(
            valkey_url.replace("valkey://", "redis://")
        )
        made.append(client)
        return client

    backend = AsyncValkeyBackend(client_factory=factory)
    described = len(made)  # one, built to say where the backend points

    async def twice() -> None:
        await backend.set("k", b"v")
        assert await backend.get("k") == b"v"

    asyncio.run(twice())
    asyncio.run(twice())
    assert len(made) == described + 2
    with pytest.raises(TypeError):
        AsyncValkeyBackend(made[0], client_factory=factory)


@pytest.fixture(params=["fakeredis", "valkey"])
def async_pair(request: pytest.FixtureRequest) -> Iterator[tuple[str, Callable[..., Any]]]:
    """A URL, and a maker of ``valkey.asyncio`` clients on the same server (real or fake)."""
    if request.param == "valkey":
        url: str = request.getfixturevalue("valkey_url")
        yield url, lambda **kw: valkey.asyncio.Valkey.from_url(url.replace("valkey://", "redis://"), **kw)
        return
    server = fakeredis.FakeServer(server_type="valkey")
    yield "fakeredis://", lambda **kw: fakeredis.FakeAsyncValkey(server=server, **kw)


def test_a_decode_responses_client_stays_byte_exact(async_pair: tuple[str, Callable[..., Any]]) -> None:
    url, make_client = async_pair

    async def main() -> None:
        client = make_client(decode_responses=True)
        backend = (
            AsyncFakeRedisBackend(client=client)
            if url.startswith("fakeredis")
            else AsyncValkeyBackend(client)
        )
        await backend.set("bin", NON_UTF8)
        await backend.apply(
            [SetOp("bin2", NON_UTF8), IndexAddOp("idx", (("😀", 1.0), ("中文", 2.0))), SetAddOp("s", ("ü",))]
        )
        assert await backend.get("bin") == NON_UTF8
        assert await backend.get_many(["bin", "bin2", "missing"]) == [NON_UTF8, NON_UTF8, None]
        assert await backend.index_range("idx") == ["😀", "中文"]
        assert await backend.set_members("s") == {"ü"}
        await backend.aclose()
        await client.aclose()

    asyncio.run(main())


class _Sent:
    """Counts commands written to async connections; can hold the reply of the next one back."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self.hold: asyncio.Event | None = None
        self.sent = asyncio.Event()
        # The hold sits in the reply parser, inside valkey-py's own read (whose error handling
        # drops a connection whose read was interrupted), where a real network wait would be.
        parser = valkey.asyncio.connection.DefaultParser
        send, read = AbstractConnection.send_packed_command, parser.read_response
        sent = self

        async def counting(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
            sent.count += 1
            await send(self, command, check_health)

        async def holding(self: Any, *args: Any, **kwargs: Any) -> Any:
            if sent.hold is not None:
                sent.sent.set()
                await sent.hold.wait()  # the command is on the server; its reply waits here
            return await read(self, *args, **kwargs)

        monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
        monkeypatch.setattr(parser, "read_response", holding)

    async def measure(self, call: Callable[[], Any]) -> int:
        before = self.count
        await call()
        return self.count - before


def test_async_round_trips_and_the_script_cache_fallback(
    valkey_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = AsyncValkeyBackend(url=valkey_url)

    async def main() -> None:
        sent = _Sent(monkeypatch)
        await backend.exists("warm-up")
        batch: list[WriteOp] = [SetOp("a", b"1", only_if_absent=True), IndexAddOp("i", (("a", 1.0),))]
        await backend.apply([SetOp("warm", b"x")])  # the server caches the script
        assert await sent.measure(lambda: backend.apply(batch)) == 1
        assert await sent.measure(lambda: backend.get_many(["a", "b", "c"])) == 1
        await backend.client_for_running_loop().script_flush()
        assert await sent.measure(lambda: backend.apply([SetOp("b", b"2")])) == 2  # EVALSHA, then EVAL
        assert await sent.measure(lambda: backend.apply([SetOp("c", b"3")])) == 1
        assert await backend.get_many(["a", "b", "c"]) == [b"1", b"2", b"3"]
        await backend.aclose()

    asyncio.run(main())


def test_a_batch_cancelled_while_its_script_runs_is_applied_whole(
    valkey_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command left before the task was cancelled: the server runs the script whole."""
    backend = AsyncValkeyBackend(url=valkey_url)
    keys = [f"{{s}}:m{i}" for i in range(50)]

    async def main() -> None:
        sent = _Sent(monkeypatch)
        await backend.exists("warm-up")
        sent.hold = asyncio.Event()
        task = asyncio.ensure_future(
            backend.apply(
                [
                    *(SetOp(key, b"x" * 100) for key in keys),
                    IndexAddOp("{s}:idx", tuple((k, 1.0) for k in keys)),
                ]
            )
        )
        await sent.sent.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        sent.hold = None
        assert await backend.get_many(keys) == [b"x" * 100] * len(keys)
        assert await backend.index_count("{s}:idx") == len(keys)
        assert await backend.get("{s}:m0") == b"x" * 100  # the dropped connection's reply is not read
        await backend.aclose()

    asyncio.run(main())


def test_sync_and_async_fakeredis_share_a_named_server() -> None:
    name = "async-shared-test"
    sync = kvsession.kv.connect(f"fakeredis://{name}")
    assert isinstance(sync, FakeRedisBackend)

    async def main() -> None:
        backend = await kvsession.kv.connect_async(f"fakeredis://{name}?max_value_bytes=10")
        assert isinstance(backend, AsyncFakeRedisBackend)
        assert backend.server is sync.server
        sync.set("from-sync", b"1")
        assert await backend.get("from-sync") == b"1"
        await backend.apply([SetOp("from-async", b"2")])
        assert repr(backend) == f"AsyncFakeRedisBackend(url='fakeredis://{name}?max_value_bytes=10')"
        await backend.aclose()

    try:
        asyncio.run(main())
        assert sync.get("from-async") == b"2"
    finally:
        sync.close()
        drop_shared_server(name)


def test_async_connections_pack_commands_with_libvalkey(valkey_url: str) -> None:
    # valkey.asyncio packs in Python; ours use libvalkey's C packer, byte for byte the same wire.
    async def main() -> None:
        backend = kvsession.kv.open_async(valkey_url)
        await backend.set("k", b"v")
        client = backend.client_for_running_loop()  # type: ignore[attr-defined]
        connection_class = client.connection_pool.connection_class
        plain = valkey.asyncio.Connection()
        args = ("EVALSHA", "a" * 40, "1", "key", b"\x00\xff" * 500, "12.5", "member")
        assert b"".join(connection_class().pack_command(*args)) == b"".join(plain.pack_command(*args))
        assert await backend.get("k") == b"v"
        await backend.aclose()

    asyncio.run(main())
