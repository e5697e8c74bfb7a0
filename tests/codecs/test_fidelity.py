"""Value fidelity: both codecs return what Strands' FileSessionManager returns, or refuse with a path.

The rule (docs/codecs.md, "Value fidelity"): for every value ``FileSessionManager`` round-trips, the
JSON and the MessagePack codec return the same Python values it does (NaN and infinities, ints of any
size, dict keys turned into strings as the standard library's ``json`` turns them, bytes where Strands
marks them). Where a value cannot be stored faithfully, encoding raises ``CodecError`` naming the key
and the path inside the value (``$.state.x[2]``); nothing is altered silently.

The hypothesis test is differential: the same input goes through a real ``FileSessionManager`` and
through ``KVSessionRepository`` on every backend, with both codecs.
"""

from __future__ import annotations

import base64
import datetime
import enum
import itertools
import json
import math
import tempfile
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from strands.session.file_session_manager import FileSessionManager
from strands.types.session import SessionAgent, SessionMessage, SessionType

from kvsession.kv.errors import CodecError
from kvsession.orm import FORMATS as CODECS
from kvsession.orm import Codec, KeyTemplate, Model, get_codec
from kvsession.strands.models import AGENT, MESSAGE, MULTI_AGENT
from kvsession.strands.records import Session
from kvsession.strands.repository import KVSessionRepository
from tests.conftest import BackendHarness

MARKER = "__bytes_encoded__"
NAN = float("nan")
INF = float("inf")


# --- comparing values: types included, NaN equal to NaN ---------------------------------------------


def assert_same(actual: Any, expected: Any, path: str = "$") -> None:
    """Assert ``actual`` equals ``expected`` with the same types all the way down; NaN equals NaN."""
    assert type(actual) is type(expected), f"{path}: {type(actual).__name__} != {type(expected).__name__}"
    if isinstance(expected, dict):
        assert set(actual) == set(expected), f"{path}: keys {set(actual)} != {set(expected)}"
        for key, item in expected.items():
            assert_same(actual[key], item, f"{path}[{key!r}]")
    elif isinstance(expected, list):
        assert len(actual) == len(expected), f"{path}: length {len(actual)} != {len(expected)}"
        for index, (left, right) in enumerate(zip(actual, expected, strict=True)):
            assert_same(left, right, f"{path}[{index}]")
    elif isinstance(expected, float):
        assert (math.isnan(actual) and math.isnan(expected)) or (
            actual == expected and math.copysign(1, actual) == math.copysign(1, expected)
        ), f"{path}: {actual!r} != {expected!r}"
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


def assert_names_path(error: CodecError, path: str | None = None) -> None:
    message = str(error)
    assert "at `$" in message, message
    if path is not None:
        assert f"at `{path}`" in message, message


# --- what FileSessionManager does to a value --------------------------------------------------------


class UnstorableError(Exception):
    """The standard library's json cannot write this value (FileSessionManager raises)."""


def json_key(key: object) -> str:
    """The key FileSessionManager's ``json.dump`` writes for ``key`` (asked of json itself)."""
    try:
        (written,) = json.loads(json.dumps({key: None}))
    except TypeError:
        raise UnstorableError(f"key {key!r}") from None
    assert isinstance(written, str)
    return written


