"""The repository's bulk writes used by ``import`` and ``migrate`` (put_session / put_agents / ...).

Run on every backend through the shared ``kv`` harness of tests/conftest.py.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from strands.types.session import SessionAgent, SessionMessage, SessionType

from kvsession.kv.errors import RecordExistsError
from kvsession.strands.errors import MessageExistsError, SessionExistsError
from kvsession.strands.records import Session
from kvsession.strands.repository import KVSessionRepository
from tests.cli.helpers import message
from tests.conftest import BackendHarness


def records(count: int) -> list[SessionMessage]:
    return [SessionMessage.from_message(message("user", {"text": f"m{i}"}), i) for i in range(count)]


def test_root_last_makes_the_session_appear_whole(kv: BackendHarness) -> None:
    repo = KVSessionRepository(kv.backend)
    agent = SessionAgent(agent_id="a", state={}, conversation_manager_state={})
    written = records(3)
    repo.put_agents("s", [agent])
    repo.put_messages("s", "a", written)
    repo.put_multi_agent_state("s", "graph", {"x": {"__bytes_encoded__": True, "data": "AA=="}})

    assert repo.list_sessions() == []
    assert repo.read_session("s") is None
    assert repo.list_messages("s", "a") == []  # no root: the session does not exist

    session = Session(session_id="s", session_type=SessionType.AGENT, updated_at="2025-01-02T03:04:05+00:00")
    repo.put_session(session)

    assert repo.list_sessions() == [("s", datetime.fromisoformat(session.updated_at).timestamp())]
    stored = repo.read_session("s")
    assert stored is not None and stored.updated_at == "2025-01-02T03:04:05+00:00"
    assert repo.list_messages("s", "a") == written
    assert repo.list_multi_agents("s") == ["graph"]
    assert repo.read_multi_agent("s", "graph") == {"x": {"__bytes_encoded__": True, "data": "AA=="}}
    repo.delete_session("s")
    assert repo.session_keys("s") == []


def test_existing_records_fail_the_whole_batch_unless_replace(kv: BackendHarness) -> None:
    repo = KVSessionRepository(kv.backend)
    repo.put_messages("s", "a", records(2))

    with pytest.raises(MessageExistsError) as caught:
        repo.put_messages("s", "a", records(3))
    assert caught.value.message_id in (0, 1)
    assert repo.backend.get(repo.keys.message("s", "a", 2)) is None  # nothing of the batch

    replaced = records(3)
    replaced[0].message = message("user", {"text": "new"})
    repo.put_messages("s", "a", replaced, replace=True)
    stored = repo.backend.get(repo.keys.message("s", "a", 0))
    assert stored is not None and b"new" in stored

    agent = SessionAgent(agent_id="a", state={}, conversation_manager_state={})
    repo.put_agents("s", [agent])
    with pytest.raises(RecordExistsError):  # the very same record again, from a new call: a conflict
        repo.put_agents("s", [agent])
    with pytest.raises(RecordExistsError):
        repo.put_agents("s", [SessionAgent(agent_id="a", state={"other": 1}, conversation_manager_state={})])
    repo.put_session(Session(session_id="s", session_type=SessionType.AGENT))
    with pytest.raises(SessionExistsError):
        repo.put_session(Session(session_id="s", session_type=SessionType.AGENT))
    repo.put_session(Session(session_id="s", session_type=SessionType.AGENT), replace=True)


def test_replace_overwrites_a_key_of_another_kind(kv: BackendHarness) -> None:
    repo = KVSessionRepository(kv.backend)
    key = repo.keys.message("s", "a", 0)
    kv.backend.index_add(key, {"not": 1.0})  # something else under the record's key

    repo.put_messages("s", "a", records(1), replace=True)

    assert kv.backend.get(key) is not None
