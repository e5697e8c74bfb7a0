"""What only a backend behind a valkey-py connection has: round trips, decoding, connection loss.

These run for ``[fakeredis]`` and ``[valkey]`` only: the memory backend has no connection, so
it has no round trips to count, no client decoding to survive and no connection to lose.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

import fakeredis
import pytest
import valkey

from kvsession.kv.errors import BackendError, BackendUnavailable
from kvsession.kv.protocol import (
    DeleteOp,
    ExpireOp,
    IndexAddOp,
    KeyValueBackend,
    SetAddOp,
    SetOp,
    WriteOp,
)
from kvsession_fakeredis import FakeRedisBackend
from kvsession_valkey import ValkeyBackend

if TYPE_CHECKING:
    from tests.conftest import BackendHarness

NON_UTF8 = b"\x80\x81\xfe\xff\xc3\x28" + bytes(range(256))


class RoundTrips:
    """Counts writes to the server socket: one per round trip (a reply is read after each)."""

    def __init__(self) -> None:
        self.count = 0

    def measure(self, call: Callable[[], object]) -> int:
        before = self.count
        call()
        return self.count - before


@pytest.fixture
def round_trips(networked_kv: BackendHarness, monkeypatch: pytest.MonkeyPatch) -> Iterator[RoundTrips]:
    backend = networked_kv.backend
    assert isinstance(backend, ValkeyBackend)
    connection_class = backend.client.connection_pool.connection_class  # type: ignore[union-attr]
    original = connection_class.send_packed_command
    counter = RoundTrips()

    def counting(self: valkey.Connection, command: Any, check_health: bool = True) -> None:
        counter.count += 1
        original(self, command, check_health)

    backend.exists("warm-up")  # open the pooled connection: its handshake is not ours to count
    monkeypatch.setattr(connection_class, "send_packed_command", counting)
    yield counter


def _calls() -> list[tuple[str, Callable[[KeyValueBackend], object]]]:
    keys = [f"k{i}" for i in range(50)]
    return [
        ("get", lambda b: b.get("k1")),
        ("get_many of 50", lambda b: b.get_many(keys)),
        ("delete_many of 50", lambda b: b.delete_many(keys)),
        ("set", lambda b: b.set("k1", b"v", ttl=10)),
        ("set only_if_absent", lambda b: b.set("k2", b"v", only_if_absent=True)),
        ("exists", lambda b: b.exists("k1")),
        ("index_add of 50", lambda b: b.index_add("idx", {k: 1 for k in keys})),
        ("index_range", lambda b: b.index_range("idx", offset=5, limit=10, reverse=True)),
        ("index_range_with_scores", lambda b: b.index_range_with_scores("idx", limit=10)),
        ("index_range_by_prefix", lambda b: b.index_range_by_prefix("idx", "k1", offset=1, limit=3)),
        ("index_score", lambda b: b.index_score("idx", "k1")),
        ("index_remove of 50", lambda b: b.index_remove("idx", keys)),
        ("index_count", lambda b: b.index_count("idx")),
        ("set_add", lambda b: b.set_add("s", keys)),
        ("set_members", lambda b: b.set_members("s")),
        ("set_remove", lambda b: b.set_remove("s", keys)),
        ("expire", lambda b: b.expire("k1", 10)),
        ("ttl", lambda b: b.ttl("k1")),
    ]


def test_every_method_is_one_round_trip(networked_kv: BackendHarness, round_trips: RoundTrips) -> None:
    measured: dict[str, int] = {}
    for name, call in _calls():
        measured[name] = round_trips.measure(partial(call, networked_kv.backend))
    assert measured == dict.fromkeys(measured, 1)
    assert len(measured) == 18


def test_a_five_op_batch_is_one_round_trip(networked_kv: BackendHarness, round_trips: RoundTrips) -> None:
    backend = networked_kv.backend
    backend.apply([SetOp("warm", b"x")])  # the server caches the script on first use
    batch: list[WriteOp] = [
        SetOp("session", b"s", only_if_absent=True, ttl=60),
        SetOp("message:1", b"m" * 1000, only_if_absent=True),
        IndexAddOp("messages", (("1", 1.0),)),
        SetAddOp("agents", ("a1",)),
        ExpireOp("messages", 60),
    ]
    assert round_trips.measure(lambda: backend.apply(batch)) == 1
    assert backend.get("message:1") == b"m" * 1000
    assert round_trips.measure(lambda: backend.apply([DeleteOp(("message:1",))])) == 1


def test_batch_survives_a_flushed_script_cache(networked_kv: BackendHarness, round_trips: RoundTrips) -> None:
    """After a restart or SCRIPT FLUSH the EVALSHA misses; one EVAL sends (and caches) the script."""
    backend = networked_kv.backend
    backend.apply([SetOp("a", b"1")])
    networked_kv.raw_client().script_flush()
    assert round_trips.measure(lambda: backend.apply([SetOp("b", b"2")])) == 2
    assert round_trips.measure(lambda: backend.apply([SetOp("c", b"3")])) == 1
    assert backend.get_many(["a", "b", "c"]) == [b"1", b"2", b"3"]


def test_decode_responses_client_stays_byte_exact(networked_kv: BackendHarness) -> None:
    """The reference's usage passes ``valkey.Valkey(..., decode_responses=True)``.

    Such a client returns ``str``: MessagePack bytes (and any non-UTF-8 value) would crash or be
    corrupted if values went through its decoding. The backend must return bytes exactly.
    """
    client = networked_kv.raw_client(decode_responses=True)
    backend = (
        ValkeyBackend(client)
        if networked_kv.name == "valkey"
        else FakeRedisBackend(client=client, config=networked_kv.backend.config)
    )
    backend.set("bin", NON_UTF8)
    backend.apply(
        [SetOp("bin2", NON_UTF8), IndexAddOp("idx", (("😀", 1.0), ("中文", 2.0))), SetAddOp("s", ("ü",))]
    )
    assert backend.get("bin") == NON_UTF8
    assert backend.get_many(["bin", "bin2", "missing"]) == [NON_UTF8, NON_UTF8, None]
    assert backend.index_range("idx") == ["😀", "中文"]
    assert backend.index_range_by_prefix("idx", "中") == []  # mixed scores: lexical range is undefined
    assert backend.index_score("idx", "中文") == 2.0
    assert backend.set_members("s") == {"ü"}
    assert backend.ttl("bin") is None
    # The same data read by the plain backend: nothing was stored as text.
    assert networked_kv.backend.get("bin2") == NON_UTF8
    # The user's client keeps its own behaviour, and stays open after the backend closes.
    backend.close()
    assert client.get("s2") is None
    client.set("s2", "text")
    assert client.get("s2") == "text"


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens there any more: connections are refused


def _unreachable(harness: BackendHarness) -> KeyValueBackend:
    if harness.name == "valkey":
        url = f"valkey://127.0.0.1:{_closed_port()}/0?socket_connect_timeout=0.5&socket_timeout=0.5&retries=1"
        return ValkeyBackend(url=url)
    server = fakeredis.FakeServer(server_type="valkey")
    server.connected = False  # fakeredis' way of simulating a server that went away
    return FakeRedisBackend(server)


@pytest.mark.parametrize(
    ("key", "call"),
    [
        ("k", lambda b: b.get("k")),
        ("k", lambda b: b.set("k", b"v", only_if_absent=True)),
        ("first", lambda b: b.get_many(["first", "second"])),
        ("idx", lambda b: b.index_range("idx")),
        ("batch", lambda b: b.apply([SetOp("batch", b"v"), SetAddOp("s", ("m",))])),
    ],
)
def test_unreachable_server_raises_backend_unavailable_quickly(
    networked_kv: BackendHarness, key: str, call: Callable[[KeyValueBackend], object]
) -> None:
    backend = _unreachable(networked_kv)
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as caught:
        call(backend)
    assert time.monotonic() - started < 3
    assert caught.value.key == key
    assert key in str(caught.value)
    backend.close()


def test_closed_backend_is_unusable(networked_kv: BackendHarness) -> None:
    backend = networked_kv.another()
    backend.set("k", b"v")
    backend.close()
    backend.close()  # closing twice is harmless
    with pytest.raises(BackendUnavailable) as caught:
        backend.get("k")
    assert caught.value.key == "k"
    assert networked_kv.backend.get("k") == b"v"


def test_a_member_that_is_not_utf8_names_the_key(networked_kv: BackendHarness) -> None:
    """Another program may store raw bytes in an index; reading it is an error, not mojibake."""
    networked_kv.raw_client().zadd("idx", {b"\xff\xfe": 0})
    with pytest.raises(BackendError) as caught:
        networked_kv.backend.index_range("idx")
    assert caught.value.key == "idx"
