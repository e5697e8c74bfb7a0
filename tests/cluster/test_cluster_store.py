"""kvsession on a real 3-primary + 3-replica Valkey Cluster: round trips, spread, Strands, CLI, ACL.

The shared ``valkey_cluster`` (tests/cluster/conftest.py) is emptied before each test; nothing
here kills, pauses or migrates (tests/cluster/test_cluster_faults.py builds its own clusters).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import valkey.asyncio.cluster
import valkey.cluster
from strands import Agent
from strands.types.session import SessionAgent, SessionType

import kvsession
from benchmarks.messages import session_messages
from kvsession.scripted import ScriptedModel, recall
from kvsession.strands import AsyncKVSessionManager, AsyncValkeySessionManager, ValkeySessionManager
from kvsession.strands.records import Session
from kvsession.strands.repository import KVSessionRepository
from kvsession.testing import CountingBackend
from kvsession_valkey.acl import acl_rules
from tests.acl_workload import run_async_paths, run_cli_paths, run_repository_paths, run_storage_paths
from tests.cluster_load import commands_per_primary, spread_workload
from tests.clusters import Cluster


@pytest.fixture
def cluster(valkey_cluster: Cluster) -> Iterator[Cluster]:
    """The shared cluster, every primary emptied (replicas follow)."""
    for node in valkey_cluster.primaries:
        node.command("FLUSHALL")
    yield valkey_cluster


def _session(session_id: str) -> Session:
    return Session(session_id=session_id, session_type=SessionType.AGENT)


def _agent() -> SessionAgent:
    return SessionAgent(agent_id="a", state={}, conversation_manager_state={})


def test_round_trips_match_the_standalone_ones(cluster: Cluster) -> None:
    counting = CountingBackend(kvsession.connect(cluster.url()))
    repo = KVSessionRepository(counting)
    assert repo.keys.cluster  # implied by the scheme

    def trips() -> int:
        count = counting.round_trips
        counting.reset()
        return count

    counting.reset()
    repo.create_session(_session("rt"))
    assert trips() == 2  # the bucket listed, then the session
    repo.create_agent("rt", _agent())
    assert trips() == 1
    for message in session_messages(3):
        repo.create_message("rt", "a", message)
    assert trips() == 3
    repo.read_session("rt")
    repo.read_agent("rt", "a")
    assert len(repo.list_messages("rt", "a")) == 3
    assert trips() == 4
    repo.update_agent("rt", _agent())
    assert trips() == 1
    repo.delete_session("rt")
    assert trips() == 1
    assert repo.read_session("rt") is None
    counting.close()


def test_no_primary_takes_more_than_half_of_a_spread_workload(cluster: Cluster) -> None:
    for node in cluster.primaries:
        node.command("CONFIG", "RESETSTAT")
    spread_workload(cluster.url(), sessions=60, turns=5)
    calls = commands_per_primary(cluster)
    total = sum(calls.values())
    shares = {node: count / total for node, count in calls.items()}
    assert total >= 60 * 12
    assert max(shares.values()) <= 0.5, shares
    assert min(shares.values()) > 0.1, shares


def test_a_strands_agent_with_a_user_built_cluster_client(cluster: Cluster) -> None:
    """The reference's usage with only the client changed: ``ValkeyCluster`` instead of ``Valkey``."""
    seed = cluster.primaries[0]
    client = valkey.cluster.ValkeyCluster(host="127.0.0.1", port=seed.port, decode_responses=True)
    try:
        manager = ValkeySessionManager(session_id="user-42", client=client)
        agent = Agent(agent_id="a", session_manager=manager, model=ScriptedModel(fallback=recall))
        agent("My name is Ada.")
        agent("What did I say?")
        restored_manager = ValkeySessionManager(session_id="user-42", client=client)
        restored = Agent(agent_id="a", session_manager=restored_manager, model=ScriptedModel(fallback=recall))
        assert restored.messages == agent.messages
        assert len(restored.messages) == 4
        assert [sid for sid, _ in restored_manager.repository.list_sessions()] == ["user-42"]
    finally:
        client.close()  # type: ignore[no-untyped-call]


def test_async_strands_agents_on_the_cluster(cluster: Cluster) -> None:
    """``AsyncValkeySessionManager`` over a ``valkey.asyncio`` cluster client, and over a URL."""
    seed = cluster.primaries[0]

    async def body() -> None:
        client = valkey.asyncio.cluster.ValkeyCluster(host="127.0.0.1", port=seed.port)
        try:
            manager = AsyncValkeySessionManager(session_id="async-42", client=client)
            agent = Agent(agent_id="a", session_manager=manager, model=ScriptedModel(fallback=recall))
            await agent.invoke_async("My name is Ada.")
            await agent.invoke_async("What did I say?")
            by_url = AsyncKVSessionManager("async-42", backend=await kvsession.connect_async(cluster.url()))
            restored = Agent(agent_id="a", session_manager=by_url, model=ScriptedModel(fallback=recall))
            await by_url.restore(restored)
            assert restored.messages == agent.messages and len(restored.messages) == 4
            await by_url.aclose()
        finally:
            await client.aclose()

    asyncio.run(body())


def test_every_cli_command_on_the_cluster(cluster: Cluster, tmp_path: Path) -> None:
    run_cli_paths(cluster.url(), tmp_path)


def test_every_path_as_the_least_privileged_user(cluster: Cluster, tmp_path: Path) -> None:
    nodes = cluster.live_nodes
    for node in nodes:
        node.command("ACL", "SETUSER", "least", "reset", "on", ">pw", *acl_rules(storage_prefix="strands"))
        node.command("ACL", "LOG", "RESET")
    try:
        seeds = cluster.seeds.replace("127.0.0.1", "least:pw@127.0.0.1", 1)
        url = f"valkey+cluster://{seeds}/0?wait_replicas=1&wait_timeout_ms=2000"
        run_repository_paths(url)
        run_async_paths(url)
        run_storage_paths(url, cluster=True)
        run_cli_paths(url, tmp_path)
        run_repository_paths(url + "&read_from_replicas=true")
        denied = {node.address: node.command("ACL", "LOG") for node in nodes}
        assert all(not log for log in denied.values()), denied
    finally:
        for node in nodes:
            node.command("ACL", "DELUSER", "least")
