"""The shipped conformance kit on the cluster backend (real 3+3 cluster), sync and async.

The kit's keys ("a", "b", "k1" ...) hash to many slots, and on a cluster one call
(``get_many``, ``delete_many``, a batch) may only touch keys of one slot: the backend refuses a
call that spans slots with a ``BackendError`` naming the stray key
(tests/valkey_cluster/test_connect.py). So ``TestClusterBackend`` (and its async twin,
``TestAsyncClusterBackend``) run the whole kit through :class:`OneSlot`, which gives every key
(and every set member, since groups name keys by their members) one hash tag, as the
repository's cluster key scheme does per session: the contract the repository relies on, tested
call for call. (Run as it is, 97 of the kit's 141 tests pass and the other 44 are exactly the
cross-slot refusal.)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from kvsession.kv import AsyncKeyValueBackend, KeyValueBackend, connect, open_async
from kvsession.kv.errors import KVSessionError
from kvsession.kv.forwarding import ForwardingBackend
from kvsession.kv.protocol import DeleteGroupOp, RefreshTtlOp, SetAddOp, SetRemoveOp
from kvsession.testing.conformance import AsyncKeyValueBackendSuite, KeyValueBackendSuite
from tests.clusters import Cluster
from tests.valkey_cluster.conftest import empty

TAG = "{kit}"
_KEYS = ("get_many", "delete_many")


def _tag(key: str) -> str:
    return TAG + key


def _untag(text: str) -> str:
    return text.replace(TAG, "")


def _tag_op(op: Any) -> Any:
    changes: dict[str, Any] = {}
    for name in ("key", "members_key"):
        if hasattr(op, name):
            changes[name] = _tag(getattr(op, name))
    if hasattr(op, "keys"):
        changes["keys"] = tuple(_tag(key) for key in op.keys)
    if isinstance(op, SetAddOp | SetRemoveOp):
        changes["members"] = tuple(_tag(member) for member in op.members)
    assert not isinstance(op, DeleteGroupOp | RefreshTtlOp) or "members_key" in changes
    return dataclasses.replace(op, **changes)


def tag_call(method: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Rewrite a protocol call's keys (and set members) into the one hash tag."""
    if not args:
        return args
    if method in _KEYS:
        return ([_tag(key) for key in args[0]], *args[1:])
    if method == "apply":
        return ([_tag_op(op) for op in args[0]], *args[1:])
    if method in ("set_add", "set_remove"):
        return (_tag(args[0]), [_tag(member) for member in args[1]], *args[2:])
    if isinstance(args[0], str):
        return (_tag(args[0]), *args[1:])
    return args


def untag_result(method: str, result: Any) -> Any:
    if method == "set_members":
        return {_untag(member) for member in result}
    return result


def untag_error(error: BaseException) -> BaseException:
    """Give an error back the kit's key names (attributes and message)."""
    if isinstance(error, KeyError) and error.args and isinstance(error.args[0], str):
        return KeyError(_untag(error.args[0]))
    if isinstance(error, KVSessionError):
        if isinstance(getattr(error, "key", None), str):
            error.key = _untag(error.key)  # type: ignore[attr-defined]
        error.args = tuple(_untag(a) if isinstance(a, str) else a for a in error.args)
    return error


class OneSlot(ForwardingBackend):
    """Every key of the inner backend in one hash tag (``{kit}``), invisible to the caller."""

    def forward(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return untag_result(method, super().forward(method, *tag_call(method, args), **kwargs))
        except (KVSessionError, KeyError) as error:
            raise untag_error(error) from error.__cause__


class AsyncOneSlot:
    """:class:`OneSlot` for an async backend."""

    def __init__(self, inner: AsyncKeyValueBackend) -> None:
        self.inner = inner

    @property
    def config(self) -> Any:
        return self.inner.config

    def __getattr__(self, method: str) -> Callable[..., Any]:
        target = getattr(self.inner, method)

        async def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return untag_result(method, await target(*tag_call(method, args), **kwargs))
            except (KVSessionError, KeyError) as error:
                raise untag_error(error) from error.__cause__

        return call


class _OnTheCluster:
    @pytest.fixture(autouse=True)
    def _empty_cluster(self, cluster: Cluster) -> None:
        empty(cluster)
        self.url = cluster.url()


class TestClusterBackend(_OnTheCluster, KeyValueBackendSuite):
    def make_backend(self, **options: Any) -> KeyValueBackend:
        return OneSlot(connect(self.url, **options))


class TestAsyncClusterBackend(_OnTheCluster, AsyncKeyValueBackendSuite):
    def make_async_backend(self, **options: Any) -> AsyncKeyValueBackend:
        return AsyncOneSlot(open_async(self.url, **options))

    def make_unreachable_backend(self) -> AsyncKeyValueBackend:
        return open_async("valkey+cluster://127.0.0.1:1/0?retries=0&socket_connect_timeout=0.5")
