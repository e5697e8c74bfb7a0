"""``Options``: the query options of ``valkey://``, ``valkeys://`` and their ``+cluster`` URLs.

One struct for the sync and async backends, standalone and cluster alike; what a cluster cannot
honour is refused by :func:`check_cluster_options` rather than silently dropped.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from kvsession.kv.errors import ConfigError

__all__ = [
    "DEFAULT_MAX_VALUE_BYTES",
    "MAX_SECONDS",
    "NonNegativeFloat",
    "NonNegativeInt",
    "NonNegativeSeconds",
    "Options",
    "PositiveInt",
    "Seconds",
    "check_cluster_options",
]

DEFAULT_MAX_VALUE_BYTES = 512 * 1024 * 1024
"""Valkey's default ``proto-max-bulk-len``: larger values would be refused by the server."""

PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]
NonNegativeFloat = Annotated[float, msgspec.Meta(ge=0)]
MAX_SECONDS = 86_400.0
"""Longest timeout, backoff or interval accepted (a day); ``inf`` would fail every call."""
Seconds = Annotated[float, msgspec.Meta(gt=0, le=MAX_SECONDS)]
"""A timeout: 0 or less would fail every call at once (valkey-py treats 0 as "time out now")."""
NonNegativeSeconds = Annotated[float, msgspec.Meta(ge=0, le=MAX_SECONDS)]
WaitMilliseconds = Annotated[int, msgspec.Meta(ge=1, le=int(MAX_SECONDS * 1000))]