def file_model(value: Any) -> Any:
    """What a JSON file round trip makes of ``value``, bytes and marker-looking dicts kept as they are."""
    if isinstance(value, dict):
        return {json_key(key): file_model(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [file_model(item) for item in value]
    return value


def has_marker_like(value: Any) -> bool:
    """Whether a dict inside would be read back as bytes by Strands' decode_bytes_values."""
    if isinstance(value, dict):
        if value.get(MARKER) is True and "data" in value:
            return True
        return any(has_marker_like(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(has_marker_like(item) for item in value)
    return False


class MultiAgent:
    """The two things a session repository reads off a multi-agent orchestrator."""

    def __init__(self, id: str, state: dict[str, Any]) -> None:
        self.id = id
        self._state = state

    def serialize_state(self) -> dict[str, Any]:
        return self._state


# --- strategies: what FileSessionManager takes ------------------------------------------------------

_KEYS = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["data", MARKER]),
    st.integers(),
    st.integers(min_value=2**64, max_value=2**80),
    st.floats(),
    st.booleans(),
    st.none(),
)
_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63, max_value=2**100).flatmap(lambda n: st.sampled_from([n, -n])),
    st.floats(),  # NaN and both infinities included
    st.sampled_from([NAN, INF, -INF, 1e20, 1e-7, -0.0]),
    st.text(max_size=12),
    st.binary(max_size=12),
)
_MARKER_LIKE = st.fixed_dictionaries(
    {MARKER: st.just(True), "data": st.binary(max_size=6).map(lambda b: base64.b64encode(b).decode())}
)
values = st.recursive(
    _LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(_KEYS, children, max_size=3),
        _MARKER_LIKE,
    ),
    max_leaves=10,
)
states = st.dictionaries(_KEYS, values, max_size=4)


# --- the differential test --------------------------------------------------------------------------


_ids = itertools.count()


def file_round_trip(write: Callable[[], None], read: Callable[[], Any]) -> tuple[bool, Any]:
    """Write and read back through FileSessionManager: ``(stored, what it read)``.

    A value File writes but cannot read back (a marker-looking dict whose ``data`` is not base64
    text: its ``decode_bytes_values`` raises) counts as not stored.
    """
    try:
        write()
        return True, read()
    except (TypeError, ValueError):
        return False, None


def check(
    codec: str,
    value: Any,
    write: Callable[[], None],
    read: Callable[[], Any],
    *,
    file_ok: bool,
    markers: bool,
) -> None:
    """Ours returns what File does (marker-looking dicts kept as dicts), or refuses naming the path.

    A refusal is right only where File cannot store the value either, or (JSON, where Strands marks
    bytes) where a user dict looks like a bytes marker and would read back as bytes.
    """
    refused_marker = codec == "json" and markers and has_marker_like(value)
    try:
        expected: Any = file_model(value)
    except UnstorableError:
        expected = UnstorableError
    try:
        write()
    except CodecError as error:
        event(f"{codec}: refused ({'file refused too' if not file_ok else 'marker-like dict'})")
        assert_names_path(error)
        assert not file_ok or refused_marker, f"{codec} refused what FileSessionManager stores: {error}"
        return
    assert expected is not UnstorableError, f"{codec} stored a dict key json cannot write"
    assert not refused_marker, f"{codec} stored a dict that would read back as bytes"
    event(f"{codec}: stored ({'file stored too' if file_ok else 'file refused'})")
    assert_same(read(), expected)


@pytest.fixture
def file_root() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as root:
        yield Path(root)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(state=states, payload=values, multi_state=states)
