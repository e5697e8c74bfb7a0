"""The in-memory backend: no server, no dependencies, for unit tests and single-process use.

Thread-safe (one lock), honours ttl through an injectable clock, and applies batches
atomically: every condition and kind is checked under the lock before the first write. The
entries and the primitives on them are :mod:`kvsession.kv.memory_keyspace`; this module holds
the protocol methods and the atomic batch.
"""

from __future__ import annotations

import bisect
import builtins
import threading
import time
from collections.abc import Mapping, Sequence

import msgspec

from kvsession.kv.aio import AsyncShell
from kvsession.kv.config import BackendConfig, convert_options
from kvsession.kv.errors import BackendError, ConflictError
from kvsession.kv.memory_keyspace import Clock, Kind, MemoryKeyspace, _Entry
from kvsession.kv.protocol import (
    DeleteGroupOp,
    DeleteOp,
    ExpireOp,
    IndexAddOp,
    IndexRemoveOp,
    RefreshTtlOp,
    RequireOp,
    SetAddOp,
    SetOp,
    SetRemoveOp,
    WriteOp,
    WriteTokenOp,
)

__all__ = ["MemoryBackend"]

_GROUP_FIRST = "a group delete must come before any other op on its set in a batch; batch not applied"
_ONE_TOKEN = "a batch carries at most one write token; batch not applied"

# Valkey's proto-max-bulk-len default: the memory backend refuses what a server would.
DEFAULT_MAX_VALUE_BYTES = 512 * 1024 * 1024


