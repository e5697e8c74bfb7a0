"""``CountingBackend``: count what your code asks of a backend.

Every backend method is one round trip on a networked backend (see
:mod:`kvsession.kv.protocol`), so the count of calls is the count of round trips — the unit of
kvsession's performance budget.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from kvsession.kv.forwarding import ForwardingBackend
from kvsession.kv.protocol import KeyValueBackend

__all__ = ["CountingBackend"]


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
