"""Every record round-trips exactly through every (writer, reader) pair of codecs."""

from __future__ import annotations

import copy
import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from strands.types.session import Session as StrandsSession
from strands.types.session import SessionAgent, SessionMessage, SessionType

from kvsession.orm import FORMATS as CODECS
from kvsession.orm import Codec, get_codec, sniff_format
from kvsession.strands.models import AGENT, MESSAGE, MULTI_AGENT, SESSION
from kvsession.strands.records import Session
from tests.strategies import (
    assert_identical,
    session_agents,
    session_messages,
    sessions,
    states,
)

ALL = [get_codec(name) for name in CODECS]
PAIRS = [(writer, reader) for writer in ALL for reader in ALL]
KEY = "session:s1:agent:a1:message:0"


def _message(content: list[dict[str, Any]], role: str = "user") -> SessionMessage:
    return SessionMessage(message={"role": role, "content": content}, message_id=0)  # type: ignore[typeddict-item]


@settings(max_examples=150)
@given(session_messages())
def test_session_message_round_trips_through_every_codec_pair(message: SessionMessage) -> None:
    before = copy.deepcopy(message)
    for writer, reader in PAIRS:
        data = writer.encode(MESSAGE, message, key=KEY)
        assert sniff_format(data) == writer.name
        assert_identical(reader.decode(MESSAGE, data, key=KEY), message)
    assert_identical(message, before)  # encoding never modifies its argument


@given(session_agents())
def test_session_agent_round_trips_through_every_codec_pair(agent: SessionAgent) -> None:
    before = copy.deepcopy(agent)
    for writer, reader in PAIRS:
        assert_identical(reader.decode(AGENT, writer.encode(AGENT, agent), key="a"), agent)
    assert_identical(agent, before)


@given(sessions())
def test_session_with_metadata_round_trips_through_every_codec_pair(session: Session) -> None:
    for writer, reader in PAIRS:
        assert_identical(reader.decode(SESSION, writer.encode(SESSION, session), key="s"), session)


@given(states(allow_bytes=False))
def test_state_round_trips_through_every_codec_pair(state: dict[str, Any]) -> None:
    # Multi-agent state holds no raw bytes in JSON (Strands marks them itself): tests/codecs/test_fidelity.py.
    for writer, reader in PAIRS:
        assert_identical(reader.decode(MULTI_AGENT, writer.encode(MULTI_AGENT, state), key="m"), state)


@given(session_messages())
def test_strands_reads_what_the_json_codec_writes(message: SessionMessage) -> None:
    # The other half of FileSessionManager compatibility: Strands' own reader takes our JSON.
    data = get_codec("json").encode(MESSAGE, message)
    assert_identical(SessionMessage.from_dict(json.loads(data)), message)


@given(session_agents())
def test_strands_reads_agents_the_json_codec_writes(agent: SessionAgent) -> None:
    assert_identical(SessionAgent.from_dict(json.loads(get_codec("json").encode(AGENT, agent))), agent)


def test_decode_messages_reads_a_mix_of_formats_in_order() -> None:
    messages = [
        _message([{"text": f"m{i}"}, {"image": {"format": "png", "source": {"bytes": bytes([i])}}}])
        for i in range(6)
    ]
    datas = [ALL[i % 2].encode(MESSAGE, m) for i, m in enumerate(messages)]
    keys = [f"k{i}" for i in range(6)]
    for reader in ALL:
        assert_identical(reader.decode_many(MESSAGE, datas, keys=keys), messages)
        assert reader.decode_many(MESSAGE, [], keys=[]) == []


def test_a_session_reads_back_as_the_class_it_was_stored_as() -> None:
    plain = StrandsSession(session_id="s1", session_type=SessionType.AGENT)
    ours = Session.from_strands(plain, {"plan": "pro"})
    for writer, reader in PAIRS:
        data = writer.encode(SESSION, plain)
        assert b"metadata" not in data  # as Strands' own session.json
        decoded = reader.decode(SESSION, data, key="s")
        assert type(decoded) is StrandsSession and decoded == plain
        again = reader.decode(SESSION, writer.encode(SESSION, ours), key="s")
        assert type(again) is Session and again == ours


@pytest.mark.parametrize("codec", ALL, ids=CODECS)
@pytest.mark.parametrize(
    "blob", [bytearray(b"\x00\xff"), memoryview(b"\x00\xff")], ids=["bytearray", "memoryview"]
)
def test_bytes_like_values_come_back_as_bytes(codec: Codec, blob: bytearray | memoryview) -> None:
    data = codec.encode(MESSAGE, _message([{"image": {"format": "png", "source": {"bytes": blob}}}]))
    decoded = codec.decode(MESSAGE, data, key=KEY).message["content"][0]["image"]["source"]["bytes"]
    assert type(decoded) is bytes and decoded == b"\x00\xff"


