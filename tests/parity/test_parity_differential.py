"""Differential tests: the same calls on Strands' ``FileSessionManager`` and on kvsession.

Each test drives a real ``FileSessionManager`` (in ``tmp_path``) and a ``KVSessionRepository``
with the same sequence of repository calls and compares, call by call, what came back (``==``)
or which kind of error was raised (``SessionException`` / a value that cannot be stored).
A team moving from File (or S3, which shares File's repository semantics) sees the same results.

Records are compared without ``updated_at``: kvsession stamps the time of its own write there,
File keeps whatever the caller put in the record.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import functools
import math
from typing import Any, Literal, cast

import pytest
from strands.session.file_session_manager import FileSessionManager
from strands.types.content import ContentBlock
from strands.types.session import SessionAgent, SessionMessage

from kvsession.strands import KVSessionRepository
from tests.parity.helpers import (
    Outcome,
    Step,
    comparable,
    multi_agent,
    new_agent,
    new_session,
    outcome,
)

CREATED = "2020-02-02T02:02:02+00:00"


def _normalized(value: Any) -> Any:
    """Records as dicts without ``updated_at``; lists element-wise; NaN made comparable."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        fields.pop("updated_at", None)
        fields.pop("metadata", None)
        return (type(value).__name__, comparable(fields))
    if isinstance(value, list):
        return [_normalized(item) for item in value]
    return comparable(value)


def _replay(steps: list[Step], file_repo: FileSessionManager, repo: KVSessionRepository) -> list[str]:
    """Run every step on both stores; return one line per step whose outcomes differ."""
    differences = []
    for label, step in steps:
        expected: Outcome = outcome(functools.partial(step, file_repo))
        actual: Outcome = outcome(functools.partial(step, repo))
        if (expected[0], _normalized(expected[1])) != (actual[0], _normalized(actual[1])):
            differences.append(f"{label}: File {expected!r} != kvsession {actual!r}")
    return differences


def _message(message_id: int, **content: Any) -> SessionMessage:
    block = cast(ContentBlock, content or {"text": f"m{message_id}"})
    role: Literal["user", "assistant"] = "user" if message_id % 2 == 0 else "assistant"
    return SessionMessage(
        message={"role": role, "content": [block]},
        message_id=message_id,
        created_at=CREATED,
        updated_at=CREATED,
    )


def _agent(agent_id: str, **state: Any) -> SessionAgent:
    agent = new_agent(agent_id, **state)
    agent.created_at = agent.updated_at = CREATED
    return agent


def _create_message(message_id: int) -> Step:
    return (f"create message {message_id}", lambda r: r.create_message("s1", "a1", _message(message_id)))


# Message ids File refuses with a ValueError before building a path (kvsession: InvalidIdError).
BAD_MESSAGE_IDS: list[Any] = ["not_an_int", "../escape", None, 1.0, []]


def _read_bad_message_id(bad: Any) -> Step:
    return (f"read message id {bad!r}", lambda r: r.read_message("s1", "a1", bad))


def _list_window(limit: int | None, offset: int) -> Step:
    return (
        f"list limit={limit} offset={offset}",
        lambda r: r.list_messages("s1", "a1", limit=limit, offset=offset),
    )


