"""Concurrent workers on one session: no write into the wrong incarnation of a session.

DESIGN.md §7 ("a worker holding a deleted session"), issue 12 defect 1: a worker that still holds
a session that another worker deleted and created again must get ``NotFoundError`` and write
nothing, on every backend, sync and async. Each repository below is a separate worker (its own
caches), on the same store.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from strands.types.exceptions import SessionException
from strands.types.session import SessionAgent, SessionMessage, SessionType

from kvsession.kv.errors import ConflictError, NotFoundError
from kvsession.strands.aio_repository import AsyncKVSessionRepository
from kvsession.strands.errors import SessionConflictError, SessionRecordNotFoundError
from kvsession.strands.records import Session
from kvsession.strands.repository import KVSessionRepository
from kvsession.testing import CountingBackend

TRIALS = 10


def _session(session_id: str = "s1") -> Session:
    return Session(session_id=session_id, session_type=SessionType.AGENT)


def _agent(agent_id: str = "a1", **state: Any) -> SessionAgent:
    return SessionAgent(agent_id=agent_id, state=state, conversation_manager_state={})


def _message(i: int, text: str) -> SessionMessage:
    return SessionMessage.from_message({"role": "user", "content": [{"text": text}]}, i)


def _texts(repo: KVSessionRepository, session_id: str = "s1") -> list[str]:
    return [m.message["content"][0]["text"] for m in repo.list_messages(session_id, "a1")]


def test_a_stale_writer_cannot_write_into_a_re_created_session(kv: Any) -> None:
    """The issue's trial, ten times: old worker appends 0-4, another deletes and re-creates."""
    for trial in range(TRIALS):
        session_id = f"s{trial}"
        old = KVSessionRepository(kv.backend)
        new = KVSessionRepository(kv.backend)
        old.create_session(_session(session_id))
        old.create_agent(session_id, _agent())
        for i in range(5):
            old.create_message(session_id, "a1", _message(i, f"old-m{i}"))
        new.delete_session(session_id)
        new.create_session(_session(session_id))
        new.create_agent(session_id, _agent())
        new.create_message(session_id, "a1", _message(0, "new-m0"))
        keys_before = sorted(new.session_keys(session_id))
        with pytest.raises(SessionRecordNotFoundError) as info:
            old.create_message(session_id, "a1", _message(5, "old-m5"))
        assert isinstance(info.value, NotFoundError) and isinstance(info.value, SessionException)
        assert info.value.key == new.keys.session(session_id)
        # Every write path of the stale worker is refused, and nothing was written.
        with pytest.raises(SessionRecordNotFoundError):
            old.update_agent(session_id, _agent(x=1))
        with pytest.raises(SessionRecordNotFoundError):
            old.create_agent(session_id, _agent("a2"))
        with pytest.raises(SessionRecordNotFoundError):
            old.update_message(session_id, "a1", _message(0, "old-edit"))
        with pytest.raises(SessionRecordNotFoundError):
            old.delete_session(session_id)
        assert _texts(new, session_id) == ["new-m0"]
        assert sorted(new.session_keys(session_id)) == keys_before
        assert new.read_agent(session_id, "a1") is not None
        assert new.read_agent(session_id, "a1").state == {}  # type: ignore[union-attr]


def test_a_session_put_in_place_of_another_fences_out_the_old_workers(kv: Any) -> None:
    # An import with replace (kvsession import --replace, migrate) is a new incarnation too.
    old = KVSessionRepository(kv.backend)
    old.create_session(_session())
    old.create_agent("s1", _agent())
    old.create_message("s1", "a1", _message(0, "old-m0"))
    importer = KVSessionRepository(kv.backend)
    importer.put_agents("s1", [_agent()], replace=True)
    importer.put_messages("s1", "a1", [_message(0, "imported-m0")], replace=True)
    importer.put_session(_session(), replace=True)
    with pytest.raises(SessionRecordNotFoundError):
        old.create_message("s1", "a1", _message(1, "old-m1"))
    fresh = KVSessionRepository(kv.backend)
    fresh.create_message("s1", "a1", _message(1, "new-m1"))
    assert _texts(fresh) == ["imported-m0", "new-m1"]


