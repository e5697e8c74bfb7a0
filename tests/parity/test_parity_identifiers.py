"""Every id Strands accepts works as a session, agent and multi-agent id, and ids never share data.

Strands validates ids with ``strands._identifier.validate``, which refuses only path separators
(``FileSessionManager`` and ``S3SessionManager`` build paths from ids). Everything else is an id a
user may already have in File or S3: colons (``tenant:user-42``), spaces, braces, unicode (NFC and
NFD spellings are two ids, as they are two file names), the empty string, ``.`` and ``..``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import pytest
from strands import Agent
from strands._identifier import Identifier, validate
from strands.session.file_session_manager import FileSessionManager
from strands.types.exceptions import SessionException
from strands.types.session import SessionMessage

from kvsession.scripted import ScriptedModel
from kvsession.strands import KVSessionManager, KVSessionRepository
from tests.parity.helpers import Step, multi_agent, new_agent, new_session, outcome, text_message

IDS = [
    "plain-id",
    "tenant:user-42",
    "user 42",
    "a{b}",
    "x}",
    "{",
    "{{",
    "café",
    "cafe\u0301",
    "日本",
    "🙂🚀",
    "a:agent:b",
    "a:agent",
    "agent:b",
    "session:plain-id",
    "",
    ".",
    "..",
    "tab\there",
    "x" * 200,
]


def test_strands_accepts_every_id_used_here() -> None:
    for id_ in IDS:
        assert validate(id_, Identifier.SESSION) == id_
        assert validate(id_, Identifier.AGENT) == id_


def test_every_id_as_session_agent_and_multi_agent_id(repo: KVSessionRepository) -> None:
    problems: list[str] = []
    for index, id_ in enumerate(IDS):
        try:
            repo.create_session(new_session(id_))
            repo.create_agent(id_, new_agent(id_, owner=index))
            repo.create_message(id_, id_, text_message(0, f"owner {index}"))
            repo.create_multi_agent(id_, multi_agent(id_, {"id": id_, "owner": index}))
        except Exception as error:
            problems.append(f"{id_!r}: {type(error).__name__}: {error}")
    assert not problems, "\n".join(problems)

    for index, id_ in enumerate(IDS):
        session = repo.read_session(id_)
        assert session is not None and session.session_id == id_, repr(id_)
        agent = repo.read_agent(id_, id_)
        assert agent is not None and agent.agent_id == id_ and agent.state == {"owner": index}, repr(id_)
        messages = repo.list_messages(id_, id_)
        assert [m.message["content"] for m in messages] == [[{"text": f"owner {index}"}]], repr(id_)
        assert repo.read_multi_agent(id_, id_) == {"id": id_, "owner": index}, repr(id_)
        for other in IDS:
            if other != id_:
                assert repo.read_agent(id_, other) is None, (id_, other)
                assert repo.read_multi_agent(id_, other) is None, (id_, other)
                assert repo.list_messages(id_, other) == [], (id_, other)

    for index, id_ in enumerate(IDS):
        repo.delete_session(id_)
        assert repo.read_session(id_) is None, repr(id_)
        for later in IDS[index + 1 :]:
            agent = repo.read_agent(later, later)
            assert agent is not None, f"deleting {id_!r} removed {later!r}"
            assert len(repo.list_messages(later, later)) == 1, f"deleting {id_!r} touched {later!r}"


PAIRS = [("a", "b"), ("a", "agent:b"), ("a:agent", "b"), ("a:agent:b", "b"), ("a:agent:b", ""), ("", "a")]


def test_sessions_and_agents_whose_ids_would_concatenate_alike_stay_apart(repo: KVSessionRepository) -> None:
    for session_id in dict.fromkeys(session_id for session_id, _ in PAIRS):
        repo.create_session(new_session(session_id))
    for number, (session_id, agent_id) in enumerate(PAIRS):
        repo.create_agent(session_id, new_agent(agent_id, pair=number))
        for message_id in range(number + 1):
            repo.create_message(session_id, agent_id, text_message(message_id, f"pair {number}"))

    for number, (session_id, agent_id) in enumerate(PAIRS):
        agent = repo.read_agent(session_id, agent_id)
        assert agent is not None and agent.state == {"pair": number}
        texts = {m.message["content"][0].get("text") for m in repo.list_messages(session_id, agent_id)}
        assert texts == {f"pair {number}"}
        assert repo.count_messages(session_id, agent_id) == number + 1

    repo.delete_session("a")
    assert repo.read_agent("a", "b") is None
    for number, (session_id, agent_id) in enumerate(PAIRS):
        if session_id != "a":
            agent = repo.read_agent(session_id, agent_id)
            assert agent is not None and agent.state == {"pair": number}, (session_id, agent_id)


def _id_steps(id_: str) -> list[Step]:
    session = new_session(id_)
    message = text_message(0, id_)
    agent = new_agent(id_, id=id_)
    return [
        ("read missing", lambda r: r.read_session(id_)),
        ("create session", lambda r: r.create_session(session)),
        ("create again", lambda r: r.create_session(session)),
        ("read session", lambda r: r.read_session(id_)),
        ("create agent", lambda r: r.create_agent(id_, agent)),
        ("read agent", lambda r: r.read_agent(id_, id_)),
        ("create message", lambda r: r.create_message(id_, id_, message)),
        ("list messages", lambda r: r.list_messages(id_, id_)),
        ("create multi-agent", lambda r: r.create_multi_agent(id_, multi_agent(id_))),
        ("read multi-agent", lambda r: r.read_multi_agent(id_, id_)),
        ("delete", lambda r: r.delete_session(id_)),
        ("read deleted", lambda r: r.read_session(id_)),
        ("delete deleted", lambda r: r.delete_session(id_)),
    ]


def test_ids_give_what_file_gives(file_repo: FileSessionManager, repo: KVSessionRepository) -> None:
    differences = []
    for id_ in IDS:
        for label, step in _id_steps(id_):
            expected = outcome(functools.partial(step, file_repo))
            actual = outcome(functools.partial(step, repo))
            if expected != actual:
                differences.append(f"{id_!r} {label}: File {expected!r} != kvsession {actual!r}")
    assert not differences, "\n".join(differences)


@pytest.mark.parametrize(
    "session_id, agent_id", [("tenant:user-42", "a:agent:b"), ("", "日本 🙂"), ("..", "{")]
)
def test_an_agent_restores_under_any_ids(
    make_manager: Callable[..., KVSessionManager], session_id: str, agent_id: str
) -> None:
    history = [
        {"role": "user", "content": [{"text": "Hello"}]},
        {"role": "assistant", "content": [{"text": "Hi"}]},
    ]
    writer = make_manager(session_id)
    first = Agent(
        agent_id=agent_id,
        messages=history,  # type: ignore[arg-type]
        session_manager=writer,
        model=ScriptedModel(),
    )
    first.state.set("seen", True)
    writer.sync_agent(first)

    manager = make_manager(session_id)
    restored = Agent(agent_id=agent_id, session_manager=manager, model=ScriptedModel())
    assert [m["content"] for m in restored.messages] == [m["content"] for m in history]
    assert restored.state.get("seen") is True
    assert all(isinstance(m, SessionMessage) for m in manager.list_messages())
    with pytest.raises(SessionException):
        Agent(agent_id=agent_id, session_manager=manager, model=ScriptedModel())  # one agent per id
