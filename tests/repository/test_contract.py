"""The repository contract: Strands' SessionRepository semantics on every backend."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Literal

import pytest
from strands.types.exceptions import SessionException
from strands.types.session import SessionAgent, SessionMessage, SessionType

from kvsession.kv.errors import InvalidIdError, NotFoundError
from kvsession.kv.memory import MemoryBackend
from kvsession.kv.protocol import KeyValueBackend
from kvsession.strands.errors import IncompleteSessionError, MessageExistsError, SessionExistsError
from kvsession.strands.records import Session, metadata_of
from kvsession.strands.repository import KVSessionRepository
from kvsession.testing import CountingBackend


def _session(sid: str = "s1", **metadata: object) -> Session:
    return Session(session_id=sid, session_type=SessionType.AGENT, metadata=dict(metadata))


def _agent(aid: str = "a1", **state: object) -> SessionAgent:
    return SessionAgent(agent_id=aid, state=dict(state), conversation_manager_state={})


def _message(i: int, text: str | None = None) -> SessionMessage:
    role: Literal["user", "assistant"] = "user" if i % 2 == 0 else "assistant"
    return SessionMessage.from_message({"role": role, "content": [{"text": text or f"m{i}"}]}, i)


def _populate(repo: KVSessionRepository, n: int, sid: str = "s1", aid: str = "a1") -> None:
    repo.create_session(_session(sid))
    repo.create_agent(sid, _agent(aid))
    for i in range(n):
        repo.create_message(sid, aid, _message(i))


def test_session_round_trip_with_metadata(repo: KVSessionRepository) -> None:
    created = repo.create_session(_session("s1", user="u-42", tags=["a", "b"]))
    read = repo.read_session("s1")
    assert read is not None
    assert read.session_id == "s1"
    assert read.session_type == SessionType.AGENT
    assert metadata_of(read) == {"user": "u-42", "tags": ["a", "b"]}
    assert read.created_at == created.created_at
    assert repo.read_session("missing") is None


def test_create_existing_session_raises_session_exception(repo: KVSessionRepository) -> None:
    repo.create_session(_session("s1", v=1))
    with pytest.raises(SessionExistsError) as info:
        repo.create_session(_session("s1", v=2))
    assert isinstance(info.value, SessionException)
    assert "s1" in str(info.value)
    read = repo.read_session("s1")
    assert read is not None and metadata_of(read) == {"v": 1}


def test_read_session_returns_the_record_and_last_active_moves_on_every_write(
    repo: KVSessionRepository,
) -> None:
    created = repo.create_session(_session())
    first = repo.read_session("s1")
    active = repo.last_active("s1")
    time.sleep(0.002)
    repo.create_agent("s1", _agent())
    repo.create_message("s1", "a1", _message(0))
    assert repo.read_session("s1") == first == created  # as Strands' own repositories
    later = repo.last_active("s1")
    assert active is not None and later is not None and later > active
    assert repo.last_active("nope") is None


def test_update_session_metadata(repo: KVSessionRepository) -> None:
    repo.create_session(_session(v=1))
    session = repo.read_session("s1")
    assert isinstance(session, Session)  # created with metadata: read back as kvsession's Session
    session.metadata["v"] = 2
    repo.update_session(session)
    again = repo.read_session("s1")
    assert again is not None and metadata_of(again) == {"v": 2}
    with pytest.raises(NotFoundError):
        repo.update_session(_session("nope"))


def test_agent_create_read_update_keeps_created_at(repo: KVSessionRepository) -> None:
    repo.create_session(_session())
    agent = _agent(counter=1)
    repo.create_agent("s1", agent)
    read = repo.read_agent("s1", "a1")
    assert read is not None and read.state == {"counter": 1}
    fresh = _agent(counter=2)
    fresh.created_at = "2000-01-01T00:00:00+00:00"
    repo.update_agent("s1", fresh)
    updated = repo.read_agent("s1", "a1")
    assert updated is not None
    assert updated.state == {"counter": 2}
    assert updated.created_at == agent.created_at
    assert repo.read_agent("s1", "missing") is None


def test_update_agent_keeps_created_at_in_a_new_repository(backend: KeyValueBackend) -> None:
    first = KVSessionRepository(backend)
    first.create_session(_session())
    agent = _agent()
    first.create_agent("s1", agent)
    other = KVSessionRepository(backend)
    other.update_agent("s1", _agent(x=1))
    read = other.read_agent("s1", "a1")
    assert read is not None and read.created_at == agent.created_at and read.state == {"x": 1}


def test_update_missing_agent_raises(repo: KVSessionRepository) -> None:
    repo.create_session(_session())
    with pytest.raises(NotFoundError) as info:
        repo.update_agent("s1", _agent("ghost"))
    assert isinstance(info.value, SessionException)
    assert "ghost" in str(info.value)


def test_messages_in_order_with_limit_and_offset(repo: KVSessionRepository) -> None:
    _populate(repo, 12)
    texts = [m.message["content"][0]["text"] for m in repo.list_messages("s1", "a1")]
    assert texts == [f"m{i}" for i in range(12)]
    page = repo.list_messages("s1", "a1", limit=3, offset=4)
    assert [m.message_id for m in page] == [4, 5, 6]
    assert repo.list_messages("s1", "a1", offset=20) == []
    assert repo.list_messages("s1", "a1", limit=0) == []
    assert repo.list_messages("s1", "nobody") == []
    assert repo.count_messages("s1", "a1") == 12


def test_message_ids_order_numerically_not_lexically(repo: KVSessionRepository) -> None:
    _populate(repo, 0)
    for i in (10, 2, 1, 100, 0):
        repo.create_message("s1", "a1", _message(i))
    assert [m.message_id for m in repo.list_messages("s1", "a1")] == [0, 1, 2, 10, 100]


def test_read_and_update_message(repo: KVSessionRepository) -> None:
    _populate(repo, 2)
    message = repo.read_message("s1", "a1", 1)
    assert message is not None and message.message["content"][0]["text"] == "m1"
    message.redact_message = {"role": "assistant", "content": [{"text": "[redacted]"}]}
    repo.update_message("s1", "a1", message)
    again = repo.read_message("s1", "a1", 1)
    assert again is not None
    assert again.to_message()["content"][0]["text"] == "[redacted]"
    assert again.created_at == message.created_at
    assert repo.read_message("s1", "a1", 9) is None
    with pytest.raises(NotFoundError):
        repo.update_message("s1", "a1", _message(9))


def test_second_writer_of_a_message_id_is_refused_and_overwrites_nothing(repo: KVSessionRepository) -> None:
    _populate(repo, 1)
    with pytest.raises(MessageExistsError) as info:
        repo.create_message("s1", "a1", _message(0, text="intruder"))
    error = info.value
    assert (error.session_id, error.agent_id, error.message_id) == ("s1", "a1", 0)
    assert isinstance(error, SessionException)
    assert all(part in str(error) for part in ("s1", "a1", "message_id=<0>"))
    stored = repo.read_message("s1", "a1", 0)
    assert stored is not None and stored.message["content"][0]["text"] == "m0"
    assert repo.count_messages("s1", "a1") == 1


def test_concurrent_writers_exactly_one_wins(backend: KeyValueBackend) -> None:
    repo = KVSessionRepository(backend)
    _populate(repo, 0)
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def write(n: int) -> None:
        barrier.wait()
        try:
            repo.create_message("s1", "a1", _message(0, text=f"writer-{n}"))
            outcomes.append("won")
        except MessageExistsError:
            outcomes.append("refused")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused"] * 7 + ["won"]
    assert repo.count_messages("s1", "a1") == 1


@pytest.mark.parametrize(
    "bad",
    ["x" * 257, "lone\ud800surrogate", 42, None, b"bytes"],
)
def test_invalid_ids_raise_before_touching_the_backend(counting: CountingBackend, bad: Any) -> None:
    repo = KVSessionRepository(counting)
    calls: list[Callable[[], object]] = [
        lambda: repo.create_session(_session(bad)),
        lambda: repo.read_session(bad),
        lambda: repo.delete_session(bad),
        lambda: repo.create_agent("s1", _agent(bad)),
        lambda: repo.read_agent(bad, "a1"),
        lambda: repo.create_message("s1", bad, _message(0)),
        lambda: repo.list_messages(bad, "a1"),
        lambda: repo.read_message("s1", bad, 0),
    ]
    for call in calls:
        with pytest.raises(InvalidIdError) as info:
            call()
        assert isinstance(info.value, ValueError)
        assert repr(bad) in str(info.value)
    assert counting.round_trips == 0


@pytest.mark.parametrize(
    "bad",
    [-1, 2**53, 10**400, 10**5000, True, 1.0, "1"],
    ids=["negative", "2**53", "10**400", "10**5000", "bool", "float", "str"],
)
def test_invalid_message_id(repo: KVSessionRepository, counting: CountingBackend, bad: object) -> None:
    # Message ids are index scores (doubles): exact only up to 2**53 - 1. A huge int is named by its
    # size (str() of a 5,000-digit int raises ValueError).
    _populate(repo, 0)
    counting.reset()
    calls: list[Callable[[], object]] = [
        lambda: repo.read_message("s1", "a1", bad),  # type: ignore[arg-type]
        lambda: repo.create_message("s1", "a1", SessionMessage({"role": "user", "content": []}, bad)),  # type: ignore[arg-type]
    ]
    for call in calls:
        with pytest.raises(InvalidIdError, match="message_id"):
            call()
    assert counting.round_trips == 0
    repo.create_message("s1", "a1", _message(2**53 - 1))
    assert [m.message_id for m in repo.list_messages("s1", "a1")] == [2**53 - 1]


def test_unicode_ids_are_fine(repo: KVSessionRepository) -> None:
    _populate(repo, 2, sid="user-42-ü-日本", aid="agent-🙂")
    assert len(repo.list_messages("user-42-ü-日本", "agent-🙂")) == 2


def test_delete_session_removes_every_key(repo: KVSessionRepository, counting: CountingBackend) -> None:
    _populate(repo, 5)
    _populate(repo, 2, sid="other")
    owned = repo.session_keys("s1")
    assert repo.keys.session("s1") in owned
    repo.delete_session("s1")
    assert repo.read_session("s1") is None
    assert repo.list_messages("s1", "a1") == []
    assert not any(counting.inner.exists(key) for key in owned)
    assert [sid for sid, _ in repo.list_sessions()] == ["other"]
    assert len(repo.list_messages("other", "a1")) == 2
    with pytest.raises(NotFoundError):
        repo.delete_session("s1")


def test_recreated_session_does_not_inherit_leftovers(backend: KeyValueBackend) -> None:
    repo = KVSessionRepository(backend)
    _populate(repo, 3)
    # Simulate an expired root with leftovers still present (e.g. keys that outlived it).
    backend.delete_many([repo.keys.session("s1")])
    assert repo.read_session("s1") is None
    assert repo.list_messages("s1", "a1") == []
    repo.create_session(_session())
    repo.create_agent("s1", _agent())
    repo.create_message("s1", "a1", _message(0, text="new life"))
    assert [m.message["content"][0]["text"] for m in repo.list_messages("s1", "a1")] == ["new life"]


def test_missing_indexed_record_never_restores_half_a_conversation(backend: KeyValueBackend) -> None:
    repo = KVSessionRepository(backend)
    _populate(repo, 4)
    backend.delete_many([repo.keys.message("s1", "a1", 2)])
    with pytest.raises(IncompleteSessionError) as info:
        repo.list_messages("s1", "a1")
    assert info.value.missing_keys == [repo.keys.message("s1", "a1", 2)]
    assert isinstance(info.value, SessionException)
    # Pages that do not touch the hole still read.
    assert [m.message_id for m in repo.list_messages("s1", "a1", limit=2)] == [0, 1]


def test_list_sessions_most_recent_first(repo: KVSessionRepository) -> None:
    for sid in ("a", "b", "c"):
        repo.create_session(_session(sid))
    repo.create_agent("a", _agent())
    assert [sid for sid, _ in repo.list_sessions()] == ["a", "c", "b"]
    assert [sid for sid, _ in repo.list_sessions(limit=1)] == ["a"]


def test_two_agents_in_one_session(repo: KVSessionRepository) -> None:
    repo.create_session(_session())
    for aid in ("alpha", "beta"):
        repo.create_agent("s1", _agent(aid))
        for i in range(3):
            repo.create_message("s1", aid, _message(i, text=f"{aid}-{i}"))
    assert repo.list_agents("s1") == ["alpha", "beta"]
    assert [m.message["content"][0]["text"] for m in repo.list_messages("s1", "beta")] == [
        "beta-0",
        "beta-1",
        "beta-2",
    ]


class _FakeMultiAgent:
    def __init__(self, ident: str, state: dict[str, object]) -> None:
        self.id = ident
        self.state = state

    def serialize_state(self) -> dict[str, object]:
        return dict(self.state)


def test_multi_agent_state(repo: KVSessionRepository) -> None:
    repo.create_session(_session())
    marked = {"__bytes_encoded__": True, "data": "AP8="}  # as Strands' serialize_state() marks bytes
    swarm = _FakeMultiAgent("swarm", {"status": "running", "node_history": ["a"], "blob": marked})
    repo.create_multi_agent("s1", swarm)  # type: ignore[arg-type]
    assert repo.read_multi_agent("s1", "swarm") == swarm.state
    swarm.state["status"] = "completed"
    repo.update_multi_agent("s1", swarm)  # type: ignore[arg-type]
    read = repo.read_multi_agent("s1", "swarm")
    assert read is not None and read["status"] == "completed"
    assert repo.read_multi_agent("s1", "graph") is None
    with pytest.raises(NotFoundError):
        repo.update_multi_agent("s1", _FakeMultiAgent("graph", {}))  # type: ignore[arg-type]
    assert repo.keys.multi_agent("s1", "swarm") in repo.session_keys("s1")


def test_codec_switch_keeps_old_data_readable(backend: KeyValueBackend) -> None:
    KVSessionRepository(backend, codec="json").create_session(_session(v="json"))
    writer = KVSessionRepository(backend, codec="msgpack")
    writer.create_agent("s1", _agent())
    writer.create_message("s1", "a1", _message(0))
    reader = KVSessionRepository(backend, codec="json")
    session = reader.read_session("s1")
    assert session is not None and metadata_of(session) == {"v": "json"}
    assert [m.message_id for m in reader.list_messages("s1", "a1")] == [0]


def test_prefix_namespaces_every_key(backend: KeyValueBackend) -> None:
    repo = KVSessionRepository(backend, prefix="app")
    _populate(repo, 1)
    assert all(key.startswith("app:") for key in repo.session_keys("s1"))
    assert KVSessionRepository(backend).read_session("s1") is None


def test_memory_is_a_valid_target_without_a_server() -> None:
    repo = KVSessionRepository(MemoryBackend())
    _populate(repo, 1)
    assert len(repo.list_messages("s1", "a1")) == 1
