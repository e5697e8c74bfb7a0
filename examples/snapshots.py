"""Snapshots of an agent in Valkey: Strands' SnapshotSessionManager on ``ValkeyStorage``.

    python examples/snapshots.py          # starts an embedded Valkey
    KVSESSION_URL=valkey://127.0.0.1:6379/0 python examples/snapshots.py

An agent talks for three turns; a snapshot trigger appends an immutable snapshot after each turn
next to the latest one. Then a new storage, manager and agent (as another process would) restore
the latest snapshot, list the history a page at a time, and travel back to the first turn.
Swap ``ScriptedModel`` for your model; the rest is Strands' own API.
"""

from __future__ import annotations

import asyncio
from typing import Any

import valkey.asyncio
from _valkey import valkey_at
from strands import Agent
from strands.session import SnapshotSessionManager

from kvsession.scripted import ScriptedModel, recall, user_texts
from kvsession.storage import ValkeyStorage

SESSION_ID = "user-42"
WEEK = 7 * 24 * 3600


def every_turn(**_: Any) -> bool:
    """Snapshot trigger: keep an immutable snapshot after every invocation."""
    return True


def main() -> None:
    with valkey_at() as (host, port, db):
        # A valkey.asyncio client, as Strands' async world expects; the storage opens one like
        # it per event loop (Strands runs sync calls on fresh loops). Idle sessions expire.
        client = valkey.asyncio.Valkey(host=host, port=port, db=db)
        storage = ValkeyStorage(client=client, ttl=WEEK)
        manager = SnapshotSessionManager(SESSION_ID, storage=storage, snapshot_trigger=every_turn)
        agent = Agent(
            model=ScriptedModel(["Hi Alex!", "A RAG pipeline, nice.", "Valkey it is."]),
            session_manager=manager,
            callback_handler=None,
        )
        for prompt in ["My name is Alex.", "I'm building a RAG pipeline.", "It stores vectors in Valkey."]:
            agent(prompt)

        keys = asyncio.run(storage.list(f"session/{SESSION_ID}/"))
        print(f"stored {len(keys)} snapshots under session/{SESSION_ID}/:")
        for key in keys:
            print(f"  {key}")
        latest = f"session/{SESSION_ID}/scopes/agent/default/snapshots/snapshot_latest.json"
        print(f"in Valkey as: {storage.layout.value_key(latest)}")
        left = asyncio.run(storage.backend.ttl(storage.layout.value_key(latest))) or 0
        print(f"expires in {round(left / 3600)} h unless the session is written again")

        # Later, elsewhere: a new storage, manager and agent restore the latest snapshot.
        restored_storage = ValkeyStorage.from_url(f"valkey://{host}:{port}/{db}", ttl=WEEK)
        restored_manager = SnapshotSessionManager(SESSION_ID, storage=restored_storage)
        restored = Agent(
            model=ScriptedModel([recall]), session_manager=restored_manager, callback_handler=None
        )
        print(f"restored {len(restored.messages)} messages")

        async def history() -> None:
            first_page = await restored_manager.list_snapshot_ids(restored, limit=2)
            rest = await restored_manager.list_snapshot_ids(restored, start_after=first_page[-1])
            print(f"history: {len(first_page)} + {len(rest)} immutable snapshots (pages of 2)")
            await restored_manager.restore_snapshot(restored, snapshot_id=first_page[0])
            print(f"rewound to the first turn: {user_texts(restored.messages)}")

        asyncio.run(history())
        print(f"agent says: {str(restored('What did I tell you?')).strip()}")

        asyncio.run(restored_storage.aclose())
        asyncio.run(storage.aclose())
        asyncio.run(client.aclose())


if __name__ == "__main__":
    main()