def test_a_worker_that_only_restored_the_session_is_refused_too(kv: Any) -> None:
    """A restore (read_agent) learns the incarnation in its multi-get: no write needed first."""
    KVSessionRepository(kv.backend).create_session(_session())
    KVSessionRepository(kv.backend).create_agent("s1", _agent())
    counting = CountingBackend(kv.backend)
    restored = KVSessionRepository(counting)
    assert restored.read_agent("s1", "a1") is not None
    assert restored.list_messages("s1", "a1") == []
    other = KVSessionRepository(kv.backend)
    other.delete_session("s1")
    other.create_session(_session())
    other.create_agent("s1", _agent())
    counting.reset()
    with pytest.raises(SessionRecordNotFoundError):
        restored.create_message("s1", "a1", _message(0, "stale"))
    assert counting.round_trips == 1  # the incarnation was known: the append is one round trip
    assert _texts(other) == []


def test_a_worker_that_learns_the_new_incarnation_writes_normally(kv: Any) -> None:
    old = KVSessionRepository(kv.backend)
    old.create_session(_session())
    old.create_agent("s1", _agent())
    other = KVSessionRepository(kv.backend)
    other.delete_session("s1")
    other.create_session(_session())
    other.create_agent("s1", _agent())
    late = KVSessionRepository(kv.backend)  # first write of a fresh worker: learns it once
    late.create_message("s1", "a1", _message(0, "late-m0"))
    other.create_message("s1", "a1", _message(1, "other-m1"))
    assert _texts(other) == ["late-m0", "other-m1"]
    with pytest.raises(SessionRecordNotFoundError):
        old.create_message("s1", "a1", _message(2, "old-m2"))


def test_the_append_stays_one_round_trip_and_the_first_write_learns_once(kv: Any) -> None:
    KVSessionRepository(kv.backend).create_session(_session())
    counting = CountingBackend(kv.backend)
    worker = KVSessionRepository(counting)
    worker.create_agent("s1", _agent())  # never saw the session: one read to learn it, once
    assert counting.round_trips == 2
    for i in range(3):
        counting.reset()
        worker.create_message("s1", "a1", _message(i, f"m{i}"))
        assert counting.round_trips == 1


def test_a_session_stored_without_an_incarnation_stays_writable(kv: Any) -> None:
    """Data written before incarnations existed: no key, and writers require that none appears."""
    repo = KVSessionRepository(kv.backend)
    repo.create_session(_session())
    kv.backend.delete_many([repo.incarnation_key("s1")])  # as stored by kvsession 0.2
    worker = KVSessionRepository(kv.backend)
    worker.create_agent("s1", _agent())
    worker.create_message("s1", "a1", _message(0, "m0"))
    assert _texts(worker) == ["m0"]
    KVSessionRepository(kv.backend).delete_session("s1")
    KVSessionRepository(kv.backend).create_session(_session())  # now with an incarnation
    with pytest.raises(SessionRecordNotFoundError):
        worker.create_message("s1", "a1", _message(1, "stale"))


def test_the_incarnation_expires_and_is_deleted_with_the_session(kv: Any) -> None:
    repo = KVSessionRepository(kv.backend, ttl=60)
    repo.create_session(_session())
    repo.create_agent("s1", _agent())
    key = repo.incarnation_key("s1")
    left = kv.backend.ttl(key)
    assert left is not None and 60 < left <= 72
    assert key not in repo.session_keys("s1")  # tools listing the session never see it
    repo.delete_session("s1")
    assert kv.backend.exists(key) is False


def test_the_async_repository_refuses_a_stale_writer_too(networked_kv: Any) -> None:
    # Two workers need two connections to one store: the async memory backend is one store per
    # connection, so this runs where a server is shared ([fakeredis], [valkey]).
    url = networked_kv.url

    async def scenario() -> list[str]:
        import kvsession

        old = AsyncKVSessionRepository(await kvsession.connect_async(url))
        new = AsyncKVSessionRepository(await kvsession.connect_async(url))
        try:
            await old.create_session(_session())
            await old.create_agent("s1", _agent())
            await old.create_message("s1", "a1", _message(0, "old-m0"))
            await new.delete_session("s1")
            await new.create_session(_session())
            await new.create_agent("s1", _agent())
            await new.create_message("s1", "a1", _message(0, "new-m0"))
            with pytest.raises(SessionRecordNotFoundError):
                await old.create_message("s1", "a1", _message(1, "old-m1"))
            return [m.message["content"][0]["text"] for m in await new.list_messages("s1", "a1")]
        finally:
            await old.backend.aclose()
            await new.backend.aclose()

    assert asyncio.run(scenario()) == ["new-m0"]


# -- optimistic concurrency of agent and multi-agent state (issue 12, defect 5) ----------------


