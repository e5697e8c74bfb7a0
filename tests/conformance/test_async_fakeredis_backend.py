"""The shipped conformance kit, async bodies included, against the async fakeredis backend."""

from __future__ import annotations

from typing import Any

from kvsession.kv import AsyncKeyValueBackend, open_async
from kvsession.testing.conformance import AsyncKeyValueBackendSuite


class TestAsyncFakeRedisBackend(AsyncKeyValueBackendSuite):
    def make_async_backend(self, **options: Any) -> AsyncKeyValueBackend:
        return open_async("fakeredis://", **options)  # a fresh private in-process server each time
