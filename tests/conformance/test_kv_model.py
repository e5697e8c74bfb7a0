"""Model-based: random sequences of calls give the same answers on memory and on a server backend.

The memory backend is the reference implementation of the protocol; fakeredis and the real
Valkey server must agree with it call for call (return values and error types), including the
atomic batches whose all-or-nothing checks run inside the Lua script.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kvsession.errors import BackendError
from kvsession.memory import MemoryBackend
from kvsession.protocol import (
    DeleteGroupOp,
    DeleteOp,
    ExpireOp,
    IndexAddOp,
    IndexRemoveOp,
    KeyValueBackend,
    RefreshTtlOp,
    RequireOp,
    SetAddOp,
    SetOp,
    SetRemoveOp,
    WriteOp,
)

if TYPE_CHECKING:
    from tests.conftest import BackendHarness

KEYS = ["a", "b", "c", "😀"]
Action = Callable[[KeyValueBackend], object]

keys = st.sampled_from(KEYS)
members = st.sampled_from(["m1", "m2", "ü", "中文", "a", "b"])  # "a", "b" name keys too
scores = st.sampled_from([0.0, 1.0, 1.0, 2.5, -1.0])
values = st.binary(max_size=8)
ttls = st.none() | st.just(1000.0)  # long enough never to expire during a run
# A lexical index: every member at score 0, as index_range_by_prefix requires.
LEX = "lex"
lex_members = st.sampled_from(["a", "ab", "abc", "b", "a😀", "😀", "😀x", "中", "中文"])
prefixes = st.sampled_from(["", "a", "ab", "b", "😀", "中", "z"])


def _set_op(key: str, value: bytes, absent: bool, present: bool, ttl: float | None) -> SetOp:
    return SetOp(key, value, only_if_absent=absent, only_if_present=present, ttl=ttl)


write_ops: st.SearchStrategy[WriteOp] = st.one_of(
    st.builds(_set_op, keys, values, st.booleans(), st.booleans(), ttls),
    st.builds(DeleteOp, st.lists(keys, min_size=1, max_size=3).map(tuple)),
    # Add ops always carry members: see docs/backends.md on empty adds.
    st.builds(IndexAddOp, keys, st.dictionaries(members, scores, min_size=1).map(lambda d: tuple(d.items()))),
    st.builds(IndexRemoveOp, keys, st.lists(members, max_size=3).map(tuple)),
    st.builds(SetAddOp, keys, st.lists(members, min_size=1, max_size=3).map(tuple)),
    st.builds(SetRemoveOp, keys, st.lists(members, max_size=3).map(tuple)),
    st.builds(ExpireOp, keys, st.just(1000.0)),
    # Refresh the group a set names: due when below exceeds the time left (or there is no expiry).
    st.builds(RefreshTtlOp, keys, st.just(1000.0), st.sampled_from([500.0, 2000.0])),
    st.builds(RequireOp, keys, st.booleans()),
    # A group delete of a set whose members ("a", "b") name keys.
    st.builds(DeleteGroupOp, keys),
)


def _action(name: str, *args: object, **kwargs: object) -> Action:
    def call(backend: KeyValueBackend) -> object:
        return getattr(backend, name)(*args, **kwargs)

    call.__qualname__ = f"{name}{args}{kwargs or ''}"
    return call


actions: st.SearchStrategy[Action] = st.one_of(
    st.builds(lambda k, v, a, p, t: _action("set", k, v, only_if_absent=a, only_if_present=p, ttl=t),
              keys, values, st.booleans(), st.booleans(), ttls),
    st.builds(lambda ks: _action("delete_many", ks), st.lists(keys, max_size=3)),
    st.builds(lambda k, m: _action("index_add", k, m), keys, st.dictionaries(members, scores, min_size=1)),
    st.builds(lambda k, m: _action("index_remove", k, m), keys, st.lists(members, max_size=3)),
    st.builds(lambda k, m: _action("set_add", k, m), keys, st.lists(members, min_size=1, max_size=3)),
    st.builds(lambda k, m: _action("set_remove", k, m), keys, st.lists(members, max_size=3)),
    st.builds(lambda k: _action("expire", k, 1000.0), keys),
    st.builds(lambda ops: _action("apply", ops), st.lists(write_ops, min_size=1, max_size=6)),
    st.builds(lambda k: _action("get", k), keys),
    st.builds(lambda ks: _action("get_many", ks), st.lists(keys, max_size=4)),
    st.builds(lambda k: _action("exists", k), keys),
    st.builds(
        lambda k, o, lim, r: _action("index_range", k, offset=o, limit=lim, reverse=r),
        keys, st.integers(0, 4), st.none() | st.integers(0, 4), st.booleans(),
    ),
    st.builds(lambda k, m: _action("index_score", k, m), keys, members),
    st.builds(lambda k: _action("index_count", k), keys),
    st.builds(lambda k: _action("set_members", k), keys),
    st.builds(lambda m: _action("index_add", LEX, dict.fromkeys(m, 0.0)), st.lists(lex_members, min_size=1)),
    st.builds(lambda m: _action("index_remove", LEX, m), st.lists(lex_members, max_size=3)),
    st.builds(
        lambda p, o, lim: _action("index_range_by_prefix", LEX, p, offset=o, limit=lim),
        prefixes, st.integers(0, 3), st.none() | st.integers(0, 3),
    ),
)  # fmt: skip


def _outcome(call: Action, backend: KeyValueBackend) -> object:
    """What a caller can observe: the result, or the error's type and key."""
    try:
        return call(backend)
    except BackendError as exc:
        return (type(exc).__name__, exc.key)


def _snapshot(backend: KeyValueBackend) -> list[object]:
    state: list[object] = []
    for key in [*KEYS, LEX]:
        for read in (
            _action("get", key),
            _action("index_range", key),
            _action("set_members", key),
            _action("exists", key),
        ):
            state.append(_outcome(read, backend))
        try:
            state.append(backend.ttl(key) is None)
        except KeyError:
            state.append("missing")
    return state


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=st.lists(actions, min_size=1, max_size=25))
def test_server_backend_agrees_with_memory(networked_kv: BackendHarness, script: list[Action]) -> None:
    server = networked_kv.backend
    server.delete_many([*KEYS, LEX])  # every example starts empty on the shared server
    memory = MemoryBackend()
    for step, call in enumerate(script):
        expected = _outcome(call, memory)
        assert _outcome(call, server) == expected, f"step {step}: {call.__qualname__}"
    assert _snapshot(server) == _snapshot(memory)
