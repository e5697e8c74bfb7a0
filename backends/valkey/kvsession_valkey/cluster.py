"""Valkey Cluster clients: built from a ``valkey+cluster://`` URL, retried whole, reads pinned per slot.

**Routing.** Commands with keys go where valkey-py sends them: the slot's primary, found from
the key (``EVALSHA``: from its ``numkeys`` keys; a batch's keys share one hash tag, so one
slot). valkey-py follows ``MOVED`` and ``ASK`` itself, up to 16 redirections per attempt.

**Replica reads** (``read_from_replicas=true``). valkey-py alone would spread reads round-robin
over a slot's primary and replicas, so a restore's two reads (the index, ``ZRANGE``, then the
records, ``MGET``) could come from two nodes at different replication offsets: records
missing from a fresh index. Here every read of one slot goes to ONE node, :func:`read_node`
(a replica chosen from the slot number), through valkey-py's ``target_nodes=``. A replica
applies each batch script's effects atomically, so both reads see the same whole batches:
possibly a little stale, never torn. valkey-py sends ``READONLY`` on every connection of a
client built with ``read_from_replicas`` (its ``on_connect``), which a replica needs to serve
reads. A failover or resharding between the two reads may still move the slot to another node.

**Retries and their worst case.** A client built here sets valkey-py's
``cluster_error_retry_attempts`` to 0 and its connections' ``Retry`` to none, so the URL's
``retries`` (:class:`~kvsession_valkey.clients.RetryPolicy`) is the only loop around a command:
at most ``retries + 1`` attempts, waiting :meth:`RetryPolicy.budget` in all between them
(0.14 s by default). One attempt is valkey-py's redirection loop: at most 16 round trips
(``MOVED`` / ``ASK``), sleeping 0.05 s after each of the last 8 ``TRYAGAIN`` (0.4 s), or 0.25 s
and a topology refresh after ``CLUSTERDOWN``, or a refresh after a lost connection (each seed
tried, each costing up to ``socket_connect_timeout`` + ``socket_timeout``). So the worst case
is about ``(retries + 1) × (16 × socket_timeout + 0.4 s) + budget``, and, in the common
transient states, ``(retries + 1) × 0.4 s + budget`` (TRYAGAIN) or
``(retries + 1) × (0.25 s + refresh) + budget`` (CLUSTERDOWN): 1.14 s plus refreshes with the
defaults. A client you build yourself keeps its own ``cluster_error_retry_attempts`` (valkey-py's
default 3, i.e. 4 attempts) and gets no retries from the backend.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import valkey.asyncio.cluster
import valkey.cluster
from valkey.backoff import NoBackoff
from valkey.exceptions import SlotNotCoveredError

from kvsession.kv.config import BackendConfig
from kvsession_valkey.clients import TLS_SCHEMES, RetryPolicy, tls_options
from kvsession_valkey.failures import SERVER_ERRORS
from kvsession_valkey.options import Options

__all__ = [
    "READ_COMMANDS",
    "AsyncClusterClient",
    "ClusterClient",
    "build_async_cluster",
    "build_sync_cluster",
    "cluster_kwargs",
    "read_node",
    "read_target",
    "route_target",
    "send_routed",
    "send_routed_async",
]

N = TypeVar("N")

READ_COMMANDS = frozenset(
    {"GET", "MGET", "EXISTS", "ZRANGE", "ZRANGEBYLEX", "ZSCORE", "ZCARD", "SMEMBERS", "SCARD", "PTTL"}
)
"""The backend's read commands: those a replica may serve (``read_from_replicas``)."""


def read_node(nodes: Sequence[N], slot: int) -> N:
    """Return the node every read of ``slot`` goes to: always the same one for the same nodes.

    ``nodes`` is the slot's primary followed by its replicas, as valkey-py lists them. With
    replicas, one of them chosen by the slot number (so a primary's slots spread over its
    replicas); without, the primary.
    """
    if len(nodes) < 2:
        return nodes[0]
    return nodes[1 + slot % (len(nodes) - 1)]


