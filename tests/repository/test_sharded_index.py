"""The cluster key space's sessions index: one bucket per slot, next to the sessions it lists.

Run on the memory backend behind a checker that refuses any call touching keys of two slots,
as Valkey Cluster would (CROSSSLOT): every repository write stays one call in one slot, and
listing, counting, last activity and pruning merge the buckets.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from strands.types.session import SessionAgent, SessionMessage, SessionType

import kvsession
from kvsession.kv.protocol import DeleteGroupOp, RefreshTtlOp, WriteOp
from kvsession.orm.slots import SLOTS, key_slot, slot_of_tag, slot_tag
from kvsession.strands.models import REGISTRY_SHARDS
from kvsession.strands.records import Session
from kvsession.strands.repository import KVSessionRepository
from kvsession.testing import CountingBackend


def _keys_of(ops: list[WriteOp]) -> list[str]:
    keys: list[str] = []
    for op in ops:
        if isinstance(op, RefreshTtlOp | DeleteGroupOp):
            keys.append(op.members_key)
        elif hasattr(op, "keys"):
            keys.extend(op.keys)
        else:
            keys.append(op.key)
    return keys


class OneSlotPerCall(CountingBackend):
    """Counts calls and refuses one touching keys of two slots (Valkey Cluster's CROSSSLOT)."""

    def forward(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if method == "apply":
            keys = _keys_of(list(args[0]))
        elif method in ("get_many", "delete_many"):
            keys = list(args[0])
        elif args and isinstance(args[0], str):
            keys = [args[0]]
        else:
            keys = []
        slots = {key_slot(key) for key in keys}
        assert len(slots) <= 1, f"{method} touches {len(slots)} slots: {keys}"
        return super().forward(method, *args, **kwargs)


@pytest.fixture
def repo() -> KVSessionRepository:
    backend = OneSlotPerCall(kvsession.connect("memory://?key_scheme=cluster"))
    return KVSessionRepository(backend)


def _session(session_id: str) -> Session:
    return Session(session_id=session_id, session_type=SessionType.AGENT)


def _message(i: int) -> SessionMessage:
    return SessionMessage.from_message({"role": "user", "content": [{"text": f"m{i}"}]}, i)


def test_slot_tags_route_to_their_slot() -> None:
    for slot in (0, 1, 5461, 10922, SLOTS - 1):
        assert slot_of_tag(slot_tag(slot)) == slot
    assert key_slot("session:{user-42}:agents") == key_slot("x{user-42}") == slot_of_tag("user-42")
    assert key_slot("a{}b") == slot_of_tag("a{}b")  # an empty tag: the whole key
    with pytest.raises(ValueError, match="slot"):
        slot_tag(SLOTS)


def test_a_sessions_entry_lives_in_its_sessions_slot(repo: KVSessionRepository) -> None:
    for sid in ("user-42", "tenant:7", "", "日本"):
        bucket = repo.keys.sessions_index(sid)
        assert bucket.startswith("sessions:{")
        assert key_slot(bucket) == key_slot(repo.keys.session(sid))


def test_the_bucket_registries_cover_ranges_of_slots(repo: KVSessionRepository) -> None:
    registries = repo.keys.listing_keys()
    assert len(registries) == REGISTRY_SHARDS == len(set(registries))
    assert [key_slot(key) for key in registries] == [
        n * SLOTS // REGISTRY_SHARDS for n in range(REGISTRY_SHARDS)
    ]
    for sid in ("user-42", "tenant:7", "", "日本", "s1"):
        shard = key_slot(repo.keys.session(sid)) // (SLOTS // REGISTRY_SHARDS)
        assert repo.keys.registry_key(sid) == registries[shard]


def test_every_write_is_one_call_in_one_slot(repo: KVSessionRepository) -> None:
    backend = repo.backend
    assert isinstance(backend, OneSlotPerCall)
    repo.create_session(_session("s1"))
    assert backend.calls == {"set_add": 1, "apply": 1}  # the bucket listed, then the session
    backend.reset()
    repo.create_agent("s1", SessionAgent(agent_id="a", state={}, conversation_manager_state={}))
    for i in range(3):
        repo.create_message("s1", "a", _message(i))
    message = repo.read_message("s1", "a", 1)
    assert message is not None
    repo.update_message("s1", "a", message)
    repo.update_agent("s1", SessionAgent(agent_id="a", state={"x": 1}, conversation_manager_state={}))
    session = repo.read_session("s1")
    assert session is not None
    backend.reset()
    repo.update_session(session)
    repo.create_message("s1", "a", _message(3))
    repo.delete_session("s1")
    assert backend.calls == {"apply": 3}
    assert repo.list_sessions() == []


def test_listing_merges_the_buckets_by_recency(repo: KVSessionRepository) -> None:
    ids = [f"s{i}" for i in range(40)]
    for sid in ids:
        repo.create_session(_session(sid))
        time.sleep(0.001)  # distinct scores
    assert len({repo.keys.sessions_index(sid) for sid in ids}) > 30  # spread over many buckets
    listed = repo.list_sessions()
    assert [sid for sid, _ in listed] == ids[::-1]
    assert [score for _, score in listed] == sorted((score for _, score in listed), reverse=True)
    assert repo.list_sessions(limit=5, offset=3) == listed[3:8]
    assert repo.list_sessions(offset=38) == listed[38:]
    assert repo.list_sessions(limit=0) == []
    assert repo.count_sessions() == 40
    assert repo.last_active("s7") == dict(listed)["s7"]
    with pytest.raises(ValueError, match="negative"):
        repo.list_sessions(offset=-1)


def test_equal_scores_list_as_one_sorted_set_would(repo: KVSessionRepository) -> None:
    for sid in ("b", "a", "c"):
        repo.put_session(
            Session(session_id=sid, session_type=SessionType.AGENT, updated_at="2026-01-01T00:00:00+00:00")
        )
    assert [sid for sid, _ in repo.list_sessions()] == ["c", "b", "a"]


def test_prune_visits_every_bucket(repo: KVSessionRepository) -> None:
    for sid in ("gone-1", "gone-2", "kept"):
        repo.create_session(_session(sid))
    backend = repo.backend
    for sid in ("gone-1", "gone-2"):  # expired: the records vanished, the entries stayed
        backend.delete_many(repo.session_keys(sid))
        backend.delete_many([repo.keys.session(sid)])
    assert repo.prune_sessions(grace=0) == 2
    assert [sid for sid, _ in repo.list_sessions()] == ["kept"]
    assert repo.count_sessions() == 1
