"""Peak memory of a restore, against the size of what it returns."""

from __future__ import annotations

import gc
import sys
import tracemalloc
from collections.abc import Callable
from typing import Any

__all__ = ["deep_size", "restore_memory"]


def deep_size(root: object) -> int:
    """Bytes held by ``root`` and everything reachable from it (each object counted once).

    Follows dicts, lists, tuples, sets and instance ``__dict__``s, which is every container a
    restored ``SessionMessage`` list is made of. Shared objects (interned keys, small ints) are
    counted once: this is the real footprint of the result.
    """
    seen: set[int] = set()
    stack: list[Any] = [root]
    total = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(obj)
        elif hasattr(obj, "__dict__") and not isinstance(obj, type):
            stack.append(vars(obj))
    return total


def restore_memory(restore: Callable[[], list[Any]], raw_bytes: int) -> dict[str, Any]:
    """Trace the allocations of one ``restore()`` call.

    Args:
        restore: Returns the restored messages.
        raw_bytes: Total size of the stored values the restore reads.

    Returns:
        ``peak_bytes`` (highest traced memory during the call, above what was allocated before it),
        ``retained_bytes`` (still allocated after it: the result), ``decoded_bytes`` (deep size of
        the result), ``raw_bytes``, and the ratios of the peak to the decoded and to the raw size.
    """
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        messages = restore()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    decoded = deep_size(messages)
    peak_bytes = peak - before
    return {
        "messages": len(messages),
        "peak_bytes": peak_bytes,
        "retained_bytes": current - before,
        "decoded_bytes": decoded,
        "raw_bytes": raw_bytes,
        "peak_to_decoded": peak_bytes / decoded if decoded else None,
        "peak_to_raw": peak_bytes / raw_bytes if raw_bytes else None,
    }
