"""The shipped conformance kit, async bodies included, against the async memory backend (AsyncShell)."""

from __future__ import annotations

from typing import Any

import pytest

from kvsession.kv.aio import AsyncKeyValueBackend, AsyncShell
from kvsession.kv.memory import MemoryBackend
from kvsession.testing.conformance import AsyncKeyValueBackendSuite, FakeClock


class TestAsyncMemoryBackend(AsyncKeyValueBackendSuite):
    @pytest.fixture(autouse=True)
    def _fake_clock(self) -> None:
        self.clock = FakeClock()

    def make_async_backend(self, **options: Any) -> AsyncKeyValueBackend:
        return AsyncShell(MemoryBackend(clock=self.clock, **options))

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
