"""``_BoundedCache``: the size-bounded dicts a repository remembers things in."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import TypeVar

_CACHE_SIZE = 10_000
"""Entries kept by the per-repository caches (agents' ``created_at``, unsure writes)."""

_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")


class _BoundedCache(OrderedDict[_K, _V]):
    """A dict that forgets its oldest entries beyond ``_CACHE_SIZE`` (callers hold the lock)."""

    def put(self, key: _K, value: _V) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > _CACHE_SIZE:
            self.popitem(last=False)
