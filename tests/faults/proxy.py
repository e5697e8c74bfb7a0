"""A loopback TCP proxy in front of a real valkey-server that injects connection faults.

- :meth:`FaultProxy.outage`: for a while the server is unreachable. Every open connection is
  closed, and new ones are refused (``"refuse"``: nothing listens on the port) or accepted
  and closed at once (``"reset"``: the TCP connect works, the handshake does not).
- :meth:`FaultProxy.drop_next_reply_to`: the next command containing some bytes reaches the
  server, which runs it; its reply is then lost, by closing the client's connection
  (``close=True``) or by never passing it on (``close=False``, the client times out).

Valkey answers one command at a time on a connection, so the first bytes the server sends
after the armed command went through are its reply.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class FaultProxy:
    """Forwards TCP connections from ``self.port`` to the server on ``port``, with faults on demand."""

    def __init__(self, port: int) -> None:
        self._target = ("127.0.0.1", port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._armed: tuple[bytes, bool] | None = None
        self._down_until = 0.0
        self._closed = False
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self.dropped = 0
        self.refused = 0
        self._acceptor = threading.Thread(target=self._accept, args=(self._listener,), daemon=True)
        self._acceptor.start()

    def retarget(self, port: int) -> None:
        """Forward new connections to the server on ``port`` (a server restarted elsewhere)."""
        self._target = ("127.0.0.1", port)

    # -- faults ---------------------------------------------------------------------------------

    def drop_next_reply_to(self, command: bytes, *, close: bool = True) -> None:
        """Lose the reply to the next command containing ``command`` (after the server ran it)."""
        with self._lock:
            self._armed = (command, close)

    def outage(self, seconds: float, *, mode: str = "refuse") -> None:
        """Make the server unreachable for ``seconds`` (blocks for that long), then reachable again."""
        assert mode in ("refuse", "reset")
        with self._lock:
            self._down_until = time.monotonic() + seconds
            pairs, self._pairs = self._pairs, []
            listener = self._listener
        for client, server in pairs:
            _close(client)
            _close(server)
        if mode == "refuse":
            listener.close()  # connects are refused: nothing listens
            time.sleep(seconds)
            self._listen_again()
        else:
            time.sleep(seconds)  # the acceptor accepts and closes until _down_until

    def _listen_again(self) -> None:
        for _ in range(100):
            try:
                listener = socket.create_server(("127.0.0.1", self.port))
                break
            except OSError:
                time.sleep(0.01)
        else:
            raise AssertionError(f"cannot listen on {self.port} again")
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    # -- forwarding -----------------------------------------------------------------------------

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if time.monotonic() < self._down_until or self._closed:
                self.refused += 1
                _close(client)
                continue
            try:
                server = socket.create_connection(self._target)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._pairs.append((client, server))
            dropping: list[bool | None] = [None]  # None: pass replies; True/False: drop (and close?)
            threading.Thread(target=self._upstream, args=(client, server, dropping), daemon=True).start()
            threading.Thread(target=self._downstream, args=(server, client, dropping), daemon=True).start()

    def _upstream(self, client: socket.socket, server: socket.socket, dropping: list[bool | None]) -> None:
        while data := _recv(client):
            with self._lock:
                if self._armed is not None and self._armed[0] in data:
                    dropping[0] = self._armed[1]  # before the server can answer
                    self._armed = None
            try:
                server.sendall(data)
            except OSError:
                break
        _close(server)

    def _downstream(self, server: socket.socket, client: socket.socket, dropping: list[bool | None]) -> None:
        while data := _recv(server):
            if dropping[0] is not None:  # the server has run the command: its reply is lost
                self.dropped += 1
                if dropping[0]:
                    break
                continue  # swallow everything: the client waits for its socket timeout
            try:
                client.sendall(data)
            except OSError:
                break
        _close(client)
        _close(server)

    def close(self) -> None:
        """Stop accepting and close every connection."""
        self._closed = True
        with self._lock:
            self._listener.close()
            pairs, self._pairs = self._pairs, []
        for client, server in pairs:
            _close(client)
            _close(server)


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
