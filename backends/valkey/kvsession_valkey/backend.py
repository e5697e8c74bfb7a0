"""``ValkeyBackend``: the :class:`~kvsession.kv.protocol.KeyValueBackend` over valkey-py, blocking.

The operations are :class:`~kvsession_valkey.commands.ValkeyCommands`' plans; this shell only
sends their commands with a ``valkey.Valkey`` client. Every method is one command, so one round
trip; :meth:`ValkeyBackend.apply` is one ``EVALSHA`` of the batch script in
:mod:`kvsession_valkey.scripts`. The async twin is :class:`kvsession_valkey.aio.AsyncValkeyBackend`.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import valkey
import valkey.cluster
from valkey.client import NEVER_DECODE
from valkey.connection import SSLConnection
from valkey.exceptions import ValkeyError
from valkey.retry import Retry

from kvsession.kv.config import BackendConfig
from kvsession.kv.errors import BackendUnavailable
from kvsession_valkey.clients import ClientKind, RetryPolicy, build_client, describe, policy_for
from kvsession_valkey.cluster import ClusterClient, build_sync_cluster, send_routed
from kvsession_valkey.commands import ValkeyCommands
from kvsession_valkey.durability import send_durable
from kvsession_valkey.failures import SERVER_ERRORS
from kvsession_valkey.options import DEFAULT_MAX_VALUE_BYTES, NonNegativeFloat, NonNegativeInt, PositiveInt
from kvsession_valkey.sansio import Blocking, Command, Plan

if TYPE_CHECKING:
    from kvsession_valkey.aio import AsyncValkeyBackend

__all__ = [
    "DEFAULT_MAX_VALUE_BYTES",
    "NonNegativeFloat",
    "NonNegativeInt",
    "PositiveInt",
    "ValkeyBackend",
]

logger = logging.getLogger(__name__)

_UNDECODED = {NEVER_DECODE: True}


class _RetryingValkey(valkey.Valkey):
    """``valkey.Valkey`` that sends a failed command again, from taking a connection to the reply.

    :class:`~kvsession_valkey.commands.RetryPolicy` decides whether and when; its pool's
    connections try once (they would retry neither the connect nor the handshake).
    """

    def __init__(self, *, connection_pool: valkey.ConnectionPool, retry_policy: RetryPolicy) -> None:
        super().__init__(connection_pool=connection_pool)
        self.retry_policy = retry_policy

    def execute_command(self, *args: Any, **options: Any) -> Any:
        failures = 0
        while True:
            try:
                # A copy: valkey-py pops options (NEVER_DECODE) that the next attempt needs again.
                return super().execute_command(*args, **dict(options))  # type: ignore[no-untyped-call]
            except ValkeyError as error:
                failures += 1
                delay = self.retry_policy.delay(error, failures)
                if delay is None:
                    raise
                time.sleep(delay)


_BLOCKING = ClientKind(
    _RetryingValkey,
    valkey.ConnectionPool,
    valkey.BlockingConnectionPool,
    Retry,
    valkey.Connection,
    SSLConnection,
    build_sync_cluster,
)

Client = valkey.Valkey | valkey.cluster.ValkeyCluster
"""What ``ValkeyBackend(client)`` takes: a standalone or a cluster client of valkey-py."""

T = TypeVar("T")


class ValkeyBackend(ValkeyCommands, Blocking):
    """A :class:`~kvsession.kv.protocol.KeyValueBackend` stored in Valkey (or Redis OSS).

    Values are strings, ordered indexes sorted sets, set indexes sets. Every method is one
    round trip; :meth:`apply` runs one server-side Lua script that checks the whole batch
    before writing any of it, so a batch is all-or-nothing even when an op fails.

    Args:
        client: A ``valkey.Valkey`` or ``valkey.cluster.ValkeyCluster`` client you built (any
            pool, ``decode_responses`` either way). A cluster client makes ``config.key_scheme``
            ``"cluster"``, so a repository over this backend keeps each session in one slot.
            ``None`` builds one from ``url`` / ``config``.
        url: ``valkey://[user:pass@]host:port/db?option=value`` (``valkeys://`` for TLS), or
            ``valkey+cluster://host1:port1,host2:port2/0?...`` (``valkeys+cluster://``) for a
            Valkey Cluster; ignored when ``config`` is given.
        config: An already parsed URL (what :func:`kvsession.connect` passes).
        options: Backend options; default: parsed from the URL's query.
        own_client: Whether :meth:`close` disconnects the client's connection pool. Default:
            ``True`` for a client the backend built, ``False`` for one you passed (you may
            share it with other code; close it yourself).

    Example:
        >>> client = valkey.Valkey(host="localhost", port=6379, decode_responses=True)
        >>> backend = ValkeyBackend(client)
        >>> backend = ValkeyBackend(url="valkey://localhost:6379/0?socket_timeout=2")
        >>> backend = ValkeyBackend(url="valkey+cluster://h1:7000,h2:7001/0?read_from_replicas=true")
    """

    def __init__(
        self,
        client: Client | None = None,
        *,
        url: str | None = None,
        config: BackendConfig | None = None,
        options: ValkeyBackend.Options | None = None,
        own_client: bool | None = None,
    ) -> None:
        options = self._configure(
            describe(_BLOCKING, client) if client is not None else None, url, config, options
        )
        self._owns_client = client is None if own_client is None else own_client
        self._client: Client | ClusterClient = (
            client if client is not None else build_client(_BLOCKING, self.config, options)
        )
        self._policy = policy_for(self._client)
        self._send: Callable[..., Any] = (
            functools.partial(send_routed, self._client)
            if isinstance(self._client, valkey.cluster.ValkeyCluster)
            else self._client.execute_command
        )

    @classmethod
    def from_config_async(cls, config: BackendConfig) -> AsyncValkeyBackend:
        """Create the async twin for the same URL and options (what :func:`kvsession.connect_async` calls).

        Raises:
            ConfigError: An unknown option or a bad option value; the message lists the valid ones.
        """
        from kvsession_valkey.aio import AsyncValkeyBackend

        return AsyncValkeyBackend(config=config)

    @property
    def client(self) -> Client:
        """The valkey-py client commands go through (for diagnostics; prefer the backend's methods).

        For a ``+cluster`` URL, the cluster client, which meets its nodes on first access.
        """
        if isinstance(self._client, ClusterClient):
            return self._client.get()
        return self._client

    def _run(self, plan: Plan[T]) -> T:
        """Send the plan's commands one by one, values left as bytes whatever the client's decoding.

        ``NEVER_DECODE`` is valkey-py's own switch (its ``DUMP`` uses it) for reading one reply
        undecoded: a client built with ``decode_responses=True`` thus still returns values
        byte for byte, on the same pool, with no second client to configure.
        """
        # Driven by hand rather than through an Exchange: this is every sync call's path.
        send = self._send
        try:
            command = next(plan)
            while True:
                if self._closed:
                    raise self._closed_error(command)
                try:
                    if command.wait is None:
                        reply = send(*command.args, **_UNDECODED)
                    else:
                        reply = send_durable(self._client, command, self._policy)
                except SERVER_ERRORS as exc:
                    command = plan.throw(self._translated(exc, command))
                else:
                    command = plan.send(reply)
        except StopIteration as done:
            result: T = done.value
            return result

    # -- Valkey-only extras, for tools (the command line) ---------------------------------------

    def memory_usage(self, keys: Sequence[str]) -> list[int | None]:
        """Return the bytes each key takes on the server (``MEMORY USAGE``), in one round trip.

        ``None`` for a missing key. On a cluster the keys may be on any nodes: valkey-py's
        cluster pipeline sends each node its keys' commands, all nodes at once.

        Raises:
            BackendError: The server does not answer ``MEMORY USAGE`` (fakeredis does not).
        """
        if not keys:
            return []
        if self._closed:
            raise BackendUnavailable(f"the backend for {self._where} is closed", key=keys[0])
        try:
            pipe: Any = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.execute_command("MEMORY", "USAGE", key)
            replies = pipe.execute()
        except SERVER_ERRORS as exc:
            raise self._translated(exc, Command(keys[0], ("MEMORY", "USAGE"), len(keys))) from exc
        return [None if reply is None else int(reply) for reply in replies]

    # -- lifecycle ------------------------------------------------------------------------------

    def close(self) -> None:
        """Release connections; the backend raises ``BackendUnavailable`` afterwards.

        Disconnects the connection pool when the backend owns the client (see ``own_client``);
        a client you passed in is left open for you to close.
        """
        if self._closed:
            return
        self._closed = True
        if not self._owns_client:
            return
        client = self._client
        if isinstance(client, ClusterClient):
            client.close()
        elif isinstance(client, valkey.cluster.ValkeyCluster):
            client.close()  # type: ignore[no-untyped-call]
            client.disconnect_connection_pools()  # type: ignore[no-untyped-call]
        else:
            client.close()  # type: ignore[no-untyped-call]
            client.connection_pool.disconnect()