def test_values_come_back_as_file_session_manager_returns_them(
    kv: BackendHarness, file_root: Path, state: dict[Any, Any], payload: Any, multi_state: dict[Any, Any]
) -> None:
    n = next(_ids)
    session_id, agent_id, multi = f"s{n}", f"a{n}", MultiAgent(f"m{n}", multi_state)
    agent = SessionAgent(agent_id=agent_id, state=state, conversation_manager_state={"removed": 0})
    message = SessionMessage(
        message={
            "role": "assistant",
            "content": [{"toolUse": {"toolUseId": "t", "name": "f", "input": payload}}],
        },
        message_id=0,
    )

    fsm = FileSessionManager(session_id=session_id, storage_dir=str(file_root))

    def file_state() -> Any:
        read = fsm.read_agent(session_id, agent_id)
        return None if read is None else read.state

    def file_payload() -> Any:
        read = fsm.read_message(session_id, agent_id, 0)
        return None if read is None else read.message["content"][0]["toolUse"]["input"]

    agent_ok, agent_file = file_round_trip(lambda: fsm.create_agent(session_id, agent), file_state)
    message_ok, message_file = file_round_trip(
        lambda: fsm.create_message(session_id, agent_id, message), file_payload
    )
    multi_ok, multi_file = file_round_trip(
        lambda: fsm.create_multi_agent(session_id, multi),  # type: ignore[arg-type]
        lambda: fsm.read_multi_agent(session_id, multi.id),
    )
    # The model of what File does is checked against File itself (it turns marker-looking dicts
    # into bytes in agents and messages; that is the one place where ours differs, by refusing).
    if agent_ok and not has_marker_like(state):
        assert_same(agent_file, file_model(state))
    if message_ok and not has_marker_like(payload):
        assert_same(message_file, file_model(payload))
    if multi_ok:
        assert_same(multi_file, file_model(multi_state))

    for codec in CODECS:
        repo = KVSessionRepository(kv.backend, codec=codec, prefix=codec)
        repo.create_session(Session(session_id=session_id, session_type=SessionType.AGENT))

        def our_state(repo: KVSessionRepository = repo) -> Any:
            read = repo.read_agent(session_id, agent_id)
            return None if read is None else read.state

        def our_payload(repo: KVSessionRepository = repo) -> Any:
            read = repo.read_message(session_id, agent_id, 0)
            return None if read is None else read.message["content"][0]["toolUse"]["input"]

        def our_multi_state(repo: KVSessionRepository = repo) -> Any:
            return repo.read_multi_agent(session_id, multi.id)

        check(
            codec,
            state,
            partial(repo.create_agent, session_id, agent),
            our_state,
            file_ok=agent_ok,
            markers=True,
        )
        if our_state() is None:
            repo.create_agent(
                session_id, SessionAgent(agent_id=agent_id, state={}, conversation_manager_state={})
            )
        check(
            codec,
            payload,
            partial(repo.create_message, session_id, agent_id, message),
            our_payload,
            file_ok=message_ok,
            markers=True,
        )
        check(
            codec,
            multi_state,
            partial(repo.create_multi_agent, session_id, multi),  # type: ignore[arg-type]
            our_multi_state,
            file_ok=multi_ok,
            markers=False,
        )


# --- item 5: NaN and infinities ---------------------------------------------------------------------

ALL = [get_codec(name) for name in CODECS]
KEY = "session:s1:agent:a1"


def _agent(state: dict[str, Any]) -> SessionAgent:
    return SessionAgent(agent_id="a1", state=state, conversation_manager_state={})


def _message(payload: Any) -> SessionMessage:
    return SessionMessage(
        message={
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": "t", "status": "success", "content": [{"json": payload}]}}
            ],
        },
        message_id=3,
    )


def _payload(message: SessionMessage) -> Any:
    return message.message["content"][0]["toolResult"]["content"][0]["json"]


NON_FINITE = {"nan": NAN, "inf": INF, "-inf": -INF}


@pytest.mark.parametrize("codec", ALL, ids=CODECS)
@pytest.mark.parametrize("number", NON_FINITE.values(), ids=NON_FINITE.keys())
def test_non_finite_floats_come_back_as_themselves(codec: Codec, number: float) -> None:
    value = {"x": [1.5, number, {"y": number}]}
    agent = codec.decode(AGENT, codec.encode(AGENT, _agent(value)), key=KEY)
    assert_same(agent.state, value)
    message = codec.decode_many(MESSAGE, [codec.encode(MESSAGE, _message(value))], [KEY])[0]
    assert_same(_payload(message), value)
    assert_same(codec.decode(MULTI_AGENT, codec.encode(MULTI_AGENT, value), key=KEY), value)


