"""The shipped conformance kit against the Valkey backend on the session's real valkey-server."""

from __future__ import annotations

from typing import Any

import pytest

from kvsession.kv import KeyValueBackend, connect
from kvsession.testing.conformance import KeyValueBackendSuite


class TestValkeyBackend(KeyValueBackendSuite):
    @pytest.fixture(autouse=True)
    def _empty_server(self, valkey_url: str) -> None:
        self.url = valkey_url  # the session's server (``valkey_server``), flushed for this test

    def make_backend(self, **options: Any) -> KeyValueBackend:
        return connect(self.url, **options)
