"""The cluster key scheme on a real single-node Valkey Cluster, which enforces CROSSSLOT.

A one-node cluster owns every slot, so a plain client reaches all keys; what it adds is the
rule that one command or script may only touch keys of one slot. Valkey-only by nature.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import valkey
from strands.types.session import SessionAgent, SessionMessage, SessionType

import kvsession
from kvsession.strands.records import Session
from kvsession.strands.repository import KVSessionRepository
from tests.conftest import start_valkey_server


@pytest.fixture(scope="module")
def cluster_url() -> Iterator[str]:
    server = start_valkey_server(**{"cluster-enabled": "yes"})
    client = valkey.Valkey(host="127.0.0.1", port=server.port)
    try:
        client.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)  # type: ignore[no-untyped-call]
        deadline = time.monotonic() + 10
        while b"cluster_state:ok" not in client.execute_command("CLUSTER", "INFO"):  # type: ignore[no-untyped-call]
            assert time.monotonic() < deadline, "the one-node cluster did not come up"
            time.sleep(0.05)
        with pytest.raises(valkey.ResponseError, match="CROSSSLOT"):
            client.mget("a", "b")  # the rule this module is about
        yield f"valkey://127.0.0.1:{server.port}/0?key_scheme=cluster"
    finally:
        client.close()  # type: ignore[no-untyped-call]
        server.stop()


def _message(i: int) -> SessionMessage:
    return SessionMessage.from_message({"role": "user", "content": [{"text": f"m{i}"}]}, i)


def test_every_operation_stays_in_one_slot(cluster_url: str) -> None:
    backend = kvsession.connect(cluster_url, ttl=60)
    repo = KVSessionRepository(backend)
    for sid in ("u1", "u2"):
        repo.create_session(Session(session_id=sid, session_type=SessionType.AGENT, metadata={"v": 1}))
        repo.create_agent(sid, SessionAgent(agent_id="a", state={}, conversation_manager_state={}))
        for i in range(3):
            repo.create_message(sid, "a", _message(i))
    assert all(key.startswith("session:{u1}") for key in repo.session_keys("u1"))
    assert [m.message_id for m in repo.list_messages("u1", "a")] == [0, 1, 2]
    message = repo.read_message("u1", "a", 1)
    assert message is not None
    repo.update_message("u1", "a", message)
    repo.update_agent("u1", SessionAgent(agent_id="a", state={"x": 1}, conversation_manager_state={}))
    session = repo.read_session("u1")
    assert session is not None
    repo.update_session(session)
    assert sorted(sid for sid, _ in repo.list_sessions()) == ["u1", "u2"]
    repo.delete_session("u1")
    assert repo.read_session("u1") is None
    assert [sid for sid, _ in repo.list_sessions()] == ["u2"]
    assert repo.prune_sessions(grace=0) == 0
    backend.close()