def read_target(cluster: Any, args: Sequence[Any]) -> Any | None:
    """Return the node a read should go to (:func:`read_node`), or ``None``: let valkey-py route it.

    ``None`` unless the client reads from replicas and ``args`` is one of :data:`READ_COMMANDS`.
    The cluster must know its slots (an async client: initialized).

    Raises:
        SlotNotCoveredError: No node serves the key's slot (a failover under way).
    """
    if not getattr(cluster, "read_from_replicas", False) or str(args[0]).upper() not in READ_COMMANDS:
        return None
    slot = cluster.keyslot(args[1])
    nodes = cluster.nodes_manager.slots_cache.get(slot)
    if not nodes:
        raise SlotNotCoveredError(f'Slot "{slot}" is not covered by the cluster.')
    return read_node(nodes, slot)


WRITE_COMMANDS = frozenset({"SET", "DEL", "ZADD", "ZREM", "SADD", "SREM", "PEXPIRE"})
"""The backend's write commands whose first argument is a key (scripts: see :func:`route_target`)."""


def route_target(cluster: Any, args: Sequence[Any]) -> Any | None:
    """Return the node a keyed command goes to, found from its first key alone; else ``None``.

    valkey-py computes the slot of every key of a command to check they agree: ~5 µs a key, so
    2.6 ms of a 1,000-message restore's ``MGET`` and ~50 µs of every append's ``EVALSHA``. One
    key is enough here: a call whose keys span slots is refused by the server (``CROSSSLOT``),
    which the backend reports like valkey-py's own refusal, naming the stray key. The slot's
    primary, or for a read with ``read_from_replicas`` its pinned node (:func:`read_node`).
    ``None`` (valkey-py routes it) for a command without keys, or a slot the client has no node
    for yet (valkey-py then refreshes or raises). ``MOVED`` and ``ASK`` are followed as usual.
    """
    command = str(args[0]).upper()
    if command == "EVALSHA" or command == "EVAL":
        key = args[3] if len(args) > 3 and int(args[2]) > 0 else None
    elif command in READ_COMMANDS or command in WRITE_COMMANDS:
        key = args[1] if len(args) > 1 else None
    else:
        return None
    if key is None:
        return None
    slot = cluster.keyslot(key)
    nodes = cluster.nodes_manager.slots_cache.get(slot)
    if not nodes:
        return None
    if cluster.read_from_replicas and command in READ_COMMANDS:
        return read_node(nodes, slot)
    return nodes[0]


def send_routed(cluster: valkey.cluster.ValkeyCluster, *args: Any, **options: Any) -> Any:
    """``cluster.execute_command``, sent to the node of its first key (:func:`route_target`)."""
    target = route_target(cluster, args)
    if target is not None:
        options["target_nodes"] = target
    return cluster.execute_command(*args, **options)  # type: ignore[no-untyped-call]


async def send_routed_async(cluster: valkey.asyncio.cluster.ValkeyCluster, *args: Any, **options: Any) -> Any:
    """Await :func:`send_routed`'s async twin; it meets the cluster's nodes first if it has not yet."""
    await cluster.initialize()  # a no-op once done: the slot map is needed to route
    target = route_target(cluster, args)
    if target is not None:
        options["target_nodes"] = target
    return await cluster.execute_command(*args, **options)


def cluster_kwargs(config: BackendConfig, options: Options) -> dict[str, Any]:
    """Return both valkey-py cluster clients' keywords for ``config`` (seeds apart), every option honoured."""
    kwargs: dict[str, Any] = {
        "username": config.username,
        "password": config.password,
        "client_name": options.client_name,
        "socket_timeout": options.socket_timeout,
        "socket_connect_timeout": options.socket_connect_timeout,
        "read_from_replicas": options.read_from_replicas,
        # The async client's default is True; a partly covered cluster still serves the
        # other slots (an uncovered one answers CLUSTERDOWN, which is retried).
        "require_full_coverage": False,
        # RetryPolicy is the one loop around a command (module docstring: the worst case).
        "cluster_error_retry_attempts": 0,
    }
    if options.max_connections is not None:
        kwargs["max_connections"] = options.max_connections  # per node
    if config.scheme in TLS_SCHEMES:
        kwargs.update(ssl=True, **tls_options(options))
    return kwargs


def _seeds(config: BackendConfig) -> list[tuple[str, int]]:
    seeds = config.seeds or ((config.host or "127.0.0.1", config.port),)
    return [(host, port or 6379) for host, port in seeds]


