"""``AsyncKVSessionManager`` with real Strands agents awaited on one event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest
import valkey
from strands import Agent
from strands.multiagent import GraphBuilder, Status
from strands.multiagent.graph import Graph
from strands.types.exceptions import EventLoopException

from kvsession.kv.aio import AsyncKeyValueBackend
from kvsession.kv.errors import BackendUnavailable, InvalidIdError, ValueTooLargeError
from kvsession.kv.protocol import WriteOp
from kvsession.scripted import Reply, ScriptedModel, Step, ToolCall, recall
from kvsession.strands import KVSessionRepository
from kvsession.strands.aio_manager import AsyncKVSessionManager
from kvsession.testing import AsyncCountingBackend
from tests.strands.test_agent_restore import add_to_cart
from tests.strands_async.conftest import AsyncHarness, counting

T = TypeVar("T")


def run(body: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await body()

    return asyncio.run(main())


def _agent(manager: AsyncKVSessionManager, script: list[Step], *, agent_id: str = "shop") -> Agent:
    return Agent(
        model=ScriptedModel(script),
        tools=[add_to_cart],
        session_manager=manager,
        agent_id=agent_id,
        callback_handler=None,
    )


def test_persist_then_restore_in_a_new_manager(akv: AsyncHarness) -> None:
    backend = akv.open()

    async def body() -> None:
        manager = AsyncKVSessionManager("user-42", backend=backend, metadata={"plan": "pro"})
        agent = _agent(manager, [ToolCall("add_to_cart", {"item": "tea", "quantity": 2}), "Added.", "Bye."])
        await agent.invoke_async("Two teas please.")
        await agent.invoke_async("Thanks.")
        assert manager.metadata == {"plan": "pro"}

        reader = AsyncKVSessionManager("user-42", backend=backend)
        restored = _agent(reader, [recall])
        assert restored.messages == []  # restored lazily, at the first invocation (or restore())
        await reader.restore(restored)
        assert restored.messages == agent.messages
        assert restored.state.get("cart") == {"tea": 2}
        assert reader.metadata == {"plan": "pro"}
        listed = await reader.list_messages()
        assert [m.role for m in listed] == ["user", "assistant", "user", "assistant", "user", "assistant"]
        await restored.invoke_async("What happened?")
        assert len(await reader.list_messages()) == 8

    run(body)
    # The sync repository reads the same session.
    sync = KVSessionRepository(akv.sync())
    assert sync.count_messages("user-42", "shop") == 8


def test_fifty_concurrent_agents_on_one_loop_and_one_backend_keep_their_order(akv: AsyncHarness) -> None:
    backend = akv.open()
    turns = 4

    async def conversation(n: int) -> list[str]:
        manager = AsyncKVSessionManager(f"user-{n}", backend=backend)
        agent = _agent(manager, [f"reply {n}.{t}" for t in range(turns)], agent_id="assistant")
        for t in range(turns):
            await agent.invoke_async(f"prompt {n}.{t}")
        return [block["text"] for m in agent.messages for block in m["content"]]

    async def body() -> None:
        said = await asyncio.gather(*(conversation(n) for n in range(50)))
        for n, texts in enumerate(said):
            expected = [text for t in range(turns) for text in (f"prompt {n}.{t}", f"reply {n}.{t}")]
            assert texts == expected
            reader = AsyncKVSessionManager(f"user-{n}", backend=backend)
            stored = [m.content[0]["text"] for m in await reader.list_messages()]
            assert stored == expected

    run(body)


def test_appends_are_one_round_trip_and_a_restore_four(akv: AsyncHarness) -> None:
    backend = counting(akv.open())
    calls = backend
    assert isinstance(calls, AsyncCountingBackend)

    async def body() -> None:
        agent = _agent(AsyncKVSessionManager("s", backend=backend), ["one", "two"])
        await agent.invoke_async("first")  # read + create session, create agent, 2 appends, agent sync
        calls.reset()
        await agent.invoke_async("second")
        assert calls.calls == {"apply": 2}  # two appends; the unchanged agent is not rewritten
        calls.reset()
        reader = AsyncKVSessionManager("s", backend=backend)
        restored = _agent(reader, [])
        await reader.restore(restored)
        assert calls.round_trips == 4  # session, agent, message index, messages + root
        assert len(restored.messages) == 4

    run(body)


class _Failing:
    """Forwards to ``inner``; ``apply`` raises ``BackendUnavailable`` from call ``fail_from`` on."""

    def __init__(self, inner: AsyncKeyValueBackend, fail_from: int) -> None:
        self.inner = inner
        self.applied = 0
        self.fail_from = fail_from

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def apply(self, ops: list[WriteOp]) -> None:
        self.applied += 1
        if self.applied >= self.fail_from:
            raise BackendUnavailable("connection lost (injected)")
        await self.inner.apply(ops)


def test_a_failed_write_reaches_the_caller_of_invoke_async_as_a_typed_error(akv: AsyncHarness) -> None:
    async def body() -> None:
        # Writes: 1 create session, 2 create agent, 3 the prompt, 4 the agent's first sync, 5 the reply.
        failing = _Failing(akv.open(), fail_from=3)
        agent = _agent(AsyncKVSessionManager("s-user", backend=failing), ["hello"])  # type: ignore[arg-type]
        with pytest.raises(BackendUnavailable):
            await agent.invoke_async("hi")

        failing = _Failing(akv.open(), fail_from=5)
        manager = AsyncKVSessionManager("s-assistant", backend=failing)  # type: ignore[arg-type]
        agent = _agent(manager, ["hello", "back"])
        with pytest.raises(EventLoopException) as raised:
            await agent.invoke_async("hi")
        assert isinstance(raised.value.__cause__, BackendUnavailable)

        # The backend is back: the conversation goes on, from the next index.
        failing.fail_from = 10**9
        await agent.invoke_async("again")
        assert [m.content[0]["text"] for m in await manager.list_messages()] == ["hi", "again", "back"]

    run(body)


def test_bad_ids_and_oversized_values_give_the_sync_errors(akv: AsyncHarness) -> None:
    with pytest.raises(InvalidIdError):
        AsyncKVSessionManager("x" * 257, backend=akv.open())
    backend = akv.open(max_value_bytes=3000)

    async def body() -> None:
        agent = _agent(AsyncKVSessionManager("s", backend=backend), ["fine"])
        with pytest.raises(ValueTooLargeError):
            await agent.invoke_async("x" * 10_000)
        with pytest.raises(InvalidIdError):
            bad = _agent(AsyncKVSessionManager("s2", backend=backend), ["fine"], agent_id="a" * 300)
            await bad.invoke_async("hi")

    run(body)


def test_a_redaction_called_sync_from_the_loop_is_queued_then_persisted(akv: AsyncHarness) -> None:
    backend = akv.open()
    reply = Reply(text="Card 4111?", redact_user="[User input redacted.]", stop_reason="guardrail_intervened")

    async def body() -> None:
        manager = AsyncKVSessionManager("s-guard", backend=backend)
        agent = _agent(manager, [reply])
        await agent.invoke_async("My card is 4111 1111 1111 1111.")
        record = await manager.repository.read_message("s-guard", "shop", 0)
        assert record is not None and record.redact_message is not None
        assert record.redact_message["content"] == [{"text": "[User input redacted.]"}]
        reader = AsyncKVSessionManager("s-guard", backend=backend)
        restored = _agent(reader, [])
        await reader.restore(restored)
        assert "4111" not in repr(restored.messages[0])

    run(body)


# -- the loop is never blocked --------------------------------------------------------------------


@pytest.fixture
def no_sync_valkey_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail any command sent through a *sync* valkey-py client (fakeredis' FakeValkey included)."""

    def refuse(self: valkey.Valkey, *args: Any, **options: Any) -> Any:
        raise AssertionError(f"a sync valkey call on the loop: {args[:1]}")

    monkeypatch.setattr(valkey.Valkey, "execute_command", refuse)
    yield