def test_crud_sequence_gives_what_file_gives(
    file_repo: FileSessionManager, repo: KVSessionRepository
) -> None:
    session = new_session("s1")
    image = {"image": {"format": "png", "source": {"bytes": b"\x89PNG\r\n\x1a\n\x00\xff"}}}
    later = "2030-03-03T03:03:03+00:00"
    steps: list[Step] = [
        ("read missing session", lambda r: r.read_session("s1")),
        ("delete missing session", lambda r: r.delete_session("s1")),
        ("create session", lambda r: r.create_session(session)),
        ("create session again", lambda r: r.create_session(session)),
        ("read session", lambda r: r.read_session("s1")),
        ("read missing agent", lambda r: r.read_agent("s1", "a1")),
        ("update missing agent", lambda r: r.update_agent("s1", _agent("a1"))),
        ("create agent", lambda r: r.create_agent("s1", _agent("a1", key="value", n=[1, 2.5, None]))),
        ("read agent", lambda r: r.read_agent("s1", "a1")),
        (
            "update agent",
            lambda r: r.update_agent("s1", dataclasses.replace(_agent("a1", k=2), created_at=later)),
        ),
        ("read updated agent", lambda r: r.read_agent("s1", "a1")),
        ("read missing message", lambda r: r.read_message("s1", "a1", 0)),
        *[_read_bad_message_id(bad) for bad in BAD_MESSAGE_IDS],
        ("list no messages", lambda r: r.list_messages("s1", "a1")),
        ("update missing message", lambda r: r.update_message("s1", "a1", _message(0))),
        *[_create_message(index) for index in range(11, -1, -1)],
        ("create image message", lambda r: r.create_message("s1", "a1", _message(12, **image))),
        ("read image message", lambda r: r.read_message("s1", "a1", 12)),
        ("read message 10", lambda r: r.read_message("s1", "a1", 10)),
        ("list all", lambda r: r.list_messages("s1", "a1")),
        *[
            _list_window(*window)
            for window in [(3, 0), (None, 5), (4, 9), (5, 11), (2, 13), (None, 20), (0, 2)]
        ],
        (
            "update message (redact)",
            lambda r: r.update_message(
                "s1",
                "a1",
                dataclasses.replace(
                    _message(1, text="changed"),
                    created_at=later,
                    redact_message={"role": "assistant", "content": [{"text": "[redacted]"}]},
                ),
            ),
        ),
        ("read updated message", lambda r: r.read_message("s1", "a1", 1)),
        ("read missing multi-agent", lambda r: r.read_multi_agent("s1", "team")),
        ("update missing multi-agent", lambda r: r.update_multi_agent("s1", multi_agent("team"))),
        (
            "update missing unencodable multi-agent",
            lambda r: r.update_multi_agent("s1", multi_agent("team", {"id": "team", "o": object()})),
        ),
        ("create multi-agent", lambda r: r.create_multi_agent("s1", multi_agent("team"))),
        ("read multi-agent", lambda r: r.read_multi_agent("s1", "team")),
        (
            "update multi-agent",
            lambda r: r.update_multi_agent("s1", multi_agent("team", {"id": "team", "status": "completed"})),
        ),
        ("read updated multi-agent", lambda r: r.read_multi_agent("s1", "team")),
        ("delete session", lambda r: r.delete_session("s1")),
        ("read deleted session", lambda r: r.read_session("s1")),
        ("read agent of deleted session", lambda r: r.read_agent("s1", "a1")),
        ("read message of deleted session", lambda r: r.read_message("s1", "a1", 0)),
        ("read multi-agent of deleted session", lambda r: r.read_multi_agent("s1", "team")),
        ("delete deleted session", lambda r: r.delete_session("s1")),
        ("create session anew", lambda r: r.create_session(session)),
        ("read new session's old agent", lambda r: r.read_agent("s1", "a1")),
    ]
    differences = _replay(steps, file_repo, repo)
    assert not differences, "\n".join(differences)


# Agent state values: what File returns, or that it cannot store them (json.dump's TypeError,
# kvsession's CodecError).
STATE_VALUES: dict[str, Any] = {
    "text": "é\x00\u2028 日本 🙂",
    "int keys": {1: "one", 2: {3: "three"}},
    "float key": {1.5: "x"},
    "big int": 2**70,
    "big negative int": -(2**80),
    "uint64 boundary": [2**64 - 1, 2**64, -(2**63), -(2**63) - 1],
    "negative zero": -0.0,
    "nan": math.nan,
    "infinities": [math.inf, -math.inf],
    "tuple": (1, "two"),
    "bytes": b"\x00\xff",
    "nested bytes": {"list": [b"a", {"deep": b"b"}]},
    "empty containers": {"list": [], "dict": {}, "str": ""},
    "set": {1, 2},
    "object": object(),
    "datetime": datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc),
    "decimal": decimal.Decimal("1.5"),
    "tuple key": {(1, 2): "pair"},
}