def test_json_writes_non_finite_floats_as_the_standard_library_does() -> None:
    data = get_codec("json").encode(MULTI_AGENT, {"a": NAN, "b": INF, "c": -INF, "d": 0.5})
    assert data == b'{"a":NaN,"b":Infinity,"c":-Infinity,"d":0.5}'
    assert_same(json.loads(data), {"a": NAN, "b": INF, "c": -INF, "d": 0.5})


def test_file_session_manager_files_with_nan_literals_decode(tmp_path: Path) -> None:
    fsm = FileSessionManager(session_id="s1", storage_dir=str(tmp_path))
    state = {"score": NAN, "limits": [INF, -INF], "big": 2**100}
    fsm.create_agent("s1", _agent(state))
    fsm.create_message("s1", "a1", _message(state))
    agent_dir = tmp_path / "session_s1" / "agents" / "agent_a1"
    agent_json = (agent_dir / "agent.json").read_bytes()
    message_json = (agent_dir / "messages" / "message_3.json").read_bytes()
    assert b"NaN" in agent_json and b"-Infinity" in agent_json
    for codec in ALL:  # reading sniffs the format: either codec reads a JSON file
        assert_same(codec.decode(AGENT, agent_json, key=KEY).state, state)
        assert_same(_payload(codec.decode_many(MESSAGE, [message_json], [KEY])[0]), state)


@pytest.mark.parametrize("number", [0.0, -0.0, 1.5, 123.45, 1e-4, 9.007199254740991e15, 2**-13], ids=repr)
def test_ordinary_floats_stay_on_the_fast_path(number: float) -> None:
    value: dict[Any, Any] = {"x": number, number: "as a key"}
    assert get_codec("json").encode(MULTI_AGENT, value) == msgspec.json.encode(value)


def test_garbage_still_fails_with_msgspecs_error() -> None:
    with pytest.raises(CodecError, match=f"key=<{KEY}>"):
        get_codec("json").decode(AGENT, b'{"agent_id": NaN, "state": Infinity', key=KEY)


# --- item 6: big ints, dict keys, marker-looking dicts ------------------------------------------------

BIG_INTS = [2**64, 2**64 - 1, -(2**63) - 1, 2**200, -(2**200), 10**40]


@pytest.mark.parametrize("codec", ALL, ids=CODECS)
@pytest.mark.parametrize("number", BIG_INTS, ids=str)
def test_ints_of_any_size_round_trip(codec: Codec, number: int) -> None:
    value = {"n": number, "nested": [number, {"m": -number}]}
    assert_same(codec.decode(AGENT, codec.encode(AGENT, _agent(value)), key=KEY).state, value)
    assert_same(_payload(codec.decode(MESSAGE, codec.encode(MESSAGE, _message(value)), key=KEY)), value)
    assert_same(codec.decode(MULTI_AGENT, codec.encode(MULTI_AGENT, value), key=KEY), value)


def test_json_writes_big_ints_digit_for_digit() -> None:
    assert (
        get_codec("json").encode(MULTI_AGENT, {"n": 2**200})
        == json.dumps({"n": 2**200}, separators=(",", ":")).encode()
    )


class Colour(enum.Enum):
    RED = "red"


KEY_TYPES: dict[str, Any] = {
    "int": 1,
    "negative int": -5,
    "big int": 2**70,
    "float": 1.5,
    "float, exponent": 1e20,
    "float, small": 1e-5,
    "float, -0.0": -0.0,
    "nan": NAN,
    "inf": INF,
    "-inf": -INF,
    "True": True,
    "False": False,
    "None": None,
}


