"""Sliding expiry: a session and every key it owns expire together after ``ttl`` of inactivity.

The same tests run on every backend: memory on its fake clock, fakeredis and Valkey in real
time with short ttls (``kv.advance``).
"""

from __future__ import annotations

from typing import Any

import valkey
from strands.types.session import SessionAgent, SessionMessage, SessionType

from kvsession.kv.memory import MemoryBackend
from kvsession.strands.records import Session
from kvsession.strands.repository import TTL_SLACK, KVSessionRepository
from kvsession.testing import CountingBackend

TTL = 0.6
IDLE_UNTIL_GONE = TTL * (1 + TTL_SLACK) + 0.25


def _message(i: int) -> SessionMessage:
    return SessionMessage.from_message({"role": "user", "content": [{"text": f"m{i}"}]}, i)


def _populate(repo: KVSessionRepository, n: int, sid: str = "s1") -> None:
    repo.create_session(Session(session_id=sid, session_type=SessionType.AGENT))
    repo.create_agent(sid, SessionAgent(agent_id="a1", state={}, conversation_manager_state={}))
    for i in range(n):
        repo.create_message(sid, "a1", _message(i))


def test_idle_session_expires_with_every_key(kv: Any) -> None:
    repo = KVSessionRepository(kv.backend, ttl=TTL)
    _populate(repo, 5)
    owned = repo.session_keys("s1")
    assert len(owned) >= 9
    for key in owned:
        ttl_left = kv.backend.ttl(key)
        assert ttl_left is not None and 0 < ttl_left <= TTL * (1 + TTL_SLACK) + 1e-6, key
    kv.advance(IDLE_UNTIL_GONE)
    assert repo.read_session("s1") is None
    assert repo.list_messages("s1", "a1") == []
    assert not any(kv.backend.exists(key) for key in owned)


def test_writes_keep_a_session_alive(kv: Any) -> None:
    repo = KVSessionRepository(kv.backend, ttl=TTL)
    _populate(repo, 1)
    for i in range(1, 8):  # 7 × 0.2 s = 1.4 s, more than twice the ttl
        kv.advance(TTL / 3)
        repo.create_message("s1", "a1", _message(i))
    assert repo.read_session("s1") is not None
    assert [m.message_id for m in repo.list_messages("s1", "a1")] == list(range(8))
    kv.advance(IDLE_UNTIL_GONE)
    assert repo.read_session("s1") is None


def test_reads_keep_a_session_alive_only_with_touch_on_read(kv: Any) -> None:
    touching = KVSessionRepository(kv.backend, ttl=TTL, touch_on_read=True)
    plain = KVSessionRepository(kv.backend, ttl=TTL)
    _populate(touching, 3, sid="touched")
    _populate(plain, 3, sid="untouched")
    for _ in range(5):
        kv.advance(TTL / 3)
        assert len(touching.list_messages("touched", "a1")) == 3
        plain.read_session("untouched")
    assert touching.read_session("touched") is not None
    assert plain.read_session("untouched") is None


def test_a_write_never_re_expires_the_whole_session(kv: Any) -> None:
    """The O(N) group refresh runs only when due, not on every write.

    Within one refresh window, many appends leave the oldest message's expiry where its own
    write put it: nobody re-expired it (the naive sliding ttl would have, N times).
    """
    ttl = 30.0
    repo = KVSessionRepository(kv.backend, ttl=ttl)
    _populate(repo, 1)
    first = repo.keys.message("s1", "a1", 0)
    before = kv.backend.ttl(first)
    for i in range(1, 60):
        repo.create_message("s1", "a1", _message(i))
    kv.advance(0.3)
    repo.create_message("s1", "a1", _message(60))
    after = kv.backend.ttl(first)
    assert before is not None and after is not None
    assert after < before - 0.2


def test_the_group_refresh_runs_once_per_window_not_once_per_write() -> None:
    """Count key expiries on the memory backend over a long simulated conversation.

    2,000 appends, one every 0.5 s, ttl 60 s (refresh window 12 s): the group refresh may run
    once per window (~84 times), so expiries stay far below the naive N per write (~2 million).
    Round trips per append stay exactly 1.
    """

    class Clock:
        now = 0.0

        def __call__(self) -> float:
            return self.now

    clock = Clock()
    expiries = 0

    class CountingExpiry(MemoryBackend):
        def _expire(self, key: str, ttl: float) -> bool:
            nonlocal expiries
            expiries += 1
            return super()._expire(key, ttl)

    counting = CountingBackend(CountingExpiry(clock=clock))
    repo = KVSessionRepository(counting, ttl=60.0)
    _populate(repo, 0)
    counting.reset()
    writes = 2000
    for i in range(writes):
        clock.now += 0.5
        repo.create_message("s1", "a1", _message(i))
    assert counting.round_trips == writes
    windows = writes * 0.5 / (60.0 * TTL_SLACK) + 1
    # Per write: one index expiry. Per window: at most every key of the session.
    assert expiries <= writes + windows * (writes + 10)
    assert expiries / writes < 60  # vs ~1,000 for a refresh of every key on every write
    assert repo.read_session("s1") is not None
    assert len(repo.list_messages("s1", "a1")) == writes


def test_valkey_server_counts_the_expire_commands(valkey_url: str, valkey_client: valkey.Valkey) -> None:
    """Valkey only: its INFO commandstats counts the PEXPIREs our script runs server-side."""
    import kvsession

    repo = KVSessionRepository(kvsession.connect(valkey_url), ttl=30.0)
    _populate(repo, 0)
    valkey_client.config_resetstat()
    appends = 200
    for i in range(appends):
        repo.create_message("s1", "a1", _message(i))
    stats: dict[str, dict[str, int]] = valkey_client.info("commandstats")  # type: ignore[assignment]
    pexpires = int(stats.get("cmdstat_pexpire", {}).get("calls", 0))
    # One index expiry per append, no group refresh (not due): far from 200 × 100 = 20,000.
    assert pexpires <= 2 * appends


def test_prune_drops_index_entries_of_expired_sessions_only(kv: Any) -> None:
    repo = KVSessionRepository(kv.backend, ttl=TTL)
    forever = KVSessionRepository(kv.backend)
    _populate(repo, 1, sid="fleeting")
    _populate(forever, 1, sid="kept")
    kv.advance(IDLE_UNTIL_GONE)
    listed = [sid for sid, _ in repo.list_sessions()]
    assert sorted(listed) == ["fleeting", "kept"]  # expiry cannot touch the index entry
    assert repo.prune_sessions(grace=10.0) == 0  # both are younger than the grace period
    assert repo.prune_sessions(grace=0.0) == 1
    assert [sid for sid, _ in repo.list_sessions()] == ["kept"]
