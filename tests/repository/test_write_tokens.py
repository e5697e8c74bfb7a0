"""Retries of our own writes are recognised by a write token; identical duplicates are conflicts.

A batch whose reply is lost is simulated by wrappers around each backend (memory, fakeredis,
valkey): one that applies the batch and then reports the connection lost (the caller retries
the call), and one that applies it and re-sends it, as valkey-py's own retry does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from strands.types.exceptions import SessionException

from kvsession.kv.errors import BackendUnavailable, ConflictError
from kvsession.kv.forwarding import ForwardingBackend
from kvsession.kv.protocol import KeyValueBackend, WriteOp, WriteTokenOp
from kvsession.strands.errors import (
    MessageExistsError,
    SessionExistsError,
    SessionRecordExistsError,
    SessionRecordNotFoundError,
)
from kvsession.strands.repository import KVSessionRepository
from kvsession.strands.writes import WRITE_TOKEN_TTL
from tests.records import agent as _agent
from tests.records import message as _message
from tests.records import session as _session


class _MultiAgent:
    def __init__(self, ident: str, state: dict[str, object]) -> None:
        self.id = ident
        self.state = state

    def serialize_state(self) -> dict[str, object]:
        return dict(self.state)


class _LostReply(ForwardingBackend):
    """Applies batches; when armed, the next one is applied and then reported as a lost connection.

    ``between`` runs after that batch is applied and before the error is raised (another writer
    acting in the gap). ``resend`` instead re-sends the applied batch itself, as a client's own
    retry does, and returns what the re-send returns.
    """

    def __init__(self, inner: KeyValueBackend) -> None:
        super().__init__(inner)
        self.armed = False
        self.resend = False
        self.before = False  # lose the connection before the batch reaches the store
        self.between: Callable[[], None] = lambda: None
        self.batches: list[list[WriteOp]] = []

    def forward(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if method != "apply":
            return super().forward(method, *args, **kwargs)
        ops: list[WriteOp] = list(args[0])
        self.batches.append(ops)
        if not self.armed:
            return super().forward(method, ops)
        self.armed = False
        if self.before:
            raise BackendUnavailable("connection lost before the batch was sent", key=None)
        super().forward(method, ops)
        self.between()
        if self.resend:
            return super().forward(method, ops)
        raise BackendUnavailable("connection lost; the batch may have been applied", key=None)


@pytest.fixture
def lossy(kv: Any) -> _LostReply:
    return _LostReply(kv.backend)


@pytest.fixture
def repo(lossy: _LostReply) -> KVSessionRepository:
    repository = KVSessionRepository(lossy)
    repository.create_session(_session())
    repository.create_agent("s1", _agent())
    return repository


def _snapshot(repo: KVSessionRepository) -> dict[str, object]:
    """Every key the session owns, with its value or members, and its sessions-index entry."""
    backend = repo.backend
    state: dict[str, object] = {}
    for key in repo.session_keys("s1"):
        [value] = backend.get_many([key])  # other kinds read as missing
        if value is not None:
            state[key] = value
        elif key.endswith(("agents", "keys")):
            state[key] = backend.set_members(key)
        else:
            state[key] = backend.index_range_with_scores(key)
    state["sessions"] = backend.index_score(repo.keys.sessions_index("s1"), "s1")
    return state


def _texts(repo: KVSessionRepository) -> list[str]:
    return [m.message["content"][0]["text"] for m in repo.list_messages("s1", "a1")]


# -- identical duplicates are conflicts -------------------------------------------------------


_DUPLICATES: dict[str, tuple[Callable[[KVSessionRepository], object], type[SessionException]]] = {
    "session": (lambda repo: repo.create_session(_session()), SessionExistsError),
    "agent": (lambda repo: repo.create_agent("s1", _agent()), SessionRecordExistsError),
    "message": (lambda repo: repo.create_message("s1", "a1", _message(0)), MessageExistsError),
    "multi_agent": (
        lambda repo: repo.create_multi_agent("s1", _MultiAgent("swarm", {"n": 1})),  # type: ignore[arg-type]
        SessionRecordExistsError,
    ),
    "messages_in_bulk": (lambda repo: repo.put_messages("s1", "a1", [_message(0)]), MessageExistsError),
}


@pytest.mark.parametrize("what", sorted(_DUPLICATES))
def test_an_identical_duplicate_create_is_a_conflict_and_changes_nothing(
    repo: KVSessionRepository, what: str
) -> None:
    create, error = _DUPLICATES[what]
    if what not in {"session", "agent"}:
        create(repo)  # the first one
    before = _snapshot(repo)
    with pytest.raises(error) as info:
        create(repo)  # the very same record (same bytes): still another call's create
    assert isinstance(info.value, SessionException)
    assert _snapshot(repo) == before


def test_the_same_record_from_another_repository_is_a_conflict(repo: KVSessionRepository) -> None:
    message = _message(0)
    repo.create_message("s1", "a1", message)
    other = KVSessionRepository(repo.backend)
    with pytest.raises(MessageExistsError):
        other.create_message("s1", "a1", message)
    assert _texts(repo) == ["m0"]


# -- retries of an applied batch ---------------------------------------------------------------


_RETRIED: dict[str, Callable[[KVSessionRepository], object]] = {
    "message": lambda repo: repo.create_message("s1", "a1", _message(0)),
    "agent": lambda repo: repo.create_agent("s1", _agent("a2")),
    "multi_agent": lambda repo: repo.create_multi_agent("s1", _MultiAgent("swarm", {"n": 1})),  # type: ignore[arg-type]
    "messages_in_bulk": lambda repo: repo.put_messages("s1", "a1", [_message(0), _message(1)]),
}


@pytest.mark.parametrize("what", sorted(_RETRIED))
def test_a_batch_re_sent_after_its_reply_was_lost_is_not_applied_twice(
    repo: KVSessionRepository, lossy: _LostReply, what: str
) -> None:
    lossy.armed = lossy.resend = True
    _RETRIED[what](repo)  # applied, then re-sent: the re-send finds its token
    resent = _snapshot(repo)
    with pytest.raises(SessionRecordExistsError):
        _RETRIED[what](repo)  # a new call of the same create is a conflict, as usual
    assert _snapshot(repo) == resent
    assert repo.count_messages("s1", "a1") == len(repo.list_messages("s1", "a1"))
    assert sorted(repo.list_agents("s1")) == (["a1", "a2"] if what == "agent" else ["a1"])


@pytest.mark.parametrize("what", sorted(_RETRIED))
def test_a_call_retried_after_a_lost_reply_succeeds(
    repo: KVSessionRepository, lossy: _LostReply, what: str
) -> None:
    lossy.armed = True
    with pytest.raises(BackendUnavailable):
        _RETRIED[what](repo)
    applied = _snapshot(repo)
    _RETRIED[what](repo)  # the caller retries the same call: its own write, already there
    assert _snapshot(repo) == applied
    assert lossy.batches[-1][-1] == lossy.batches[-2][-1]  # the same token, re-used
    repo.create_message("s1", "a1", _message(5))  # and the next write goes on as usual
    assert repo.count_messages("s1", "a1") == len(repo.list_messages("s1", "a1"))


def test_create_and_delete_session_re_sent_after_a_lost_reply(kv: Any) -> None:
    lossy = _LostReply(kv.backend)
    repo = KVSessionRepository(lossy)
    lossy.armed = lossy.resend = True
    repo.create_session(_session())  # re-sent: without its token it would meet its own root
    repo.create_agent("s1", _agent())
    repo.create_message("s1", "a1", _message(0))
    lossy.armed = lossy.resend = True
    repo.delete_session("s1")  # re-sent: without its token the root is missing, not found
    assert repo.session_keys("s1") == [] and repo.list_sessions() == []
    lossy.armed, lossy.resend = True, False
    with pytest.raises(BackendUnavailable):
        repo.create_session(_session())
    repo.create_session(_session())  # retried by the caller
    lossy.armed = True
    with pytest.raises(BackendUnavailable):
        repo.delete_session("s1")
    repo.delete_session("s1")  # retried by the caller: its own delete, not "not found"
    assert repo.read_session("s1") is None
    with pytest.raises(SessionRecordNotFoundError):
        repo.delete_session("s1")  # a new delete of a session that is gone


def test_a_retry_is_recognised_although_another_writer_wrote_in_between(
    repo: KVSessionRepository, lossy: _LostReply
) -> None:
    other = KVSessionRepository(lossy.inner)
    lossy.between = lambda: other.create_message("s1", "a1", _message(1, "theirs"))
    lossy.armed = lossy.resend = True
    repo.create_message("s1", "a1", _message(0, "ours"))
    assert _texts(repo) == ["ours", "theirs"]
    lossy.between = lambda: other.create_message("s1", "a1", _message(3, "theirs again"))
    lossy.armed, lossy.resend = True, False
    with pytest.raises(BackendUnavailable):
        repo.create_message("s1", "a1", _message(2, "ours again"))
    repo.create_message("s1", "a1", _message(2, "ours again"))
    assert _texts(repo) == ["ours", "theirs", "ours again", "theirs again"]


# -- the caller rebuilds its record after an unacknowledged write -----------------------------


def test_a_rebuilt_message_after_an_unacknowledged_write_that_landed(
    repo: KVSessionRepository, lossy: _LostReply
) -> None:
    lossy.armed = True
    with pytest.raises(BackendUnavailable):
        repo.create_message("s1", "a1", _message(0, "first build"))
    rebuilt = _message(0, "second build")  # a new object: new created_at, other bytes
    repo.create_message("s1", "a1", rebuilt)
    assert _texts(repo) == ["first build"]  # one message, the one that landed
    assert repo.count_messages("s1", "a1") == 1
    repo.create_message("s1", "a1", _message(1))  # the next append is a fresh write
    with pytest.raises(MessageExistsError):
        repo.create_message("s1", "a1", _message(0, "third build"))  # the unsure write is settled


def test_a_rebuilt_message_after_an_unacknowledged_write_that_never_landed(
    repo: KVSessionRepository, lossy: _LostReply
) -> None:
    lossy.armed = lossy.before = True
    with pytest.raises(BackendUnavailable):
        repo.create_message("s1", "a1", _message(0, "first build"))
    assert repo.count_messages("s1", "a1") == 0
    repo.create_message("s1", "a1", _message(0, "second build"))
    assert _texts(repo) == ["second build"]


def test_another_write_in_between_ends_the_recognition(repo: KVSessionRepository, lossy: _LostReply) -> None:
    """The documented limit: a newer token of this writer replaces the unsure one."""
    lossy.armed = True
    with pytest.raises(BackendUnavailable):
        repo.create_message("s1", "a1", _message(0, "first build"))
    repo.create_message("s1", "a1", _message(1))
    with pytest.raises(MessageExistsError):
        repo.create_message("s1", "a1", _message(0, "second build"))
    assert _texts(repo) == ["first build", "m1"]


def test_an_unsure_token_is_reused_only_for_the_same_writes(
    repo: KVSessionRepository, lossy: _LostReply
) -> None:
    lossy.armed = True
    with pytest.raises(BackendUnavailable):
        repo.put_messages("s1", "a1", [_message(0), _message(1)])
    unsure = lossy.batches[-1][-1]
    # A create of only part of them, or of more, is another write: a fresh token, judged as usual.
    with pytest.raises(MessageExistsError):
        repo.create_message("s1", "a1", _message(0))
    repo.put_messages("s1", "a1", [_message(2), _message(3)])
    assert lossy.batches[-1][-1] != unsure
    assert repo.count_messages("s1", "a1") == 4


def test_an_unsure_token_is_not_reused_from_another_thread(
    repo: KVSessionRepository, lossy: _LostReply
) -> None:
    lossy.armed = True
    with pytest.raises(BackendUnavailable):
        repo.create_message("s1", "a1", _message(0, "first build"))
    raised: list[BaseException] = []

    def retry() -> None:
        try:
            repo.create_message("s1", "a1", _message(0, "second build"))
        except BaseException as exc:  # handed to the test thread
            raised.append(exc)

    thread = threading.Thread(target=retry)
    thread.start()
    thread.join()
    assert [type(exc) for exc in raised] == [MessageExistsError]
    repo.create_message("s1", "a1", _message(0, "third build"))  # this thread's retry succeeds
    assert _texts(repo) == ["first build"]


# -- which batches carry a token, and where it is kept ----------------------------------------


def _tokens(batches: Sequence[Sequence[WriteOp]]) -> list[WriteTokenOp | None]:
    return [next((op for op in ops if isinstance(op, WriteTokenOp)), None) for ops in batches]


def test_creates_and_session_deletes_carry_a_token_updates_do_not(
    repo: KVSessionRepository, lossy: _LostReply
) -> None:
    """Except the optimistic updates (agent, multi-agent state): a retry would fail its own base."""
    repo.create_message("s1", "a1", _message(0))
    message = repo.read_message("s1", "a1", 0)
    agent = repo.read_agent("s1", "a1")
    session = repo.read_session("s1")
    assert message is not None and agent is not None and session is not None
    lossy.batches.clear()
    repo.update_message("s1", "a1", message)
    repo.update_session(session)
    repo.put_messages("s1", "a1", [_message(0, "replaced")], replace=True)
    assert _tokens(lossy.batches) == [None] * len(lossy.batches)
    lossy.batches.clear()
    repo.update_agent("s1", agent)
    assert [token is not None for token in _tokens(lossy.batches)] == [True]
    lossy.batches.clear()
    repo.create_message("s1", "a1", _message(1))
    repo.delete_session("s1")
    assert repo.clear_leftovers("s1") is True  # a delete of leftovers needs no token
    first, second, leftovers = _tokens(lossy.batches)
    assert first is not None and second is not None and leftovers is None
    assert first.key == second.key and first.token != second.token
    assert first.ttl == WRITE_TOKEN_TTL


def test_the_token_key_is_the_writers_own_in_the_sessions_slot_and_expires(kv: Any) -> None:
    repo = KVSessionRepository(kv.backend, cluster=True)
    other = KVSessionRepository(kv.backend, cluster=True)
    repo.create_session(_session())
    other.create_agent("s1", _agent())
    ours, theirs = repo.token_key("s1"), other.token_key("s1")
    assert ours != theirs
    in_a_thread: list[str] = []
    thread = threading.Thread(target=lambda: in_a_thread.append(repo.token_key("s1")))
    thread.start()
    thread.join()
    assert in_a_thread[0] not in (ours, theirs)  # one writer per repository and thread
    assert ours.startswith("session:{s1}:writer:")  # the session's hash tag: its slot
    left = kv.backend.ttl(ours)
    assert left is not None and 0 < left <= WRITE_TOKEN_TTL
    assert ours not in repo.session_keys("s1") and theirs not in repo.session_keys("s1")
    repo.write_token_ttl = 0.2
    repo.create_message("s1", "a1", _message(0))
    kv.advance(0.3)
    assert kv.backend.exists(ours) is False


def test_maintenance_is_unaffected_by_token_keys(kv: Any) -> None:
    repo = KVSessionRepository(kv.backend)
    repo.create_session(_session())
    repo.create_agent("s1", _agent())
    repo.create_message("s1", "a1", _message(0))
    repo.delete_session("s1")
    assert repo.session_keys("s1") == [] and repo.list_sessions() == []
    assert repo.clear_leftovers("s1") is True
    assert repo.prune_sessions(grace=0) == 0
    repo.create_session(_session())  # the same writer creates the same session again
    repo.create_agent("s1", _agent())
    repo.create_message("s1", "a1", _message(0, "again"))
    assert _texts(repo) == ["again"]


def test_a_conflict_of_a_batch_with_a_token_is_still_typed_and_names_the_record(kv: Any) -> None:
    repo = KVSessionRepository(kv.backend)
    repo.create_session(_session())
    repo.create_agent("s1", _agent())
    repo.create_message("s1", "a1", _message(0))
    with pytest.raises(MessageExistsError) as info:
        repo.create_message("s1", "a1", _message(0))
    assert isinstance(info.value, ConflictError)
    assert info.value.key == repo.keys.message("s1", "a1", 0)
    with pytest.raises(SessionRecordNotFoundError) as missing:
        repo.create_message("gone", "a1", _message(0))
    assert missing.value.key == repo.keys.session("gone")