@pytest.mark.parametrize("codec", ALL, ids=CODECS)
@pytest.mark.parametrize("key", KEY_TYPES.values(), ids=KEY_TYPES.keys())
def test_dict_keys_become_the_strings_json_makes(codec: Codec, key: Any) -> None:
    (expected,) = json.loads(json.dumps({key: 0}))
    value = {"outer": [{key: "v"}]}
    want = {"outer": [{expected: "v"}]}
    assert_same(codec.decode(AGENT, codec.encode(AGENT, _agent(value)), key=KEY).state, want)
    assert_same(_payload(codec.decode(MESSAGE, codec.encode(MESSAGE, _message(value)), key=KEY)), want)
    assert_same(codec.decode(MULTI_AGENT, codec.encode(MULTI_AGENT, {key: value}), key=KEY), {expected: want})


@pytest.mark.parametrize("codec", ALL, ids=CODECS)
@pytest.mark.parametrize("key", [(1, 2), b"raw", frozenset({1})], ids=["tuple", "bytes", "frozenset"])
def test_dict_keys_json_cannot_write_are_refused_with_the_path(codec: Codec, key: Any) -> None:
    with pytest.raises(CodecError) as info:
        codec.encode(AGENT, _agent({"x": [0, 1, {key: "v"}]}), key=KEY)
    assert info.value.key == KEY
    assert_names_path(info.value, f"$.state.x[2][{key!r}]")


@pytest.mark.parametrize("codec", ALL, ids=CODECS)
def test_keys_msgspec_writes_as_strings_read_back_as_those_strings(codec: Codec) -> None:
    # FileSessionManager's json refuses these keys; msgspec writes them as strings, in both formats alike.
    when = datetime.date(2025, 1, 2)
    ident = uuid.UUID(int=7)
    value = {"k": {ident: 1, when: 2, Colour.RED: 3}}
    want = {"k": {str(ident): 1, "2025-01-02": 2, "red": 3}}
    assert_same(codec.decode(MULTI_AGENT, codec.encode(MULTI_AGENT, value), key=KEY), want)


MARKER_LIKE = {MARKER: True, "data": "AAE="}


def test_json_refuses_a_user_dict_that_looks_like_a_bytes_marker() -> None:
    codec = get_codec("json")
    with pytest.raises(CodecError) as info:
        codec.encode(AGENT, _agent({"x": [0, 1, dict(MARKER_LIKE)]}), key=KEY)
    assert info.value.key == KEY
    assert_names_path(info.value, "$.state.x[2]")
    with pytest.raises(CodecError) as info:  # next to real bytes (the walk, not the needle)
        codec.encode(MESSAGE, _message({"img": b"\x89PNG", "fake": {MARKER: True, "data": 1}}), key=KEY)
    assert_names_path(info.value, "$.message.content[0].toolResult.content[0].json.fake")


@pytest.mark.parametrize(
    "value",
    [
        {MARKER: False, "data": "AAE="},
        {MARKER: True},
        {MARKER: "yes", "data": "x"},
        {"data": "AAE=", "x": MARKER},
    ],
    ids=["false", "no data", "not True", "needle as a value"],
)
def test_json_stores_dicts_with_the_marker_key_that_read_back_as_themselves(value: dict[str, Any]) -> None:
    codec = get_codec("json")
    assert_same(codec.decode(AGENT, codec.encode(AGENT, _agent({"x": value})), key=KEY).state, {"x": value})


def test_msgpack_stores_marker_looking_dicts_as_they_are() -> None:
    codec = get_codec("msgpack")
    value = {"x": [dict(MARKER_LIKE)], "raw": b"\x00\x01"}
    assert_same(codec.decode(AGENT, codec.encode(AGENT, _agent(value)), key=KEY).state, value)


def test_typed_positions_keep_their_key_types() -> None:
    # Only free-form (Any) positions take JSON's keys; a typed dict[int, str] round-trips by type.
    class Scores(msgspec.Struct):
        by_rank: dict[int, str]
        extra: dict[str, Any]

    model: Model[Scores] = Model("scores", Scores, key=KeyTemplate("scores:{name}"))
    value = Scores(by_rank={1: "a", 2: "b"}, extra={"k": {3: "c"}})
    for codec in ALL:
        decoded = codec.decode(model, codec.encode(model, value), key="scores:x")
        assert decoded.by_rank == {1: "a", 2: "b"}
        assert decoded.extra == {"k": {"3": "c"}}


