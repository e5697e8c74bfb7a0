"""Building valkey-py clients from a URL, retrying their commands, and describing clients users pass.

:class:`RetryPolicy` decides whether and when a failed command is sent again; :func:`build_client`
builds a standalone client (the cluster ones are in :mod:`kvsession_valkey.cluster`);
:func:`describe` says where a client someone else built points, for error messages and for the
key scheme (a cluster client implies the cluster key scheme).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

import msgspec
import valkey.asyncio.cluster
import valkey.cluster
from valkey.backoff import AbstractBackoff, ExponentialBackoff, NoBackoff

from kvsession.kv.config import BackendConfig, StoreOptions
from kvsession.kv.errors import ConfigError
from kvsession_valkey.failures import is_transient
from kvsession_valkey.options import Options

__all__ = [
    "CLUSTER_SCHEMES",
    "TLS_SCHEMES",
    "ClientKind",
    "RetryPolicy",
    "build_client",
    "describe",
    "is_cluster_client",
    "policy_for",
    "with_cluster_key_scheme",
]

logger = logging.getLogger(__name__)

TLS_SCHEMES = frozenset({"valkeys", "valkeys+cluster"})
CLUSTER_SCHEMES = frozenset({"valkey+cluster", "valkeys+cluster"})


class RetryPolicy:
    """Whether a command that did not reach the server is sent again, and after how long.

    The shells' clients (``_RetryingValkey`` in :mod:`kvsession_valkey.backend` and
    :mod:`kvsession_valkey.aio`, and the cluster clients of :mod:`kvsession_valkey.cluster`)
    run every attempt of a command as one unit: taking a pooled connection, (re)connecting
    with its handshake (``HELLO`` / ``AUTH`` / ``SELECT`` / ``CLIENT SETNAME``), sending and
    reading the reply. valkey-py's own ``Retry`` covers only part of that: it retries a
    command on a connection it already holds, but not the connect and handshake that
    ``get_connection`` does before (a dead pooled connection found there, a refused connect
    during an outage, a lost handshake reply all failed at once). Here the connections retry
    nothing themselves (``Retry(NoBackoff(), 0)``), so the budget is one: at most ``retries``
    more attempts, with the backoffs in between.

    Attributes:
        retries: How many times a command is sent again after a transient failure.
    """

    def __init__(self, retries: int, backoff: AbstractBackoff) -> None:
        self.retries = retries
        self._backoff = backoff

    @classmethod
    def from_options(cls, options: Options) -> RetryPolicy:
        """Return the policy of a URL's ``retries``, ``retry_backoff_base`` and ``retry_backoff_cap``."""
        backoff = ExponentialBackoff(cap=options.retry_backoff_cap, base=options.retry_backoff_base)
        return cls(options.retries, backoff)

    def budget(self) -> float:
        """Return the seconds spent waiting between attempts when every attempt fails."""
        return sum(self._backoff.compute(failures - 1) for failures in range(1, self.retries + 1))

    def delay(self, error: BaseException, failures: int) -> float | None:
        """Seconds to wait before sending again after the ``failures``-th failed attempt, or ``None``.

        ``None`` (give up, raise ``error``) once ``retries`` is spent, and for anything but a
        transient failure (:func:`kvsession_valkey.failures.is_transient`): a lost connection,
        a timeout, a server still loading its data after a restart (``BusyLoadingError``),
        and a cluster's passing states (``CLUSTERDOWN``, ``TRYAGAIN``, an uncovered slot ...).
        Refused credentials and an exhausted connection pool are not transient.
        """
        if failures > self.retries or not is_transient(error):
            return None
        delay = self._backoff.compute(failures - 1)  # base, 2 * base, ... up to the cap
        logger.debug(
            "failures=<%d>, delay=<%.3f> | transient failure, sending again: %r", failures, delay, error
        )
        return delay


NO_RETRIES = RetryPolicy(0, NoBackoff())
"""The policy of a client the user built: valkey-py's own retries (if any) are all it gets."""


def policy_for(client: Any) -> RetryPolicy:
    """Return the retry policy of a client the backend built, else :data:`NO_RETRIES`."""
    policy = getattr(client, "retry_policy", None)
    return policy if isinstance(policy, RetryPolicy) else NO_RETRIES


class ClientKind(NamedTuple):
    """The valkey-py classes a shell builds its client from: ``valkey`` or ``valkey.asyncio``'s.

    ``client`` takes ``connection_pool=`` and ``retry_policy=`` (a :class:`RetryPolicy`);
    ``cluster`` builds a cluster client from a config and options (see
    :mod:`kvsession_valkey.cluster`).
    """

    client: Callable[..., Any]
    pool: Callable[..., Any]
    blocking_pool: Callable[..., Any]
    retry: Callable[..., Any]
    connection: type[Any]
    tls_connection: type[Any]
    cluster: Callable[[BackendConfig, Options], Any]


