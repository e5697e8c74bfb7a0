"""Corrupted data, as every read reports it: one typed error naming the key, the same on each backend.

Data that kvsession did not write the way it writes it (another kind of data where a record
belongs, a record naming another id than its key, an index member that is not an id) is never
read as missing nor returned as it is: ``CorruptDataError`` (a ``CodecError``) names the key.
Runs on ``[memory]``, ``[fakeredis]`` and ``[valkey]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from kvsession.kv.errors import CodecError, CorruptDataError, KVSessionError
from kvsession.kv.protocol import KeyValueBackend
from kvsession.strands.repository import KVSessionRepository
from tests.records import agent, message, session

ROOT = "session:s1"
AGENT_KEY = "session:s1:agent:a1"
MESSAGE_1 = "session:s1:agent:a1:message:1"
MESSAGES_INDEX = "session:s1:agent:a1:messages"


def physical(backend: KeyValueBackend, key: str) -> str:
    """``key`` as the backend's key space writes it (``session:{s1}...`` in the cluster one)."""
    cluster = backend.config.store.key_scheme == "cluster"
    return key.replace("session:s1", "session:{s1}", 1) if cluster else key


def _stored(repo: KVSessionRepository) -> None:
    repo.create_session(session("s1"))
    repo.create_agent("s1", agent("a1"))
    for i in range(3):
        repo.create_message("s1", "a1", message(i))


def _another_kind(key: str) -> Callable[[KeyValueBackend], None]:
    def plant(backend: KeyValueBackend) -> None:
        backend.delete_many([physical(backend, key)])
        backend.set_add(physical(backend, key), ["not", "a", "record"])

    return plant


def _message_with_id(key: str, stored_id: int) -> Callable[[KeyValueBackend], None]:
    def plant(backend: KeyValueBackend) -> None:
        data = backend.get(physical(backend, key))
        assert data is not None
        record = msgspec.json.decode(data)
        record["message_id"] = stored_id
        backend.set(physical(backend, key), msgspec.json.encode(record))

    return plant


def _index_member(member: str) -> Callable[[KeyValueBackend], None]:
    def plant(backend: KeyValueBackend) -> None:
        backend.index_add(physical(backend, MESSAGES_INDEX), {member: 1.5})

    return plant


Read = Callable[[KVSessionRepository], Any]

READS: dict[str, Read] = {
    "read_session": lambda repo: repo.read_session("s1"),
    "read_agent": lambda repo: repo.read_agent("s1", "a1"),
    "read_message": lambda repo: repo.read_message("s1", "a1", 1),
    "list_messages": lambda repo: repo.list_messages("s1", "a1"),
    "list_messages(offset=1)": lambda repo: repo.list_messages("s1", "a1", offset=1),
}

LISTS = ["list_messages", "list_messages(offset=1)"]

# (what is planted, which reads, the key the error names); every other read still works.
CASES: list[tuple[str, Callable[[KeyValueBackend], None], list[str], str]] = [
    ("a set at the root", _another_kind(ROOT), list(READS), ROOT),
    ("a set at a message key", _another_kind(MESSAGE_1), ["read_message", *LISTS], MESSAGE_1),
    (
        "a record with another message_id",
        _message_with_id(MESSAGE_1, 7),
        ["read_message", "list_messages", "list_messages(offset=1)"],
        MESSAGE_1,
    ),
    ("an index member 'abc'", _index_member("abc"), LISTS, MESSAGES_INDEX),
    ("an index member '01'", _index_member("01"), LISTS, MESSAGES_INDEX),
    ("an index member of 5000 digits", _index_member("9" * 5000), LISTS, MESSAGES_INDEX),
]


@pytest.mark.parametrize(("what", "plant", "failing", "key"), CASES, ids=[case[0] for case in CASES])
def test_corrupted_data_is_one_typed_error_naming_the_key(
    repo: KVSessionRepository,
    backend: KeyValueBackend,
    what: str,
    plant: Callable[[KeyValueBackend], None],
    failing: list[str],
    key: str,
) -> None:
    _stored(repo)
    plant(backend)
    key = physical(backend, key)
    for name, read in READS.items():
        if name in failing:
            with pytest.raises(CorruptDataError) as caught:
                read(repo)
            assert caught.value.key == key, (what, name)
            assert f"key=<{key}>" in str(caught.value)
            assert isinstance(caught.value, CodecError) and isinstance(caught.value, KVSessionError)
        else:
            read(repo)  # unaffected reads still answer


def test_a_hash_at_the_root_reads_the_same_everywhere(networked_kv: Any) -> None:
    """The report's own case: ``read_session`` raised while ``list_messages`` returned ``[]``.

    Servers only (the memory backend has no hashes; a set stands for them in the table above).
    """
    repo = KVSessionRepository(networked_kv.backend)
    _stored(repo)
    client = networked_kv.raw_client()
    client.delete(ROOT)
    client.hset(ROOT, "session_id", "s1")
    for read in (READS["read_session"], READS["list_messages"], READS["read_agent"]):
        with pytest.raises(CorruptDataError, match="another kind of data") as caught:
            read(repo)
        assert caught.value.key == ROOT


def test_a_missing_session_still_reads_as_missing(repo: KVSessionRepository) -> None:
    """The checks cost nothing to the restore rule: no root, no session, no error."""
    assert repo.read_session("nope") is None
    assert repo.read_agent("nope", "a1") is None
    assert repo.read_message("nope", "a1", 0) is None
    assert repo.list_messages("nope", "a1") == []
