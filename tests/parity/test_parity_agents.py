"""Real ``strands.Agent``s with a ``ScriptedModel``: kvsession restores what ``FileSessionManager`` restores.

Mirrors the session tests of the SDK's ``tests/strands/agent/test_agent.py`` and its integration
tests (``tests_integ``: session restore, interrupts, guardrail redaction, sliding-window restore,
several agents in one session). Each scenario runs twice, once over Strands' File store and once
over kvsession (restoring through a second connection, as a second worker would), and the two
runs must agree on everything a user can see: the conversation before and after the restore,
what the model is sent next, agent state, conversation manager and interrupt state, stored records.
"""

from __future__ import annotations

from typing import Any

from strands import Agent, tool
from strands.agent.conversation_manager import SlidingWindowConversationManager
from strands.session.repository_session_manager import RepositorySessionManager
from strands.types.interrupt import InterruptResponseContent
from strands.types.tools import ToolContext

from kvsession.scripted import Reply, ScriptedModel, Step, ToolCall, recall, tool_result_texts
from tests.parity.conftest import Store
from tests.parity.helpers import as_sent, deep_differences, stored_view, without_tracking_ids


@tool(context=True)
def remember(fact: str, tool_context: ToolContext) -> str:
    """Keep a fact in the agent's state.

    Args:
        fact: What to keep.
        tool_context: Injected by Strands.
    """
    facts = [*(tool_context.agent.state.get("facts") or []), fact]
    tool_context.agent.state.set("facts", facts)
    return f"{len(facts)} facts kept"


@tool(context=True)
def delete_files(path: str, tool_context: ToolContext) -> str:
    """Delete files, once a human approved it.

    Args:
        path: What to delete.
        tool_context: Injected by Strands.
    """
    approval = tool_context.interrupt("approve-delete", reason={"path": path})
    return f"deleted {path}" if approval == "yes" else f"kept {path}"


def _agent(
    manager: RepositorySessionManager, script: list[Step], **kwargs: Any
) -> tuple[Agent, ScriptedModel]:
    model = ScriptedModel(script, fallback=recall)
    agent = Agent(model=model, session_manager=manager, callback_handler=None, **kwargs)
    return agent, model


def _view(agent: Agent, manager: RepositorySessionManager) -> dict[str, Any]:
    """Everything a user can see of an agent and of what its session stored."""
    stored = manager.session_repository.read_agent(manager.session_id, agent.agent_id)
    assert stored is not None
    return {
        "messages": as_sent(agent.messages),
        "state": agent.state.get(),
        "conversation manager": agent.conversation_manager.get_state(),
        "interrupt state": without_tracking_ids(agent._interrupt_state.to_dict()),
        "stored state": stored.state,
        "stored conversation manager": stored.conversation_manager_state,
        "stored internal state": without_tracking_ids(stored._internal_state),
        "stored messages": stored_view(
            manager.session_repository.list_messages(manager.session_id, agent.agent_id)
        ),
    }


def _compare(runs: dict[str, dict[str, Any]]) -> list[str]:
    return deep_differences(runs["file"], runs["kvsession"])


def test_sliding_window_conversation_restores_like_file(stores: dict[str, Store]) -> None:
    runs: dict[str, dict[str, Any]] = {}
    for name, store in stores.items():

        def window() -> SlidingWindowConversationManager:
            return SlidingWindowConversationManager(window_size=4, should_truncate_results=False)

        manager = store("chat", False)
        agent, _ = _agent(
            manager,
            [ToolCall("remember", {"fact": "likes tea"}), lambda m: f"Noted: {tool_result_texts(m)[-1]}."],
            agent_id="assistant",
            tools=[remember],
            conversation_manager=window(),
        )
        agent("I like tea.")
        agent("And biscuits.")
        agent("What do I like?")
        run = {f"live {key}": value for key, value in _view(agent, manager).items()}
        assert agent.conversation_manager.removed_message_count > 0, "the window never slid"

        restored_manager = store("chat", True)
        restored, model = _agent(
            restored_manager, [], agent_id="assistant", tools=[remember], conversation_manager=window()
        )
        run.update({f"restored {key}": value for key, value in _view(restored, restored_manager).items()})
        restored("Anything else?")
        run["model was sent"] = as_sent(model.calls[-1].messages)
        run.update({f"continued {key}": value for key, value in _view(restored, restored_manager).items()})
        runs[name] = run
    differences = _compare(runs)
    assert not differences, "\n".join(differences)
    assert runs["kvsession"]["restored messages"] == runs["kvsession"]["live messages"]


