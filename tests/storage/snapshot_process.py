"""A Strands agent with a SnapshotSessionManager on ValkeyStorage, in its own Python process.

Usage::

    python snapshot_process.py save URL SESSION_ID      # two turns, an immutable snapshot each
    python snapshot_process.py restore URL SESSION_ID   # a new process restores and time-travels

It prints one JSON document on stdout; the parent test asserts on it. Nothing is shared with the
parent but the Valkey server at ``URL``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from strands import Agent
from strands.session import SnapshotSessionManager

from kvsession.scripted import ScriptedModel, recall, user_texts
from kvsession.storage import ValkeyStorage

PROMPTS = ["My name is Ada.", "I like teal."]


def open_storage(url: str) -> ValkeyStorage:
    """The storage at ``url`` (the async Valkey backend), with idle sessions kept an hour."""
    return ValkeyStorage.from_url(url, ttl=3600)


def save(url: str, session_id: str) -> dict[str, Any]:
    storage = open_storage(url)
    manager = SnapshotSessionManager(session_id, storage=storage, snapshot_trigger=lambda **_: True)
    agent = Agent(
        model=ScriptedModel(["Hello Ada.", "Teal it is."]),
        session_manager=manager,
        agent_id="assistant",
        callback_handler=None,
    )
    for prompt in PROMPTS:
        agent(prompt)  # sync: a fresh event loop per call
    agent.state.set("colour", "teal")
    ids = asyncio.run(_save_latest(manager, agent))
    asyncio.run(storage.aclose())
    return {"messages": agent.messages, "ids": ids}


async def _save_latest(manager: SnapshotSessionManager, agent: Agent) -> list[str]:
    await manager.save_snapshot(agent, is_latest=True)
    return await manager.list_snapshot_ids(agent)


def restore(url: str, session_id: str) -> dict[str, Any]:
    storage = open_storage(url)
    manager = SnapshotSessionManager(session_id, storage=storage)
    model = ScriptedModel([recall])
    agent = Agent(model=model, session_manager=manager, agent_id="assistant", callback_handler=None)
    restored = list(agent.messages)
    state = agent.state.get("colour")
    reply = str(agent("What did I tell you?")).strip()

    async def travel() -> dict[str, Any]:
        ids = await manager.list_snapshot_ids(agent)
        await manager.restore_snapshot(agent, snapshot_id=ids[0])
        first = user_texts(agent.messages)
        await storage.aclose()
        return {"ids": ids, "first_snapshot_users": first}

    return {"restored": restored, "state": state, "reply": reply, **asyncio.run(travel())}


def main() -> None:
    scenario, url, session_id = sys.argv[1:4]
    report = save(url, session_id) if scenario == "save" else restore(url, session_id)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
