"""Any Strands message round-trips exactly through every backend, with either codec."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from strands.types.session import SessionAgent, SessionMessage, SessionType

from kvsession.kv.protocol import KeyValueBackend
from kvsession.strands.records import Session, metadata_of
from kvsession.strands.repository import KVSessionRepository
from tests.strategies import assert_identical, session_agents, session_messages, states

PROPERTY_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    # One backend per test function is intended: each example writes new ids into it.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


# Hypothesis runs many examples on one backend: each example writes under fresh session ids.
SESSION_NUMBERS = itertools.count()


@PROPERTY_SETTINGS
@given(message=session_messages())
def test_any_message_round_trips(backend: KeyValueBackend, message: SessionMessage) -> None:
    repos = {codec: KVSessionRepository(backend, codec=codec) for codec in ("json", "msgpack")}
    for codec, repo in repos.items():
        session_id = f"p{next(SESSION_NUMBERS)}"
        repo.create_session(Session(session_id=session_id, session_type=SessionType.AGENT))
        repo.create_agent(session_id, SessionAgent(agent_id="a1", state={}, conversation_manager_state={}))
        repo.create_message(session_id, "a1", message)
        for reader in repos.values():  # each codec reads what the other wrote
            read = reader.list_messages(session_id, "a1")[0]
            assert read.message_id == message.message_id, codec
            assert_identical(read.message, message.message)
            assert_identical(read.redact_message, message.redact_message)
            assert read.created_at == message.created_at


@PROPERTY_SETTINGS
@given(agent=session_agents(), metadata=states())
def test_any_agent_and_session_metadata_round_trip(
    backend: KeyValueBackend, agent: SessionAgent, metadata: dict[str, object]
) -> None:
    for codec in ("json", "msgpack"):
        repo = KVSessionRepository(backend, codec=codec)
        session_id = f"p{next(SESSION_NUMBERS)}"
        repo.create_session(Session(session_id=session_id, session_type=SessionType.AGENT, metadata=metadata))
        repo.create_agent(session_id, agent)
        read_agent = repo.read_agent(session_id, agent.agent_id)
        read_session = repo.read_session(session_id)
        assert read_agent is not None and read_session is not None
        assert_identical(read_agent.state, agent.state)
        assert_identical(read_agent.conversation_manager_state, agent.conversation_manager_state)
        assert_identical(metadata_of(read_session), metadata)
