"""Optional, server-specific abilities a command may use when the backend offers them.

The :class:`~kvsession.protocol.KeyValueBackend` protocol is deliberately small. A few tools
need more from a real Valkey server, so they look for explicit capabilities on the backend,
never for private attributes:

``backend.memory_usage(keys) -> list[int | None]``
    Bytes each key takes on the server (Valkey ``MEMORY USAGE``). Preferred when present.
``backend.client``
    The valkey-py client of :class:`kvsession_valkey.ValkeyBackend` (and of the fakeredis
    backend built on it), documented there as the client "for diagnostics". Used for
    ``MEMORY USAGE`` when the backend has no ``memory_usage``, for an atomic compare-and-set
    during ``recode``, and by ``migrate --from-reference`` (``SCAN``, ``JSON.GET``).

Backends without them (``memory://``) still work: ``stats`` falls back to value sizes and says
so, ``recode`` to only-if-present writes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, cast

from valkey.exceptions import ResponseError

from kvsession.protocol import KeyValueBackend

__all__ = ["RawClient", "compare_and_set", "memory_usage_of", "raw_client"]

_CHUNK = 500

# Replace a value only if it still holds exactly what was read, keeping its expiry: a record
# updated (or deleted) by a live writer between our read and our write is left alone.
_COMPARE_AND_SET = """
local done = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[2 * i - 1] then
    redis.call('SET', KEYS[i], ARGV[2 * i], 'KEEPTTL')
    done = done + 1
  end
end
return done
"""


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
    """Return a function giving the server memory of keys, or ``None`` if the backend can't tell.

    Uses ``backend.memory_usage`` when the backend offers it, else ``MEMORY USAGE`` through
    :func:`raw_client` when the server answers it (fakeredis does not).
    """
    method = getattr(backend, "memory_usage", None)
    if callable(method):
        return cast(Callable[[Sequence[str]], list[int | None]], method)
    client = raw_client(backend)
    if client is None:
        return None
    try:
        client.execute_command("MEMORY", "USAGE", "kvsession:probe")
    except ResponseError:
        return None

    def usage(keys: Sequence[str]) -> list[int | None]:
        sizes: list[int | None] = []
        for start in range(0, len(keys), _CHUNK):
            pipe = client.pipeline(transaction=False)
            for key in keys[start : start + _CHUNK]:
                pipe.execute_command("MEMORY", "USAGE", key)
            sizes.extend(None if reply is None else int(reply) for reply in pipe.execute())
        return sizes

    return usage


def compare_and_set(backend: KeyValueBackend, changes: Sequence[tuple[str, bytes, bytes]]) -> int:
    """Replace values that still hold what was read; return how many were replaced.

    Args:
        backend: The store.
        changes: ``(key, value read, new value)`` triples.

    With a Valkey client this is one atomic script per call (expiry kept). Otherwise each key
    is written only if present, with its remaining ttl: a record deleted meanwhile is not
    resurrected, but one rewritten meanwhile may be overwritten (in-process backends only).
    """
    if not changes:
        return 0
    client = raw_client(backend)
    if client is not None:
        script = client.register_script(_COMPARE_AND_SET)
        args: list[bytes] = []
        for _, old, new in changes:
            args += [old, new]
        return int(script(keys=[key for key, _, _ in changes], args=args))
    done = 0
    for key, _, new in changes:
        try:
            ttl = backend.ttl(key)
        except KeyError:
            continue
        done += backend.set(key, new, only_if_present=True, ttl=ttl)
    return done
