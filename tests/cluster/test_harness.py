"""Smoke tests of the cluster harness (``tests/clusters.py``) and the TLS proxy (``tests/tlsproxy.py``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import valkey
from valkey.cluster import ValkeyCluster

from tests.clusters import SLOTS, Cluster, Node, TlsServer, start_cluster, start_tls_server
from tests.tlsproxy import TlsMaterial


@pytest.fixture(scope="module")
def scratch_cluster() -> Iterator[Cluster]:
    """This module's own cluster, for migrations and lag (the session cluster stays as it was)."""
    with start_cluster(primaries=3, replicas=1) as cluster:
        yield cluster


def _keys_per_shard(cluster: Cluster, prefix: str, count: int = 60) -> dict[str, list[str]]:
    by_owner: dict[str, list[str]] = {}
    for i in range(count):
        key = f"{prefix}:{i}"
        by_owner.setdefault(cluster.primary_for_slot(cluster.key_slot(key)).node_id, []).append(key)
    return by_owner


def _other_primary(cluster: Cluster, slot: int) -> Node:
    owner = cluster.primary_for_slot(slot)
    return next(node for node in cluster.primaries if node is not owner)


def test_cluster_covers_every_slot_with_three_replicated_shards(valkey_cluster: Cluster) -> None:
    slot_map = valkey_cluster.wait_until_stable()
    assert sum(end - start + 1 for start, end, _ in slot_map) == SLOTS
    assert len(valkey_cluster.primaries) == 3
    for primary in valkey_cluster.primaries:
        (replica,) = valkey_cluster.replicas_of(primary)
        assert replica.role == "replica"
        assert replica.command("ROLE")[0] in {"slave", "replica"}
    owners = {owner for _, _, (owner, replicas) in slot_map if len(replicas) == 1}
    assert owners == {primary.node_id for primary in valkey_cluster.primaries}
    assert valkey_cluster.url(query="ttl=60").startswith(f"valkey+cluster://{valkey_cluster.seeds}/0?ttl=60")


def test_cluster_client_writes_and_reads_in_every_shard(valkey_cluster: Cluster) -> None:
    client = valkey_cluster.cluster_client()
    try:
        by_owner = _keys_per_shard(valkey_cluster, "harness-rw")
        assert len(by_owner) == 3
        for owner_id, keys in by_owner.items():
            for key in keys:
                client.set(key, key)
            owner = valkey_cluster.node_by_id(owner_id).client()
            assert all(owner.exists(key) for key in keys)  # stored on the node the map names
            assert [client.get(key) for key in keys] == [key.encode() for key in keys]
    finally:
        client.close()  # type: ignore[no-untyped-call]


def test_manual_migration_moves_keys_and_the_slot(scratch_cluster: Cluster) -> None:
    cluster = scratch_cluster
    keys = [f"{{manual}}:{i}" for i in range(25)]
    slot = cluster.key_slot(keys[0])
    client = cluster.cluster_client()
    try:
        for key in keys:
            client.set(key, key)
        target = _other_primary(cluster, slot)
        source = cluster.begin_manual_migration(slot, target)
        assert cluster.move_keys(slot, target, 10) == 10
        # Mid-migration: moved keys are answered by the target (ASK), the rest by the source.
        assert [client.get(key) for key in keys] == [key.encode() for key in keys]
        cluster.finish_manual_migration(slot, target)
        assert cluster.primary_for_slot(slot) is target
        assert target.client().exists(*keys) == len(keys)
        assert source.client().execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) == 0  # type: ignore[no-untyped-call]
        assert len({cluster.slot_map(node) for node in cluster.live_nodes}) == 1
        assert [client.get(key) for key in keys] == [key.encode() for key in keys]
        cluster.migrate_slot_manual(slot, source, batch=5, pause=0.01)  # and back, in one call
        assert cluster.primary_for_slot(slot) is source
    finally:
        client.close()  # type: ignore[no-untyped-call]


def test_atomic_migration_moves_the_slot(scratch_cluster: Cluster) -> None:
    cluster = scratch_cluster
    keys = [f"{{atomic}}:{i}" for i in range(25)]
    slot = cluster.key_slot(keys[0])
    client = cluster.cluster_client()
    try:
        for key in keys:
            client.set(key, key)
        target = _other_primary(cluster, slot)
        cluster.migrate_slot_atomic(slot, target)
        assert cluster.primary_for_slot(slot) is target
        assert target.client().exists(*keys) == len(keys)
        assert [client.get(key) for key in keys] == [key.encode() for key in keys]
    finally:
        client.close()  # type: ignore[no-untyped-call]