class ClusterClient:
    """A sync ``valkey.cluster.ValkeyCluster`` built on first use, each command retried whole.

    valkey-py's sync cluster client meets its nodes in its constructor; building it on the
    first command keeps :meth:`ValkeyBackend.from_config` free of I/O and lets an unreachable
    cluster be retried like any other transient failure.

    Attributes:
        retry_policy: Decides whether and when a failed command is sent again.
    """

    def __init__(
        self, factory: Callable[[], valkey.cluster.ValkeyCluster], retry_policy: RetryPolicy
    ) -> None:
        self.retry_policy = retry_policy
        self._factory = factory
        self._cluster: valkey.cluster.ValkeyCluster | None = None
        self._lock = threading.Lock()

    def get(self) -> valkey.cluster.ValkeyCluster:
        """Return the cluster client, building it (and meeting the nodes) on first use.

        Raises:
            ValkeyClusterException: No seed node could be reached.
        """
        cluster = self._cluster
        if cluster is None:
            with self._lock:
                cluster = self._cluster
                if cluster is None:
                    cluster = self._cluster = self._factory()
        return cluster

    def execute_command(self, *args: Any, **options: Any) -> Any:
        """Send one command (reads pinned per slot), again after a transient failure."""
        failures = 0
        while True:
            try:
                # A copy: valkey-py pops options (NEVER_DECODE) that the next attempt needs again.
                return send_routed(self.get(), *args, **dict(options))
            except SERVER_ERRORS as error:
                failures += 1
                delay = self.retry_policy.delay(error, failures)
                if delay is None:
                    raise
                time.sleep(delay)

    def close(self) -> None:
        """Disconnect every node's pool (nothing to do if the client was never built)."""
        with self._lock:
            cluster, self._cluster = self._cluster, None
        if cluster is not None:
            cluster.close()  # type: ignore[no-untyped-call]
            cluster.disconnect_connection_pools()  # type: ignore[no-untyped-call]


def build_sync_cluster(config: BackendConfig, options: Options) -> ClusterClient:
    """Return the sync cluster client of a ``+cluster`` URL (built on its first command)."""
    kwargs = cluster_kwargs(config, options)
    # One attempt per connect and per command: RetryPolicy retries the whole attempt.
    kwargs["retry"] = valkey.retry.Retry(NoBackoff(), 0)
    nodes = [valkey.cluster.ClusterNode(host, port) for host, port in _seeds(config)]  # type: ignore[no-untyped-call]

    def factory() -> valkey.cluster.ValkeyCluster:
        return valkey.cluster.ValkeyCluster(startup_nodes=nodes, **kwargs)

    return ClusterClient(factory, RetryPolicy.from_options(options))


class AsyncClusterClient(valkey.asyncio.cluster.ValkeyCluster):
    """``valkey.asyncio.cluster.ValkeyCluster`` whose commands are retried whole, reads pinned per slot.

    Attributes:
        retry_policy: Decides whether and when a failed command is sent again.
    """

    def __init__(self, *, retry_policy: RetryPolicy, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.retry_policy = retry_policy

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        """Send one command (reads pinned per slot), again after a transient failure."""
        failures = 0
        while True:
            try:
                attempt = dict(options)  # valkey-py pops options the next attempt needs again
                await self.initialize()  # a no-op once done: the slot map is needed to route
                target = route_target(self, args)
                if target is not None:
                    attempt["target_nodes"] = target
                return await super().execute_command(*args, **attempt)
            except SERVER_ERRORS as error:
                failures += 1
                delay = self.retry_policy.delay(error, failures)
                if delay is None:
                    raise
                await asyncio.sleep(delay)


def build_async_cluster(config: BackendConfig, options: Options) -> AsyncClusterClient:
    """Return an async cluster client of a ``+cluster`` URL (no I/O until its first command)."""
    kwargs = cluster_kwargs(config, options)
    kwargs.update(
        retry=valkey.asyncio.retry.Retry(NoBackoff(), 0),
        retry_on_error=[],
        connection_error_retry_attempts=0,
    )
    nodes = [valkey.asyncio.cluster.ClusterNode(host, port) for host, port in _seeds(config)]
    return AsyncClusterClient(retry_policy=RetryPolicy.from_options(options), startup_nodes=nodes, **kwargs)
