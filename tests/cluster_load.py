"""Workloads on a cluster, for fault tests and benchmarks: append load, a failover, a spread.

Each thread appends to its share of the sessions until stopped (or for at most a minute). A call
either succeeds (its message id is *acknowledged*), or raises a typed retryable error
(``BackendUnavailable``, ``ReplicationTimeoutError``: counted, and the same message is sent
again, which its write token makes safe), or raises anything else: an *untyped* error, which is
what fault tests look for.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from strands.types.session import SessionAgent, SessionMessage, SessionType

import kvsession
from benchmarks.messages import session_messages
from kvsession.kv.errors import BackendUnavailable, ReplicationTimeoutError
from kvsession.orm.slots import key_slot
from kvsession.strands.records import Session
from kvsession.strands.repository import KVSessionRepository
from tests.clusters import Cluster, Node


def text_message(i: int) -> SessionMessage:
    """A one-line user message with id ``i``."""
    return SessionMessage.from_message({"role": "user", "content": [{"text": f"m{i}"}]}, i)


@dataclass
class Load:
    """Appends to sessions from threads until stopped; what each call did."""

    repo: KVSessionRepository
    session_ids: list[str]
    acked: dict[str, list[int]] = field(default_factory=dict)
    retryable: int = 0
    untyped: list[BaseException] = field(default_factory=list)
    last_ok: dict[str, float] = field(default_factory=dict)
    first_ok_after: dict[str, float] = field(default_factory=dict)
    mark: float | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, threads: int = 2, extra: Callable[[str], None] | None = None) -> Load:
        for sid in self.session_ids:
            self.acked[sid] = []
        for n in range(threads):
            mine = self.session_ids[n::threads]
            thread = threading.Thread(target=self._run, args=(mine, extra), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _run(self, session_ids: list[str], extra: Callable[[str], None] | None) -> None:
        deadline = time.monotonic() + 60  # stops by itself even if the test forgets
        while not self._stop.is_set() and time.monotonic() < deadline:
            for sid in session_ids:
                next_id = len(self.acked[sid])
                try:
                    self.repo.create_message(sid, "a", text_message(next_id))
                except (BackendUnavailable, ReplicationTimeoutError):
                    with self._lock:
                        self.retryable += 1
                    time.sleep(0.01)
                    continue  # the same message again: its write token makes that safe
                except BaseException as exc:  # every other error is the finding
                    with self._lock:
                        self.untyped.append(exc)
                    continue
                now = time.monotonic()
                with self._lock:
                    self.acked[sid].append(next_id)
                    self.last_ok[sid] = now
                    if self.mark is not None and sid not in self.first_ok_after:
                        self.first_ok_after[sid] = now
                if extra is not None:
                    self._call(extra, sid)

    def _call(self, extra: Callable[[str], None], sid: str) -> None:
        try:
            extra(sid)
        except (BackendUnavailable, ReplicationTimeoutError):
            with self._lock:
                self.retryable += 1
        except BaseException as exc:  # every other error is the finding
            with self._lock:
                self.untyped.append(exc)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


def seed_sessions(repo: KVSessionRepository, session_ids: list[str]) -> None:
    """Create each session with one agent ``a``."""
    for sid in session_ids:
        repo.create_session(Session(session_id=sid, session_type=SessionType.AGENT))
        repo.create_agent(sid, SessionAgent(agent_id="a", state={}, conversation_manager_state={}))


@dataclass
class Failover:
    """What :func:`kill_a_primary_under_load` saw."""

    load: Load
    killed_at: float
    on_victim: list[str]
    lost: int

    @property
    def gap(self) -> float:
        """Seconds from the kill to the latest first append acknowledged on a victim's session."""
        return max(self.load.first_ok_after.get(sid, float("inf")) - self.killed_at for sid in self.on_victim)


def kill_a_primary_under_load(cluster: Cluster, query: str, *, sessions: int = 12) -> Failover:
    """Two writers append to ``sessions`` sessions; after 1 s the primary of the first is SIGKILLed.

    Writing goes on until 2 s after the failover; then every session is read back through a new
    client and the acknowledged appends that are missing are counted.
    """
    repo = KVSessionRepository(kvsession.connect(cluster.url(query=query)))
    session_ids = [f"fo-{i}" for i in range(sessions)]
    seed_sessions(repo, session_ids)

    def primary_of(sid: str) -> Node:
        return cluster.primary_for_slot(key_slot(repo.keys.session(sid)))

    victim = primary_of(session_ids[0])
    on_victim = [sid for sid in session_ids if primary_of(sid) is victim]
    load = Load(repo, session_ids).start()
    try:
        time.sleep(1.0)
        killed_at = load.mark = time.monotonic()
        cluster.kill_primary(victim)
        cluster.wait_for_failover(victim)
        time.sleep(2.0)
    finally:
        load.stop()
    repo.backend.close()
    reader = KVSessionRepository(kvsession.connect(cluster.url(query="retries=10")))
    lost = 0
    for sid in session_ids:
        stored = {m.message_id for m in reader.list_messages(sid, "a")}
        lost += len(set(load.acked[sid]) - stored)
    reader.backend.close()
    return Failover(load, killed_at, on_victim, lost)


def spread_workload(url: str, sessions: int, turns: int) -> None:
    """Each of ``sessions`` sessions created, given an agent and ``turns`` appends, then restored."""
    repo = KVSessionRepository(kvsession.connect(url))
    messages = session_messages(turns)
    for s in range(sessions):
        sid = f"spread-{s}"
        seed_sessions(repo, [sid])
        for message in messages:
            repo.create_message(sid, "a", message)
        repo.read_session(sid)
        repo.read_agent(sid, "a")
        assert len(repo.list_messages(sid, "a")) == turns
    repo.backend.close()


def commands_per_primary(cluster: Cluster) -> dict[str, int]:
    """Commands each primary ran since its last ``CONFIG RESETSTAT`` (``INFO commandstats``).

    Not counted: the INFO / CONFIG this is read and reset with, nor the clients' topology reads.
    """
    calls: dict[str, int] = {}
    for node in cluster.primaries:
        stats: dict[str, dict[str, Any]] = node.client().info("commandstats")  # type: ignore[assignment]
        calls[node.address] = sum(
            int(value["calls"])
            for name, value in stats.items()
            if not name.startswith(("cmdstat_info", "cmdstat_config", "cmdstat_cluster"))
        )
    return calls