def build_client(kind: ClientKind, config: BackendConfig, options: Options) -> Any:
    """Build a pooled client of ``kind`` for ``config``; no connection is opened until the first command.

    Retries are the client's (:class:`RetryPolicy`), around each whole attempt; the pool's
    connections try once. A ``+cluster`` URL gets ``kind.cluster``'s client.
    """
    if config.scheme in CLUSTER_SCHEMES:
        return kind.cluster(config, options)
    kwargs: dict[str, Any] = {
        "host": config.host or "127.0.0.1",
        "port": config.port or 6379,
        "db": config.db or 0,
        "username": config.username,
        "password": config.password,
        "max_connections": options.max_connections,
        "socket_timeout": options.socket_timeout,
        "socket_connect_timeout": options.socket_connect_timeout,
        "health_check_interval": options.health_check_interval,
        "client_name": options.client_name,
        # One attempt per connect and per command: RetryPolicy retries the whole attempt.
        "retry": kind.retry(NoBackoff(), 0),
        "retry_on_error": [],
    }
    if config.scheme not in TLS_SCHEMES:
        kwargs["connection_class"] = kind.connection
    else:
        kwargs.update(connection_class=kind.tls_connection, **tls_options(options))
    if options.pool_timeout is not None and options.max_connections is not None:
        pool = kind.blocking_pool(timeout=options.pool_timeout, **kwargs)
    else:
        pool = kind.pool(**kwargs)
    return kind.client(connection_pool=pool, retry_policy=RetryPolicy.from_options(options))


def tls_options(options: Options) -> dict[str, Any]:
    """Return the TLS keywords valkey-py's connections (and cluster clients) take, from the URL's options."""
    return {
        "ssl_ca_certs": options.ssl_ca_certs,
        "ssl_certfile": options.ssl_certfile,
        "ssl_keyfile": options.ssl_keyfile,
        "ssl_cert_reqs": options.ssl_cert_reqs,
        "ssl_check_hostname": options.ssl_check_hostname,
    }


def is_cluster_client(client: Any) -> bool:
    """Whether ``client`` is a valkey-py cluster client (sync or async)."""
    return isinstance(client, valkey.cluster.ValkeyCluster | valkey.asyncio.cluster.ValkeyCluster)


def describe(kind: ClientKind, client: Any) -> BackendConfig:
    """Describe where a user-built client points, for error messages (never with the password).

    A cluster client is described as ``valkey+cluster://`` (``valkeys+cluster://`` over TLS)
    with its known nodes as seeds and the cluster key scheme, which the repository then uses.
    """
    if is_cluster_client(client):
        return _describe_cluster(kind, client)
    params = client.connection_pool.connection_kwargs
    path = params.get("path")
    db = int(params.get("db") or 0)
    if path:
        return BackendConfig(url=f"unix://{path}?db={db}", scheme="unix", db=db)
    scheme = (
        "valkeys" if issubclass(client.connection_pool.connection_class, kind.tls_connection) else "valkey"
    )
    host, port = params.get("host", "localhost"), params.get("port", 6379)
    return BackendConfig(url=f"{scheme}://{host}:{port}/{db}", scheme=scheme, host=host, port=port, db=db)


def _describe_cluster(kind: ClientKind, client: Any) -> BackendConfig:
    params = client.get_connection_kwargs()
    connection_class = params.get("connection_class")
    tls = bool(params.get("ssl")) or (
        isinstance(connection_class, type) and issubclass(connection_class, kind.tls_connection)
    )
    scheme = "valkeys+cluster" if tls else "valkey+cluster"
    manager = client.nodes_manager
    # An async client has not met its nodes before its first command: its seeds say where.
    nodes = list(manager.nodes_cache.values()) or list(manager.startup_nodes.values())
    seeds = tuple((str(node.host), int(node.port)) for node in nodes)
    hosts = ",".join(f"{host}:{port}" for host, port in seeds)
    return BackendConfig(
        url=f"{scheme}://{hosts}/0",
        scheme=scheme,
        host=seeds[0][0] if seeds else None,
        port=seeds[0][1] if seeds else None,
        db=0,
        store=StoreOptions(key_scheme="cluster"),
        seeds=seeds,
    )


def with_cluster_key_scheme(config: BackendConfig) -> BackendConfig:
    """Return ``config`` with the cluster key scheme, unless its URL asks for another one.

    Raises:
        ConfigError: The URL says ``key_scheme=standalone``, which a cluster client cannot serve.
    """
    written = dict(parse_qsl(urlsplit(config.url).query)).get("key_scheme")
    if written is not None:
        raise ConfigError(
            f"url=<{config.redacted()}> | option 'key_scheme' must be 'cluster' with a cluster client, "
            f"got {written!r}"
        )
    store = msgspec.structs.replace(config.store, key_scheme="cluster")
    return dataclasses.replace(config, store=store)
