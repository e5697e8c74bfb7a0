"""Fixtures of the command-line tests: a CLI runner, stores with data, an isolated state dir.

Every test runs with ``$XDG_STATE_HOME`` in its own temporary directory and without
``$KVSESSION_URL``, so no test finds a developer's ``kvsession serve`` or environment.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import kvsession
from kvsession.strands.repository import KVSessionRepository
from kvsession_fakeredis import drop_shared_server
from tests.cli.helpers import Cli


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No state file and no ``KVSESSION_URL`` from outside the test."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("KVSESSION_URL", raising=False)


@pytest.fixture(params=["fakeredis", "valkey"])
def store_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty store the CLI and the test share: a named fakeredis server or the real Valkey."""
    if request.param == "fakeredis":
        name = f"cli-{uuid.uuid4().hex}"
        yield f"fakeredis://{name}"
        drop_shared_server(name)
    else:
        yield str(request.getfixturevalue("valkey_url"))


@pytest.fixture
def repo(store_url: str) -> Iterator[KVSessionRepository]:
    """A repository on ``store_url``, to seed data and check what the CLI did."""
    backend = kvsession.connect(store_url)
    yield KVSessionRepository(backend)
    backend.close()


@pytest.fixture
def cli(store_url: str) -> Cli:
    """The CLI, pointed at ``store_url``."""
    return Cli(store_url)
