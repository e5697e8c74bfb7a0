"""Keyword search over a :class:`~kvsession.storage.ValkeyStorage`, scored as Strands scores it.

The scoring is Strands' default :class:`~strands.storage.search.KeywordSearchStrategy`: the
number of distinct query tokens (stop words removed) found in the key without its extension
plus the UTF-8 value; results with a score above 0, best first, each carrying its bytes.

What differs is how the values are fetched. Strands' strategy lists every key of the storage
and reads them eight at a time (one round trip each). Here the keys come from the storage's
own indexes, scoped to its namespace, and the values are fetched with one multi-get per chunk
of keys of one tag (one cluster slot), the chunks in flight concurrently.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence

from strands.storage.search.keyword import STOP_WORDS, token_overlap_score, tokenize
from strands.storage.storage import StorageSearchResult

__all__ = ["FETCH_CHUNK", "keyword_search", "query_tokens"]

FETCH_CHUNK = 256
"""Keys fetched per multi-get: large enough to amortise a round trip, small enough for one reply."""

_CONCURRENT_FETCHES = 8

# Strands' own rule (keyword.py): drop a final extension so ``md`` does not match every ``.md``.
_EXTENSION = re.compile(r"(?<=[^/])\.[^./]*$")

Fetch = Callable[[Sequence[str]], Awaitable[list[bytes | None]]]
"""Fetch the values of logical keys (all of one tag), ``None`` for those that vanished."""


def query_tokens(query: str) -> set[str]:
    """Return the tokens of ``query`` that count (Strands' tokenizer, minus its stop words)."""
    return tokenize(query) - STOP_WORDS


async def keyword_search(
    tokens: set[str], chunks: Sequence[tuple[Sequence[str], Sequence[str]]], fetch: Fetch
) -> list[StorageSearchResult]:
    """Score every key of ``chunks`` against ``tokens``; return the matches, best first.

    Args:
        tokens: The query's tokens (:func:`query_tokens`), not empty.
        chunks: ``(keys to fetch, the same keys as reported)`` per chunk of one tag.
        fetch: Reads the values of a chunk's keys.

    Returns:
        Results with a score above 0, sorted by score descending (ties in key order).
    """
    limit = asyncio.Semaphore(_CONCURRENT_FETCHES)

    async def fetch_chunk(keys: Sequence[str]) -> list[bytes | None]:
        async with limit:
            return await fetch(keys)

    values = await asyncio.gather(*(fetch_chunk(stored) for stored, _ in chunks))
    results: list[StorageSearchResult] = []
    for (_, reported), chunk_values in zip(chunks, values, strict=True):
        for key, data in zip(reported, chunk_values, strict=True):
            if data is None:  # deleted or expired since it was listed
                continue
            content = data.decode("utf-8", errors="replace")
            score = token_overlap_score(tokens, f"{_EXTENSION.sub('', key)} {content}")
            if score > 0:
                results.append(StorageSearchResult(key=key, score=score, data=data))
    results.sort(key=lambda result: (-result.score, result.key))
    return results