class _Swarm:
    """The part of a Strands ``MultiAgentBase`` the repository uses."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.id = "swarm"
        self.state = state

    def serialize_state(self) -> dict[str, Any]:
        return {"type": "swarm", "id": self.id, **self.state}


def test_a_stale_agent_update_is_a_typed_conflict_and_writes_nothing(kv: Any) -> None:
    first = KVSessionRepository(kv.backend)
    first.create_session(_session())
    first.create_agent("s1", _agent(turn=0))
    second = KVSessionRepository(kv.backend)
    assert second.read_agent("s1", "a1") is not None  # both now hold turn 0
    second.update_agent("s1", _agent(turn=1, by="second"))
    with pytest.raises(SessionConflictError) as info:
        first.update_agent("s1", _agent(turn=1, by="first"))  # based on turn 0: stale
    error = info.value
    assert isinstance(error, ConflictError) and isinstance(error, SessionException)
    assert error.key == first.keys.agent("s1", "a1") and error.session_id == "s1"
    assert first.read_agent("s1", "a1").state == {"turn": 1, "by": "second"}  # type: ignore[union-attr]
    # Having read it again, the first worker updates normally; now the second one is stale.
    first.update_agent("s1", _agent(turn=2, by="first"))
    with pytest.raises(SessionConflictError):
        second.update_agent("s1", _agent(turn=2, by="second"))
    for turn in range(3, 6):
        first.update_agent("s1", _agent(turn=turn, by="first"))
    assert second.read_agent("s1", "a1").state == {"turn": 5, "by": "first"}  # type: ignore[union-attr]


def test_an_update_of_a_deleted_agent_is_still_not_found(kv: Any) -> None:
    repo = KVSessionRepository(kv.backend)
    repo.create_session(_session())
    repo.create_agent("s1", _agent())
    kv.backend.delete_many([repo.keys.agent("s1", "a1")])
    with pytest.raises(SessionRecordNotFoundError):
        repo.update_agent("s1", _agent(x=1))


def test_a_stale_multi_agent_update_is_a_typed_conflict(kv: Any) -> None:
    first = KVSessionRepository(kv.backend)
    first.create_session(_session())
    first.create_multi_agent("s1", _Swarm({"step": 0}))  # type: ignore[arg-type]
    second = KVSessionRepository(kv.backend)
    assert second.read_multi_agent("s1", "swarm") is not None
    second.update_multi_agent("s1", _Swarm({"step": 1}))  # type: ignore[arg-type]
    with pytest.raises(SessionConflictError):
        first.update_multi_agent("s1", _Swarm({"step": 9}))  # type: ignore[arg-type]
    assert first.read_multi_agent("s1", "swarm") == {"type": "swarm", "id": "swarm", "step": 1}
    first.update_multi_agent("s1", _Swarm({"step": 2}))  # type: ignore[arg-type]
    fresh = KVSessionRepository(kv.backend)  # never read it: learns the base with one read
    fresh.update_multi_agent("s1", _Swarm({"step": 3}))  # type: ignore[arg-type]
    assert first.read_multi_agent("s1", "swarm") == {"type": "swarm", "id": "swarm", "step": 3}


def test_an_agent_update_re_sent_after_a_lost_reply_is_not_a_conflict(kv: Any) -> None:
    """The update carries a write token: its re-sent copy does not fail its own base."""
    applied: list[int] = []

    class LostReplyOnce(CountingBackend):
        armed = False

        def apply(self, ops: Any) -> None:
            super().apply(ops)
            if self.armed:
                self.armed = False
                applied.append(1)
                super().apply(ops)  # the backend's own retry re-sends the applied batch

    lossy = LostReplyOnce(kv.backend)
    repo = KVSessionRepository(lossy)
    repo.create_session(_session())
    repo.create_agent("s1", _agent())
    lossy.armed = True
    repo.update_agent("s1", _agent(x=1))
    repo.update_agent("s1", _agent(x=2))
    assert applied == [1]
    assert repo.read_agent("s1", "a1").state == {"x": 2}  # type: ignore[union-attr]


def test_a_session_kept_alive_by_reads_keeps_its_incarnation(kv: Any) -> None:
    """touch_on_read re-expires the incarnation with the group, so writers are not refused later."""
    repo = KVSessionRepository(kv.backend, ttl=1, touch_on_read=True)
    repo.create_session(_session())
    repo.create_agent("s1", _agent())
    for _ in range(3):  # 1.5 s of reads only: longer than the records' 1.2 s
        kv.advance(0.5)
        assert repo.read_agent("s1", "a1") is not None
    repo.create_message("s1", "a1", _message(0, "m0"))  # still the same incarnation
    assert _texts(repo) == ["m0"]
