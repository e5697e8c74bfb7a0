"""One turn of a Strands agent in its own Python process; the tests run it with ``sys.executable``.

Usage::

    python agent_process.py first URL SESSION_ID         # turn 1: a tool call, via KVSessionManager
    python agent_process.py resume URL SESSION_ID        # a new process: ValkeySessionManager, recall
    python agent_process.py graph-crash URL SESSION_ID   # a graph whose process dies in its 2nd node
    python agent_process.py graph-resume URL SESSION_ID  # a new process resumes that graph

It prints one JSON document on stdout describing what the agent restored, what the model saw
and what it answered; the parent test asserts on it. Nothing is shared with the parent but the
Valkey server at ``URL``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any
from urllib.parse import urlsplit

import valkey
from strands import Agent, tool
from strands.multiagent import GraphBuilder
from strands.multiagent.graph import Graph
from strands.types.content import Messages
from strands.types.tools import ToolContext

from kvsession.scripted import Rule, ScriptedModel, ToolCall, recall, tool_result_texts, user_texts
from kvsession.strands import KVSessionManager, ValkeySessionManager

AGENT_ID = "assistant"
FIRST_PROMPT = "My favourite colour is teal. Please remember it."
FACT = "favourite colour: teal"
RESUME_PROMPT = "What did I tell you before?"
GRAPH_TASK = "Write a note about Valkey."
CRASH_EXIT_CODE = 17


@tool(context=True)
def remember(fact: str, tool_context: ToolContext) -> str:
    """Store a fact about the user in the agent's state.

    Args:
        fact: The fact to remember.
        tool_context: Injected by Strands.
    """
    facts: list[str] = tool_context.agent.state.get("facts") or []
    tool_context.agent.state.set("facts", [*facts, fact])
    return f"Remembered: {fact}"


def first(url: str, session_id: str) -> dict[str, Any]:
    """Turn 1: the model calls ``remember``, then confirms using the tool's result."""
    manager = KVSessionManager.from_url(session_id, url)
    model = ScriptedModel(
        [
            ToolCall("remember", {"fact": FACT}),
            lambda messages: f"Done. {tool_result_texts(messages)[-1]}.",
        ]
    )
    agent = Agent(
        model=model, tools=[remember], session_manager=manager, agent_id=AGENT_ID, callback_handler=None
    )
    reply = agent(FIRST_PROMPT)
    return {"reply": str(reply).strip(), "messages": agent.messages, "state": agent.state.get()}


def resume(url: str, session_id: str) -> dict[str, Any]:
    """A later turn in a new process, built exactly as the reference documents it."""
    parts = urlsplit(url)
    client = valkey.Valkey(host=parts.hostname or "127.0.0.1", port=parts.port or 6379, decode_responses=True)
    manager = ValkeySessionManager(session_id=session_id, client=client)
    model = ScriptedModel([recall])
    agent = Agent(
        model=model, tools=[remember], session_manager=manager, agent_id=AGENT_ID, callback_handler=None
    )
    restored = list(agent.messages)
    state = agent.state.get()
    reply = agent(RESUME_PROMPT)
    return {
        "restored": restored,
        "restored_state": state,
        "seen": model.calls[0].messages,
        "reply": str(reply).strip(),
        "stored": [record.message for record in manager.list_messages()],
    }


def build_graph(manager: KVSessionManager, writer: Rule) -> tuple[Graph, ScriptedModel, ScriptedModel]:
    """research -> write, persisted by ``manager``; returns the graph and both nodes' models."""
    research_model = ScriptedModel(["Facts: Valkey is a BSD-licensed key-value store."])
    write_model = ScriptedModel([writer])
    builder = GraphBuilder()
    builder.add_node(Agent(name="researcher", model=research_model, callback_handler=None), "research")
    builder.add_node(Agent(name="writer", model=write_model, callback_handler=None), "write")
    builder.add_edge("research", "write")
    builder.set_entry_point("research")
    builder.set_max_node_executions(4)
    builder.set_session_manager(manager)
    return builder.build(), research_model, write_model


def crash(messages: Messages) -> str:
    """The worker dies in the middle of the second node: no cleanup, no final sync."""
    sys.stdout.flush()
    os._exit(CRASH_EXIT_CODE)


def graph_crash(url: str, session_id: str) -> dict[str, Any]:
    """Run the graph until the process dies inside the ``write`` node."""
    graph, _, _ = build_graph(KVSessionManager.from_url(session_id, url), crash)
    graph(GRAPH_TASK)
    return {"error": "the process should have died in the write node"}


def graph_resume(url: str, session_id: str) -> dict[str, Any]:
    """Rebuild the graph in a new process: it resumes at ``write`` with ``research``'s result."""
    graph, research_model, write_model = build_graph(
        KVSessionManager.from_url(session_id, url), lambda messages: "Note: " + " ".join(user_texts(messages))
    )
    result = graph(GRAPH_TASK)
    return {
        "status": result.status.value,
        "execution_order": [node.node_id for node in result.execution_order],
        "research_calls": len(research_model.calls),
        "write_calls": len(write_model.calls),
        "note": str(result.results["write"].result).strip(),
    }


SCENARIOS = {"first": first, "resume": resume, "graph-crash": graph_crash, "graph-resume": graph_resume}


def main(argv: list[str]) -> int:
    """Run the scenario named by ``argv[1]`` and print its JSON report."""
    scenario, url, session_id = argv[1:4]
    json.dump(SCENARIOS[scenario](url, session_id), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
