"""A lost or emptied messages index: a restore says so instead of returning less than is stored.

The session's group (``:keys``) names every record the session owns; a restore whose window
looks short (empty, or not the next run of ids) asks it, and raises ``UnindexedMessagesError``
(an ``IncompleteSessionError``, so a Strands ``SessionException``) naming the session, the
agent, the index and the records it misses. ``repair_messages_index`` lists them again. The
normal restore stays two round trips. Runs on ``[memory]``, ``[fakeredis]`` and ``[valkey]``.
"""

from __future__ import annotations

import asyncio

import pytest
from strands.types.exceptions import SessionException

import kvsession
from kvsession.kv.errors import CorruptDataError
from kvsession.kv.protocol import KeyValueBackend
from kvsession.strands.aio_repository import AsyncKVSessionRepository
from kvsession.strands.errors import IncompleteSessionError, UnindexedMessagesError
from kvsession.strands.repository import KVSessionRepository
from kvsession.testing import CountingBackend
from tests.records import agent, message, session

INDEX = "session:s1:agent:a1:messages"


def physical(backend: KeyValueBackend, key: str) -> str:
    """``key`` as the backend's key space writes it (``session:{s1}...`` in the cluster one)."""
    cluster = backend.config.store.key_scheme == "cluster"
    return key.replace("session:s1", "session:{s1}", 1) if cluster else key


def _conversation(repo: KVSessionRepository, count: int = 4) -> None:
    repo.create_session(session("s1"))
    repo.create_agent("s1", agent("a1"))
    for i in range(count):
        repo.create_message("s1", "a1", message(i))


def _texts(repo: KVSessionRepository, **window: int) -> list[str]:
    return [m.message["content"][0]["text"] for m in repo.list_messages("s1", "a1", **window)]


@pytest.mark.parametrize("how", ["deleted", "emptied"])
def test_a_lost_index_is_reported_then_repaired(
    repo: KVSessionRepository, backend: KeyValueBackend, how: str
) -> None:
    _conversation(repo)
    index = physical(backend, INDEX)
    if how == "deleted":
        backend.delete_many([index])
    else:
        backend.index_remove(index, ["0", "1", "2", "3"])

    with pytest.raises(UnindexedMessagesError) as caught:
        repo.list_messages("s1", "a1")  # before: [] (a new agent's empty conversation)
    error = caught.value
    assert isinstance(error, IncompleteSessionError) and isinstance(error, SessionException)
    assert (error.session_id, error.agent_id, error.index_key) == ("s1", "a1", index)
    assert error.unindexed_keys == [physical(backend, f"session:s1:agent:a1:message:{i}") for i in range(4)]
    assert "session_id=<s1>" in str(error) and f"key=<{index}>" in str(error)

    repo.create_message("s1", "a1", message(4))  # the agent goes on
    with pytest.raises(UnindexedMessagesError):
        repo.list_messages("s1", "a1")  # before: 1 of 5 messages
    with pytest.raises(UnindexedMessagesError):
        repo.list_messages("s1", "a1", offset=0, limit=3)

    assert repo.repair_messages_index("s1", "a1") == 4
    assert _texts(repo) == ["m0", "m1", "m2", "m3", "m4"]
    assert repo.repair_messages_index("s1", "a1") == 0  # nothing left to repair


def test_the_normal_restore_stays_two_round_trips(
    repo: KVSessionRepository, counting: CountingBackend
) -> None:
    _conversation(repo, 6)
    windows: list[tuple[dict[str, int], int]] = [({}, 6), ({"offset": 2}, 4), ({"offset": 1, "limit": 3}, 3)]
    for window, expected in windows:
        counting.reset()
        assert len(repo.list_messages("s1", "a1", **window)) == expected
        assert counting.round_trips == 2, window


def test_an_agent_without_messages_is_two_round_trips_and_empty(
    repo: KVSessionRepository, counting: CountingBackend
) -> None:
    _conversation(repo)
    repo.create_agent("s1", agent("a2"))
    counting.reset()
    assert repo.list_messages("s1", "a2") == []  # a1's records are not a2's
    assert counting.round_trips == 2
    counting.reset()
    assert repo.list_messages("s1", "a1", offset=10) == []
    assert counting.round_trips == 2


def test_ids_that_skip_numbers_are_not_an_error(repo: KVSessionRepository) -> None:
    """Ids other than 0, 1, 2 ... (a tool's own numbering) cost a check, never an error."""
    repo.create_session(session("s1"))
    repo.create_agent("s1", agent("a1"))
    for i in (3, 5, 9):
        repo.create_message("s1", "a1", message(i))
    assert _texts(repo) == ["m3", "m5", "m9"]
    assert _texts(repo, offset=1) == ["m5", "m9"]


def test_a_lost_index_of_a_deleted_session_is_no_session(
    repo: KVSessionRepository, backend: KeyValueBackend
) -> None:
    """The restore rule first: leftovers of a session whose root is gone read as nothing."""
    _conversation(repo)
    backend.delete_many([physical(backend, INDEX), physical(backend, "session:s1")])
    assert repo.list_messages("s1", "a1") == []
    assert repo.repair_messages_index("s1", "a1") == 0
    assert repo.clear_leftovers("s1")


def test_records_the_group_names_but_that_are_gone_are_not_unindexed(
    repo: KVSessionRepository, backend: KeyValueBackend
) -> None:
    """An index that lost entries whose records are gone too (deleted by hand): nothing to report."""
    _conversation(repo)
    keys = [INDEX, *(f"session:s1:agent:a1:message:{i}" for i in range(4))]
    backend.delete_many([physical(backend, key) for key in keys])
    assert repo.list_messages("s1", "a1") == []


def test_the_async_repository_reports_it_too() -> None:
    """The read plans are shared: the async restore raises the same error, in the same round trips."""

    async def run() -> None:
        backend = await kvsession.connect_async("memory://")
        repo = AsyncKVSessionRepository(backend)
        await repo.create_session(session("s1"))
        await repo.create_agent("s1", agent("a1"))
        for i in range(3):
            await repo.create_message("s1", "a1", message(i))
        await backend.delete_many([INDEX])
        with pytest.raises(UnindexedMessagesError):
            await repo.list_messages("s1", "a1")
        await backend.delete_many(["session:s1:agent:a1:message:1"])
        await backend.set_add("session:s1:agent:a1:message:1", ["x"])
        with pytest.raises(CorruptDataError):
            await repo.read_message("s1", "a1", 1)
        await repo.aclose()

    asyncio.run(run())
