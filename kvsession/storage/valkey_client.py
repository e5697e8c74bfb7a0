"""A ``valkey.asyncio`` client you pass to ``ValkeyStorage(client=...)``, made usable from any loop.

Strands calls a storage from the agent's loop and from fresh loops in worker threads; a valkey-py
async client works only on the loop it first connected on. The client is therefore taken as a
template for one client per loop (:func:`_async_valkey_backend`).
"""

from __future__ import annotations

import importlib
from typing import Any

from kvsession.kv.aio import AsyncKeyValueBackend
from kvsession.kv.errors import ConfigError


def _async_valkey_backend(client: Any) -> AsyncKeyValueBackend:
    """Wrap a ``valkey.asyncio.Valkey`` client in kvsession's async Valkey backend.

    A valkey-py async client works on the event loop it first connected on only, and Strands
    calls storage from fresh loops (sync ``agent(...)``, the session manager's restore). So the
    client is a template: for each loop the backend gets a client of the same class over a copy
    of its pool (same pool class, size, connection class and connection options). The passed
    client itself is never used, and stays yours to close.
    """
    try:
        module = importlib.import_module("kvsession_valkey.aio")
    except ImportError as exc:  # pragma: no cover - kvsession depends on kvsession-valkey
        raise ConfigError("client= needs the kvsession-valkey distribution with its async backend") from exc
    factory: Any = module.AsyncValkeyBackend
    pool = getattr(client, "connection_pool", None)
    if pool is None:  # not a pooled client (a cluster client): used as it is, on its own loop
        backend: AsyncKeyValueBackend = factory(client=client)
        return backend

    def per_loop_client() -> Any:
        options: dict[str, Any] = dict(pool.connection_kwargs)
        if hasattr(pool, "timeout") and hasattr(pool, "queue_class"):  # a BlockingConnectionPool
            options.update(timeout=pool.timeout, queue_class=pool.queue_class)
        copy_of_pool = type(pool)(
            connection_class=pool.connection_class, max_connections=pool.max_connections, **options
        )
        return type(client)(connection_pool=copy_of_pool)

    backend = factory(client_factory=per_loop_client)
    return backend
