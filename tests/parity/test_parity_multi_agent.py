"""Swarm and Graph state, and agent checkpoints, persist and resume as they do over File.

Mirrors the SDK's multi-agent session tests (``tests_integ``: Swarm/Graph persistence and resume
after a worker stops mid-run) and agent checkpoints (``checkpointing=True``: the conversation lives
in the session, the checkpoint in the caller's hands). Each scenario runs over Strands' File store
and over kvsession (resuming through a second connection); stored states and results must agree.
"""

from __future__ import annotations

from typing import Any

from strands import Agent, tool
from strands.multiagent import GraphBuilder, Status, Swarm
from strands.multiagent.base import MultiAgentBase
from strands.session.repository_session_manager import RepositorySessionManager

from kvsession.scripted import ScriptedModel, Step, ToolCall, tool_result_texts, user_texts
from tests.multiagent import stop_after_first_node
from tests.parity.conftest import Store
from tests.parity.helpers import as_sent, deep_differences, without_tracking_ids

VOLATILE = frozenset({"tracking_id", "execution_time", "latencyMs", "timeToFirstByteMs"})
SET_VALUED = ("completed_nodes", "failed_nodes", "interrupted_nodes")


def _stored(manager: RepositorySessionManager, multi_agent_id: str) -> Any:
    """The stored state without per-run values; lists Strands builds from sets are sorted."""
    state = without_tracking_ids(
        manager.session_repository.read_multi_agent(manager.session_id, multi_agent_id), VOLATILE
    )
    for key in SET_VALUED:
        if isinstance(state.get(key), list):
            state[key] = sorted(state[key])
    return state


def _graph(manager: RepositorySessionManager, writer: list[Step]) -> tuple[MultiAgentBase, ScriptedModel]:
    research = ScriptedModel(["Facts: Valkey speaks RESP."])
    builder = GraphBuilder()
    builder.add_node(Agent(name="researcher", model=research, callback_handler=None), "research")
    builder.add_node(Agent(name="writer", model=ScriptedModel(writer), callback_handler=None), "write")
    builder.add_edge("research", "write")
    builder.set_entry_point("research")
    builder.set_max_node_executions(4)
    builder.set_graph_id("pipeline")
    builder.set_session_manager(manager)
    return builder.build(), research


def test_graph_resumes_at_the_next_node_like_file(stores: dict[str, Store]) -> None:
    runs: dict[str, dict[str, Any]] = {}
    for name, store in stores.items():
        manager = store("job", False)
        graph, _ = _graph(manager, [])
        run: dict[str, Any] = {"finished first": stop_after_first_node(graph, "Write about Valkey.")}
        run["stored after stop"] = _stored(manager, "pipeline")

        resumed_manager = store("job", True)
        resumed, research = _graph(resumed_manager, [lambda m: "Article from: " + " / ".join(user_texts(m))])
        result = resumed("Write about Valkey.")
        run["status"] = result.status
        run["order"] = [node.node_id for node in result.execution_order]  # type: ignore[attr-defined]
        run["research calls"] = len(research.calls)
        run["written"] = str(result.results["write"].result)
        run["stored after resume"] = _stored(resumed_manager, "pipeline")
        runs[name] = run
    differences = deep_differences(runs["file"], runs["kvsession"])
    assert not differences, "\n".join(differences)
    ours = runs["kvsession"]
    assert ours["stored after stop"]["next_nodes_to_execute"] == ["write"]
    assert (ours["status"], ours["order"], ours["research calls"]) == (
        Status.COMPLETED,
        ["research", "write"],
        0,
    )
    assert "Facts: Valkey speaks RESP." in ours["written"]


def _swarm(
    manager: RepositorySessionManager, researcher: list[Step], writer: list[Step]
) -> tuple[MultiAgentBase, ScriptedModel]:
    research = ScriptedModel(researcher)
    swarm = Swarm(
        [
            Agent(name="researcher", model=research, callback_handler=None),
            Agent(name="writer", model=ScriptedModel(writer), callback_handler=None),
        ],
        session_manager=manager,
        id="team",
    )
    return swarm, research


def test_swarm_resumes_with_the_handed_off_agent_like_file(stores: dict[str, Store]) -> None:
    handoff = {
        "agent_name": "writer",
        "message": "Turn the facts into a tweet.",
        "context": {"facts": ["Valkey 8 added multi-threaded I/O"], "blob": {"n": 2**40, "ü": [1.5, None]}},
    }
    runs: dict[str, dict[str, Any]] = {}
    for name, store in stores.items():
        manager = store("team-run", False)
        swarm, _ = _swarm(manager, [ToolCall("handoff_to_agent", handoff), "Handed off."], [])
        run: dict[str, Any] = {"finished first": stop_after_first_node(swarm, "Tweet about Valkey.")}
        run["stored after stop"] = _stored(manager, "team")

        resumed_manager = store("team-run", True)
        resumed, research = _swarm(resumed_manager, [], [lambda m: user_texts(m)[-1]])
        result = resumed("Tweet about Valkey.")
        run["status"] = result.status
        run["history"] = [node.node_id for node in result.node_history]  # type: ignore[attr-defined]
        run["research calls"] = len(research.calls)
        run["writer input"] = str(result.results["writer"].result)
        run["stored after resume"] = _stored(resumed_manager, "team")
        runs[name] = run
    differences = deep_differences(runs["file"], runs["kvsession"])
    assert not differences, "\n".join(differences)
    ours = runs["kvsession"]
    assert ours["stored after stop"]["next_nodes_to_execute"] == ["writer"]
    assert ours["history"] == ["researcher", "writer"] and ours["research calls"] == 0
    assert "Turn the facts into a tweet." in ours["writer input"]


@tool
def count_words(text: str) -> int:
    """Count the words of a text.

    Args:
        text: The text.
    """
    return len(text.split())


def test_agent_checkpoints_resume_in_a_new_worker_like_file(stores: dict[str, Store]) -> None:
    runs: dict[str, dict[str, Any]] = {}
    for name, store in stores.items():
        manager = store("durable", False)
        model = ScriptedModel([ToolCall("count_words", {"text": "one two three"})])
        agent = Agent(
            agent_id="durable",
            model=model,
            tools=[count_words],
            session_manager=manager,
            checkpointing=True,
            callback_handler=None,
        )
        result = agent("Start the job.")
        run: dict[str, Any] = {"stops": [result.stop_reason]}
        stops = 0
        while result.stop_reason == "checkpoint" and stops < 6:
            stops += 1
            assert result.checkpoint is not None
            checkpoint = result.checkpoint.to_dict()
            # Each step runs in a new worker: a new manager over a new connection, a new agent.
            agent = Agent(
                agent_id="durable",
                model=ScriptedModel(fallback=lambda m: f"Counted: {tool_result_texts(m)[-1]}."),
                tools=[count_words],
                session_manager=store("durable", True),
                checkpointing=True,
                callback_handler=None,
            )
            result = agent({"checkpointResume": {"checkpoint": checkpoint}})  # type: ignore[arg-type]
            run["stops"].append(result.stop_reason)
        run["answer"] = str(result).strip()
        run["messages"] = as_sent(agent.messages)
        runs[name] = run
    differences = deep_differences(runs["file"], runs["kvsession"])
    assert not differences, "\n".join(differences)
    assert runs["kvsession"]["stops"] == ["checkpoint", "checkpoint", "end_turn"]
    assert runs["kvsession"]["answer"] == "Counted: 3."