def test_no_blocking_backend_call_and_no_loop_stall(
    networked_akv: AsyncHarness, no_sync_valkey_calls: None
) -> None:
    class _Slow:
        """Every round trip takes 50 ms, awaited."""

        def __init__(self, inner: AsyncKeyValueBackend) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            method = getattr(self.inner, name)
            if name == "config":
                return method

            async def slow(*args: Any, **kwargs: Any) -> Any:
                await asyncio.sleep(0.05)
                return await method(*args, **kwargs)

            return slow

    backend = _Slow(networked_akv.open())

    async def body() -> float:
        lags: list[float] = []
        stop = asyncio.Event()

        async def probe() -> None:
            while not stop.is_set():
                started = time.perf_counter()
                await asyncio.sleep(0.005)
                lags.append(time.perf_counter() - started - 0.005)

        ticker = asyncio.create_task(probe())
        agents = [_agent(AsyncKVSessionManager(f"s{n}", backend=backend), ["a", "b"]) for n in range(10)]
        for turn in range(2):
            await asyncio.gather(*(agent.invoke_async(f"turn {turn}") for agent in agents))
        stop.set()
        await ticker
        return max(lags)

    # 10 agents x 2 turns x ~4 writes x 50 ms each would stall a blocking loop for seconds.
    assert run(body) < 0.04


