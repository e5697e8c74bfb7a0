"""``AsyncValkeyBackend``: the :class:`~kvsession.kv.aio.AsyncKeyValueBackend` over ``valkey.asyncio``.

The operations are :class:`~kvsession_valkey.commands.ValkeyCommands`' plans, the very ones the
sync :class:`~kvsession_valkey.ValkeyBackend` sends; this shell only awaits their commands.

**One client per event loop.** A ``valkey.asyncio`` connection belongs to the loop that opened
it; used from another loop it fails ("attached to a different loop"). Strands runs sync agent
calls, snapshot restores and Swarm/Graph start-up on fresh loops in worker threads, so a backend
that built its own client (from a URL, or from a ``client_factory``) keeps one client, with its
own pool, per running loop, built from the same options. A loop's client is closed when the loop
shuts down its async generators (as ``asyncio.run`` does before closing), or by :meth:`aclose`.
A single ``client=`` you pass is used as it is: use that backend from the client's loop only.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import AsyncGenerator, Callable
from typing import Any, TypeVar

import valkey.asyncio
import valkey.asyncio.cluster
from valkey.asyncio.connection import SSLConnection
from valkey.asyncio.retry import Retry
from valkey.client import NEVER_DECODE
from valkey.connection import LibvalkeyRespSerializer
from valkey.exceptions import ValkeyError
from valkey.utils import LIBVALKEY_AVAILABLE

from kvsession.kv.config import BackendConfig
from kvsession_valkey.clients import ClientKind, RetryPolicy, build_client, describe, policy_for
from kvsession_valkey.cluster import AsyncClusterClient, build_async_cluster, send_routed_async
from kvsession_valkey.commands import ValkeyCommands
from kvsession_valkey.durability import send_durable_async
from kvsession_valkey.failures import SERVER_ERRORS
from kvsession_valkey.sansio import Awaiting, Command, Exchange, Plan

__all__ = ["AsyncValkeyBackend"]

_UNDECODED = {NEVER_DECODE: True}


class _CPacked:
    """Packs commands in C with libvalkey, as valkey-py's sync connections do.

    ``valkey.asyncio``'s connections always pack in Python, which for the batch script's ~30
    arguments costs ~20 µs per append against ~4 µs for libvalkey (a dependency of this package):
    a quarter of the client's CPU when many agents append on one loop (docs/performance.md).
    """

    _packer = LibvalkeyRespSerializer()

    def pack_command(self, *args: Any) -> list[bytes]:
        return self._packer.pack(*args)


class _Connection(_CPacked, valkey.asyncio.Connection):
    """``valkey.asyncio.Connection`` packing with libvalkey."""


class _SSLConnection(_CPacked, SSLConnection):
    """``valkey.asyncio.SSLConnection`` packing with libvalkey."""


class _RetryingValkey(valkey.asyncio.Valkey):
    """``valkey.asyncio.Valkey`` that sends a failed command again, from taking a connection to the reply.

    :class:`~kvsession_valkey.commands.RetryPolicy` decides whether and when; its pool's
    connections try once (they would retry neither the connect nor the handshake).
    """

    def __init__(self, *, connection_pool: valkey.asyncio.ConnectionPool, retry_policy: RetryPolicy) -> None:
        super().__init__(connection_pool=connection_pool)
        self.retry_policy = retry_policy

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        failures = 0
        while True:
            try:
                # A copy: valkey-py pops options (NEVER_DECODE) that the next attempt needs again.
                return await super().execute_command(*args, **dict(options))  # type: ignore[no-untyped-call]
            except ValkeyError as error:
                failures += 1
                delay = self.retry_policy.delay(error, failures)
                if delay is None:
                    raise
                await asyncio.sleep(delay)


_AWAITING = ClientKind(
    _RetryingValkey,
    valkey.asyncio.ConnectionPool,
    valkey.asyncio.BlockingConnectionPool,
    Retry,
    _Connection if LIBVALKEY_AVAILABLE else valkey.asyncio.Connection,
    _SSLConnection if LIBVALKEY_AVAILABLE else SSLConnection,
    build_async_cluster,
)

T = TypeVar("T")

AsyncClient = valkey.asyncio.Valkey | valkey.asyncio.cluster.ValkeyCluster
"""What ``AsyncValkeyBackend(client)`` takes: a standalone or a cluster client of ``valkey.asyncio``."""


class AsyncValkeyBackend(ValkeyCommands, Awaiting):
    """An :class:`~kvsession.kv.aio.AsyncKeyValueBackend` stored in Valkey, awaited on the event loop.

    The same keys, values, Lua batch script, errors and one round trip per call as
    :class:`~kvsession_valkey.ValkeyBackend`; both read and write the same data.

    Args:
        client: A ``valkey.asyncio.Valkey`` or ``valkey.asyncio.cluster.ValkeyCluster`` you
            built (any pool, ``decode_responses`` either way), used from its own event loop
            only; a cluster client implies the cluster key scheme. ``None``: see
            ``client_factory``.
        client_factory: Builds a client; called once for each event loop the backend is used
            on (share one pool between backends on one loop by returning the same client for
            that loop). Default: a client built from ``url`` / ``config``.
        url: ``valkey://[user:pass@]host:port/db?option=value`` (``valkeys://`` for TLS), or
            ``valkey+cluster://h1:p1,h2:p2/0?...`` (``valkeys+cluster://``); the options are
            :class:`ValkeyBackend.Options <kvsession_valkey.ValkeyBackend.Options>`.
        config: An already parsed URL (what :func:`kvsession.connect_async` passes).
        options: Backend options; default: parsed from the URL's query.
        own_client: Whether :meth:`aclose` closes a ``client`` you passed. Default: ``False``
            for such a client; clients the backend builds (or gets from the factory) are always
            closed by it.

    Example:
        >>> backend = AsyncValkeyBackend(url="valkey://localhost:6379/0?max_connections=50")
        >>> backend = AsyncValkeyBackend(client=valkey.asyncio.Valkey(decode_responses=True))
        >>> await backend.apply(batch.ops)
    """

    def __init__(
        self,
        client: AsyncClient | None = None,
        *,
        client_factory: Callable[[], AsyncClient] | None = None,
        url: str | None = None,
        config: BackendConfig | None = None,
        options: AsyncValkeyBackend.Options | None = None,
        own_client: bool | None = None,
    ) -> None:
        if client is not None and client_factory is not None:
            raise TypeError("pass a client or a client_factory, not both")
        # A factory's client is built here once, only to say where it points (no connection yet).
        shown = client if client is not None else client_factory() if client_factory is not None else None
        options = self._configure(
            describe(_AWAITING, shown) if shown is not None else None, url, config, options
        )
        self._client = client
        self._owns_client = client is None or bool(own_client)
        self._factory: Callable[[], AsyncClient] = client_factory or (
            lambda: build_client(_AWAITING, self.config, options)
        )
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncClient] = (
            weakref.WeakKeyDictionary()
        )
        self._closers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncGenerator[None, None]] = (
            weakref.WeakKeyDictionary()
        )
        self._opening = threading.Lock()

    def client_for_running_loop(self) -> AsyncClient:
        """Return the client that commands from the running event loop go through (for diagnostics).

        Raises:
            RuntimeError: No event loop is running in this thread.
        """
        return self._loop_client(Command(None, ()))

    async def _run(self, plan: Plan[T]) -> T:
        """Await the plan's commands one by one on the running loop's client, values as bytes.

        A cancelled task stops here, between two commands or while one is in flight; valkey-py
        then drops that connection, so no later command reads the reply meant for this one.
        """
        exchange = Exchange(plan)
        for command in exchange:
            client = self._loop_client(command)
            try:
                if command.wait is not None:
                    exchange.reply = await send_durable_async(client, command, policy_for(client))
                elif isinstance(client, valkey.asyncio.cluster.ValkeyCluster) and not isinstance(
                    client, AsyncClusterClient
                ):
                    # A cluster client you built (or your factory did): reads pinned per slot here;
                    # ours pin their own, inside their retries.
                    exchange.reply = await send_routed_async(client, *command.args, **_UNDECODED)
                else:
                    exchange.reply = await client.execute_command(*command.args, **_UNDECODED)  # type: ignore[no-untyped-call]
            except SERVER_ERRORS as exc:
                exchange.failure = self._translated(exc, command)
        return exchange.result

    def _loop_client(self, command: Command) -> AsyncClient:
        if self._closed:
            raise self._closed_error(command)
        if self._client is not None:
            return self._client
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            with self._opening:
                client = self._clients.get(loop)
                if client is None:
                    client = self._clients[loop] = self._factory()
                    self._closers[loop] = _closed_with_the_loop(client)
        return client

    async def aclose(self) -> None:
        """Release connections; the backend raises ``BackendUnavailable`` afterwards.

        Closes the clients the backend built: on the running loop at once, on other live loops
        by a task scheduled there. A ``client`` you passed is left open unless ``own_client``.
        """
        if self._closed:
            return
        self._closed = True
        if self._client is not None:
            if self._owns_client:
                await _aclose(self._client)
            return
        running = asyncio.get_running_loop()
        with self._opening:
            closers = list(self._closers.items())
            self._closers.clear()
            self._clients.clear()
        for loop, closer in closers:
            if loop is running:
                await closer.aclose()
            elif not loop.is_closed():
                asyncio.run_coroutine_threadsafe(_finish(closer), loop)


def _closed_with_the_loop(client: AsyncClient) -> AsyncGenerator[None, None]:
    """Return an async generator, suspended on the running loop, that closes ``client`` when closed.

    An event loop closes the async generators started on it when it shuts down
    (``loop.shutdown_asyncgens()``, which ``asyncio.run`` awaits while the loop still runs): that is
    the last moment the client's connections can be closed on their own loop. The first step runs
    here, synchronously (nothing before its ``yield`` awaits), and registers it with the loop.
    """

    async def closer() -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            await _aclose(client)

    generator = closer()
    with contextlib.suppress(StopIteration):
        generator.__anext__().send(None)
    return generator


async def _finish(closer: AsyncGenerator[None, None]) -> None:
    await closer.aclose()


async def _aclose(client: AsyncClient) -> None:
    """Close a client and its connections (a cluster client: every node's)."""
    if isinstance(client, valkey.asyncio.cluster.ValkeyCluster):
        await client.aclose()
    else:
        await client.aclose(close_connection_pool=True)
