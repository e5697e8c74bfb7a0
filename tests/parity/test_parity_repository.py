"""The repository contract Strands' File and S3 session tests check, on kvsession.

Mirrors ``tests/strands/session/test_file_session_manager.py`` and ``test_s3_session_manager.py``
(create/read/update/delete of sessions, agents, messages and multi-agent state, missing records,
pagination) plus the stricter rules kvsession promises: a create never overwrites, an update
keeps ``created_at``, records come back as the Strands types they were stored as.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from strands.session.repository_session_manager import RepositorySessionManager
from strands.types.exceptions import SessionException
from strands.types.session import Session, SessionMessage, SessionType

from kvsession.kv.protocol import KeyValueBackend
from kvsession.strands import KVSessionRepository
from kvsession.strands import Session as KVSession
from tests.parity.helpers import StubMultiAgent, multi_agent, new_agent, new_session, text_message


def test_sessions_come_back_as_stored(repo: KVSessionRepository) -> None:
    assert repo.read_session("s1") is None

    session = new_session("s1")
    created = repo.create_session(session)
    assert created == session and session == created

    read = repo.read_session("s1")
    assert read is not None
    assert type(read) is Session
    assert read == session and session == read
    assert read.updated_at == session.updated_at
    assert RepositorySessionManager(session_id="s1", session_repository=repo).session == session

    with_metadata = KVSession(
        session_id="s2", session_type=SessionType.AGENT, metadata={"user": "u-42", "tags": ["a", "b"]}
    )
    assert repo.create_session(with_metadata) == with_metadata
    assert repo.read_session("s2") == with_metadata

    repo.delete_session("s1")
    assert repo.read_session("s1") is None
    assert repo.read_agent("s1", "a1") is None
    with pytest.raises(SessionException):
        repo.delete_session("s1")
    with pytest.raises(SessionException):
        repo.delete_session("never-created")
    again = new_session("s1")
    assert repo.create_session(again) == again
    assert repo.read_session("s2") == with_metadata


def _snapshot(repo: KVSessionRepository) -> tuple[Any, ...]:
    return (
        repo.read_session("s1"),
        repo.read_agent("s1", "a1"),
        repo.list_messages("s1", "a1"),
        repo.read_multi_agent("s1", "team"),
    )


def test_creating_what_exists_raises_and_changes_nothing(repo: KVSessionRepository) -> None:
    session = new_session("s1")
    agent = new_agent("a1", mood="calm")
    message = text_message(0, "original")
    team = multi_agent("team", {"id": "team", "status": "executing"})
    repo.create_session(session)
    repo.create_agent("s1", agent)
    repo.create_message("s1", "a1", message)
    repo.create_multi_agent("s1", team)
    before = _snapshot(repo)

    attempts: dict[str, Callable[[], object]] = {
        "identical session": lambda: repo.create_session(session),
        "identical agent": lambda: repo.create_agent("s1", agent),
        "identical message": lambda: repo.create_message("s1", "a1", message),
        "identical multi-agent": lambda: repo.create_multi_agent("s1", team),
        "other session": lambda: repo.create_session(new_session("s1")),
        "other agent": lambda: repo.create_agent("s1", new_agent("a1", mood="angry")),
        "other message": lambda: repo.create_message("s1", "a1", text_message(0, "overwritten")),
        "other multi-agent": lambda: repo.create_multi_agent(
            "s1", multi_agent("team", {"id": "team", "status": "failed"})
        ),
    }
    problems = []
    for name, create in attempts.items():
        try:
            create()
        except SessionException:
            pass
        else:
            problems.append(f"{name}: no SessionException")
        if _snapshot(repo) != before:
            problems.append(f"{name}: changed what was stored")
    assert problems == []


def test_agents_read_update_and_keep_created_at(repo: KVSessionRepository) -> None:
    assert repo.read_agent("no-session", "a1") is None
    repo.create_session(new_session("s1"))
    assert repo.read_agent("s1", "a1") is None
    with pytest.raises(SessionException):
        repo.update_agent("s1", new_agent("a1"))
    assert repo.read_agent("s1", "a1") is None

    agent = new_agent("a1", key="value", nested={"list": [1, 2.5, None, True, "x"]})
    agent._internal_state = {"interrupt_state": {"interrupts": {}, "context": {}, "activated": False}}
    repo.create_agent("s1", agent)
    read = repo.read_agent("s1", "a1")
    assert read == agent

    update = new_agent("a1", key="updated")
    update.created_at = "2001-01-01T00:00:00+00:00"
    repo.update_agent("s1", update)
    stored = repo.read_agent("s1", "a1")
    assert stored is not None
    assert stored.state == {"key": "updated"}
    assert stored.created_at == agent.created_at
    assert stored._internal_state == {}


def test_messages_read_update_and_keep_created_at(repo: KVSessionRepository) -> None:
    repo.create_session(new_session("s1"))
    repo.create_agent("s1", new_agent("a1"))
    assert repo.read_message("s1", "a1", 999) is None
    assert repo.read_message("s1", "other", 0) is None
    assert repo.list_messages("s1", "a1") == []
    assert repo.list_messages("s1", "never-created") == []
    with pytest.raises(SessionException):
        repo.update_message("s1", "a1", text_message(0))
    assert repo.read_message("s1", "a1", 0) is None

    first = SessionMessage.from_message(
        {"role": "user", "content": [{"text": "Hello"}], "tracking_id": "durable-1"}, 0
    )
    repo.create_message("s1", "a1", first)
    repo.create_message("s1", "a1", text_message(1))
    read = repo.read_message("s1", "a1", 0)
    assert read == first
    assert type(read) is SessionMessage
    assert read is not None and read.to_message()["tracking_id"] == "durable-1"

    redacted = SessionMessage(
        message={"role": "user", "content": [{"text": "Updated content"}]},
        message_id=0,
        redact_message={"role": "user", "content": [{"text": "[redacted]"}]},
        created_at="2001-01-01T00:00:00+00:00",
    )
    repo.update_message("s1", "a1", redacted)
    stored = repo.read_message("s1", "a1", 0)
    assert stored is not None
    assert stored.created_at == first.created_at
    assert stored.message == {"role": "user", "content": [{"text": "Updated content"}]}
    assert stored.to_message() == {"role": "user", "content": [{"text": "[redacted]"}]}
    assert [m.message_id for m in repo.list_messages("s1", "a1")] == [0, 1]


def test_listing_is_numeric_order_with_limit_and_offset(repo: KVSessionRepository) -> None:
    repo.create_session(new_session("s1"))
    repo.create_agent("s1", new_agent("a1"))
    repo.create_agent("s1", new_agent("a2"))
    records = [text_message(i) for i in range(23)]
    for record in reversed(records[:12]):  # written out of order: the id decides the order
        repo.create_message("s1", "a1", record)
    for record in records[12:]:
        repo.create_message("s1", "a1", record)
    repo.create_message("s1", "a2", text_message(0, "other agent"))

    listed = repo.list_messages("s1", "a1")
    assert listed == records
    assert all(type(message) is SessionMessage for message in listed)
    for limit, offset in [(3, 0), (None, 5), (5, 5), (10, 20), (4, 23), (None, 40), (0, 3), (100, 0)]:
        window = repo.list_messages("s1", "a1", limit=limit, offset=offset)
        end = None if limit is None else offset + limit
        assert [m.message_id for m in window] == [m.message_id for m in records[offset:end]], (limit, offset)
    assert [m.message["content"] for m in repo.list_messages("s1", "a2")] == [[{"text": "other agent"}]]


def test_multi_agent_state_create_read_update(repo: KVSessionRepository) -> None:
    repo.create_session(new_session("s1"))
    assert repo.read_multi_agent("s1", "team") is None
    assert repo.read_multi_agent("no-session", "team") is None
    with pytest.raises(SessionException):
        repo.update_multi_agent("s1", multi_agent("team"))
    with pytest.raises(SessionException):  # not found wins over the encoding error
        repo.update_multi_agent("s1", multi_agent("team", {"id": "team", "bad": object()}))
    assert repo.read_multi_agent("s1", "team") is None

    state = {
        "id": "team",
        "status": "executing",
        "node_history": ["a", "b"],
        "blob": {"__bytes_encoded__": True, "data": "AAEC"},
    }
    repo.create_multi_agent("s1", multi_agent("team", state))
    assert repo.read_multi_agent("s1", "team") == state
    repo.update_multi_agent("s1", multi_agent("team", {"id": "team", "state": {"updated": "value"}}))
    assert repo.read_multi_agent("s1", "team") == {"id": "team", "state": {"updated": "value"}}


def test_session_manager_creates_or_restores_multi_agent_state(repo: KVSessionRepository) -> None:
    fresh = RepositorySessionManager(session_id="s1", session_repository=repo)
    first = StubMultiAgent("team", {"id": "team", "state": {"key": "value"}})
    fresh.initialize_multi_agent(first)  # type: ignore[arg-type]
    assert first.restored == []
    assert repo.read_multi_agent("s1", "team") == {"id": "team", "state": {"key": "value"}}
    first.state = {"id": "team", "state": {"restored": "data"}}
    fresh.sync_multi_agent(first)  # type: ignore[arg-type]

    resumed = RepositorySessionManager(session_id="s1", session_repository=repo)
    second = StubMultiAgent("team", {"id": "team", "state": {}})
    resumed.initialize_multi_agent(second)  # type: ignore[arg-type]
    assert second.restored == [{"id": "team", "state": {"restored": "data"}}]


def test_a_second_connection_reads_everything_back(
    kv: Any, codec: str, reconnect: Callable[[], KeyValueBackend]
) -> None:
    writer = KVSessionRepository(kv.backend, codec=codec)
    session = new_session("s1")
    writer.create_session(session)
    agent = new_agent("a1", cart={"tea": 2})
    writer.create_agent("s1", agent)
    records = [text_message(i) for i in range(12)]
    for record in records:
        writer.create_message("s1", "a1", record)
    writer.create_multi_agent("s1", multi_agent("team"))

    reader = KVSessionRepository(reconnect(), codec=codec)
    assert reader.read_session("s1") == session
    assert reader.read_agent("s1", "a1") == agent
    assert reader.list_messages("s1", "a1") == records
    assert reader.read_message("s1", "a1", 11) == records[11]
    assert reader.read_multi_agent("s1", "team") == {"id": "team", "state": {"step": 1}}
    reader.delete_session("s1")
    assert writer.read_session("s1") is None
    assert writer.list_messages("s1", "a1") == []