class Options(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Query options of ``valkey://`` / ``valkeys://`` and ``valkey+cluster://`` / ``valkeys+cluster://``.

    Timeouts must be more than 0 and at most a day (:data:`MAX_SECONDS`), backoffs and
    ``health_check_interval`` from 0 to a day; anything else is a ``ConfigError`` naming the
    option (a timeout of 0 would make every call fail).

    Attributes:
        max_connections: Size limit of the connection pool (``None``: unbounded). The async
            backend keeps one pool per event loop, each of this size. On a cluster: per node.
        pool_timeout: With ``max_connections``: seconds a command waits for a free
            connection (a ``BlockingConnectionPool``) instead of failing at once. Not on a
            cluster (valkey-py's cluster pools do not wait): a ``ConfigError`` there.
        socket_timeout: Seconds to wait for a reply before the call fails.
        socket_connect_timeout: Seconds to wait for a TCP connection.
        retries: How many times a command is sent again after a connection error or
            timeout (with exponential backoff), wherever it happened: on a dead pooled
            connection, while connecting, in the connection's handshake, or waiting for the
            reply. The waits add up to :meth:`RetryPolicy.budget` (0.02 + 0.04 + 0.08 s =
            0.14 s for the default 3; 0.02 … 1.0 s, 5.26 s in all, for 10). A retried
            write may already have been applied by the failed attempt: a batch with a write token
            (:class:`~kvsession.kv.protocol.WriteTokenOp`, as the repository's creates and
            deletes carry) is then recognised as applied; without one, a retried
            only-if-absent write reports a conflict with itself. On a cluster the same budget
            also covers the cluster's transient states (``CLUSTERDOWN``, ``MASTERDOWN``,
            ``TRYAGAIN``, an uncovered slot, redirections that did not settle, no node
            reachable): see :mod:`kvsession_valkey.cluster` for the worst-case time.
        retry_backoff_base: First backoff in seconds; it doubles up to the cap.
        retry_backoff_cap: Longest backoff in seconds.
        health_check_interval: Seconds of idleness after which a pooled connection is
            checked with PING before use (0: never). Not needed to survive a dead pooled
            connection: that attempt is retried like any other. Not on a cluster (valkey-py's
            sync cluster client drops it): a ``ConfigError`` there unless 0.
        client_name: Name shown by ``CLIENT LIST`` (on every node of a cluster).
        max_value_bytes: Largest value accepted; larger ones raise ``ValueTooLargeError``
            before anything is sent.
        ssl_ca_certs: CA bundle path to verify the server (``valkeys://``, ``valkeys+cluster://``).
        ssl_certfile: Client certificate path (TLS schemes).
        ssl_keyfile: Client key path (TLS schemes).
        ssl_cert_reqs: Whether the server certificate is verified (TLS schemes).
        ssl_check_hostname: Whether the certificate must match the host (TLS schemes).
        read_from_replicas: Cluster only: send reads (``GET``, ``MGET``, ``ZRANGE`` ...) to a
            replica of the key's slot, on connections in ``READONLY`` mode; writes still go to
            the primary. Every read of one slot goes to the SAME node (a replica picked from
            the slot number, :func:`kvsession_valkey.cluster.read_node`), so a restore that reads
            an index and then its records reads both from one node: a replica applies each batch
            script whole, so what it returns is never torn, but it may be slightly stale (a
            write acknowledged by the primary a moment ago may not be there yet; read your own
            writes from the primary, i.e. leave this off, if that matters).
        wait_replicas: Durability: after every ``apply`` and ``compare_and_set``, wait until
            this many replicas confirm the write (``WAIT n wait_timeout_ms``, sent with the
            write, on the same connection, in the same round trip; 0, the default: off). If
            fewer confirm in time, :class:`~kvsession.kv.errors.ReplicationTimeoutError` says
            so; the write WAS applied on the primary and stays. What it promises: the write is
            in the memory of ``n`` replicas when the call returns. What it does not: ``WAIT`` is
            not consensus. It fsyncs nothing (a power loss of every node can still lose it),
            and a failover may still promote a replica that had not confirmed (with more
            replicas than ``wait_replicas``, or one that lost its link afterwards); Valkey
            never rolls back a write that timed out. It costs the replicas' round trip on
            every write.
        wait_timeout_ms: With ``wait_replicas``: milliseconds to wait for the confirmations
            (default 100); the call may take this long when a replica is slow or gone.
    """

    max_connections: PositiveInt | None = None
    pool_timeout: Seconds | None = None
    socket_timeout: Seconds | None = 5.0
    socket_connect_timeout: Seconds | None = 5.0
    retries: NonNegativeInt = 3
    retry_backoff_base: NonNegativeSeconds = 0.02
    retry_backoff_cap: NonNegativeSeconds = 1.0
    health_check_interval: NonNegativeSeconds = 0
    client_name: str | None = None
    max_value_bytes: PositiveInt = DEFAULT_MAX_VALUE_BYTES
    ssl_ca_certs: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_cert_reqs: Literal["required", "optional", "none"] = "required"
    ssl_check_hostname: bool = False
    read_from_replicas: bool = False
    wait_replicas: NonNegativeInt = 0
    wait_timeout_ms: WaitMilliseconds = 100


def check_cluster_options(options: Options, *, cluster: bool, url: str) -> None:
    """Refuse options the kind of server at ``url`` cannot honour, naming the option.

    Raises:
        ConfigError: ``pool_timeout`` or ``health_check_interval`` on a cluster,
            ``read_from_replicas`` on a standalone server, a ``socket_timeout`` not longer
            than ``wait_timeout_ms`` with ``wait_replicas``.
    """
    if cluster:
        if options.pool_timeout is not None:
            raise ConfigError(
                f"url=<{url}> | option 'pool_timeout' is not supported on a cluster: "
                "valkey-py's cluster pools do not wait for a free connection"
            )
        if options.health_check_interval:
            raise ConfigError(
                f"url=<{url}> | option 'health_check_interval' is not supported on a cluster "
                "(valkey-py's sync cluster client ignores it); a dead connection is retried anyway"
            )
    elif options.read_from_replicas:
        raise ConfigError(
            f"url=<{url}> | option 'read_from_replicas' needs a cluster URL (valkey+cluster://...)"
        )
    timeout, wait_seconds = options.socket_timeout, options.wait_timeout_ms / 1000
    if options.wait_replicas and timeout is not None and timeout <= wait_seconds:
        # WAIT answers only after its timeout when replicas lag: the socket would give up first
        # and report a lost connection instead of ReplicationTimeoutError.
        raise ConfigError(
            f"url=<{url}> | option 'socket_timeout' ({options.socket_timeout} s) must be longer than "
            f"'wait_timeout_ms' ({options.wait_timeout_ms} ms)"
        )
