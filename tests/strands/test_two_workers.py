"""Two Strands Agents on one session id (issue 12, defect 5): typed conflicts, or the lease.

Each worker is its own session manager (its own repository and caches) over its own connection
to the same data, in its own thread, as two API-server workers receiving requests for one user.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from strands import Agent
from strands.types.exceptions import EventLoopException, SessionException
from strands.types.session import SessionMessage, SessionType

from kvsession.kv.protocol import KeyValueBackend
from kvsession.scripted import ScriptedModel
from kvsession.strands.errors import (
    MessageExistsError,
    SessionBusyError,
    SessionConflictError,
    SessionRecordExistsError,
)
from kvsession.strands.manager import KVSessionManager
from kvsession.strands.records import Session
from kvsession.strands.repository import KVSessionRepository

TURNS = 3


def _agent(manager: KVSessionManager, worker: str, turn: int) -> Agent:
    model = ScriptedModel([f"{worker} answers turn {turn}"])
    agent = Agent(model=model, session_manager=manager, callback_handler=None)
    agent.state.set("last", f"{worker}-{turn}")
    return agent


def _texts(messages: list[SessionMessage]) -> list[str]:
    return [m.message["content"][0]["text"] for m in messages]


def test_a_stale_agent_sync_is_a_typed_conflict(reconnect: Callable[[], KeyValueBackend]) -> None:
    """Without a lease: two agents restored from one state; the second to write gets a conflict."""
    first = KVSessionManager("shared", backend=reconnect())
    first_agent = Agent(model=ScriptedModel(["one"]), session_manager=first, callback_handler=None)
    second = KVSessionManager("shared", backend=reconnect())
    second_agent = Agent(model=ScriptedModel(["two"]), session_manager=second, callback_handler=None)
    first_agent.state.set("owner", "first")
    first.sync_agent(first_agent)
    second_agent.state.set("owner", "second")
    with pytest.raises(SessionConflictError) as info:
        second.sync_agent(second_agent)  # based on the state both restored: stale
    assert isinstance(info.value, SessionException)
    stored = first.repository.read_agent("shared", first_agent.agent_id)
    assert stored is not None and stored.state == {"owner": "first"}


def test_without_a_lease_concurrent_turns_fail_typed_and_never_corrupt(
    reconnect: Callable[[], KeyValueBackend],
) -> None:
    """Each turn completes or raises a Strands SessionException; what is stored restores whole."""
    # One turn first: both workers then restore a non-empty conversation (the race of a first
    # restore with a first append is the read path's, reported separately).
    _agent(KVSessionManager("shared", backend=reconnect()), "seed", 0)("seed asks")
    start = threading.Barrier(2)
    outcomes: dict[str, list[object]] = {"A": [], "B": []}

    def worker(name: str) -> None:
        start.wait()
        for turn in range(TURNS):
            try:
                manager = KVSessionManager("shared", backend=reconnect())
                _agent(manager, name, turn)(f"{name} asks turn {turn}")
                outcomes[name].append("ok")
            except Exception as exc:
                outcomes[name].append(exc)

    threads = [threading.Thread(target=worker, args=(name,)) for name in outcomes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # Strands wraps what a hook raises inside its event loop in EventLoopException (cause kept).
    errors = [
        o.__cause__ if isinstance(o, EventLoopException) else o
        for runs in outcomes.values()
        for o in runs
        if o != "ok"
    ]
    # A second create of the agent or of a message id, or a stale state update: typed, and a
    # Strands SessionException; never a silent overwrite.
    typed = MessageExistsError | SessionConflictError | SessionRecordExistsError
    unexpected = [e for e in errors if not (isinstance(e, typed) and isinstance(e, SessionException))]
    assert unexpected == []
    repo = KVSessionRepository(reconnect())
    texts = _texts(repo.list_messages("shared", "default"))  # never IncompleteSessionError
    assert len(texts) >= 2
    assert sum(1 for runs in outcomes.values() for o in runs if o == "ok") >= 1


def test_with_the_lease_the_second_worker_waits_and_nothing_is_lost(
    reconnect: Callable[[], KeyValueBackend],
) -> None:
    """Every turn of both workers lands, in turn: the lease serialises them."""
    KVSessionManager("shared", backend=reconnect()).close()
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def worker(name: str) -> None:
        start.wait()
        try:
            for turn in range(TURNS):
                with KVSessionManager("shared", backend=reconnect(), lease=5, lease_wait=30) as manager:
                    _agent(manager, name, turn)(f"{name} asks turn {turn}")
                time.sleep(0.001)  # let the other worker take the lease
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("A", "B")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    texts = _texts(KVSessionRepository(reconnect()).list_messages("shared", "default"))
    assert len(texts) == 2 * TURNS * 2  # every question and every answer of both workers
    for name in ("A", "B"):
        for turn in range(TURNS):
            at = texts.index(f"{name} asks turn {turn}")
            assert texts[at + 1] == f"{name} answers turn {turn}"  # turns never interleave


def test_with_the_lease_a_second_worker_without_wait_is_busy(
    reconnect: Callable[[], KeyValueBackend],
) -> None:
    with KVSessionManager("shared", backend=reconnect(), lease=30) as holder:
        _agent(holder, "A", 0)("A asks")
        with pytest.raises(SessionBusyError) as info:
            KVSessionManager("shared", backend=reconnect(), lease=30, lease_wait=0.05)
        assert isinstance(info.value, SessionException) and info.value.session_id == "shared"
    with KVSessionManager("shared", backend=reconnect(), lease=30) as next_holder:  # released
        _agent(next_holder, "B", 0)("B asks")
    texts = _texts(KVSessionRepository(reconnect()).list_messages("shared", "default"))
    assert texts == ["A asks", "A answers turn 0", "B asks", "B answers turn 0"]


def _session(**metadata: Any) -> Session:
    return Session(session_id="s1", session_type=SessionType.AGENT, metadata=metadata)


def test_the_lease_expires_when_its_holder_stops_writing(kv: Any) -> None:
    holder = KVSessionRepository(kv.backend)
    other = KVSessionRepository(kv.backend if kv.name == "memory" else kv.another())
    holder.create_session(_session(v=0))
    holder.acquire_lease("s1", 0.3)
    with pytest.raises(SessionBusyError):
        other.acquire_lease("s1", 0.3)
    holder.update_session(_session(v=1))  # a write renews the lease
    kv.advance(0.2)
    holder.update_session(_session(v=2))
    kv.advance(0.2)
    with pytest.raises(SessionBusyError):  # 0.4 s after acquiring, renewed 0.2 s ago: held
        other.acquire_lease("s1", 0.3)
    kv.advance(0.4)  # the holder died: no write for longer than the ttl
    other.acquire_lease("s1", 0.3)
    with pytest.raises(SessionBusyError) as info:
        holder.update_session(_session(stale=True))
    assert info.value.key == holder.lease_key("s1")
    stored = other.read_session("s1")
    assert isinstance(stored, Session) and stored.metadata == {"v": 2}  # nothing written
    assert holder.holds_lease("s1") is False
    other.release_lease("s1")
    holder.acquire_lease("s1", 0.3)  # free again
    holder.release_lease("s1")
