"""Strands multi-agent orchestrators (Graph, Swarm) persisted through the session manager.

Strands drives the manager through hooks: ``initialize_multi_agent`` when the orchestrator is
built (create, or restore into ``deserialize_state``), ``sync_multi_agent`` after every node and
after the invocation. A worker that stops after the first node leaves a resumable state; a new
orchestrator with a new manager over another connection picks up at the next node without
calling the first node's model again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from strands import Agent
from strands.multiagent import GraphBuilder, Status, Swarm
from strands.multiagent.graph import Graph

from kvsession.kv.protocol import KeyValueBackend
from kvsession.scripted import ScriptedModel, Step, ToolCall, user_texts
from kvsession.strands import KVSessionManager
from tests.multiagent import stop_after_first_node

if TYPE_CHECKING:
    from tests.conftest import BackendHarness

Reconnect = Callable[[], KeyValueBackend]


def _graph(manager: KVSessionManager, writer: list[Step]) -> tuple[Graph, ScriptedModel, ScriptedModel]:
    research = ScriptedModel(["Facts: Valkey speaks RESP."])
    write = ScriptedModel(writer)
    builder = GraphBuilder()
    builder.add_node(Agent(name="researcher", model=research, callback_handler=None), "research")
    builder.add_node(Agent(name="writer", model=write, callback_handler=None), "write")
    builder.add_edge("research", "write")
    builder.set_entry_point("research")
    builder.set_max_node_executions(4)
    builder.set_graph_id("pipeline")
    builder.set_session_manager(manager)
    return builder.build(), research, write


def test_graph_persists_and_resumes_at_the_next_node(kv: BackendHarness, reconnect: Reconnect) -> None:
    manager = KVSessionManager("job-1", backend=kv.backend)
    graph, _, _ = _graph(manager, [])
    assert stop_after_first_node(graph, "Write about Valkey.") == ["research"]

    stored = manager.read_multi_agent("job-1", "pipeline")
    assert stored is not None
    assert stored["type"] == "graph"
    assert stored["status"] == "executing"
    assert stored["completed_nodes"] == ["research"]
    assert stored["next_nodes_to_execute"] == ["write"]

    resumed, research, _ = _graph(
        KVSessionManager("job-1", backend=reconnect()),
        [lambda messages: "Article from: " + " / ".join(user_texts(messages))],
    )
    result = resumed("Write about Valkey.")

    assert result.status == Status.COMPLETED
    assert [node.node_id for node in result.execution_order] == ["research", "write"]
    assert research.calls == []  # its result was restored, not recomputed
    assert "Facts: Valkey speaks RESP." in str(result.results["write"].result)
    final = KVSessionManager("job-1", backend=reconnect()).read_multi_agent("job-1", "pipeline")
    assert final is not None
    assert final["status"] == "completed"
    assert sorted(final["completed_nodes"]) == ["research", "write"]
    assert final["next_nodes_to_execute"] == []


def _swarm(
    manager: KVSessionManager, researcher: list[Step], writer: list[Step]
) -> tuple[Swarm, ScriptedModel, ScriptedModel]:
    research = ScriptedModel(researcher)
    write = ScriptedModel(writer)
    swarm = Swarm(
        [
            Agent(name="researcher", model=research, callback_handler=None),
            Agent(name="writer", model=write, callback_handler=None),
        ],
        session_manager=manager,
        id="team",
    )
    return swarm, research, write


def test_swarm_handoff_persists_and_resumes_with_the_next_agent(
    kv: BackendHarness, reconnect: Reconnect
) -> None:
    handoff: dict[str, Any] = {
        "agent_name": "writer",
        "message": "Turn the facts into a tweet.",
        "context": {"facts": ["Valkey 8 added multi-threaded I/O"]},
    }
    manager = KVSessionManager("team-1", backend=kv.backend)
    swarm, _, _ = _swarm(manager, [ToolCall("handoff_to_agent", handoff), "Handed off."], [])
    assert stop_after_first_node(swarm, "Tweet about Valkey.") == ["researcher"]

    stored = manager.read_multi_agent("team-1", "team")
    assert stored is not None
    assert stored["type"] == "swarm"
    assert stored["node_history"] == ["researcher"]
    assert stored["next_nodes_to_execute"] == ["writer"]
    assert stored["context"]["shared_context"] == {
        "researcher": {"facts": ["Valkey 8 added multi-threaded I/O"]}
    }

    resumed, research, _ = _swarm(
        KVSessionManager("team-1", backend=reconnect()), [], [lambda messages: user_texts(messages)[-1]]
    )
    result = resumed("Tweet about Valkey.")

    assert result.status == Status.COMPLETED
    assert [node.node_id for node in result.node_history] == ["researcher", "writer"]
    assert research.calls == []
    writer_input = str(result.results["writer"].result)
    assert "Turn the facts into a tweet." in writer_input  # the handoff message survived
    assert "Valkey 8 added multi-threaded I/O" in writer_input  # and the shared context
    final = manager.read_multi_agent("team-1", "team")
    assert final is not None
    assert final["status"] == "completed"
    assert final["node_history"] == ["researcher", "writer"]


def test_multi_agent_state_lives_with_the_session(kv: BackendHarness) -> None:
    manager = KVSessionManager("job-2", backend=kv.backend)
    graph, _, _ = _graph(manager, ["Done."])
    graph("Write.")
    keys = manager.repository.session_keys("job-2")
    assert manager.repository.keys.multi_agent("job-2", "pipeline") in keys

    manager.delete_session()
    assert manager.read_multi_agent("job-2", "pipeline") is None
    assert manager.repository.session_keys("job-2") == []
