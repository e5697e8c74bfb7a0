"""Fixtures of the repository contract suite: one repository per backend, same tests for each.

``backend`` is the ``kv`` harness's backend (tests/conftest.py): ``[memory]``, ``[fakeredis]``,
``[valkey]`` (the real server of the test session) and ``[cluster]`` (the session's real
3+3 Valkey Cluster, with the cluster key space its URL implies).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kvsession.kv.protocol import KeyValueBackend
from kvsession.strands.repository import KVSessionRepository
from kvsession.testing import CountingBackend
from tests.conftest import ALL_BACKENDS, CLUSTER, BackendHarness, _harness


@pytest.fixture(params=[*ALL_BACKENDS, CLUSTER])
def kv(request: pytest.FixtureRequest) -> Iterator[BackendHarness]:
    """The ``kv`` harness of tests/conftest.py, on the cluster too."""
    harness = _harness(request, request.param)
    yield harness
    harness.close()


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
