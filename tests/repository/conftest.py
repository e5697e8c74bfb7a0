"""Fixtures of the repository contract suite: one repository per backend, same tests for each.

``backend`` is the ``kv`` harness's backend (tests/conftest.py): ``[memory]``, ``[fakeredis]``
and ``[valkey]`` (the real server of the test session).
"""

from __future__ import annotations

from typing import Any

import pytest

from kvsession.kv.protocol import KeyValueBackend
from kvsession.strands.repository import KVSessionRepository
from kvsession.testing import CountingBackend


@pytest.fixture
def backend(kv: Any) -> KeyValueBackend:
    store: KeyValueBackend = kv.backend
    return store


@pytest.fixture
def counting(backend: KeyValueBackend) -> CountingBackend:
    return CountingBackend(backend)


@pytest.fixture
def repo(counting: CountingBackend) -> KVSessionRepository:
    return KVSessionRepository(counting)
