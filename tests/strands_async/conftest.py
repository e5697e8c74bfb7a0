"""Async backends of each kind, on the same data as a sync one, and a counting async wrapper."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

import kvsession
from kvsession.kv import open_async
from kvsession.kv.aio import AsyncKeyValueBackend, AsyncShell
from kvsession.kv.memory import MemoryBackend
from kvsession.kv.protocol import KeyValueBackend
from kvsession.testing import AsyncCountingBackend
from kvsession_fakeredis import drop_shared_server

ALL_BACKENDS = ["memory", "fakeredis", "valkey"]


def counting(inner: AsyncKeyValueBackend) -> AsyncKeyValueBackend:
    """Wrap ``inner`` in an :class:`AsyncCountingBackend`, typed as the protocol it forwards."""
    backend: AsyncKeyValueBackend = AsyncCountingBackend(inner)
    return backend


@dataclass
class AsyncHarness:
    """Async backends of one kind over one store, and a sync backend on the same data.

    Attributes:
        name: ``memory``, ``fakeredis`` or ``valkey`` (the test id).
        url: The URL the backends are opened with.
    """

    name: str
    url: str
    _memory: MemoryBackend | None = None
    _opened: list[AsyncKeyValueBackend] = field(default_factory=list)
    _sync: list[KeyValueBackend] = field(default_factory=list)

    def open(self, **options: Any) -> AsyncKeyValueBackend:
        """An async backend on this store (memory with options: a new store)."""
        if self.name == "memory":
            if options:
                return AsyncShell(MemoryBackend(**options))
            if self._memory is None:
                self._memory = MemoryBackend()
            return AsyncShell(self._memory)
        backend = open_async(self.url, **options)
        self._opened.append(backend)
        return backend

    def sync(self) -> KeyValueBackend:
        """A sync backend on the same data."""
        if self.name == "memory":
            if self._memory is None:
                self._memory = MemoryBackend()
            return self._memory
        backend = kvsession.connect(self.url)
        self._sync.append(backend)
        return backend

    def close(self) -> None:
        for backend in self._sync:
            backend.close()


def _harness(request: pytest.FixtureRequest, name: str) -> AsyncHarness:
    if name == "memory":
        return AsyncHarness("memory", "memory://")
    if name == "fakeredis":
        server = f"async-{uuid.uuid4().hex}"
        request.addfinalizer(lambda: drop_shared_server(server))
        return AsyncHarness("fakeredis", f"fakeredis://{server}")
    return AsyncHarness("valkey", request.getfixturevalue("valkey_url"))


@pytest.fixture(params=ALL_BACKENDS)
def akv(request: pytest.FixtureRequest) -> Iterator[AsyncHarness]:
    """An empty async backend of each kind (``[memory]``, ``[fakeredis]``, ``[valkey]``)."""
    harness = _harness(request, request.param)
    yield harness
    harness.close()


@pytest.fixture(params=["fakeredis", "valkey"])
def networked_akv(request: pytest.FixtureRequest) -> Iterator[AsyncHarness]:
    """The same, behind a valkey-py connection only (``[fakeredis]``, ``[valkey]``)."""
    harness = _harness(request, request.param)
    yield harness
    harness.close()
