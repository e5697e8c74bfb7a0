"""The shipped conformance kit against the memory backend, on a fake clock (no real waiting)."""

from __future__ import annotations

from typing import Any

import pytest

from kvsession.kv.memory import MemoryBackend
from kvsession.kv.protocol import KeyValueBackend
from kvsession.testing.conformance import FakeClock, KeyValueBackendSuite


class TestMemoryBackend(KeyValueBackendSuite):
    @pytest.fixture(autouse=True)
    def _fake_clock(self) -> None:
        self.clock = FakeClock()

    def make_backend(self, **options: Any) -> KeyValueBackend:
        return MemoryBackend(clock=self.clock, **options)

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
