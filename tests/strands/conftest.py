"""Fixtures of the Strands end-to-end suite (on top of ``kv`` / ``valkey_url`` from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from kvsession.kv.protocol import KeyValueBackend

if TYPE_CHECKING:
    from tests.conftest import BackendHarness


@pytest.fixture
def reconnect(kv: BackendHarness) -> Callable[[], KeyValueBackend]:
    """Return a function opening another connection to ``kv``'s data, as a second worker would.

    A restore through a new connection and a new session manager cannot be served from anything
    the first manager cached. The memory backend lives in this process, so its "other
    connection" is the same object.
    """

    def connect() -> KeyValueBackend:
        return kv.backend if kv.name == "memory" else kv.another()

    return connect