# -- cancellation ---------------------------------------------------------------------------------


def test_an_invocation_cancelled_during_an_append_leaves_a_whole_session(akv: AsyncHarness) -> None:
    class _Held:
        def __init__(self, inner: AsyncKeyValueBackend) -> None:
            self.inner = inner
            self.hold = False
            self.reached = asyncio.Event()

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        async def apply(self, ops: list[WriteOp]) -> None:
            if self.hold:
                self.reached.set()
                await asyncio.Event().wait()  # until cancelled
            await self.inner.apply(ops)

    async def body() -> None:
        held = _Held(akv.open())
        manager = AsyncKVSessionManager("s", backend=held)  # type: ignore[arg-type]
        agent = _agent(manager, ["one", "two", "three"])
        await agent.invoke_async("first")
        held.hold = True
        task = asyncio.create_task(agent.invoke_async("second"))
        await held.reached.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        held.hold = False
        await agent.invoke_async("third")
        stored = await manager.list_messages()
        assert [m.content[0]["text"] for m in stored][:2] == ["first", "one"]
        assert stored[-1].content[0]["text"] in {"two", "three"}
        reader = AsyncKVSessionManager("s", backend=held)  # type: ignore[arg-type]
        restored = _agent(reader, [])
        await reader.restore(restored)
        assert len(restored.messages) == len(stored)

    run(body)


# -- multi-agent ----------------------------------------------------------------------------------


def _graph(manager: AsyncKVSessionManager, writer: list[Step]) -> Graph:
    builder = GraphBuilder()
    research = ScriptedModel(["Facts: Valkey speaks RESP."])
    builder.add_node(Agent(name="researcher", model=research, callback_handler=None), "research")
    builder.add_node(Agent(name="writer", model=ScriptedModel(writer), callback_handler=None), "write")
    builder.add_edge("research", "write")
    builder.set_entry_point("research")
    builder.set_max_node_executions(4)
    builder.set_graph_id("pipeline")
    builder.set_session_manager(manager)
    return builder.build()


def test_a_graph_persists_after_each_node_and_resumes_at_the_next(akv: AsyncHarness) -> None:
    backend = akv.open()

    async def body() -> None:
        manager = AsyncKVSessionManager("job-1", backend=backend)
        graph = _graph(manager, [])
        stream = graph.stream_async("Write about Valkey.")
        async for event in stream:
            if event.get("type") == "multiagent_node_stop":
                break
        await stream.aclose()  # type: ignore[attr-defined]
        stored = await manager.repository.read_multi_agent("job-1", "pipeline")
        assert stored is not None and stored["completed_nodes"] == ["research"]
        assert stored["next_nodes_to_execute"] == ["write"]

        resumed = _graph(AsyncKVSessionManager("job-1", backend=backend), ["Article."])
        result = await resumed.invoke_async("Write about Valkey.")
        assert result.status == Status.COMPLETED
        assert [node.node_id for node in result.execution_order] == ["research", "write"]
        final = await manager.repository.read_multi_agent("job-1", "pipeline")
        assert final is not None and final["status"] == "completed"

    run(body)


def test_a_sync_call_runs_the_async_hooks_on_strands_own_fresh_loops(akv: AsyncHarness) -> None:
    backend = akv.open()  # built from a URL: one client per loop
    manager = AsyncKVSessionManager("s-sync", backend=backend)
    agent = _agent(manager, ["one", "two"])
    agent("first")  # Strands runs each sync call on a new loop in a worker thread
    agent("second")
    assert KVSessionRepository(akv.sync()).count_messages("s-sync", "shop") == 4
