"""``ValkeyStorage``: Strands' :class:`~strands.storage.Storage` protocol on Valkey.

It backs ``SnapshotSessionManager(storage=...)``, ``Agent(storage=...)`` and everything else in
Strands that takes a storage (the context stash, the offloader, file memory stores). Each call
is one round trip: ``write`` and ``delete`` one atomic batch, ``read`` one get, ``list`` of a
session one lexicographic range (see :mod:`kvsession.storage.layout` for the keys, and
docs/storage.md for the design and its costs).

The storage holds no state bound to an event loop: Strands calls it from the agent's loop and
from fresh loops in worker threads (``Agent.__call__``, ``SnapshotSessionManager.initialize``),
and the async backend keeps one connection pool per running loop.
"""

from __future__ import annotations

import asyncio
import builtins
import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from strands.storage.storage import _NAMESPACED, StorageSearchResult, _normalize_key, _normalize_prefix
from strands.types.exceptions import StorageError

from kvsession.kv.aio import AsyncKeyValueBackend
from kvsession.kv.config import StoreOptions
from kvsession.kv.errors import ConfigError, ConflictError
from kvsession.kv.registry import open_async
from kvsession.orm.at_rest import Compression, ValueStages, stage_reader, value_stages
from kvsession.orm.keyring import Keyring
from kvsession.storage.errors import InvalidStorageKeyError, ValkeyStorageError
from kvsession.storage.layout import StorageLayout, tag_of, tag_of_prefix
from kvsession.storage.search import FETCH_CHUNK, keyword_search, query_tokens
from kvsession.storage.valkey_client import _async_valkey_backend

if TYPE_CHECKING:
    from strands.storage.search.types import SearchStrategy

__all__ = ["ValkeyStorage"]

logger = logging.getLogger(__name__)

_CONCURRENT_RANGES = 16
"""Per-tag ranges in flight at once when a short prefix spans several tags."""


@dataclass
class _Shared:
    """What a storage and every ``namespace()`` view of it share."""

    backend: AsyncKeyValueBackend
    layout: StorageLayout
    search_strategy: SearchStrategy[ValkeyStorage] | None
    owns_backend: bool
    stages: ValueStages | None = None
    known_tags: set[str] = field(default_factory=set)  # cluster: tags already in the tags index

    def seal(self, data: bytes, key: str) -> bytes:
        """Return the bytes stored for ``data`` under ``key``: compressed and/or encrypted if configured.

        A stage header starts with 0xC1. Storage values are arbitrary bytes, so a value that went
        through no stage but starts with that byte gets a header naming no stage: reading then
        never takes a user's bytes for a header.
        """
        if self.stages is not None:
            sealed = self.stages.seal(data, key)
            if sealed is not data:
                return sealed
        return _PLAIN_HEADER + data if data[:1] == _HEADER_BYTE else data

    def open(self, data: bytes | None, key: str) -> bytes | None:
        """Undo :meth:`seal` (whatever stages were configured when ``data`` was written)."""
        if data is None or data[:1] != _HEADER_BYTE:
            return data
        return stage_reader(self.stages).open(data, key)


_HEADER_BYTE = b"\xc1"
_PLAIN_HEADER = b"\xc1\x01\x00"  # a stage header (version 1) naming no stage


