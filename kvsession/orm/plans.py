"""Plans: a read or write written once for sync and async, and the two drivers that run it.

A plan is a generator that yields the backend calls it needs (:class:`Call`), is sent each
call's result, and returns its own result. :func:`run_plan` drives it against a sync
``KeyValueBackend`` (``backend.<method>``), :func:`run_plan_async` against an
``AsyncKeyValueBackend`` (``await backend.<method>``); :class:`Io` holds the typed one-call
plans bigger ones are built from. Nothing here builds a key or encodes a value.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple, TypeVar, cast

from kvsession.kv.aio import AsyncKeyValueBackend
from kvsession.kv.protocol import KeyValueBackend, WriteOp

__all__ = ["Call", "Io", "Plan", "run_plan", "run_plan_async"]

T = TypeVar("T")

# -- plans: what to ask the backend, without asking it ----------------------------------------------


class Call(NamedTuple):
    """One backend call a plan needs: the protocol method's name and its arguments."""

    method: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = MappingProxyType({})


Plan = Generator[Call, Any, T]
"""A read or write written once for sync and async: it yields each backend call it needs
(one round trip each), is sent the call's result (or has its exception thrown in), and returns
its own result. Run it with :func:`run_plan` or :func:`run_plan_async`."""


def run_plan(backend: KeyValueBackend, plan: Plan[T]) -> T:
    """Run ``plan`` against a sync backend: each call it yields is made, its result sent back."""
    try:
        call = next(plan)
        while True:
            try:
                result = getattr(backend, call.method)(*call.args, **call.kwargs)
            except BaseException as exc:  # the plan decides: translate, remember, re-raise
                call = plan.throw(exc)
            else:
                call = plan.send(result)
    except StopIteration as done:
        return cast("T", done.value)


async def run_plan_async(backend: AsyncKeyValueBackend, plan: Plan[T]) -> T:
    """Run ``plan`` against an async backend: the same as :func:`run_plan`, each call awaited.

    A cancellation while a call is awaited is thrown into the plan like any other exception
    (the plan forgets nothing it must remember), then propagates.
    """
    try:
        call = next(plan)
        while True:
            try:
                result = await getattr(backend, call.method)(*call.args, **call.kwargs)
            except BaseException as exc:
                call = plan.throw(exc)
            else:
                call = plan.send(result)
    except StopIteration as done:
        return cast("T", done.value)


class Io:
    """Typed one-call plans, the building blocks of bigger ones (``data = yield from Io.get(key)``).

    Each is one backend call, so one round trip on a networked backend.
    """

    @staticmethod
    def get(key: str) -> Plan[bytes | None]:
        """See ``KeyValueBackend.get``."""
        return cast("bytes | None", (yield Call("get", (key,))))

    @staticmethod
    def exists(key: str) -> Plan[bool]:
        """See ``KeyValueBackend.exists``."""
        return cast("bool", (yield Call("exists", (key,))))

    @staticmethod
    def get_many(keys: Sequence[str]) -> Plan[list[bytes | None]]:
        """See ``KeyValueBackend.get_many`` (no call for no keys)."""
        if not keys:
            return []
        return cast("list[bytes | None]", (yield Call("get_many", (keys,))))

    @staticmethod
    def apply(ops: Sequence[WriteOp]) -> Plan[None]:
        """See ``KeyValueBackend.apply`` (no call for no ops)."""
        if ops:
            yield Call("apply", (ops,))

    @staticmethod
    def index_range(
        key: str, *, offset: int = 0, limit: int | None = None, reverse: bool = False
    ) -> Plan[list[str]]:
        """See ``KeyValueBackend.index_range``."""
        kwargs = {"offset": offset, "limit": limit, "reverse": reverse}
        return cast("list[str]", (yield Call("index_range", (key,), kwargs)))

    @staticmethod
    def index_range_with_scores(
        key: str, *, offset: int = 0, limit: int | None = None, reverse: bool = False
    ) -> Plan[list[tuple[str, float]]]:
        """See ``KeyValueBackend.index_range_with_scores``."""
        kwargs = {"offset": offset, "limit": limit, "reverse": reverse}
        return cast("list[tuple[str, float]]", (yield Call("index_range_with_scores", (key,), kwargs)))

    @staticmethod
    def index_score(key: str, member: str) -> Plan[float | None]:
        """See ``KeyValueBackend.index_score``."""
        return cast("float | None", (yield Call("index_score", (key, member))))

    @staticmethod
    def index_count(key: str) -> Plan[int]:
        """See ``KeyValueBackend.index_count``."""
        return cast("int", (yield Call("index_count", (key,))))

    @staticmethod
    def index_remove(key: str, members: Sequence[str]) -> Plan[int]:
        """See ``KeyValueBackend.index_remove``."""
        return cast("int", (yield Call("index_remove", (key, members))))

    @staticmethod
    def set_add(key: str, members: Sequence[str]) -> Plan[int]:
        """See ``KeyValueBackend.set_add``."""
        return cast("int", (yield Call("set_add", (key, members))))

    @staticmethod
    def set_members(key: str) -> Plan[set[str]]:
        """See ``KeyValueBackend.set_members``."""
        return cast("set[str]", (yield Call("set_members", (key,))))
