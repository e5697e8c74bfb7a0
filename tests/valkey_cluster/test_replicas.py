"""``read_from_replicas``: every read of a slot goes to one node, so a restore is never torn.

valkey-py alone alternates a slot's reads between its primary and replicas; a restore reading an
index and then its records could then read them from two nodes at different offsets. The
integration tests hold a replica back (``CLIENT PAUSE ... WRITE`` on it: it serves reads but
applies nothing) and check that every read, index and records alike, comes from that replica.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

import kvsession
from kvsession.kv.protocol import IndexAddOp, SetOp
from kvsession_valkey import AsyncValkeyBackend, ValkeyBackend
from kvsession_valkey.cluster import read_node, read_target
from tests.clusters import Cluster


def test_read_node_is_a_function_of_the_slot() -> None:
    nodes = ["primary", "replica-1", "replica-2"]
    assert read_node(nodes, 0) == "replica-1"
    assert read_node(nodes, 1) == "replica-2"
    assert read_node(nodes, 16383) == "replica-2"
    assert all(read_node(nodes, 7) == read_node(list(nodes), 7) for _ in range(100))  # no round robin
    assert {read_node(nodes, slot) for slot in range(16384)} == {"replica-1", "replica-2"}
    assert read_node(["primary"], 42) == "primary"  # no replica: the primary


@dataclass
class _FakeCluster:
    read_from_replicas: bool
    slots: dict[int, list[str]] = field(default_factory=lambda: {5: ["p", "r1"]})

    def keyslot(self, key: Any) -> int:
        return 5

    @property
    def nodes_manager(self) -> Any:
        return type("NM", (), {"slots_cache": self.slots})()


def test_read_target_pins_reads_only() -> None:
    reading = _FakeCluster(read_from_replicas=True)
    assert read_target(reading, ("ZRANGE", "{s}idx", 0, -1)) == "r1"
    assert read_target(reading, ("MGET", "{s}a", "{s}b")) == "r1"  # the index and records: one node
    assert read_target(reading, ("EVALSHA", "sha", 1, "{s}a")) is None  # writes: valkey-py's routing
    assert read_target(_FakeCluster(read_from_replicas=False), ("GET", "{s}a")) is None


def _replica_for(cluster: Cluster, key: str) -> Any:
    primary = cluster.primary_for_slot(cluster.key_slot(key))
    (replica,) = cluster.replicas_of(primary)
    return replica


def _seed(backend: ValkeyBackend, n: int) -> None:
    backend.apply([SetOp(f"{{r}}m{n}", f"v{n}".encode()), IndexAddOp("{r}idx", ((f"m{n}", float(n)),))])


def test_reads_come_from_the_slots_replica_and_are_never_torn(cluster: Cluster, cluster_url: str) -> None:
    backend = kvsession.connect(cluster_url + "?read_from_replicas=true")
    assert isinstance(backend, ValkeyBackend)
    writer = kvsession.connect(cluster_url)
    assert isinstance(writer, ValkeyBackend)
    _seed(writer, 0)
    replica = _replica_for(cluster, "{r}idx")
    cluster.wait_replica_caught_up(replica)
    with cluster.lagging_replica(replica):
        _seed(writer, 1)  # on the primary only while the replica is held back
        assert writer.index_range("{r}idx") == ["m0", "m1"]
        for _ in range(20):  # round robin would hit the primary every other read
            members = backend.index_range("{r}idx")
            assert members == ["m0"]
            assert backend.get_many([f"{{r}}{m}" for m in members]) == [b"v0"]
            assert backend.get("{r}m1") is None
    cluster.wait_replica_caught_up(replica)
    assert backend.index_range("{r}idx") == ["m0", "m1"]
    # valkey-py put the replica's connections in READONLY mode (flag "r" in CLIENT LIST).
    ours = [line for line in replica.command("CLIENT", "LIST").splitlines() if "cmd=zrange" in line]
    assert ours and all("flags=r" in line for line in ours)
    backend.close()
    writer.close()


def test_without_the_option_reads_go_to_the_primary(cluster: Cluster, cluster_url: str) -> None:
    backend = kvsession.connect(cluster_url)
    _seed(backend, 0)  # type: ignore[arg-type]
    replica = _replica_for(cluster, "{r}idx")
    with cluster.lagging_replica(replica):
        _seed(backend, 1)  # type: ignore[arg-type]
        assert backend.index_range("{r}idx") == ["m0", "m1"]
    backend.close()


def test_user_built_client_reading_from_replicas_is_pinned_too(cluster: Cluster, cluster_url: str) -> None:
    client = cluster.cluster_client(read_from_replicas=True)
    backend = ValkeyBackend(client)
    writer = kvsession.connect(cluster_url)
    _seed(writer, 0)  # type: ignore[arg-type]
    replica = _replica_for(cluster, "{r}idx")
    cluster.wait_replica_caught_up(replica)
    with cluster.lagging_replica(replica):
        _seed(writer, 1)  # type: ignore[arg-type]
        assert {tuple(backend.index_range("{r}idx")) for _ in range(10)} == {("m0",)}
    backend.close()
    writer.close()
    client.close()  # type: ignore[no-untyped-call]


def test_async_reads_are_pinned_too(cluster: Cluster, cluster_url: str) -> None:
    writer = kvsession.connect(cluster_url)
    _seed(writer, 0)  # type: ignore[arg-type]
    replica = _replica_for(cluster, "{r}idx")
    cluster.wait_replica_caught_up(replica)

    async def main() -> None:
        backend = kvsession.kv.open_async(cluster_url + "?read_from_replicas=true")
        assert isinstance(backend, AsyncValkeyBackend)
        assert await backend.index_range("{r}idx") == ["m0"]
        with cluster.lagging_replica(replica):
            _seed(writer, 1)  # type: ignore[arg-type]
            for _ in range(10):
                assert await backend.index_range("{r}idx") == ["m0"]
                assert await backend.get_many(["{r}m0", "{r}m1"]) == [b"v0", None]
        await backend.aclose()

    asyncio.run(main())
    writer.close()


@pytest.mark.parametrize("scheme", ["valkey"])
def test_read_from_replicas_needs_a_cluster(scheme: str) -> None:
    with pytest.raises(kvsession.kv.errors.ConfigError, match="read_from_replicas"):
        kvsession.connect(f"{scheme}://127.0.0.1:1/0?read_from_replicas=true")