def test_lagging_replica_serves_stale_reads(scratch_cluster: Cluster) -> None:
    cluster = scratch_cluster
    key = "{lag}:k"
    primary = cluster.primary_for_slot(cluster.key_slot(key))
    (replica,) = cluster.replicas_of(primary)
    primary.client().set(key, "old")
    cluster.wait_replica_caught_up(replica)
    reader = replica.client()
    reader.execute_command("READONLY")  # type: ignore[no-untyped-call]
    with cluster.lagging_replica(replica):
        assert primary.client().set(key, "new")
        assert primary.client().get(key) == b"new"
        time.sleep(0.3)
        assert reader.get(key) == b"old"  # reachable, but stale
    assert reader.get(key) == b"new"  # caught up once the block ends


def test_failover_promotes_the_replica() -> None:
    with start_cluster(primaries=3, replicas=1) as cluster:
        key = "{failover}:k"
        victim = cluster.primary_for_slot(cluster.key_slot(key))
        (replica,) = cluster.replicas_of(victim)
        victim.client().set(key, "v")
        cluster.wait_replica_caught_up(replica)
        cluster.kill_primary(victim)
        started = time.monotonic()
        assert cluster.wait_for_failover(victim) is replica
        assert time.monotonic() - started < 10
        assert replica.role == "primary"
        assert cluster.primary_for_slot(cluster.key_slot(key)) is replica
        client = cluster.cluster_client()
        try:
            assert client.get(key) == b"v"
        finally:
            client.close()  # type: ignore[no-untyped-call]


# -- TLS -------------------------------------------------------------------------------------------


def test_tls_client_with_the_right_ca(tls_valkey: TlsServer) -> None:
    client = valkey.Valkey(
        host="127.0.0.1", port=tls_valkey.port, ssl=True, ssl_ca_certs=tls_valkey.material.ca_cert
    )
    try:
        assert client.set("tls:k", "v")
        assert client.get("tls:k") == b"v"
    finally:
        client.close()  # type: ignore[no-untyped-call]


def test_tls_client_with_the_wrong_ca_fails_fast(tls_valkey: TlsServer) -> None:
    client = valkey.Valkey(
        host="127.0.0.1",
        port=tls_valkey.port,
        ssl=True,
        ssl_ca_certs=tls_valkey.material.other_ca_cert,
        socket_connect_timeout=3,
        socket_timeout=3,
    )
    started = time.monotonic()
    with pytest.raises(valkey.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        client.ping()
    assert time.monotonic() - started < 3
    client.close()  # type: ignore[no-untyped-call]


def test_mutual_tls_refuses_a_client_without_certificate(tls_material: TlsMaterial) -> None:
    server, proxy = start_tls_server(tls_material, require_client_cert=True)
    try:
        options: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": proxy.port,
            "ssl": True,
            "ssl_ca_certs": tls_material.ca_cert,
        }
        anonymous = valkey.Valkey(socket_connect_timeout=3, socket_timeout=3, **options)
        with pytest.raises(valkey.ConnectionError):
            anonymous.ping()
        anonymous.close()  # type: ignore[no-untyped-call]
        identified = valkey.Valkey(
            ssl_certfile=tls_material.client_cert, ssl_keyfile=tls_material.client_key, **options
        )
        assert identified.ping()
        identified.close()  # type: ignore[no-untyped-call]
    finally:
        proxy.stop()
        server.stop()


def test_tls_cluster_announces_tls_ports_and_serves_every_slot_range(tls_cluster: Cluster) -> None:
    slot_map = tls_cluster.wait_until_stable()
    announced = {entry[2][1] for entry in tls_cluster.nodes[0].command("CLUSTER", "SLOTS")}
    assert announced == {node.announced_port for node in tls_cluster.primaries}
    assert all(
        node.proxy is not None and node.proxy.port == node.announced_port for node in tls_cluster.nodes
    )
    client: ValkeyCluster = tls_cluster.cluster_client()
    try:
        for start, end, _ in slot_map:
            keys = [
                key
                for key in (f"tls-cluster:{i}" for i in range(200))
                if start <= tls_cluster.key_slot(key) <= end
            ]
            assert keys
            for key in keys[:10]:
                client.set(key, key)
                assert client.get(key) == key.encode()
    finally:
        client.close()  # type: ignore[no-untyped-call]
    # Replication runs through the same announced (proxy) ports, in plaintext.
    assert all(node.proxy is not None and node.proxy.plain_connections >= 1 for node in tls_cluster.primaries)
