"""The round-trip budget of DESIGN.md §6, counted with a counting wrapper around each backend.

Every backend method is one round trip on Valkey (proved by the conformance suite), so counting
calls counts round trips. Runs on every backend, Valkey included.
"""

from __future__ import annotations

from strands.types.session import SessionAgent, SessionMessage, SessionType

from kvsession.strands.records import Session
from kvsession.strands.repository import KVSessionRepository
from kvsession.testing import CountingBackend


def _message(i: int) -> SessionMessage:
    return SessionMessage.from_message({"role": "user", "content": [{"text": f"m{i}"}]}, i)


def _populate(repo: KVSessionRepository, n: int) -> None:
    repo.create_session(Session(session_id="s1", session_type=SessionType.AGENT))
    repo.create_agent("s1", SessionAgent(agent_id="a1", state={}, conversation_manager_state={}))
    for i in range(n):
        repo.create_message("s1", "a1", _message(i))


def test_append_is_one_round_trip(repo: KVSessionRepository, counting: CountingBackend) -> None:
    _populate(repo, 3)
    counting.reset()
    repo.create_message("s1", "a1", _message(3))
    assert counting.round_trips == 1


def test_restore_is_two_round_trips_whatever_n(repo: KVSessionRepository, counting: CountingBackend) -> None:
    _populate(repo, 300)
    for junk in range(500):
        counting.inner.set(f"noise:{junk}", b"x")
    for limit in (None, 1, 50):
        counting.reset()
        messages = repo.list_messages("s1", "a1", limit=limit)
        assert len(messages) == (limit or 300)
        assert counting.round_trips == 2


def test_delete_is_one_round_trip(repo: KVSessionRepository, counting: CountingBackend) -> None:
    """The budget is 2; the session's keys are listed server-side, so it takes 1."""
    _populate(repo, 200)
    counting.reset()
    repo.delete_session("s1")
    assert counting.round_trips == 1
    assert repo.session_keys("s1") == []


def test_create_session_is_one_round_trip_even_over_leftovers(
    repo: KVSessionRepository, counting: CountingBackend
) -> None:
    _populate(repo, 20)
    counting.inner.delete_many([repo.keys.session("s1")])  # as if the root had expired
    counting.reset()
    repo.create_session(Session(session_id="s1", session_type=SessionType.AGENT))
    # On a cluster the session's bucket of the sessions index is listed first (docs/keys.md).
    assert counting.round_trips == (2 if repo.keys.cluster else 1)
    assert repo.session_keys("s1") == [repo.keys.session("s1"), repo.keys.owned_keys("s1")]


def test_reads_of_one_record_are_one_round_trip(repo: KVSessionRepository, counting: CountingBackend) -> None:
    _populate(repo, 1)
    counting.reset()
    assert repo.read_agent("s1", "a1") is not None
    assert repo.read_message("s1", "a1", 0) is not None
    assert counting.round_trips == 2


def test_update_agent_does_not_read_when_it_knows_created_at(
    repo: KVSessionRepository, counting: CountingBackend
) -> None:
    _populate(repo, 0)
    counting.reset()
    repo.update_agent("s1", SessionAgent(agent_id="a1", state={"x": 1}, conversation_manager_state={}))
    assert counting.round_trips == 1


def test_update_message_reads_created_at_then_writes(
    repo: KVSessionRepository, counting: CountingBackend
) -> None:
    _populate(repo, 1)
    message = repo.read_message("s1", "a1", 0)
    assert message is not None
    counting.reset()
    repo.update_message("s1", "a1", message)
    assert counting.round_trips == 2