class MemoryBackend(MemoryKeyspace):
    """A :class:`~kvsession.kv.protocol.KeyValueBackend` held in a Python dict.

    Args:
        clock: Returns the current time in seconds; inject a fake one to test expiry.
        max_value_bytes: Largest value accepted by ``set``.
        config: The parsed URL this backend was created from (``memory://`` by default).
    """

    class Options(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
        """Query options of ``memory://`` URLs."""

        max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES

    def __init__(
        self,
        *,
        clock: Clock = time.monotonic,
        max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
        config: BackendConfig | None = None,
    ) -> None:
        self.config = config or BackendConfig(url="memory://", scheme="memory")
        self._clock = clock
        self._max_value_bytes = max_value_bytes
        self._data: dict[str, _Entry] = {}
        self._lock = threading.RLock()

    @classmethod
    def from_config(cls, config: BackendConfig) -> MemoryBackend:
        """Create a memory backend from a ``memory://`` URL."""
        options = convert_options(config.backend_options, cls.Options, url=config.redacted())
        return cls(max_value_bytes=options.max_value_bytes, config=config)

    @classmethod
    def from_config_async(cls, config: BackendConfig) -> AsyncShell:
        """Create the async twin for a ``memory://`` URL (an :class:`AsyncShell`: no I/O to await)."""
        return AsyncShell(cls.from_config(config))

    # -- values ---------------------------------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        """See :meth:`KeyValueBackend.get`."""
        with self._lock:
            entry = self._typed(key, "value")
            return entry.value if entry is not None and isinstance(entry.value, bytes) else None

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """See :meth:`KeyValueBackend.get_many`; a key of another kind reads as missing, as MGET does."""
        with self._lock:
            values: list[bytes | None] = []
            for key in keys:
                entry = self._live(key)
                values.append(entry.value if entry is not None and isinstance(entry.value, bytes) else None)
            return values

    def set(
        self,
        key: str,
        value: bytes,
        *,
        only_if_absent: bool = False,
        only_if_present: bool = False,
        ttl: float | None = None,
    ) -> bool:
        """See :meth:`KeyValueBackend.set`."""
        self._check_size(key, value)
        with self._lock:
            exists = self._live(key) is not None
            if (only_if_absent and exists) or (only_if_present and not exists):
                return False
            self._write_value(SetOp(key, value, ttl=ttl))
            return True

    def delete_many(self, keys: Sequence[str]) -> int:
        """See :meth:`KeyValueBackend.delete_many`."""
        with self._lock:
            deleted = 0
            for key in keys:
                if self._live(key) is not None:
                    del self._data[key]
                    deleted += 1
            return deleted

    def exists(self, key: str) -> bool:
        """See :meth:`KeyValueBackend.exists`."""
        with self._lock:
            return self._live(key) is not None

    # -- ordered index --------------------------------------------------------------------------

    def index_add(self, key: str, members: Mapping[str, float]) -> int:
        """See :meth:`KeyValueBackend.index_add`."""
        with self._lock:
            return self._add_to_index(key, members.items())

    def index_range(
        self, key: str, *, offset: int = 0, limit: int | None = None, reverse: bool = False
    ) -> list[str]:
        """See :meth:`KeyValueBackend.index_range`."""
        return [
            member
            for member, _ in self.index_range_with_scores(key, offset=offset, limit=limit, reverse=reverse)
        ]

    def index_range_with_scores(
        self, key: str, *, offset: int = 0, limit: int | None = None, reverse: bool = False
    ) -> list[tuple[str, float]]:
        """See :meth:`KeyValueBackend.index_range_with_scores`."""
        with self._lock:
            ordered = sorted(self._index(key).items(), key=lambda item: (item[1], item[0]), reverse=reverse)
        end = None if limit is None else offset + limit
        return ordered[offset:end]

    def index_range_by_prefix(
        self, key: str, prefix: str, *, offset: int = 0, limit: int | None = None
    ) -> list[str]:
        """See :meth:`KeyValueBackend.index_range_by_prefix`."""
        with self._lock:
            members = sorted(self._index(key))
        start = bisect.bisect_left(members, prefix)
        matching: list[str] = []
        for member in members[start:]:
            if not member.startswith(prefix):
                break
            matching.append(member)
        end = None if limit is None else offset + limit
        return matching[offset:end]

    def index_score(self, key: str, member: str) -> float | None:
        """See :meth:`KeyValueBackend.index_score`."""
        with self._lock:
            return self._index(key).get(member)

    def index_remove(self, key: str, members: Sequence[str]) -> int:
        """See :meth:`KeyValueBackend.index_remove`."""
        with self._lock:
            return self._remove_from_index(key, members)

    def index_count(self, key: str) -> int:
        """See :meth:`KeyValueBackend.index_count`."""
        with self._lock:
            return len(self._index(key))

    # -- set index ------------------------------------------------------------------------------

    def set_add(self, key: str, members: Sequence[str]) -> int:
        """See :meth:`KeyValueBackend.set_add`."""
        with self._lock:
            return self._add_to_set(key, members)

    def set_members(self, key: str) -> builtins.set[str]:
        """See :meth:`KeyValueBackend.set_members`."""
        with self._lock:
            return set(self._set(key))

    def set_remove(self, key: str, members: Sequence[str]) -> int:
        """See :meth:`KeyValueBackend.set_remove`."""
        with self._lock:
            return self._remove_from_set(key, members)

    # -- expiry ---------------------------------------------------------------------------------

    def expire(self, key: str, ttl: float) -> bool:
        """See :meth:`KeyValueBackend.expire`."""
        with self._lock:
            return self._expire(key, ttl)

    def ttl(self, key: str) -> float | None:
        """See :meth:`KeyValueBackend.ttl`."""
        with self._lock:
            entry = self._live(key)
            if entry is None:
                raise KeyError(key)
            return None if entry.expires_at is None else entry.expires_at - self._clock()

    # -- atomic batch ---------------------------------------------------------------------------

    def apply(self, ops: Sequence[WriteOp]) -> None:
        """See :meth:`KeyValueBackend.apply`."""
        token: WriteTokenOp | None = None
        for op in ops:
            if isinstance(op, SetOp):
                self._check_size(op.key, op.value)
            elif isinstance(op, WriteTokenOp):
                if token is not None:
                    raise BackendError(_ONE_TOKEN, key=op.key)
                token = op
        with self._lock:
            if token is not None:
                held = self._live(token.key)
                if held is not None and held.kind != "value":
                    raise BackendError(f"holds a {held.kind}, not a value; batch not applied", key=token.key)
                if held is not None and held.value == token.token:
                    return  # applied before: this is a retry of the same batch
            self._check(ops)
            for op in ops:
                self._apply_one(op)
            if token is not None:  # written last, once every other op is applied
                self._write_value(SetOp(token.key, token.token, ttl=token.ttl))

    def _check(self, ops: Sequence[WriteOp]) -> None:
        """Validate every condition and kind against the state the batch will see, op by op."""
        # Track the kind each key will have after the ops before it, so a batch that deletes
        # then re-creates a key is judged the way sequential execution would judge it.
        planned: dict[str, Kind | None] = {}
        planned_values: dict[str, bytes] = {}  # what a value set earlier in the batch will hold

        def kind_of(key: str) -> Kind | None:
            if key in planned:
                return planned[key]
            entry = self._live(key)
            return None if entry is None else entry.kind

        for op in ops:
            if isinstance(op, SetOp):
                exists = kind_of(op.key) is not None
                if op.only_if_absent and exists:
                    raise ConflictError("only-if-absent: key exists; batch not applied", key=op.key)
                if op.only_if_present and not exists:
                    raise ConflictError("only-if-present: key is missing; batch not applied", key=op.key)
                planned[op.key] = "value"
                planned_values[op.key] = op.value
            elif isinstance(op, RequireOp):
                if op.equals is not None:
                    if self._planned_value(op.key, planned, planned_values) != op.equals:
                        raise ConflictError(
                            "key does not hold the required value; batch not applied", key=op.key
                        )
                    continue
                exists = kind_of(op.key) is not None
                if op.present and not exists:
                    raise ConflictError("required key is missing; batch not applied", key=op.key)
                if not op.present and exists:
                    raise ConflictError("key required to be absent exists; batch not applied", key=op.key)
            elif isinstance(op, DeleteOp):
                for key in op.keys:
                    planned[key] = None
            elif isinstance(op, DeleteGroupOp):
                if op.members_key in planned:
                    # Its members would be those of a set the batch itself changed: not tracked.
                    raise BackendError(_GROUP_FIRST, key=op.members_key)
                current = kind_of(op.members_key)
                if current not in (None, "set"):
                    raise BackendError(f"holds a {current}, not a set; batch not applied", key=op.members_key)
                if current == "set":
                    for member in self._set(op.members_key):
                        planned[member] = None
                planned[op.members_key] = None
            elif isinstance(op, IndexAddOp | IndexRemoveOp | SetAddOp | SetRemoveOp | RefreshTtlOp):
                key = op.members_key if isinstance(op, RefreshTtlOp) else op.key
                wanted: Kind = "index" if isinstance(op, IndexAddOp | IndexRemoveOp) else "set"
                current = kind_of(key)
                if current not in (None, wanted):
                    raise BackendError(f"holds a {current}, not a {wanted}; batch not applied", key=key)
                if isinstance(op, IndexAddOp | SetAddOp) and op.members:
                    planned[key] = wanted

    def _planned_value(
        self, key: str, planned: dict[str, Kind | None], planned_values: dict[str, bytes]
    ) -> bytes | None:
        """Return the bytes ``key`` will hold as a value after the ops judged so far (``None``: none)."""
        if key in planned:
            return planned_values.get(key) if planned[key] == "value" else None
        entry = self._live(key)
        if entry is None or entry.kind != "value":
            return None
        assert isinstance(entry.value, bytes)
        return entry.value

    def _apply_one(self, op: WriteOp) -> None:
        if isinstance(op, SetOp):
            self._write_value(op)
        elif isinstance(op, DeleteOp):
            for key in op.keys:
                self._data.pop(key, None)
        elif isinstance(op, DeleteGroupOp):
            for member in self._set(op.members_key):
                self._data.pop(member, None)
            self._data.pop(op.members_key, None)
        elif isinstance(op, IndexAddOp):
            self._add_to_index(op.key, op.members)
        elif isinstance(op, IndexRemoveOp):
            self._remove_from_index(op.key, op.members)
        elif isinstance(op, SetAddOp):
            self._add_to_set(op.key, op.members)
        elif isinstance(op, SetRemoveOp):
            self._remove_from_set(op.key, op.members)
        elif isinstance(op, ExpireOp):
            self._expire(op.key, op.ttl)
        elif isinstance(op, RefreshTtlOp):
            self._refresh_ttl(op)

    def _refresh_ttl(self, op: RefreshTtlOp) -> None:
        entry = self._typed(op.members_key, "set")
        if entry is None:
            return
        if entry.expires_at is not None and entry.expires_at - self._clock() >= op.below:
            return
        assert isinstance(entry.value, set)
        for member in entry.value:
            self._expire(member, op.ttl)
        self._expire(op.members_key, op.ttl)

    def close(self) -> None:
        """Drop every key."""
        with self._lock:
            self._data.clear()

    def __repr__(self) -> str:
        return f"MemoryBackend(keys={len(self._data)})"
