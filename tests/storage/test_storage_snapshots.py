"""Strands' ``SnapshotSessionManager`` and ``Agent(storage=...)`` on ValkeyStorage, end to end.

Real ``strands.Agent``, ``Graph`` and ``Swarm`` objects with a :class:`ScriptedModel`; a restore
always goes through a new storage over another connection and a new manager. The sync
``agent("...")`` runs every invocation, and the manager's restore, on a fresh event loop in a
worker thread: the storage must serve them all.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from strands import Agent
from strands.multiagent import GraphBuilder, Status, Swarm
from strands.session import SnapshotSessionManager
from strands.types.exceptions import SnapshotException

from kvsession.scripted import ScriptedModel, Step, ToolCall, recall, user_texts
from tests.multiagent import stop_after_first_node
from tests.storage.conftest import StorageHarness, run

LATEST = "session/{sid}/scopes/agent/{aid}/snapshots/snapshot_latest.json"


def _agent(
    manager: SnapshotSessionManager | None, script: list[Step], *, agent_id: str = "a1", **kwargs: Any
) -> Agent:
    return Agent(
        model=ScriptedModel(script, fallback=recall),
        session_manager=manager,
        agent_id=agent_id,
        callback_handler=None,
        **kwargs,
    )


def test_an_agent_is_saved_and_restored_by_a_new_manager(store: StorageHarness) -> None:
    storage = store.storage()
    first = _agent(SnapshotSessionManager("user-42", storage=storage), ["Hello!", "Noted."])
    assert first.messages == []  # a new session restores nothing
    first("Hi, I am Ada.")  # each sync call runs on a fresh event loop
    first("I like teal.")
    first.state.set("colour", "teal")
    run(first._session_manager.save_snapshot(first, is_latest=True))  # type: ignore[union-attr]

    assert run(storage.list("")) == [LATEST.format(sid="user-42", aid="a1")]

    restored = _agent(SnapshotSessionManager("user-42", storage=store.reconnect()), [])
    assert restored.messages == first.messages
    assert restored.state.get("colour") == "teal"
    reply = restored("What did I say?")
    assert "Hi, I am Ada." in str(reply) and "I like teal." in str(reply)


def test_a_pre_namespaced_storage_is_not_prefixed_again(store: StorageHarness) -> None:
    root = store.storage()
    agent = _agent(SnapshotSessionManager("s1", storage=root.namespace("session")), ["ok"])
    agent("hi")
    assert run(root.list("")) == [LATEST.format(sid="s1", aid="a1")]


def test_immutable_history_lists_pages_and_time_travels(store: StorageHarness) -> None:
    storage = store.storage()
    manager = SnapshotSessionManager(
        "hist", storage=storage, snapshot_trigger=lambda *, agent_data, **_: True
    )
    agent = _agent(manager, ["one", "two", "three"])
    for prompt in ["first", "second", "third"]:
        agent(prompt)

    async def history() -> dict[str, Any]:
        ids = await manager.list_snapshot_ids(agent)
        extra = await manager.save_snapshot(agent, is_latest=False)
        latest_only = await manager.save_snapshot(agent, is_latest=True)
        return {
            "ids": ids,
            "extra": extra,
            "latest_only": latest_only,
            "all": await manager.list_snapshot_ids(agent),
            "page": await manager.list_snapshot_ids(agent, limit=2),
            "next": await manager.list_snapshot_ids(agent, limit=2, start_after=ids[1]),
            "none": await manager.list_snapshot_ids(agent, limit=0),
        }

    found = run(history())
    ids = found["ids"]
    assert len(ids) == 3 and ids == sorted(ids)  # UUIDv7: sorted = creation order
    assert found["latest_only"] is None
    assert found["all"] == [*ids, found["extra"]]
    assert found["page"] == ids[:2]
    assert found["next"] == [ids[2], found["extra"]]
    assert found["none"] == []
    with pytest.raises(ValueError):
        run(manager.list_snapshot_ids(agent, start_after="not-a-uuid"))

    # A fresh manager over another connection rewinds to the first turn, then back to latest.
    other = SnapshotSessionManager("hist", storage=store.reconnect())
    rewound = _agent(other, [])
    assert len(rewound.messages) == 6
    assert run(other.restore_snapshot(rewound, snapshot_id=ids[0])) is True
    assert user_texts(rewound.messages) == ["first"]
    assert run(other.restore_snapshot(rewound)) is True
    assert user_texts(rewound.messages) == ["first", "second", "third"]
    assert run(other.restore_snapshot(rewound, snapshot_id=ids[0].replace(ids[0][-4:], "0000"))) is False
    with pytest.raises(ValueError):
        run(other.restore_snapshot(rewound, snapshot_id="../escape"))


def test_delete_session_removes_only_that_session(store: StorageHarness) -> None:
    storage = store.storage()
    for sid in ["doomed", "kept"]:
        manager = SnapshotSessionManager(sid, storage=storage, snapshot_trigger=lambda **_: True)
        _agent(manager, ["ok"])("hi")
    run(storage.write("memory/note.json", b"{}"))
    before = run(storage.list(""))
    assert any(key.startswith("session/doomed/") for key in before)

    run(SnapshotSessionManager("doomed", storage=store.reconnect()).delete_session())

    after = run(storage.list(""))
    assert after == [key for key in before if not key.startswith("session/doomed/")]
    assert "memory/note.json" in after
    assert _agent(SnapshotSessionManager("doomed", storage=storage), []).messages == []


def test_agent_storage_is_used_by_a_manager_without_its_own(store: StorageHarness) -> None:
    storage = store.storage()
    agent = _agent(SnapshotSessionManager("s1"), ["Hello"], storage=storage)
    agent("hi")
    assert run(storage.list("session/s1/")) == [LATEST.format(sid="s1", aid="a1")]

    again = _agent(SnapshotSessionManager("s1"), [], storage=store.reconnect())
    assert again.messages == agent.messages


def test_a_corrupt_snapshot_raises_snapshot_exception(store: StorageHarness) -> None:
    storage = store.storage()
    run(storage.write(LATEST.format(sid="bad", aid="a1"), b"not json"))
    with pytest.raises(SnapshotException):
        _agent(SnapshotSessionManager("bad", storage=storage), [])


def test_save_latest_on_message_writes_every_message(store: StorageHarness) -> None:
    storage = store.storage()
    agent = _agent(SnapshotSessionManager("m", storage=storage, save_latest_on="message"), ["reply"])
    agent("hello")
    stored = json.loads(run(storage.read(LATEST.format(sid="m", aid="a1"))) or b"{}")
    assert [message["role"] for message in stored["data"]["messages"]] == ["user", "assistant"]
    assert _agent(SnapshotSessionManager("m", storage=store.reconnect()), []).messages == agent.messages


def test_a_ttl_expires_the_whole_session_history(store: StorageHarness) -> None:
    ttl = 30.0 if store.clock is not None else 1.0
    storage = store.storage(ttl=ttl)
    manager = SnapshotSessionManager("brief", storage=storage, snapshot_trigger=lambda **_: True)
    _agent(manager, ["one"])("hi")
    assert len(run(storage.list("session/brief/"))) == 2  # immutable + latest
    store.advance(ttl * 1.5)
    assert run(storage.list("")) == []
    assert _agent(SnapshotSessionManager("brief", storage=storage), []).messages == []


def _graph(manager: SnapshotSessionManager, writer: list[Step]) -> Any:
    builder = GraphBuilder()
    builder.add_node(
        Agent(name="researcher", model=ScriptedModel(["Facts."]), callback_handler=None), "research"
    )
    builder.add_node(Agent(name="writer", model=ScriptedModel(writer), callback_handler=None), "write")
    builder.add_edge("research", "write")
    builder.set_entry_point("research")
    builder.set_graph_id("g1")
    builder.set_max_node_executions(4)
    builder.set_session_manager(manager)
    return builder.build()


def test_a_graph_snapshot_resumes_at_the_next_node(store: StorageHarness) -> None:
    storage = store.storage()
    graph = _graph(SnapshotSessionManager("mm", storage=storage), [])
    assert stop_after_first_node(graph, "Write about Valkey.") == ["research"]
    key = "session/mm/scopes/multiAgent/g1/snapshots/snapshot_latest.json"
    assert run(storage.list("session/mm/")) == [key]
    snapshot = json.loads(run(storage.read(key)) or b"{}")
    assert snapshot["scope"] == "multiAgent"
    assert snapshot["data"]["orchestrator_id"] == "g1"
    assert snapshot["data"]["state"]["type"] == "graph"
    assert snapshot["data"]["state"]["completed_nodes"] == ["research"]

    resumed = _graph(SnapshotSessionManager("mm", storage=store.reconnect()), ["Article."])
    result = resumed("Write about Valkey.")
    assert result.status == Status.COMPLETED
    assert [node.node_id for node in result.execution_order] == ["research", "write"]


def test_a_swarm_snapshot_resumes_with_the_next_agent(store: StorageHarness) -> None:
    handoff = {"agent_name": "writer", "message": "Write it.", "context": {"facts": ["f"]}}

    def swarm(manager: SnapshotSessionManager, researcher: list[Step], writer: list[Step]) -> Swarm:
        return Swarm(
            [
                Agent(name="researcher", model=ScriptedModel(researcher), callback_handler=None),
                Agent(name="writer", model=ScriptedModel(writer), callback_handler=None),
            ],
            session_manager=manager,
            id="sw1",
        )

    storage = store.storage()
    first = swarm(
        SnapshotSessionManager("team", storage=storage), [ToolCall("handoff_to_agent", handoff), "ok"], []
    )
    assert stop_after_first_node(first, "Tweet.") == ["researcher"]
    key = "session/team/scopes/multiAgent/sw1/snapshots/snapshot_latest.json"
    snapshot = json.loads(run(storage.read(key)) or b"{}")
    assert snapshot["data"]["orchestrator_id"] == "sw1"
    assert snapshot["data"]["state"]["type"] == "swarm"

    resumed = swarm(SnapshotSessionManager("team", storage=store.reconnect()), [], ["Tweeted."])
    result = resumed("Tweet.")
    assert result.status == Status.COMPLETED
    assert [node.node_id for node in result.node_history] == ["researcher", "writer"]
