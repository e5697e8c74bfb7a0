"""Optional abilities a backend may have beyond :class:`~kvsession.kv.protocol.KeyValueBackend`.

The protocol is deliberately small. A few tools need more from a real server, so each extra
ability is a small runtime-checkable protocol declared here; callers test for it once, when
they are built (``isinstance(backend, MemoryUsage)``), never with ``getattr`` at the moment of
use. A backend that inherits a method its server cannot serve withdraws the ability by setting
the attribute to ``None`` (as the fakeredis backend does for ``memory_usage``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

__all__ = ["CompareAndSet", "MemoryUsage", "RawClient", "RawClientAccess"]


@runtime_checkable
class MemoryUsage(Protocol):
    """The backend can tell how many bytes keys take on the server (Valkey ``MEMORY USAGE``)."""

    def memory_usage(self, keys: Sequence[str]) -> list[int | None]:
        """Return the bytes each key takes on the server, ``None`` for a missing key (one round trip)."""
        ...


@runtime_checkable
class CompareAndSet(Protocol):
    """The backend can replace values atomically if they still hold what was read."""

    def compare_and_set(self, changes: Sequence[tuple[str, bytes, bytes]]) -> int:
        """Replace each ``(key, expected, new)`` whose value is still ``expected``; keep its expiry.

        Returns:
            How many values were replaced; the others changed or vanished meanwhile.
        """
        ...


class RawClient(Protocol):
    """The part of a valkey-py client that tools reading foreign data use."""

    def execute_command(self, *args: Any, **options: Any) -> Any:
        """Send one command."""
        ...

    def pipeline(self, transaction: bool = True) -> Any:
        """Start a pipeline."""
        ...

    def scan_iter(self, match: str | None = None, count: int | None = None) -> Any:
        """Iterate over keys with SCAN."""
        ...


@runtime_checkable
class RawClientAccess(Protocol):
    """The backend exposes its server client, for reading another package's records.

    Only ``kvsession migrate --from-reference`` uses it: foreign data needs foreign commands
    (``SCAN``, ``JSON.GET``). Everything kvsession itself stores goes through the protocol.
    """

    @property
    def client(self) -> Any:
        """The underlying client (a valkey-py ``Valkey`` for the Valkey backends)."""
        ...