class ValkeyStorage:
    """Strands' ``Storage`` (``write / read / delete / list / search``, plus ``namespace``) on Valkey.

    Keys are normalized as Strands' own backends normalize them (``//a///b//`` is ``a/b``; an
    empty key, a ``..`` segment or a backslash raises :class:`InvalidStorageKeyError`, a
    ``StorageError``). A session's keys (``session/<sid>/...``) share one cluster hash tag.

    Args:
        client: A ``valkey.asyncio.Valkey`` client (any pool), used as a template: the async
            Valkey backend opens a client like it (same pool class, size and connection options)
            for each event loop the storage is used on. You keep it: :meth:`aclose` closes only
            the copies.
        backend: Any :class:`~kvsession.kv.aio.AsyncKeyValueBackend` instead (``memory://``,
            ``fakeredis://``, a counting wrapper); give exactly one of ``client`` and ``backend``.
        prefix: The key namespace in Valkey: every key starts with ``<prefix>:``.
        ttl: Seconds after its last write when a session's keys expire, all together
            (latest snapshot, immutable history, multi-agent snapshots: every key of its tag);
            ``None`` keeps them.
        search_strategy: A Strands ``SearchStrategy``: called with every written entry
            (``index``) and used by :meth:`search`. Default: keyword scoring as Strands'
            default strategy, over this storage's own indexes.
        cluster: The server is a Valkey cluster: the global tags index (another slot) is then
            updated by a separate call the first time this process writes a tag.
        owns_backend: Whether :meth:`aclose` closes ``backend`` (a backend you pass stays open
            by default). The backend built around a ``client`` and the one :meth:`from_url`
            opens are always closed by :meth:`aclose`.
        compress: ``"zstd"`` or a :class:`~kvsession.orm.Compression`: values above its
            threshold are stored compressed (docs/security.md). Default: the backend URL's
            ``compress=`` option.
        keyring: A :class:`~kvsession.orm.Keyring`: every value is stored AES-256-GCM encrypted,
            bound to its key. Default: the keys named by the URL's ``encrypt=env:NAME``. Values
            written with other settings stay readable (the stage header says what to undo).

    Example:
        >>> storage = ValkeyStorage.from_url("valkey://localhost:6379/0", ttl=86400)
        >>> agent = Agent(session_manager=SnapshotSessionManager("user-42", storage=storage))
    """

    _namespaced: object | None = None

    def __init__(
        self,
        client: Any | None = None,
        *,
        backend: AsyncKeyValueBackend | None = None,
        prefix: str = "strands",
        ttl: float | None = None,
        search_strategy: SearchStrategy[ValkeyStorage] | None = None,
        cluster: bool = False,
        owns_backend: bool = False,
        compress: Compression | str | None = None,
        keyring: Keyring | None = None,
    ) -> None:
        if (client is None) == (backend is None):
            raise ConfigError("ValkeyStorage takes exactly one of client= and backend=")
        if ttl is not None and not ttl > 0:
            raise ConfigError(f"ttl=<{ttl}> | must be a positive number of seconds")
        if not prefix or not isinstance(prefix, str):
            raise ConfigError(f"prefix=<{prefix!r}> | must be a non-empty str")
        if backend is None:
            backend = _async_valkey_backend(client)
            owns_backend = True  # ours; the client it copies stays untouched
        options = backend.config.store if isinstance(backend.config.store, StoreOptions) else StoreOptions()
        self._shared = _Shared(
            backend=backend,
            layout=StorageLayout(prefix=prefix, ttl=ttl, cluster=cluster),
            search_strategy=search_strategy,
            owns_backend=owns_backend,
            stages=value_stages(options, compression=compress, keyring=keyring),  # type: ignore[arg-type]
        )
        self._namespace = ""

    @classmethod
    def from_url(
        cls,
        url: str | None = None,
        *,
        prefix: str = "strands",
        ttl: float | None = None,
        search_strategy: SearchStrategy[ValkeyStorage] | None = None,
        cluster: bool = False,
        compress: Compression | str | None = None,
        keyring: Keyring | None = None,
        **backend_options: Any,
    ) -> ValkeyStorage:
        """Open a storage on the backend named by ``url`` (default ``$KVSESSION_URL``).

        Args:
            url: ``valkey://host:port/db``, ``valkeys://...``, ``fakeredis://name``, ``memory://``.
            prefix: See the class.
            ttl: See the class.
            search_strategy: See the class.
            cluster: See the class.
            compress: See the class; default the URL's ``compress=`` option.
            keyring: See the class; default the keys named by the URL's ``encrypt=env:NAME``.
            **backend_options: Backend options that win over the URL's query (``socket_timeout``...).

        Raises:
            ConfigError: Unknown scheme or option, or a backend with no async twin.
        """
        backend = open_async(url, **backend_options)
        return cls(
            backend=backend,
            prefix=prefix,
            ttl=ttl,
            search_strategy=search_strategy,
            cluster=cluster,
            owns_backend=True,
            compress=compress,
            keyring=keyring,
        )

    # -- properties -----------------------------------------------------------------------------

    @property
    def backend(self) -> AsyncKeyValueBackend:
        """The async backend the storage sends its batches to (shared with its namespaces)."""
        return self._shared.backend

    @property
    def layout(self) -> StorageLayout:
        """The physical key layout (prefix, ttl, cluster)."""
        return self._shared.layout

    @property
    def prefix(self) -> str:
        """The namespace of this view, ``""`` or ending with ``/`` (see :meth:`namespace`)."""
        return self._namespace

    def __repr__(self) -> str:
        layout = self._shared.layout
        scoped = f", namespace={self._namespace!r}" if self._namespace else ""
        backend = self._shared.backend
        return f"ValkeyStorage({backend!r}, prefix={layout.prefix!r}, ttl={layout.ttl!r}{scoped})"

    # -- keys -----------------------------------------------------------------------------------

    def _key(self, key: str) -> tuple[str, str]:
        """``(key relative to this view, key from the storage root)``, normalized."""
        try:
            normalized = _normalize_key(key)
        except StorageError as exc:
            raise InvalidStorageKeyError(str(exc), key=key) from exc
        return normalized, f"{self._namespace}{normalized}"

    def _prefix(self, query: str) -> str:
        try:
            return f"{self._namespace}{_normalize_prefix(query)}"
        except StorageError as exc:
            raise InvalidStorageKeyError(str(exc), key=query) from exc

    # -- the protocol ---------------------------------------------------------------------------

    async def write(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, replacing any value: one atomic batch, one round trip.

        With a ttl, the write also moves the expiry of every key of the key's session (its tag)
        to ``ttl`` seconds from now.

        Raises:
            InvalidStorageKeyError: The key is not a valid storage path.
            ValkeyStorageError: The backend failed (the cause is chained); nothing was written.
                ``Wrote ... but indexing failed`` if the configured search strategy failed.
        """
        relative, full = self._key(key)
        shared = self._shared
        try:
            if shared.layout.cluster:
                await self._register_tag(tag_of(full))
            value_key = shared.layout.value_key(full)
            await shared.backend.apply(shared.layout.write_ops(full, shared.seal(bytes(data), value_key)))
        except Exception as exc:
            raise ValkeyStorageError(f"Failed to write '{key}'", key=key) from exc
        logger.debug("key=<%s>, bytes=<%d> | wrote", full, len(data))
        if shared.search_strategy is not None:
            try:
                await shared.search_strategy.index(self, relative, data)
            except Exception as exc:
                raise ValkeyStorageError(f"Wrote '{key}' but indexing failed", key=key) from exc

    async def _register_tag(self, tag: str) -> None:
        """Cluster: list ``tag`` in the tags index (another slot) once per process."""
        known = self._shared.known_tags
        if tag in known:
            return
        await self._shared.backend.apply([self._shared.layout.tag_op(tag)])
        known.add(tag)

    async def read(self, key: str) -> bytes | None:
        """Return the bytes stored under ``key``, or ``None`` if it is missing or expired (one get).

        Raises:
            InvalidStorageKeyError: The key is not a valid storage path.
            ValkeyStorageError: The backend failed (the cause is chained).
        """
        _, full = self._key(key)
        try:
            value_key = self._shared.layout.value_key(full)
            return self._shared.open(await self._shared.backend.get(value_key), value_key)
        except Exception as exc:
            raise ValkeyStorageError(f"Failed to read '{key}'", key=key) from exc

    async def delete(self, key: str) -> None:
        """Delete ``key``; a missing key is a no-op. One atomic batch (value and index entry).

        Raises:
            InvalidStorageKeyError: The key is not a valid storage path.
            ValkeyStorageError: The backend failed (the cause is chained); nothing was deleted.
        """
        _, full = self._key(key)
        try:
            await self._shared.backend.apply(self._shared.layout.delete_ops(full))
        except Exception as exc:
            raise ValkeyStorageError(f"Failed to delete '{key}'", key=key) from exc
        logger.debug("key=<%s> | deleted", full)

    async def list(self, query: str = "") -> builtins.list[str]:
        """Return every key starting with ``query``, relative to this view, sorted ascending.

        A prefix of two complete segments or more (``session/s1/``) is one range of that
        session's index: one round trip, whatever else the database holds. A shorter prefix
        (``session/``, ``""``) reads the tags index, then one range per matching tag.

        Raises:
            InvalidStorageKeyError: The prefix has a ``..`` segment or a backslash.
            ValkeyStorageError: The backend failed (the cause is chained).
        """
        full_prefix = self._prefix(query)
        try:
            keys = await self._list_full(full_prefix)
        except Exception as exc:
            raise ValkeyStorageError(f"Failed to list keys with prefix '{query}'", key=query) from exc
        cut = len(self._namespace)
        return [key[cut:] for key in keys]

    async def _list_full(self, full_prefix: str) -> builtins.list[str]:
        """Keys from the storage root starting with ``full_prefix``, sorted."""
        backend, layout = self._shared.backend, self._shared.layout
        tag = tag_of_prefix(full_prefix)
        if tag is not None:
            return await backend.index_range_by_prefix(layout.index_key(tag), full_prefix)
        tags = await backend.index_range_by_prefix(layout.tags_key, full_prefix)
        limit = asyncio.Semaphore(_CONCURRENT_RANGES)

        async def keys_of(tag: str) -> builtins.list[str]:
            # Every key of a tag starts with the tag, and the tag starts with the prefix.
            async with limit:
                return await backend.index_range(layout.index_key(tag))

        per_tag = await asyncio.gather(*(keys_of(tag) for tag in tags))
        empty = [tag for tag, keys in zip(tags, per_tag, strict=True) if not keys]
        if empty and not layout.cluster:
            await asyncio.gather(*(self._prune(tag) for tag in empty))
        return sorted(key for keys in per_tag for key in keys)

    async def _prune(self, tag: str) -> None:
        """Forget a tag whose keys are all gone (deleted or expired), unless one was written since."""
        try:
            await self._shared.backend.apply(self._shared.layout.prune_ops(tag))
        except ConflictError:
            return  # written again meanwhile: keep it
        except Exception as exc:  # best effort: a stale tag costs a range, nothing else
            logger.debug("tag=<%s>, error=<%s> | could not prune tag", tag, exc)
            return
        logger.debug("tag=<%s> | pruned empty tag", tag)

    async def search(self, query: str) -> builtins.list[StorageSearchResult]:
        """Search this view's entries; keys in results are relative to the view.

        With a ``search_strategy``, delegate to it. Otherwise score as Strands' default
        ``KeywordSearchStrategy`` does, over this view's keys only, fetching values with one
        multi-get per chunk of one session's keys (docs/storage.md compares the costs).

        Raises:
            ValkeyStorageError: The backend failed (the cause is chained).
        """
        strategy = self._shared.search_strategy
        if strategy is not None:
            return await strategy.search(self, query)
        tokens = query_tokens(query)
        if not tokens:
            return []
        layout, backend = self._shared.layout, self._shared.backend
        cut = len(self._namespace)

        async def fetch(keys: Sequence[str]) -> builtins.list[bytes | None]:
            value_keys = layout.value_keys(keys)
            values = await backend.get_many(value_keys)
            return [self._shared.open(value, key) for value, key in zip(values, value_keys, strict=True)]

        try:
            keys = await self._list_full(self._namespace)
            chunks: builtins.list[tuple[Sequence[str], Sequence[str]]] = []
            for tag_keys in _by_tag(keys):
                for start in range(0, len(tag_keys), FETCH_CHUNK):
                    chunk = tag_keys[start : start + FETCH_CHUNK]
                    chunks.append((chunk, [key[cut:] for key in chunk]))
            return await keyword_search(tokens, chunks, fetch)
        except Exception as exc:
            raise ValkeyStorageError(f"Failed to search '{query}'", key=self._namespace) from exc

    # -- views and lifetime ---------------------------------------------------------------------

    def namespace(self, prefix: str) -> ValkeyStorage:
        """Return a view of this storage scoped to ``prefix`` (nested under this view's own).

        The view shares the backend, layout and search strategy; its keys, lists and searches
        are relative to the prefix. It is marked as namespaced the way Strands marks its own
        scoped storages, so ``SnapshotSessionManager`` does not prefix it again.

        Raises:
            InvalidStorageKeyError: The prefix has a ``..`` segment or a backslash.
        """
        try:
            normalized = _normalize_prefix(prefix).rstrip("/")
        except StorageError as exc:
            raise InvalidStorageKeyError(str(exc), key=prefix) from exc
        scoped = copy.copy(self)  # shares _shared: same backend, strategy, tag cache
        scoped._namespace = f"{self._namespace}{normalized}/" if normalized else self._namespace
        scoped._namespaced = _NAMESPACED
        return scoped

    async def aclose(self) -> None:
        """Close the backend if this storage opened it (:meth:`from_url`); a passed one stays open."""
        if self._shared.owns_backend:
            await self._shared.backend.aclose()

    async def __aenter__(self) -> ValkeyStorage:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


def _by_tag(keys: Sequence[str]) -> builtins.list[builtins.list[str]]:
    """Group keys by tag (one cluster slot per group), keeping their order within each group."""
    groups: dict[str, builtins.list[str]] = {}
    for key in keys:
        groups.setdefault(tag_of(key), []).append(key)
    return builtins.list(groups.values())