def test_json_stores_bytes_as_the_strands_marker_and_msgpack_raw() -> None:
    message = _message([{"toolUse": {"toolUseId": "t", "name": "n", "input": {"blob": b"\x01\x02"}}}])
    stored = json.loads(get_codec("json").encode(MESSAGE, message))
    assert stored["message"]["content"][0]["toolUse"]["input"]["blob"] == {
        "__bytes_encoded__": True,
        "data": "AQI=",
    }
    raw = msgspec.msgpack.decode(get_codec("msgpack").encode(MESSAGE, message))
    assert raw["message"]["content"][0]["toolUse"]["input"]["blob"] == b"\x01\x02"


@pytest.mark.parametrize("codec", ALL, ids=CODECS)
def test_text_that_looks_like_a_msgpack_bin_tag_round_trips(codec: Codec) -> None:
    # "ą" is 0xc4 0x85 in UTF-8: the probe in the JSON codec must fall back to the walk, not misfire.
    contents: list[list[dict[str, Any]]] = [
        [{"text": "Zażółć gęślą jaźń ąĄ"}],
        [{"text": "ą"}, {"image": {"format": "png", "source": {"bytes": b"\xc4"}}}],
    ]
    for content in contents:
        message = _message(content)
        assert_identical(codec.decode(MESSAGE, codec.encode(MESSAGE, message), key=KEY), message)


def test_unknown_fields_are_ignored_and_unknown_content_is_kept() -> None:
    # A newer Strands may add content blocks and message keys: they survive a read (and a rewrite).
    stored = {
        "message": {
            "role": "assistant",
            "content": [
                {"text": "hi"},
                {"futureBlock": {"x": [1, {"__bytes_encoded__": True, "data": "AQ=="}]}},
            ],
            "future_key": "kept",
        },
        "message_id": 3,
        "written_by": "a newer kvsession",
    }
    for codec in ALL:
        decoded = codec.decode(MESSAGE, json.dumps(stored).encode(), key=KEY)
        assert decoded.message["content"][1] == {"futureBlock": {"x": [1, b"\x01"]}}
        assert decoded.message["future_key"] == "kept"  # type: ignore[typeddict-item]
        assert not hasattr(decoded, "written_by")
        assert_identical(codec.decode(MESSAGE, codec.encode(MESSAGE, decoded), key=KEY), decoded)


def test_msgpack_data_is_never_unmarked() -> None:
    # MessagePack has a bytes type; a marker-shaped dict stored there is the user's dict, kept as is.
    state = {"looks_like_a_marker": {"__bytes_encoded__": True, "data": "AQ=="}}
    for codec in ALL:
        assert codec.decode(MULTI_AGENT, msgspec.msgpack.encode(state), key="m") == state


@pytest.mark.parametrize("codec", ALL, ids=CODECS)
def test_missing_optional_fields_take_strands_defaults(codec: Codec) -> None:
    message = codec.decode(MESSAGE, b'{"message": {"role": "user", "content": []}, "message_id": 0}', key=KEY)
    assert message.redact_message is None
    assert message.created_at and message.updated_at
    agent = codec.decode(AGENT, b'{"agent_id": "a1", "state": {}, "conversation_manager_state": {}}', key="a")
    assert agent._internal_state == {} and agent.created_at
    session = codec.decode(SESSION, b'{"session_id": "s1", "session_type": "AGENT"}', key="s")
    assert type(session) is StrandsSession and session.session_type is SessionType.AGENT


def test_an_unknown_session_type_is_kept_as_written() -> None:
    session = get_codec("json").decode(SESSION, b'{"session_id": "s1", "session_type": "SWARM"}', key="s")
    assert session.session_type == "SWARM"


@pytest.mark.parametrize("codec", ALL, ids=CODECS)
def test_json_text_from_a_decode_responses_client_is_accepted(codec: Codec) -> None:
    message = _message([{"text": "héllo"}, {"image": {"format": "png", "source": {"bytes": b"\x00"}}}])
    text = get_codec("json").encode(MESSAGE, message).decode("utf-8")
    assert_identical(codec.decode(MESSAGE, text, key=KEY), message)
    assert_identical(codec.decode(MESSAGE, b" \n" + text.encode(), key=KEY), message)
    assert_identical(codec.decode(MESSAGE, memoryview(text.encode()), key=KEY), message)  # type: ignore[arg-type]


def test_ints_beyond_64_bits_fit_both_formats() -> None:
    state = {"big": 2**70, "small": -(2**90)}
    for writer, reader in PAIRS:
        assert reader.decode(MULTI_AGENT, writer.encode(MULTI_AGENT, state), key="m") == state


def test_decoded_records_are_fresh_objects() -> None:
    data = get_codec("msgpack").encode(MULTI_AGENT, {"a": [1]})
    first = get_codec("msgpack").decode(MULTI_AGENT, data, key="m")
    first["a"].append(2)
    assert get_codec("msgpack").decode(MULTI_AGENT, data, key="m") == {"a": [1]}
