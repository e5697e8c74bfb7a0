"""Fixtures of the parity suite: every backend (``kv``) × every codec, and Strands' own File store.

``kv`` comes from tests/conftest.py (``[memory]``, ``[fakeredis]``, ``[valkey]``); ``codec`` adds
``[json]`` / ``[msgpack]``, so each test here runs six times. ``file_repo`` is a real
``FileSessionManager`` in ``tmp_path``: the reference a differential test compares against.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from strands.session.file_session_manager import FileSessionManager
from strands.session.repository_session_manager import RepositorySessionManager

from kvsession.kv.protocol import KeyValueBackend
from kvsession.strands import KVSessionManager, KVSessionRepository

if TYPE_CHECKING:
    from tests.conftest import BackendHarness

CODECS = ["json", "msgpack"]

# The id FileSessionManager's constructor creates a session for; differential tests use others.
FILE_OWNER_SESSION = "parity-file-owner"


@pytest.fixture(params=CODECS)
def codec(request: pytest.FixtureRequest) -> str:
    """The codec a kvsession repository or manager is built with (``[json]``, ``[msgpack]``)."""
    name: str = request.param
    return name


@pytest.fixture
def repo(kv: BackendHarness, codec: str) -> KVSessionRepository:
    """A kvsession repository on an empty backend, with this test's codec."""
    return KVSessionRepository(kv.backend, codec=codec)


@pytest.fixture
def reconnect(kv: BackendHarness) -> Callable[[], KeyValueBackend]:
    """Return a function opening another connection to ``kv``'s data (a second worker process).

    The memory backend lives in this process, so its "other connection" is the same object.
    """

    def connect() -> KeyValueBackend:
        return kv.backend if kv.name == "memory" else kv.another()

    return connect


@pytest.fixture
def make_manager(kv: BackendHarness, codec: str) -> Callable[..., KVSessionManager]:
    """Return ``make(session_id, backend=None, **options)``: a kvsession manager with this codec."""

    def make(session_id: str, backend: KeyValueBackend | None = None, **options: Any) -> KVSessionManager:
        return KVSessionManager(
            session_id, backend=kv.backend if backend is None else backend, codec=codec, **options
        )

    return make


def file_manager(session_id: str, storage_dir: Path, **options: Any) -> FileSessionManager:
    """Strands' ``FileSessionManager`` in ``storage_dir`` (its deprecation warning silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return FileSessionManager(session_id, storage_dir=str(storage_dir), **options)


@pytest.fixture
def file_repo(tmp_path: Path) -> FileSessionManager:
    """Strands' File store as a bare repository (its constructor's own session is set aside)."""
    return file_manager(FILE_OWNER_SESSION, tmp_path / "file-store")


Store = Callable[[str, bool], RepositorySessionManager]
"""(session_id, restoring) -> a manager; ``restoring`` asks for a new connection to the same data."""


@pytest.fixture
def stores(
    make_manager: Callable[..., KVSessionManager], reconnect: Callable[[], KeyValueBackend], tmp_path: Path
) -> dict[str, Store]:
    """Strands' File store and kvsession (restoring through a new connection), by name."""

    def ours(session_id: str, restoring: bool) -> RepositorySessionManager:
        return make_manager(session_id, backend=reconnect() if restoring else None)

    def files(session_id: str, restoring: bool) -> RepositorySessionManager:
        return file_manager(session_id, tmp_path / "file-sessions")

    return {"file": files, "kvsession": ours}
