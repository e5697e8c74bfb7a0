"""The shipped conformance kit against the fakeredis backend, found by its URL scheme."""

from __future__ import annotations

from typing import Any

from kvsession.kv import KeyValueBackend, connect
from kvsession.testing.conformance import KeyValueBackendSuite


class TestFakeRedisBackend(KeyValueBackendSuite):
    def make_backend(self, **options: Any) -> KeyValueBackend:
        return connect("fakeredis://", **options)  # a fresh private in-process server each time
