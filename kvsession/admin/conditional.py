"""Replace stored values only if they still hold what was read: the write of online tools.

A Valkey backend offers this atomically (:class:`~kvsession.kv.capabilities.CompareAndSet`);
other backends fall back to only-if-present writes. The choice is made once, when a
:class:`ConditionalWriter` is built.
"""

from __future__ import annotations

from collections.abc import Sequence

from kvsession.kv.capabilities import CompareAndSet
from kvsession.kv.protocol import KeyValueBackend

__all__ = ["Change", "ConditionalWriter", "compare_and_set"]

Change = tuple[str, bytes, bytes]
"""``(key, value read, new value)``."""


class ConditionalWriter:
    """Writes changes that are still current, the best way the backend allows.

    With :class:`~kvsession.kv.capabilities.CompareAndSet` each value is replaced only if it
    still holds what was read, atomically, its expiry kept. Otherwise each key is written only
    if present, with its remaining ttl: a record deleted meanwhile is not resurrected, but one
    rewritten meanwhile may be overwritten (acceptable for in-process backends only).

    Args:
        backend: The store.
    """

    def __init__(self, backend: KeyValueBackend) -> None:
        self.backend = backend
        self._atomic: CompareAndSet | None = backend if isinstance(backend, CompareAndSet) else None

    @property
    def atomic(self) -> bool:
        """Whether values are compared before they are replaced."""
        return self._atomic is not None

    def __call__(self, changes: Sequence[Change]) -> int:
        """Apply ``changes``; return how many values were replaced."""
        if not changes:
            return 0
        if self._atomic is not None:
            return int(self._atomic.compare_and_set(changes))
        done = 0
        for key, _, new in changes:
            try:
                ttl = self.backend.ttl(key)
            except KeyError:
                continue  # deleted meanwhile
            done += self.backend.set(key, new, only_if_present=True, ttl=ttl)
        return done


def compare_and_set(backend: KeyValueBackend, changes: Sequence[Change]) -> int:
    """Replace values that still hold what was read; return how many were replaced.

    A one-off :class:`ConditionalWriter`; build one to write many times.

    Args:
        backend: The store.
        changes: ``(key, value read, new value)`` triples.
    """
    return ConditionalWriter(backend)(changes)
