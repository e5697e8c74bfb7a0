"""Keys, memory and codec mix of a store, per session and in total: the service behind ``kvsession stats``.

Sessions come from the sessions index and keys from each session's owned-keys group, so the
numbers cover what kvsession stores, found without scanning the keyspace. Memory is the
server's own count per key when the backend offers it
(:class:`~kvsession.kv.capabilities.MemoryUsage`, Valkey's ``MEMORY USAGE``) and the server lets
this user run it on the store's own keys; otherwise the sum of value sizes, and the result says
which (and why).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import msgspec

from kvsession.admin.layout import all_session_ids, session_layout
from kvsession.kv.capabilities import MemoryUsage
from kvsession.kv.errors import BackendError, BackendUnavailable, CodecError
from kvsession.orm import stored_form
from kvsession.strands.repository import KVSessionRepository

__all__ = ["MemorySource", "SessionStats", "StatsCollector", "StoreStats"]

_PAGE = 500

MemorySource = Literal["memory_usage", "value_sizes"]
"""Where memory numbers come from: the server's ``MEMORY USAGE``, or the sizes of the values."""


class SessionStats(msgspec.Struct, kw_only=True):
    """Numbers of one session.

    Attributes:
        session_id: The session.
        keys: Keys it owns (records and indexes).
        messages: Message records.
        memory: Bytes (server memory, or value sizes; see ``StoreStats.memory_source``).
        json: Records stored as JSON (compressed or not; encrypted ones are not opened).
        msgpack: Records stored as MessagePack (likewise).
        compressed: Records stored zstd-compressed.
        encrypted: Records stored encrypted.
    """

    session_id: str
    keys: int = 0
    messages: int = 0
    memory: int = 0
    json: int = 0
    msgpack: int = 0
    compressed: int = 0
    encrypted: int = 0


class StoreStats(msgspec.Struct, kw_only=True):
    """Totals of the store.

    Attributes:
        store: Where (URL without credentials).
        sessions: Sessions in the sessions index.
        keys: Keys of all sessions, plus the sessions index itself.
        memory: Total bytes.
        memory_source: ``memory_usage`` (Valkey ``MEMORY USAGE``) or ``value_sizes``.
        json: Records stored as JSON (encrypted ones are not opened).
        msgpack: Records stored as MessagePack (likewise).
        largest: The largest sessions by memory.
        compressed: Records stored zstd-compressed.
        encrypted: Records stored encrypted.
    """

    store: str
    sessions: int
    keys: int
    memory: int
    memory_source: MemorySource
    json: int
    msgpack: int
    largest: list[SessionStats]
    compressed: int = 0
    encrypted: int = 0


class StatsCollector:
    """Measures the sessions of a repository.

    Whether the backend can count server memory is decided once, here: it must offer
    :class:`~kvsession.kv.capabilities.MemoryUsage`, and the server must answer ``MEMORY USAGE``
    on a key of this store (the sessions index, under the store's prefix). The probe is one
    round trip; a refusal (an ACL without ``memory|usage``, a server without the command) means
    value sizes, with the reason in :attr:`memory_refused`. An ACL restricted to the store's
    prefix (``~app:*``) allows the probe, as it allows every key the numbers come from.

    Args:
        repo: The store.

    Raises:
        BackendUnavailable: The server cannot be reached.
    """

    def __init__(self, repo: KVSessionRepository) -> None:
        self.repo = repo
        self.memory_refused: str | None = None
        """Why ``MEMORY USAGE`` is not used although the backend offers it (the server's refusal)."""
        backend = repo.backend
        self._memory: MemoryUsage | None = None
        if isinstance(backend, MemoryUsage):
            probe = repo.keys.listing_keys()[0]  # under the prefix: what a ``~prefix*`` ACL allows
            try:
                backend.memory_usage([probe])
            except BackendUnavailable:
                raise
            except BackendError as exc:
                self.memory_refused = f"MEMORY USAGE refused on {probe}: {exc}"
            else:
                self._memory = backend

    @property
    def memory_source(self) -> MemorySource:
        """Where this collector's memory numbers come from."""
        return "memory_usage" if self._memory is not None else "value_sizes"

    def session(self, session_id: str) -> SessionStats:
        """Return the numbers of one session (all zero if it is gone)."""
        repo = self.repo
        keys = repo.session_keys(session_id)
        layout = session_layout(repo, session_id)
        result = SessionStats(session_id=session_id, keys=len(keys))
        value_keys = [key for key in keys if not layout.is_index(key)]
        result.messages = sum(1 for key in value_keys if layout.kind(key) == "message")
        for start in range(0, len(value_keys), _PAGE):
            for data in repo.backend.get_many(value_keys[start : start + _PAGE]):
                if data is None:
                    continue
                if self._memory is None:
                    result.memory += len(data)
                try:
                    form = stored_form(data)
                except CodecError:
                    continue
                result.compressed += form.compressed
                result.encrypted += form.key_id is not None
                if form.format == "json":
                    result.json += 1
                elif form.format == "msgpack":
                    result.msgpack += 1
        if self._memory is not None:
            for start in range(0, len(keys), _PAGE):
                result.memory += sum(
                    size or 0 for size in self._memory.memory_usage(keys[start : start + _PAGE])
                )
        return result

    def store(
        self,
        where: str,
        *,
        limit: int = 10,
        advance: Callable[[float], None] = lambda _: None,
        session_ids: list[str] | None = None,
    ) -> StoreStats:
        """Measure every session and return the totals.

        Args:
            where: What the result names as the store (a URL without credentials).
            limit: How many of the largest sessions to list.
            advance: Called with 1 after each session (for a progress bar).
            session_ids: The sessions to visit; default: every id in the sessions index.
        """
        if session_ids is None:
            session_ids = all_session_ids(self.repo)
        per_session: list[SessionStats] = []
        for session_id in session_ids:
            found = self.session(session_id)
            if found.keys:  # an index entry of an expired session has no keys left
                per_session.append(found)
            advance(1)
        indexes: list[str] = []
        if session_ids:
            indexes = self.repo.sessions_indexes()
            if self.repo.keys.cluster:  # the registries of the buckets too
                indexes += self.repo.keys.listing_keys()
        index_memory = 0
        if self._memory is not None and indexes:
            index_memory = sum(used or 0 for used in self._memory.memory_usage(indexes))
        return StoreStats(
            store=where,
            sessions=len(per_session),
            keys=sum(s.keys for s in per_session) + len(indexes),
            memory=sum(s.memory for s in per_session) + index_memory,
            memory_source=self.memory_source,
            json=sum(s.json for s in per_session),
            msgpack=sum(s.msgpack for s in per_session),
            compressed=sum(s.compressed for s in per_session),
            encrypted=sum(s.encrypted for s in per_session),
            largest=sorted(per_session, key=lambda s: (-s.memory, s.session_id))[:limit],
        )
