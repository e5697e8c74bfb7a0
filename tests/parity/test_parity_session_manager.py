"""Strands' ``RepositorySessionManager`` semantics with kvsession underneath.

Mirrors ``tests/strands/session/test_repository_session_manager.py`` and the session tests of
``tests/strands/agent/test_agent.py``: a manager creates or reuses its session, creates or restores
each agent (state, conversation manager state, interrupt and model state, messages after the
conversation manager's offset), repairs broken tool-use pairs on restore, numbers appended
messages, writes the agent only when something changed, redacts, and keeps agent ids unique.
Also the kvsession manager's own ``list_messages()`` (every message of the session).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from strands import Agent
from strands.agent.conversation_manager import (
    NullConversationManager,
    SlidingWindowConversationManager,
    SummarizingConversationManager,
)
from strands.agent.state import AgentState
from strands.interrupt import _InterruptState
from strands.session.repository_session_manager import RepositorySessionManager
from strands.types.content import Message
from strands.types.exceptions import SessionException
from strands.types.session import SessionAgent, SessionMessage

from kvsession.scripted import ScriptedModel
from kvsession.strands import KVSessionManager, KVSessionRepository
from tests.parity.conftest import file_manager
from tests.parity.helpers import as_sent, new_session, stored_view, text_message

MakeManager = Callable[..., KVSessionManager]


def test_a_manager_creates_its_session_or_reuses_the_stored_one(
    repo: KVSessionRepository, make_manager: MakeManager
) -> None:
    assert repo.read_session("fresh") is None
    created = RepositorySessionManager(session_id="fresh", session_repository=repo)
    assert created._is_new_session is True
    stored = repo.read_session("fresh")
    assert stored is not None and stored.session_id == "fresh" and stored.session_type == "AGENT"

    existing = new_session("existing")
    repo.create_session(existing)
    reused = RepositorySessionManager(session_id="existing", session_repository=repo)
    assert reused._is_new_session is False
    assert reused.session == existing

    ours = make_manager("existing")
    assert ours.session == existing
    assert make_manager("another").read_session() is not None


def _stored_agent(repo: KVSessionRepository, session_id: str, agent: SessionAgent, texts: list[str]) -> None:
    repo.create_agent(session_id, agent)
    for index, text in enumerate(texts):
        repo.create_message(session_id, agent.agent_id, text_message(index, text))


def test_initialize_restores_state_internal_state_and_messages(
    repo: KVSessionRepository, make_manager: MakeManager
) -> None:
    repo.create_session(new_session("s1"))
    interrupt_state = {"interrupts": {}, "context": {"test": "init"}, "activated": False}
    _stored_agent(
        repo,
        "s1",
        SessionAgent(
            agent_id="plain",
            state={"key": "value"},
            conversation_manager_state=SlidingWindowConversationManager().get_state(),
            _internal_state={"interrupt_state": interrupt_state, "model_state": {"response_id": "r-1"}},
        ),
        ["Hello", "Hi"],
    )
    summarizing = SummarizingConversationManager()
    summarizing.removed_message_count = 1
    summarizing._summary_message = {"role": "assistant", "content": [{"text": "summary"}]}
    _stored_agent(
        repo,
        "s1",
        SessionAgent(agent_id="summarized", state={}, conversation_manager_state=summarizing.get_state()),
        ["dropped", "kept"],
    )

    manager = make_manager("s1")
    plain = Agent(agent_id="plain", session_manager=manager, model=ScriptedModel())
    assert plain.state.get() == {"key": "value"}
    assert as_sent(plain.messages) == [
        {"role": "user", "content": [{"text": "Hello"}]},
        {"role": "assistant", "content": [{"text": "Hi"}]},
    ]
    assert plain._interrupt_state == _InterruptState(interrupts={}, context={"test": "init"}, activated=False)
    assert plain._model_state == {"response_id": "r-1"}

    restored = Agent(
        agent_id="summarized",
        session_manager=manager,
        conversation_manager=SummarizingConversationManager(),
        model=ScriptedModel(),
    )
    assert [m["content"][0].get("text") for m in restored.messages] == ["summary", "kept"]
    assert restored.conversation_manager.removed_message_count == 1

    with pytest.raises(SessionException, match="unique"):
        Agent(agent_id="plain", session_manager=manager, model=ScriptedModel())


class StatefulModel(ScriptedModel):
    """A model that keeps the conversation server-side (Strands then restores no messages)."""

    @property
    def stateful(self) -> bool:
        return True


def test_restore_repairs_tool_pairs_and_skips_messages_for_stateful_models(
    repo: KVSessionRepository, make_manager: MakeManager
) -> None:
    repo.create_session(new_session("s1"))
    sliding = SlidingWindowConversationManager().get_state()
    repo.create_agent("s1", SessionAgent(agent_id="broken", state={}, conversation_manager_state=sliding))
    orphan_use: Message = {
        "role": "assistant",
        "content": [{"toolUse": {"toolUseId": "orphan-1", "name": "tool", "input": {}}}],
    }
    orphan_result: Message = {
        "role": "user",
        "content": [{"toolResult": {"toolUseId": "gone", "status": "success", "content": [{"text": "x"}]}}],
    }
    follow_up: Message = {"role": "user", "content": [{"text": "next"}]}
    for index, message in enumerate([orphan_result, orphan_use, follow_up]):
        repo.create_message("s1", "broken", SessionMessage(message=message, message_id=index))
    repo.create_agent(
        "s1",
        SessionAgent(
            agent_id="server-side",
            state={},
            conversation_manager_state=NullConversationManager().get_state(),
            _internal_state={"model_state": {"response_id": "resp-1"}},
        ),
    )
    repo.create_message("s1", "server-side", text_message(0, "Hello"))

    manager = make_manager("s1")
    repaired = Agent(agent_id="broken", session_manager=manager, model=ScriptedModel())
    assert [message["role"] for message in repaired.messages] == ["assistant", "user", "user"]
    synthesized = repaired.messages[1]["content"][0]["toolResult"]
    assert (synthesized["toolUseId"], synthesized["status"]) == ("orphan-1", "error")
    assert len(repo.list_messages("s1", "broken")) == 3  # the repair is in memory only

    server_side = Agent(agent_id="server-side", session_manager=manager, model=StatefulModel())
    assert server_side.messages == []
    assert server_side._model_state == {"response_id": "resp-1"}
    assert len(repo.list_messages("s1", "server-side")) == 1


def test_append_numbers_messages_and_sync_writes_only_changes(make_manager: MakeManager) -> None:
    manager = make_manager("s1")
    agent = Agent(
        agent_id="a1",
        session_manager=manager,
        messages=[{"role": "user", "content": [{"text": "Hello!"}]}],
        model=ScriptedModel(),
    )
    for text in ["one", "two"]:
        message: Message = {"role": "assistant", "content": [{"text": text}]}
        agent.messages.append(message)
        manager.append_message(message, agent)
    assert [(m.message_id, m.message["content"]) for m in manager.repository.list_messages("s1", "a1")] == [
        (0, [{"text": "Hello!"}]),
        (1, [{"text": "one"}]),
        (2, [{"text": "two"}]),
    ]

    writes: list[SessionAgent] = []
    update_agent = manager.repository.update_agent

    def counting_update(session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None:
        writes.append(session_agent)
        update_agent(session_id, session_agent, **kwargs)

    manager.repository.update_agent = counting_update  # type: ignore[method-assign]
    changes: list[tuple[str, Callable[[], object]]] = [
        ("first sync", lambda: None),
        ("state", lambda: agent.state.set("key", "value")),
        ("interrupt state", agent._interrupt_state.activate),
        ("conversation manager", lambda: setattr(agent.conversation_manager, "removed_message_count", 5)),
        ("model state", lambda: agent._model_state.__setitem__("response_id", "resp-9")),
    ]
    for name, change in changes:
        change()
        manager.sync_agent(agent)
        assert len(writes) == 1, f"{name}: {len(writes)} writes"
        manager.sync_agent(agent)
        assert len(writes) == 1, f"{name}: unchanged agent written again"
        writes.clear()

    stored = manager.read_agent("s1", "a1")
    assert stored is not None
    assert stored.state == {"key": "value"}
    assert stored.conversation_manager_state["removed_message_count"] == 5
    assert stored._internal_state["interrupt_state"]["activated"] is True
    assert stored._internal_state["model_state"] == {"response_id": "resp-9"}


def test_redaction_rewrites_every_copy_and_a_restore_sees_it(
    make_manager: MakeManager, tmp_path: Path
) -> None:
    """Also differential: File restores the same conversation."""
    restored: list[list[dict[str, Any]]] = []
    for make in (make_manager, lambda session_id: file_manager(session_id, tmp_path)):
        manager = make("s1")
        agent = Agent(
            agent_id="a",
            conversation_manager=NullConversationManager(),
            session_manager=manager,
            model=ScriptedModel(),
        )
        with pytest.raises(SessionException):
            manager.redact_latest_message({"role": "user", "content": [{"text": "x"}]}, agent)
        secret: Message = {"role": "user", "content": [{"text": "secret"}]}
        manager.append_message(secret, agent)
        manager.append_message(secret, agent)  # a retried prompt stores the same dict twice
        secret["content"] = [{"text": "[redacted]"}]
        manager.redact_latest_message(secret, agent)
        again = Agent(
            agent_id="a",
            conversation_manager=NullConversationManager(),
            session_manager=make("s1"),
            model=ScriptedModel(),
        )
        restored.append(as_sent(again.messages))
    ours, files = restored
    assert ours == files
    assert ours == [{"role": "user", "content": [{"text": "[redacted]"}]}] * 2


def test_list_messages_of_the_manager_are_session_messages_you_can_index(
    make_manager: MakeManager, repo: KVSessionRepository
) -> None:
    manager = make_manager("s1")
    first = Agent(agent_id="first", session_manager=manager, model=ScriptedModel())
    second = Agent(agent_id="second", session_manager=manager, model=ScriptedModel())
    for index in range(12):
        owner = first if index % 3 else second
        message: Message = {
            "role": "user" if index % 2 == 0 else "assistant",
            "content": [{"text": f"t{index}"}],
        }
        owner.messages.append(message)
        manager.append_message(message, owner)

    listed = manager.list_messages()
    assert sorted(m.message["content"][0].get("text", "") for m in listed) == sorted(
        f"t{i}" for i in range(12)
    )
    for item in listed:
        assert isinstance(item, SessionMessage)
        plain = SessionMessage(
            message=item.message,
            message_id=item.message_id,
            redact_message=item.redact_message,
            created_at=item.created_at,
            updated_at=item.updated_at,
        )
        assert item == plain and plain == item
        indexable: Any = item
        assert indexable["role"] == item.message["role"] == indexable.role
        assert indexable["content"] == item.message["content"] == indexable.content

    per_agent = repo.list_messages("s1", "first")
    assert [type(m) for m in per_agent] == [SessionMessage] * 8
    assert stored_view(per_agent) == stored_view(manager.list_messages("s1", "first"))
    assert stored_view(manager.list_messages("s1", "first", limit=3, offset=2)) == stored_view(per_agent[2:5])


@dataclass
class PlainLocalAgent:
    """An agent that is not a ``strands.Agent`` (as ``BidiAgent``): id, messages and state only."""

    agent_id: str
    messages: list[Message] = field(default_factory=list)
    state: AgentState = field(default_factory=AgentState)
    storage: None = None


def test_an_agent_that_is_not_a_strands_agent_is_written_on_every_sync(make_manager: MakeManager) -> None:
    manager = make_manager("voice")
    agent = PlainLocalAgent("bidi-1", [{"role": "user", "content": [{"text": "Hello from bidi!"}]}])
    agent.state.set("key", "value")
    local: Any = agent
    manager.initialize(local)
    stored = manager.read_agent("voice", "bidi-1")
    assert stored is not None
    assert (stored.state, stored.conversation_manager_state) == ({"key": "value"}, {})

    reply: Message = {"role": "assistant", "content": [{"text": "Response"}]}
    agent.messages.append(reply)
    manager.append_message(reply, local)
    writes: list[SessionAgent] = []
    update_agent = manager.repository.update_agent

    def counting_update(session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None:
        writes.append(session_agent)
        update_agent(session_id, session_agent, **kwargs)

    manager.repository.update_agent = counting_update  # type: ignore[method-assign]
    agent.state = AgentState({"updated": "state"})
    manager.sync_agent(local)
    manager.sync_agent(local)
    assert len(writes) == 2

    restored = PlainLocalAgent("bidi-1")
    make_manager("voice").initialize(restored)  # type: ignore[arg-type]
    assert restored.state.get() == {"updated": "state"}
    assert as_sent(restored.messages) == as_sent(agent.messages)
