"""``BlockingBackend``: the sync face of an async backend, for tests and sync tools.

It implements :class:`~kvsession.kv.protocol.KeyValueBackend` by running each coroutine of an
:class:`~kvsession.kv.aio.AsyncKeyValueBackend` on a private event loop, in a thread of its
own. The conformance kit wraps async backends in it, so one set of test bodies checks both kinds;
calls from several threads at once become concurrent tasks on that one loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from kvsession.kv.aio import AsyncKeyValueBackend
from kvsession.kv.config import BackendConfig
from kvsession.kv.forwarding import ForwardingBackend

__all__ = ["BlockingBackend"]

T = TypeVar("T")


class BlockingBackend(ForwardingBackend):
    """A sync backend whose every call is a coroutine of ``backend`` run on a private loop.

    Not for use from inside that loop (a call would wait for itself). :meth:`close` closes the
    async backend, then lets the loop close what it opened (async generators) and stops it.

    Args:
        backend: The async backend to drive.

    Attributes:
        async_backend: The async backend.
        loop: The private event loop, running in its own daemon thread.
    """

    def __init__(self, backend: AsyncKeyValueBackend) -> None:
        self.async_backend = backend
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="kvsession-blocking", daemon=True)
        self._thread.start()
        self._closed = False

    def __repr__(self) -> str:
        return f"BlockingBackend({self.async_backend!r})"

    def run(self, awaitable: Coroutine[Any, Any, T]) -> T:
        """Run ``awaitable`` on the private loop and return its result (or raise its error)."""
        return asyncio.run_coroutine_threadsafe(awaitable, self.loop).result()

    def forward(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Await ``method`` of the async backend on the private loop."""
        return self.run(getattr(self.async_backend, method)(*args, **kwargs))

    @property
    def config(self) -> BackendConfig:
        """The async backend's config."""
        return self.async_backend.config

    def close(self) -> None:
        """Close the async backend, then the private loop and its thread."""
        if self._closed:
            return
        self._closed = True
        try:
            self.run(self.async_backend.aclose())
        finally:
            self.run(self.loop.shutdown_asyncgens())
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join()
            self.loop.close()
