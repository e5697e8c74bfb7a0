"""Optional, server-specific abilities a command may use when the backend offers them.

The :class:`~kvsession.protocol.KeyValueBackend` protocol is deliberately small. A few tools
need more from a real Valkey server, so they look for explicit capabilities on the backend,
never for private attributes:

``backend.memory_usage(keys) -> list[int | None]``
    Bytes each key takes on the server (``MEMORY USAGE``); :class:`kvsession_valkey.ValkeyBackend`.
``backend.compare_and_set(changes) -> int``
    Atomic replace-if-unchanged, used by ``recode``; :class:`kvsession_valkey.ValkeyBackend`.
``backend.client``
    The valkey-py client of the Valkey backend, used only by ``migrate --from-reference`` to read
    another package's records (``SCAN``, ``JSON.GET``): foreign data, foreign commands.

Backends without them (``memory://``) still work: ``stats`` falls back to value sizes and says
so, ``recode`` to only-if-present writes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, cast

from kvsession.errors import BackendError
from kvsession.protocol import KeyValueBackend

__all__ = ["RawClient", "compare_and_set", "memory_usage_of", "raw_client"]


class RawClient(Protocol):
    """The part of a valkey-py client the command line uses."""

    def execute_command(self, *args: Any, **options: Any) -> Any:
        """Send one command."""
        ...

    def pipeline(self, transaction: bool = True) -> Any:
        """Start a pipeline."""
        ...

    def scan_iter(self, match: str | None = None, count: int | None = None) -> Any:
        """Iterate over keys with SCAN."""
        ...

    def register_script(self, script: str) -> Any:
        """Wrap a Lua script."""
        ...


def raw_client(backend: KeyValueBackend) -> RawClient | None:
    """Return the backend's valkey-py client (its documented ``client``), or ``None``."""
    client = getattr(backend, "client", None)
    if client is None or not callable(getattr(client, "execute_command", None)):
        return None
    return cast(RawClient, client)


def memory_usage_of(backend: KeyValueBackend) -> Callable[[Sequence[str]], list[int | None]] | None:
    """Return the backend's ``memory_usage`` if its server answers ``MEMORY USAGE``, else ``None``."""
    method = getattr(backend, "memory_usage", None)
    if not callable(method):
        return None
    try:
        method(["kvsession:probe"])
    except BackendError:
        return None  # fakeredis: no MEMORY USAGE
    return cast(Callable[[Sequence[str]], list[int | None]], method)


def compare_and_set(backend: KeyValueBackend, changes: Sequence[tuple[str, bytes, bytes]]) -> int:
    """Replace values that still hold what was read; return how many were replaced.

    Args:
        backend: The store.
        changes: ``(key, value read, new value)`` triples.

    With a Valkey backend this is its atomic ``compare_and_set`` (expiry kept). Otherwise each
    key is written only if present, with its remaining ttl: a record deleted meanwhile is not
    resurrected, but one rewritten meanwhile may be overwritten (in-process backends only).
    """
    if not changes:
        return 0
    method = getattr(backend, "compare_and_set", None)
    if callable(method):
        return int(method(changes))
    done = 0
    for key, _, new in changes:
        try:
            ttl = backend.ttl(key)
        except KeyError:
            continue
        done += backend.set(key, new, only_if_present=True, ttl=ttl)
    return done