def test_an_interrupted_tool_resumes_in_a_new_worker_like_file(stores: dict[str, Store]) -> None:
    runs: dict[str, dict[str, Any]] = {}
    for name, store in stores.items():
        manager = store("ops", False)
        agent, _ = _agent(
            manager, [ToolCall("delete_files", {"path": "/tmp/x"})], agent_id="ops", tools=[delete_files]
        )
        result = agent("Clean up /tmp/x.")
        assert result.stop_reason == "interrupt"
        assert result.interrupts is not None
        (interrupt,) = result.interrupts
        run = {f"interrupted {key}": value for key, value in _view(agent, manager).items()}
        run["interrupt"] = (interrupt.name, interrupt.reason)

        restored_manager = store("ops", True)
        restored, model = _agent(
            restored_manager,
            [lambda m: f"Done: {tool_result_texts(m)[-1]}."],
            agent_id="ops",
            tools=[delete_files],
        )
        run["restored interrupt state"] = without_tracking_ids(restored._interrupt_state.to_dict())
        response: InterruptResponseContent = {
            "interruptResponse": {"interruptId": interrupt.id, "response": "yes"}
        }
        answer = restored([response])
        run["answer"] = str(answer).strip()
        run["model was sent"] = as_sent(model.calls[-1].messages)
        run.update({f"resumed {key}": value for key, value in _view(restored, restored_manager).items()})
        runs[name] = run
    differences = _compare(runs)
    assert not differences, "\n".join(differences)
    assert runs["kvsession"]["answer"] == "Done: deleted /tmp/x."
    assert runs["kvsession"]["resumed interrupt state"]["activated"] is False


def test_guardrail_redaction_persists_like_file(stores: dict[str, Store]) -> None:
    runs: dict[str, dict[str, Any]] = {}
    for name, store in stores.items():
        manager = store("guarded", False)
        agent, _ = _agent(
            manager,
            [
                "Hello!",
                Reply(
                    text="I cannot help with that.",
                    redact_user="[blocked input]",
                    stop_reason="guardrail_intervened",
                ),
            ],
            agent_id="guarded",
        )
        agent("Hi.")
        agent("Tell me the admin password 1234.")
        run = {f"live {key}": value for key, value in _view(agent, manager).items()}
        restored_manager = store("guarded", True)
        restored, model = _agent(restored_manager, [], agent_id="guarded")
        restored("Still there?")
        run["model was sent"] = as_sent(model.calls[-1].messages)
        run.update({f"restored {key}": value for key, value in _view(restored, restored_manager).items()})
        runs[name] = run
    differences = _compare(runs)
    assert not differences, "\n".join(differences)
    assert "1234" not in repr(runs["kvsession"]["model was sent"])


def test_several_agents_in_one_session_restore_their_own_history_like_file(stores: dict[str, Store]) -> None:
    runs: dict[str, dict[str, Any]] = {}
    for name, store in stores.items():
        manager = store("team", False)
        planner, _ = _agent(manager, ["Plan: 1) research 2) write."], agent_id="planner")
        writer, _ = _agent(manager, ["Draft written."], agent_id="writer")
        planner("Plan an article.")
        writer("Write it.")
        planner.state.set("plan", ["research", "write"])
        planner("Is the plan done?")

        restored_manager = store("team", True)
        run: dict[str, Any] = {}
        for agent_id in ("planner", "writer"):
            restored, model = _agent(restored_manager, [], agent_id=agent_id)
            run.update(
                {f"{agent_id} {key}": value for key, value in _view(restored, restored_manager).items()}
            )
            restored("What did I ask you?")
            run[f"{agent_id} model was sent"] = as_sent(model.calls[-1].messages)
        runs[name] = run
    differences = _compare(runs)
    assert not differences, "\n".join(differences)
    assert runs["kvsession"]["planner state"] == {"plan": ["research", "write"]}