# --- item 7: multi-agent state as serialize_state() returns it ---------------------------------------


@pytest.mark.parametrize("codec", CODECS)
def test_read_multi_agent_keeps_strands_markers_as_dicts(
    kv: BackendHarness, codec: str, tmp_path: Path
) -> None:
    # Strands' own state marks bytes itself (AgentResult.to_dict) and unmarks them in deserialize_state.
    state = {"id": "swarm", "results": {"a1": {"message": {"image": dict(MARKER_LIKE)}}}, "ratio": NAN}
    repo = KVSessionRepository(kv.backend, codec=codec)
    repo.create_session(Session(session_id="s1", session_type=SessionType.AGENT))
    repo.create_multi_agent("s1", MultiAgent("swarm", state))  # type: ignore[arg-type]
    fsm = FileSessionManager(session_id="s1", storage_dir=str(tmp_path))
    fsm.create_multi_agent("s1", MultiAgent("swarm", state))  # type: ignore[arg-type]
    read = repo.read_multi_agent("s1", "swarm")
    assert_same(read, state)
    assert_same(read, fsm.read_multi_agent("s1", "swarm"))


def test_multi_agent_state_stored_with_markers_reads_back_as_markers() -> None:
    # kvsession 0.1.0 wrote bytes in a state as markers; they read back as the marker dicts.
    stored = b'{"context":{"bytes":{"__bytes_encoded__":true,"data":"AQI="}}}'
    assert get_codec("json").decode(MULTI_AGENT, stored, key=KEY) == {
        "context": {"bytes": {MARKER: True, "data": "AQI="}}
    }


def test_raw_bytes_in_multi_agent_state() -> None:
    state = {"context": {"items": [0, b"\x01\x02"]}}
    msgpack = get_codec("msgpack")
    assert_same(msgpack.decode(MULTI_AGENT, msgpack.encode(MULTI_AGENT, state), key=KEY), state)
    with pytest.raises(CodecError) as info:  # FileSessionManager raises TypeError here
        get_codec("json").encode(MULTI_AGENT, state, key=KEY)
    assert info.value.key == KEY
    assert_names_path(info.value, "$.context.items[1]")


OTHER_TYPES: dict[str, tuple[Any, Any]] = {
    # value, what msgspec's JSON encoder writes for it (FileSessionManager raises TypeError on each)
    "set": ({3}, [3]),
    "datetime": (
        datetime.datetime(2025, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
        "2025-01-02T03:04:05Z",
    ),
    "uuid": (uuid.UUID(int=7), str(uuid.UUID(int=7))),
    "enum": (Colour.RED, "red"),
}


@pytest.mark.parametrize(("value", "json_form"), OTHER_TYPES.values(), ids=OTHER_TYPES.keys())
@pytest.mark.parametrize("fmt", ["json", "msgpack"])
def test_values_that_are_not_json_are_refused_in_free_form_fields(
    fmt: str, value: Any, json_form: Any
) -> None:
    # msgspec would write ``json_form``, which reads back as something else: refused in both formats.
    with pytest.raises(CodecError) as info:
        get_codec(fmt).encode(AGENT, _agent({"x": [value]}), key=KEY)
    assert_names_path(info.value, "$.state.x[0]")
    assert msgspec.json.decode(msgspec.json.encode(value)) == json_form


def test_bytes_likes_come_back_as_bytes_in_both_formats() -> None:
    value = {"a": bytearray(b"\x01"), "m": memoryview(b"\x02")}
    for codec in ALL:
        assert_same(
            codec.decode(AGENT, codec.encode(AGENT, _agent(value)), key=KEY).state,
            {"a": b"\x01", "m": b"\x02"},
        )
