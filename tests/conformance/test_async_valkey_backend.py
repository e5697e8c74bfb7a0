"""The shipped conformance kit, async bodies included, against the async Valkey backend (real server)."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from kvsession.kv import AsyncKeyValueBackend, open_async
from kvsession.testing.conformance import AsyncKeyValueBackendSuite


class TestAsyncValkeyBackend(AsyncKeyValueBackendSuite):
    @pytest.fixture(autouse=True)
    def _empty_server(self, valkey_url: str) -> None:
        self.url = valkey_url  # the session's server (``valkey_server``), flushed for this test

    def make_async_backend(self, **options: Any) -> AsyncKeyValueBackend:
        return open_async(self.url, **options)

    def make_unreachable_backend(self) -> AsyncKeyValueBackend:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]  # closed again when the block ends: nobody listens there
        return open_async(f"valkey://127.0.0.1:{port}/0?retries=0&socket_connect_timeout=0.5")
