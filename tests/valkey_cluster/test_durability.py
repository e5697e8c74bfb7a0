"""``wait_replicas``: every write followed by ``WAIT`` on its own connection, in the same round trip.

Confirmed in time: the call returns as usual. A replica held back (``CLIENT PAUSE ... WRITE`` on
it: reachable, applying nothing, acknowledging nothing): ``ReplicationTimeoutError`` after about
``wait_timeout_ms``, and the write is on the primary all the same. On a standalone primary with
one replica (``REPLICAOF``) and on the cluster, sync and async.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import valkey
import valkey.cluster

import kvsession
from kvsession.kv.errors import ConflictError, ReplicationTimeoutError
from kvsession.kv.protocol import IndexAddOp, SetOp, WriteTokenOp
from kvsession_valkey import AsyncValkeyBackend, ValkeyBackend
from tests.clusters import Cluster
from tests.valkey_cluster.conftest import ReplicaPair

TIMEOUT_MS = 150


def _append(n: int, tag: str = "d") -> list[SetOp | IndexAddOp]:
    return [SetOp(f"{{{tag}}}m{n}", b"x" * 200), IndexAddOp(f"{{{tag}}}idx", ((f"m{n}", float(n)),))]


def _paused(client: valkey.Valkey, seconds: float = 10) -> None:
    client.execute_command("CLIENT", "PAUSE", int(seconds * 1000), "WRITE")  # type: ignore[no-untyped-call]


# -- standalone primary + replica ----------------------------------------------------------------


def test_standalone_confirmed_then_timed_out(replica_pair: ReplicaPair) -> None:
    backend = kvsession.connect(replica_pair.url(f"wait_replicas=1&wait_timeout_ms={TIMEOUT_MS}"))
    assert isinstance(backend, ValkeyBackend)
    backend.client.flushall()
    backend.client.script_flush()  # the EVALSHA -> EVAL fallback must keep its WAIT
    backend.apply(_append(0))
    assert backend.compare_and_set([("{d}m0", b"x" * 200, b"y")]) == 1
    with pytest.raises(ConflictError):  # a rejected batch is a conflict, not a replication error
        backend.apply([SetOp("{d}m0", b"z", only_if_absent=True)])
    replica = replica_pair.replica_client()
    _paused(replica)
    try:
        started = time.monotonic()
        with pytest.raises(ReplicationTimeoutError) as caught:
            backend.apply(_append(1))
        took = time.monotonic() - started
        assert TIMEOUT_MS / 1000 <= took < TIMEOUT_MS / 1000 + 0.5, took
        error = caught.value
        assert (error.key, error.wanted, error.confirmed, error.timeout_ms) == ("{d}m1", 1, 0, TIMEOUT_MS)
        assert "WAS applied on the primary" in str(error) and "0 of 1 replicas" in str(error)
        assert backend.get("{d}m1") == b"x" * 200  # the write is there
        with pytest.raises(ReplicationTimeoutError):
            backend.compare_and_set([("{d}m1", b"x" * 200, b"y")])
        assert backend.get("{d}m1") == b"y"
        assert backend.compare_and_set([("{d}m1", b"stale", b"z")]) == 0  # nothing written, no wait judged
    finally:
        replica.execute_command("CLIENT", "UNPAUSE")  # type: ignore[no-untyped-call]
        replica.close()  # type: ignore[no-untyped-call]
    backend.close()


def test_standalone_retried_batch_with_a_token_is_recognised(replica_pair: ReplicaPair) -> None:
    backend = kvsession.connect(replica_pair.url("wait_replicas=1&wait_timeout_ms=500"))
    batch = [WriteTokenOp("{d}token", b"t-1", ttl=60), *_append(7)]
    backend.apply(batch)
    backend.apply(batch)  # a re-send of an applied batch: recognised, and WAIT still answers
    backend.close()


def test_standalone_async(replica_pair: ReplicaPair) -> None:
    async def main() -> None:
        backend = await kvsession.connect_async(
            replica_pair.url(f"wait_replicas=1&wait_timeout_ms={TIMEOUT_MS}")
        )
        assert isinstance(backend, AsyncValkeyBackend)
        await backend.apply(_append(20))
        replica = replica_pair.replica_client()
        _paused(replica)
        try:
            with pytest.raises(ReplicationTimeoutError) as caught:
                await backend.apply(_append(21))
            assert caught.value.confirmed == 0
            assert await backend.get("{d}m21") == b"x" * 200
        finally:
            replica.execute_command("CLIENT", "UNPAUSE")  # type: ignore[no-untyped-call]
            replica.close()  # type: ignore[no-untyped-call]
        await backend.aclose()

    asyncio.run(main())


# -- cluster ---------------------------------------------------------------------------------


def _replica(cluster: Cluster, key: str):  # type: ignore[no-untyped-def]
    (replica,) = cluster.replicas_of(cluster.primary_for_slot(cluster.key_slot(key)))
    return replica


def test_cluster_confirmed_then_timed_out(cluster: Cluster, cluster_url: str) -> None:
    backend = kvsession.connect(cluster_url + f"?wait_replicas=1&wait_timeout_ms={TIMEOUT_MS}")
    for node in cluster.primaries:
        node.command("SCRIPT", "FLUSH")
    for tag in ("d", "e", "f", "g"):  # slots on several nodes
        backend.apply(_append(0, tag))
    replica = _replica(cluster, "{d}idx")
    with cluster.lagging_replica(replica):
        started = time.monotonic()
        with pytest.raises(ReplicationTimeoutError) as caught:
            backend.apply(_append(1))
        assert time.monotonic() - started < TIMEOUT_MS / 1000 + 0.5
        assert (caught.value.wanted, caught.value.confirmed) == (1, 0)
        assert backend.get("{d}m1") == b"x" * 200
        other = next(t for t in ("e", "f", "g") if _replica(cluster, f"{{{t}}}idx") is not replica)
        backend.apply(_append(1, other))  # another shard's replica confirms as usual
    backend.close()


def test_cluster_async(cluster: Cluster, cluster_url: str) -> None:
    replica = _replica(cluster, "{d}idx")

    async def main() -> None:
        backend = await kvsession.connect_async(
            cluster_url + f"?wait_replicas=1&wait_timeout_ms={TIMEOUT_MS}"
        )
        await backend.apply(_append(30))
        with cluster.lagging_replica(replica):
            with pytest.raises(ReplicationTimeoutError):
                await backend.apply(_append(31))
            assert await backend.get("{d}m31") == b"x" * 200
        await backend.aclose()

    asyncio.run(main())


def test_cluster_write_follows_a_moved_slot(
    cluster: Cluster, cluster_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = kvsession.connect(cluster_url + "?wait_replicas=1&wait_timeout_ms=1000")
    assert isinstance(backend, ValkeyBackend)
    backend.apply(_append(0, "mv"))
    slot = cluster.key_slot("{mv}idx")
    source = cluster.primary_for_slot(slot)
    target = next(node for node in cluster.primaries if node is not source)
    cluster.migrate_slot_manual(slot, target)
    for replica in cluster.replicas_of(target):
        cluster.wait_replica_caught_up(replica)
    client = backend.client
    assert isinstance(client, valkey.cluster.ValkeyCluster)
    manager = client.nodes_manager
    moved: list[object] = []
    patched = manager.update_moved_exception

    def count(error: object) -> None:
        moved.append(error)
        patched(error)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(manager, "update_moved_exception", count)
    backend.apply(_append(1, "mv"))  # MOVED on the old owner, then EVALSHA + WAIT on the new one
    assert len(moved) == 1
    assert backend.index_range("{mv}idx") == ["m0", "m1"]
    cluster.migrate_slot_manual(slot, source)  # leave the shared cluster as it was
    backend.close()
