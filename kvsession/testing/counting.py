"""``CountingBackend`` / ``AsyncCountingBackend``: count what your code asks of a backend.

Every backend method is one round trip on a networked backend (see
:mod:`kvsession.kv.protocol`), so the count of calls is the count of round trips — the unit of
kvsession's performance budget.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from kvsession.kv.aio import AsyncKeyValueBackend
from kvsession.kv.forwarding import ForwardingBackend
from kvsession.kv.protocol import KeyValueBackend

if TYPE_CHECKING:
    from kvsession.kv.config import BackendConfig

__all__ = ["AsyncCountingBackend", "CountingBackend"]


class CountingBackend(ForwardingBackend):
    """A backend that forwards to ``inner`` and counts each call but ``close``.

    Attributes:
        calls: Calls per method name since the last :meth:`reset`.
    """

    def __init__(self, inner: KeyValueBackend) -> None:
        super().__init__(inner)
        self.calls: Counter[str] = Counter()

    def forward(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Count the call, then forward it."""
        if method != "close":
            self.calls[method] += 1
        return super().forward(method, *args, **kwargs)

    @property
    def round_trips(self) -> int:
        """Total calls (round trips) since the last reset."""
        return sum(self.calls.values())

    def reset(self) -> None:
        """Forget the counts."""
        self.calls.clear()


class AsyncCountingBackend:
    """An async backend that forwards to ``inner`` and counts each awaited call but ``aclose``.

    Forwarding happens in one place, :meth:`__getattr__`, so it stays complete as the async
    protocol grows. Type it as the protocol where one is expected
    (``cast(AsyncKeyValueBackend, AsyncCountingBackend(inner))``).

    Attributes:
        inner: The backend counted.
        calls: Calls per method name since the last :meth:`reset`.
    """

    def __init__(self, inner: AsyncKeyValueBackend) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    @property
    def config(self) -> BackendConfig:
        """The inner backend's config."""
        return self.inner.config

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if not callable(target) or name == "aclose":
            return target

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return await target(*args, **kwargs)

        return counted

    @property
    def round_trips(self) -> int:
        """Total calls (round trips) since the last reset."""
        return sum(self.calls.values())

    def reset(self) -> None:
        """Forget the counts."""
        self.calls.clear()
