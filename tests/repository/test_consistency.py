"""Indexes and records never disagree: races, retries, leftovers, and the restore rule on reads."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from strands.types.exceptions import SessionException

import kvsession
from kvsession.kv.errors import ConfigError, NotFoundError
from kvsession.kv.memory import MemoryBackend
from kvsession.kv.protocol import KeyValueBackend, WriteOp
from kvsession.strands import KVSessionManager
from kvsession.strands.errors import MessageExistsError
from kvsession.strands.records import Session
from kvsession.strands.repository import TTL_SLACK, KVSessionRepository
from kvsession.testing import CountingBackend
from tests.records import agent as _agent
from tests.records import message as _message
from tests.records import session as _session


def test_a_writer_that_outlives_its_session_is_refused_and_writes_nothing(backend: KeyValueBackend) -> None:
    """A worker still holding a session that another worker deleted (or that expired)."""
    repo = KVSessionRepository(backend)
    repo.create_session(_session())
    repo.create_agent("s1", _agent())
    repo.create_message("s1", "a1", _message(0))
    message = repo.read_message("s1", "a1", 0)
    assert message is not None
    repo.delete_session("s1")
    late_writes: list[Callable[[], None]] = [
        lambda: repo.create_message("s1", "a1", _message(1, "late")),
        lambda: repo.create_agent("s1", _agent("a2")),
        lambda: repo.update_message("s1", "a1", message),
        lambda: repo.update_agent("s1", _agent()),
    ]
    for write in late_writes:
        with pytest.raises(NotFoundError) as info:
            write()
        assert info.value.key.startswith(repo.keys.session("s1")) and "s1" in str(info.value)
    assert repo.session_keys("s1") == []  # no orphan record, index or group
    assert repo.list_sessions() == []  # and no ghost entry in the sessions index

    repo.create_session(_session())
    repo.create_agent("s1", _agent())
    repo.create_message("s1", "a1", _message(0, "fresh"))  # the same id: no conflict
    assert [m.message["content"][0]["text"] for m in repo.list_messages("s1", "a1")] == ["fresh"]


def test_messages_of_an_agent_never_created_still_delete_whole(backend: KeyValueBackend) -> None:
    repo = KVSessionRepository(backend)
    repo.create_session(_session())
    repo.create_message("s1", "ghost", _message(0))
    assert repo.keys.messages_index("s1", "ghost") in repo.session_keys("s1")
    repo.delete_session("s1")
    assert not backend.exists(repo.keys.messages_index("s1", "ghost"))
    repo.create_session(_session())
    assert repo.list_messages("s1", "ghost") == []


def test_reads_of_single_records_follow_the_restore_rule(backend: KeyValueBackend) -> None:
    repo = KVSessionRepository(backend)
    repo.create_session(_session())
    repo.create_agent("s1", _agent())
    repo.create_message("s1", "a1", _message(0))
    backend.delete_many([repo.keys.session("s1")])  # the root expired first
    assert repo.read_agent("s1", "a1") is None
    assert repo.read_message("s1", "a1", 0) is None


def test_update_session_never_lets_the_root_outlive_its_records(kv: Any) -> None:
    ttl = 4.0
    repo = KVSessionRepository(kv.backend, ttl=ttl)
    repo.create_session(_session())
    repo.create_agent("s1", _agent())
    repo.create_message("s1", "a1", _message(0))
    kv.advance(0.4)  # well inside the refresh window (0.8 s): the group refresh is not due
    session = repo.read_session("s1")
    assert isinstance(session, Session)
    session.metadata["plan"] = "pro"
    repo.update_session(session)
    root_left = kv.backend.ttl(repo.keys.session("s1"))
    assert root_left is not None
    # Without the forced group refresh every other key would have ~0.4 s less than the root.
    for key in repo.session_keys("s1"):
        left = kv.backend.ttl(key)
        assert left is not None and left >= root_left - 0.1, key


class _RetryingBackend(CountingBackend):
    """A backend whose first reply is lost: it applies a batch, then the retry meets its own write."""

    def apply(self, ops: Sequence[WriteOp]) -> None:
        self.calls["apply"] += 1
        self.inner.apply(ops)
        self.inner.apply(ops)


def test_a_retried_batch_that_already_succeeded_is_not_a_conflict() -> None:
    repo = KVSessionRepository(_RetryingBackend(MemoryBackend()))
    repo.create_session(_session())
    repo.create_agent("s1", _agent())
    repo.create_message("s1", "a1", _message(0))
    repo.put_messages("s1", "a1", [_message(1), _message(2), _message(3)])  # several records at once
    assert [m.message_id for m in repo.list_messages("s1", "a1")] == [0, 1, 2, 3]


def test_a_retry_check_never_hides_a_different_record() -> None:
    repo = KVSessionRepository(MemoryBackend())
    repo.create_session(_session())
    repo.create_agent("s1", _agent())
    repo.put_messages("s1", "a1", [_message(0), _message(1)])
    with pytest.raises(MessageExistsError):  # one record equal, the other not: a real conflict
        repo.put_messages("s1", "a1", [_message(2), _message(1, "someone else's")])
    assert repo.read_message("s1", "a1", 2) is None


@pytest.mark.parametrize("ttl", [0.0, -5.0, math.nan, math.inf])
def test_a_ttl_that_cannot_expire_anything_sensibly_is_refused(ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl"):
        KVSessionRepository(MemoryBackend(), ttl=ttl)
    with pytest.raises(ConfigError, match="ttl"):
        kvsession.connect(f"memory://?ttl={ttl}")


def test_an_empty_session_id_is_never_read_as_the_managers_own() -> None:
    manager = KVSessionManager("mine", backend=MemoryBackend())
    with pytest.raises(SessionException):  # "" is an id of its own (Strands accepts it), not "mine"
        manager.delete_session("")
    assert manager.read_session() is not None


@pytest.mark.parametrize(
    "url",
    [
        "valkey://user:s3cr3t@127.0.0.1:6379/0?ttl=-1",
        "valkey://user:s3cr%40t@127.0.0.1:99999999/0",
        "valkey://user:s3cr@t@127.0.0.1:6379/0?ttl=0",
        "valkey://user:s3cr3t@127.0.0.1:port/0",
    ],
)
def test_errors_never_show_the_password(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        kvsession.connect(url)
    assert "s3cr" not in str(info.value) and ":***@" in str(info.value)


def test_manager_takes_a_timedelta_ttl_and_closes_only_what_it_opened(valkey_url: str) -> None:
    from datetime import timedelta

    with KVSessionManager("s1", url=valkey_url, ttl=timedelta(minutes=5)) as manager:
        assert manager.repository.ttl == 300
        ttl_left = manager.backend.ttl(manager.repository.keys.session("s1"))
        assert ttl_left is not None and 300 < ttl_left <= 300 * (1 + TTL_SLACK)
    with pytest.raises(kvsession.BackendUnavailable):
        manager.read_session()  # it connected, so it closed

    shared = kvsession.connect(valkey_url)
    with KVSessionManager("s2", backend=shared):
        pass
    assert shared.exists(KVSessionRepository(shared).keys.session("s2"))  # still open
    shared.close()


def test_an_oversized_message_is_refused_whole_naming_its_key(kv: Any) -> None:
    small = kv.another(max_value_bytes=4096)
    repo = KVSessionRepository(small)
    repo.create_session(_session())
    repo.create_agent("s1", _agent())
    with pytest.raises(kvsession.ValueTooLargeError) as info:
        repo.create_message("s1", "a1", _message(0, "x" * 10_000))
    assert info.value.key == repo.keys.message("s1", "a1", 0)
    assert repo.count_messages("s1", "a1") == 0  # the index was not touched either
    repo.create_message("s1", "a1", _message(0, "fits"))


def test_a_lost_server_is_a_typed_error_naming_the_key() -> None:
    import socket

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = kvsession.connect(f"valkey://127.0.0.1:{port}/0?retries=0&socket_connect_timeout=0.5")
    repo = KVSessionRepository(backend)
    with pytest.raises(kvsession.BackendUnavailable) as info:
        repo.create_message("s1", "a1", _message(0))
    assert info.value.key is not None and "s1" in info.value.key
    with pytest.raises(kvsession.BackendUnavailable):
        repo.list_messages("s1", "a1")