# json.dump turns these keys into "true" / "null"; kvsession may store that, or refuse them.
REFUSABLE_KEYS: dict[str, Any] = {"bool key": {True: 1}, "None key": {None: 2}}


def _state_round_trip(name: str, value: Any) -> list[Step]:
    return [
        (f"create agent with {name}", lambda r: r.create_agent("s1", _agent(name, v=value))),
        (f"read back {name}", lambda r: r.read_agent("s1", name)),
        (f"update with {name}", lambda r: r.update_agent("s1", _agent(name, v=value, again=value))),
        (f"read back updated {name}", lambda r: r.read_agent("s1", name)),
    ]


def test_agent_state_values_store_like_file(file_repo: FileSessionManager, repo: KVSessionRepository) -> None:
    session = new_session("s1")
    steps: list[Step] = [("create session", lambda r: r.create_session(session))]
    for name, value in STATE_VALUES.items():
        steps.extend(_state_round_trip(name, value))
    differences = _replay(steps, file_repo, repo)
    assert not differences, "\n".join(differences)

    for name, value in REFUSABLE_KEYS.items():
        file_repo.create_agent("s1", _agent(name, v=value))
        stored = outcome(functools.partial(repo.create_agent, "s1", _agent(name, v=value)))
        if stored == ("raises", "unencodable"):
            continue
        assert stored[0] == "ok", f"{name}: {stored}"
        assert _normalized(repo.read_agent("s1", name)) == _normalized(file_repo.read_agent("s1", name)), name


@pytest.mark.parametrize("nan_inf_in", ["state", "multi-agent"])
def test_nan_and_infinity_come_back_as_themselves(
    file_repo: FileSessionManager, repo: KVSessionRepository, nan_inf_in: str
) -> None:
    special = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "list": [math.nan, 1.0]}
    for store in (file_repo, repo):
        store.create_session(new_session("s1"))
        if nan_inf_in == "state":
            store.create_agent("s1", _agent("a1", **special))
        else:
            store.create_multi_agent("s1", multi_agent("team", {"id": "team", **special}))
    if nan_inf_in == "state":
        assert _normalized(repo.read_agent("s1", "a1")) == _normalized(file_repo.read_agent("s1", "a1"))
        agent = repo.read_agent("s1", "a1")
        assert agent is not None
        assert math.isnan(agent.state["nan"]) and agent.state["inf"] == math.inf
    else:
        assert comparable(repo.read_multi_agent("s1", "team")) == comparable(
            file_repo.read_multi_agent("s1", "team")
        )


def test_multi_agent_state_reads_back_as_serialized(
    file_repo: FileSessionManager, repo: KVSessionRepository
) -> None:
    """Strands' own bytes markers in a multi-agent state stay dicts, as File returns them."""
    state = {
        "type": "swarm",
        "id": "team",
        "status": "executing",
        "node_history": ["researcher"],
        "context": {
            "shared_context": {
                "researcher": {"facts": ["x"], "blob": {"__bytes_encoded__": True, "data": "AAEC"}}
            }
        },
        "results": {"n": {"result": {"message": {"content": [{"text": "ü"}]}}}},
        "big": 2**70,
        "int keys": {1: "one"},
    }
    session = new_session("s1")
    steps: list[Step] = [
        ("create session", lambda r: r.create_session(session)),
        ("create multi-agent", lambda r: r.create_multi_agent("s1", multi_agent("team", state))),
        ("read multi-agent", lambda r: r.read_multi_agent("s1", "team")),
        ("update multi-agent", lambda r: r.update_multi_agent("s1", multi_agent("team", {**state, "x": 1}))),
        ("read updated multi-agent", lambda r: r.read_multi_agent("s1", "team")),
    ]
    differences = _replay(steps, file_repo, repo)
    assert not differences, "\n".join(differences)
    read = repo.read_multi_agent("s1", "team")
    assert read is not None
    assert read["context"]["shared_context"]["researcher"]["blob"] == {
        "__bytes_encoded__": True,
        "data": "AAEC",
    }
