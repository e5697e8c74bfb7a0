"""The bad-input corpus of the reliability issue, as one table: input -> the typed error it gets.

Every row once raised something untyped (``OverflowError``, ``ValueError``), passed silently
(port 0 became 6379, a repeated option kept its last value, ``socket_timeout=0`` failed every
call later) or was reported inconsistently (corrupted records read as missing, or returned as
they were). Each now raises one error of kvsession's tree naming the culprit, before the backend
is touched where the input alone is wrong. Rows that need stored data run on ``[memory]``,
``[fakeredis]`` and ``[valkey]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from strands.types.session import SessionMessage

import kvsession
from kvsession.kv.errors import ConfigError, CorruptDataError, InvalidIdError, KVSessionError
from kvsession.strands.repository import KVSessionRepository
from tests.records import agent, message, session

Action = Callable[[KVSessionRepository], object]


def _stored(repo: KVSessionRepository) -> None:
    repo.create_session(session("s1"))
    repo.create_agent("s1", agent("a1"))
    for i in range(3):
        repo.create_message("s1", "a1", message(i))


def _corrupt_then(plant: Callable[[KVSessionRepository], None], read: Action) -> Action:
    def action(repo: KVSessionRepository) -> object:
        _stored(repo)
        plant(repo)
        return read(repo)

    return action


def _index_member(member: str) -> Callable[[KVSessionRepository], None]:
    def plant(repo: KVSessionRepository) -> None:
        repo.backend.index_add(repo.keys.messages_index("s1", "a1"), {member: 1.5})

    return plant


def _kind_at_message(repo: KVSessionRepository) -> None:
    key = repo.keys.message("s1", "a1", 1)
    repo.backend.delete_many([key])
    repo.backend.set_add(key, ["not", "a", "record"])


def _other_id_in_message(repo: KVSessionRepository) -> None:
    key = repo.keys.message("s1", "a1", 1)
    data = repo.backend.get(key)
    assert data is not None
    record = msgspec.json.decode(data)
    record["message_id"] = 2
    repo.backend.set(key, msgspec.json.encode(record))


def _append(message_id: object) -> Action:
    def action(repo: KVSessionRepository) -> object:
        _stored(repo)
        record = SessionMessage({"role": "user", "content": []}, message_id)  # type: ignore[arg-type]
        repo.create_message("s1", "a1", record)
        return None

    return action


# (input, what is done with it, the error, a fragment its message must hold)
CORPUS: list[tuple[str, Action, type[KVSessionError], str]] = [
    ("message_id 10**400", _append(10**400), InvalidIdError, "message_id"),
    ("message_id 10**5000", _append(10**5000), InvalidIdError, "an int of 16610 bits"),
    ("message_id 2**53", _append(2**53), InvalidIdError, "2**53 - 1"),
    ("message_id -1", _append(-1), InvalidIdError, "non-negative"),
    ("message_id True", _append(True), InvalidIdError, "message_id"),
    ("session id of 257 chars", lambda repo: repo.read_session("x" * 257), InvalidIdError, "256"),
    ("session id with a lone surrogate", lambda repo: repo.read_session("a\ud800"), InvalidIdError, "UTF-8"),
    (
        "index member 'abc'",
        _corrupt_then(_index_member("abc"), lambda repo: repo.list_messages("s1", "a1")),
        CorruptDataError,
        "messages",
    ),
    (
        "a set where a message record belongs",
        _corrupt_then(_kind_at_message, lambda repo: repo.read_message("s1", "a1", 1)),
        CorruptDataError,
        "message:1",
    ),
    (
        "a set where a message record belongs, on restore",
        _corrupt_then(_kind_at_message, lambda repo: repo.list_messages("s1", "a1")),
        CorruptDataError,
        "message:1",
    ),
    (
        "a record naming another message id than its key",
        _corrupt_then(_other_id_in_message, lambda repo: repo.read_message("s1", "a1", 1)),
        CorruptDataError,
        "message:1",
    ),
]

URLS: list[tuple[str, str]] = [
    ("valkey://127.0.0.1:0/0", "port"),
    ("valkey://127.0.0.1:6379/0?socket_timeout=0", "socket_timeout"),
    ("valkey://127.0.0.1:6379/0?socket_connect_timeout=-1", "socket_connect_timeout"),
    ("memory://?codec=json&codec=msgpack", "'codec' given more than once"),
    ("valkey://127.0.0.1:6379/0?ttl=nan", "ttl"),
]


@pytest.mark.parametrize(("name", "action", "error", "fragment"), CORPUS, ids=[row[0] for row in CORPUS])
def test_bad_input_gets_its_typed_error(
    kv: Any, name: str, action: Action, error: type[KVSessionError], fragment: str
) -> None:
    repo = KVSessionRepository(kv.backend)
    with pytest.raises(error) as info:
        action(repo)
    assert fragment in str(info.value), f"{name}: {info.value}"


@pytest.mark.parametrize(("url", "fragment"), URLS, ids=[row[0] for row in URLS])
def test_urls_read_wrongly_before_are_config_errors(url: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        kvsession.connect(url)
    assert fragment in str(info.value)
