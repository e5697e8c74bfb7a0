"""kvsession-dictstore: an example third-party backend, ``dictstore://[NAME]?max_value_bytes=N``.

Every store lives in one process-wide dict (a :class:`~kvsession.kv.memory.MemoryBackend`) under
its own key prefix, ``NAME/``: backends connected with the same ``NAME`` share their data, and
``dictstore://`` alone gives a fresh private store. It is a
:class:`~kvsession.kv.forwarding.ForwardingBackend` that rewrites each call on the way in
(keys gain the prefix) and each answer on the way out (keys in errors lose it).

Set members gain the prefix too: a group op (``DeleteGroupOp``, ``RefreshTtlOp``) reads keys
from a set's members, so those must be stored as the inner keys they name. Index members are
left as they are (prefix ranges must still see them).

A write token (``WriteTokenOp``) needs nothing of its own: its key gains the prefix like any
op's, and the memory backend underneath recognises a re-sent batch by it.

Its async twin is one classmethod, ``from_config_async``: a store that does no I/O is wrapped in
:class:`~kvsession.kv.aio.AsyncShell`, so ``await kvsession.connect_async("dictstore://")`` works.

The distribution registers the scheme in its metadata (``pyproject.toml``)::

    [project.entry-points."kvsession.backends"]
    dictstore = "kvsession_dictstore:DictStoreBackend"
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import msgspec

from kvsession.kv import (
    AsyncShell,
    BackendConfig,
    BackendError,
    BackendUnavailable,
    DeleteGroupOp,
    DeleteOp,
    ForwardingBackend,
    MemoryBackend,
    RefreshTtlOp,
    SetAddOp,
    SetOp,
    SetRemoveOp,
    ValueTooLargeError,
    WriteOp,
)
from kvsession.kv.config import convert_options

__all__ = ["DictStoreBackend"]

_DICT = MemoryBackend()  # the process-wide dict every store is a part of

# Methods whose first argument is one key, and those whose first argument is a list of keys.
_ONE_KEY = {
    "get", "set", "exists", "expire", "ttl", "index_add", "index_range", "index_range_with_scores",
    "index_range_by_prefix", "index_score", "index_remove", "index_count",
}  # fmt: skip
_MANY_KEYS = {"get_many", "delete_many"}
_SET_MEMBERS = {"set_add", "set_remove"}


class DictStoreBackend(ForwardingBackend):
    """One named store in the process-wide dict.

    Args:
        config: The parsed ``dictstore://`` URL.
        max_value_bytes: Largest value accepted.
    """

    class Options(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
        """Query options of ``dictstore://`` URLs."""

        max_value_bytes: int = 512 * 1024 * 1024  # as Valkey: the kit stores 10 MB values

    def __init__(self, config: BackendConfig, *, max_value_bytes: int) -> None:
        super().__init__(_DICT)
        self._config = config
        self._prefix = f"{config.name or uuid.uuid4().hex}/"
        self._max_value_bytes = max_value_bytes
        self._closed = False

    @classmethod
    def from_config(cls, config: BackendConfig) -> DictStoreBackend:
        """Create the store a ``dictstore://`` URL names (what ``kvsession.connect`` calls)."""
        options = convert_options(config.backend_options, cls.Options, url=config.redacted())
        return cls(config, max_value_bytes=options.max_value_bytes)

    @classmethod
    def from_config_async(cls, config: BackendConfig) -> AsyncShell:
        """Create the async twin (what ``kvsession.connect_async`` calls): no I/O, so an ``AsyncShell``."""
        return AsyncShell(cls.from_config(config))

    @property
    def config(self) -> BackendConfig:
        """The URL this store was connected with."""
        return self._config

    def forward(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Prefix keys (and set members) going in, strip them from answers and errors."""
        if method == "close":
            self._closed = True  # the data stays in the shared dict, as on a server
            return None
        if self._closed:
            raise BackendUnavailable(
                "store is closed", key=args[0] if args and isinstance(args[0], str) else None
            )
        args = self._inward(method, args)
        try:
            result = super().forward(method, *args, **kwargs)
        except KeyError as exc:  # ttl() of a missing key
            raise KeyError(self._outward(exc.args[0])) from None
        except BackendError as exc:
            if exc.key is None:
                raise
            raise self._translated(exc) from exc
        if method == "set_members":
            return {self._outward(member) for member in result}
        return result

    def _inward(self, method: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
        if method == "set":
            self._check_size(args[0], args[1])
        if method in _ONE_KEY:
            return (self._prefix + args[0], *args[1:])
        if method in _MANY_KEYS:
            return ([self._prefix + key for key in args[0]],)
        if method in _SET_MEMBERS:
            return (self._prefix + args[0], [self._prefix + member for member in args[1]])
        if method == "set_members":
            return (self._prefix + args[0],)
        if method == "apply":
            return ([self._op(op) for op in args[0]],)
        return args

    def _op(self, op: WriteOp) -> WriteOp:
        p = self._prefix
        if isinstance(op, SetOp):
            self._check_size(op.key, op.value)
        if isinstance(op, DeleteOp):
            return DeleteOp(tuple(p + key for key in op.keys))
        if isinstance(op, SetAddOp | SetRemoveOp):
            return replace(op, key=p + op.key, members=tuple(p + member for member in op.members))
        if isinstance(op, RefreshTtlOp | DeleteGroupOp):
            return replace(op, members_key=p + op.members_key)
        return replace(op, key=p + op.key)

    def _outward(self, key: str) -> str:
        return key.removeprefix(self._prefix)

    def _translated(self, exc: BackendError) -> BackendError:
        """The same error, naming the caller's key (``exc.key`` is set)."""
        key = self._outward(exc.key or "")
        if isinstance(exc, ValueTooLargeError):
            return ValueTooLargeError(key, exc.size, exc.limit)
        message = str(exc).partition(" | ")[2]
        return type(exc)(message, key=key)

    def _check_size(self, key: str, value: bytes) -> None:
        if len(value) > self._max_value_bytes:
            raise ValueTooLargeError(key, len(value), self._max_value_bytes)

    def __repr__(self) -> str:
        return f"DictStoreBackend(prefix={self._prefix!r})"
