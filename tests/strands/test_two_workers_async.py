"""Two async Strands Agents on one session with the lease: the second waits, nothing is lost."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from strands import Agent
from strands.types.exceptions import SessionException

from kvsession.kv import open_async
from kvsession.kv.aio import AsyncKeyValueBackend, AsyncShell
from kvsession.kv.memory import MemoryBackend
from kvsession.scripted import ScriptedModel
from kvsession.strands.aio_manager import AsyncKVSessionManager
from kvsession.strands.errors import SessionBusyError
from kvsession.strands.repository import KVSessionRepository

TURNS = 3


class _Unclosed(AsyncShell):
    """The shared memory store, as another worker's connection: closing it keeps the data."""

    async def aclose(self) -> None:
        return None


def _opener(kv: Any) -> Any:
    if kv.name == "memory":
        assert isinstance(kv.backend, MemoryBackend)
        return lambda: _Unclosed(kv.backend)
    return lambda: open_async(kv.url)


def test_async_workers_with_the_lease_take_turns(kv: Any) -> None:
    open_backend = _opener(kv)

    async def worker(name: str) -> None:
        for turn in range(TURNS):
            backend: AsyncKeyValueBackend = open_backend()
            manager = AsyncKVSessionManager("shared", backend=backend, lease=5, lease_wait=30)
            try:
                agent = Agent(
                    model=ScriptedModel([f"{name} answers turn {turn}"]),
                    session_manager=manager,
                    callback_handler=None,
                )
                await agent.invoke_async(f"{name} asks turn {turn}")
            finally:
                await manager.aclose()
                await backend.aclose()

    async def both() -> None:
        await asyncio.gather(worker("A"), worker("B"))

    asyncio.run(both())
    messages = KVSessionRepository(kv.backend).list_messages("shared", "default")
    texts = [m.message["content"][0]["text"] for m in messages]
    assert len(texts) == 2 * TURNS * 2
    for name in ("A", "B"):
        for turn in range(TURNS):
            at = texts.index(f"{name} asks turn {turn}")
            assert texts[at + 1] == f"{name} answers turn {turn}"


def test_an_async_worker_without_wait_is_busy(kv: Any) -> None:
    open_backend = _opener(kv)

    async def scenario() -> None:
        first_backend, second_backend = open_backend(), open_backend()
        holder = AsyncKVSessionManager("shared", backend=first_backend, lease=30)
        other = AsyncKVSessionManager("shared", backend=second_backend, lease=30, lease_wait=0.05)
        try:
            await holder.open()
            with pytest.raises(SessionBusyError) as info:
                await other.open()
            assert isinstance(info.value, SessionException)
            await holder.aclose()
            await other.open()  # released: free
        finally:
            await holder.aclose()
            await other.aclose()
            await first_backend.aclose()
            await second_backend.aclose()

    asyncio.run(scenario())
