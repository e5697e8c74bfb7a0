"""Whatever the bytes, decoding either succeeds or raises CodecError naming the key."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strands.types.session import SessionMessage

from kvsession.kv.errors import CodecError, ConfigError
from kvsession.orm import FORMATS as CODECS
from kvsession.orm import Codec, get_codec, sniff_format
from kvsession.strands.models import AGENT, MESSAGE, MULTI_AGENT, SESSION

ALL = [get_codec(name) for name in CODECS]
KEY = "myapp:session:{user-42}:agent:a1:message:7"

_MESSAGE = SessionMessage(
    message={"role": "user", "content": [{"image": {"format": "png", "source": {"bytes": b"\x89PNG"}}}]},
    message_id=7,
)


def _decoders(codec: Codec) -> list[Callable[[Any], object]]:
    return [
        lambda data: codec.decode(SESSION, data, key=KEY),
        lambda data: codec.decode(AGENT, data, key=KEY),
        lambda data: codec.decode(MESSAGE, data, key=KEY),
        lambda data: codec.decode_many(MESSAGE, [data], keys=[KEY]),
        lambda data: codec.decode(MULTI_AGENT, data, key=KEY),
    ]


def _assert_codec_error_naming_key(decode: Callable[[Any], object], data: object) -> None:
    with pytest.raises(CodecError) as info:
        decode(data)
    assert info.value.key == KEY
    assert KEY in str(info.value)
    assert not isinstance(info.value, msgspec.MsgspecError)


BAD_VALUES = {
    "empty": b"",
    "whitespace": b" \n\t",
    "none": None,
    "garbage": b"\x00\x01garbage",
    "json array": b"[1, 2]",
    "json string": b'"text"',
    "truncated json": b'{"message": {"role": "us',
    "trailing junk": b'{"session_id": "s"} x',
    "msgpack array": msgspec.msgpack.encode([1, 2]),
    "truncated msgpack": msgspec.msgpack.encode({"a": "b" * 40})[:-3],
    "msgpack str as text": msgspec.msgpack.encode({"a": 1}).decode("latin-1"),
    "bad base64 marker": b'{"__bytes_encoded__": true, "data": "not base64!"}',
    "not bytes": 42,
}


@pytest.mark.parametrize("codec", ALL, ids=CODECS)
@pytest.mark.parametrize("data", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_bad_values_raise_codec_error_naming_the_key(codec: Codec, data: object) -> None:
    decoders = _decoders(codec)
    if data == BAD_VALUES["bad base64 marker"]:
        decoders = decoders[:4]  # multi-agent state keeps marker dicts as dicts: never decoded
    for decode in decoders:
        _assert_codec_error_naming_key(decode, data)


@pytest.mark.parametrize("codec", ALL, ids=CODECS)
def test_records_of_the_wrong_kind_are_rejected(codec: Codec) -> None:
    session_data = codec.encode(MULTI_AGENT, {"session_id": "s1", "session_type": "AGENT"})
    message_data = codec.encode(MESSAGE, _MESSAGE)
    _assert_codec_error_naming_key(lambda d: codec.decode(MESSAGE, d, key=KEY), session_data)
    _assert_codec_error_naming_key(lambda d: codec.decode(AGENT, d, key=KEY), message_data)
    _assert_codec_error_naming_key(lambda d: codec.decode(SESSION, d, key=KEY), message_data)
    wrong_types = codec.encode(
        MULTI_AGENT, {"message": "hi", "message_id": "one", "session_id": 1, "agent_id": 2}
    )
    for decode in _decoders(codec)[:4]:  # any dict is a valid state
        _assert_codec_error_naming_key(decode, wrong_types)


@pytest.mark.parametrize("codec", ALL, ids=CODECS)
def test_a_message_without_role_or_content_is_rejected(codec: Codec) -> None:
    messages: list[dict[str, Any]] = [{"content": []}, {"role": "user"}, {"role": "user", "content": "text"}]
    for message in messages:
        data = codec.encode(MULTI_AGENT, {"message": message, "message_id": 1})
        _assert_codec_error_naming_key(partial(codec.decode, MESSAGE, key=KEY), data)


@pytest.mark.parametrize("writer", ALL, ids=CODECS)
def test_every_truncation_of_a_record_is_an_error(writer: Codec) -> None:
    data = writer.encode(MESSAGE, _MESSAGE)
    for reader in ALL:
        for end in range(len(data)):
            _assert_codec_error_naming_key(partial(reader.decode, MESSAGE, key=KEY), data[:end])


@given(st.binary(max_size=64) | st.binary(max_size=64).map(lambda tail: b"{" + tail))
def test_random_bytes_decode_or_raise_codec_error(data: bytes) -> None:
    for codec in ALL:
        for decode in _decoders(codec):
            try:
                decode(data)
            except CodecError as exc:
                assert exc.key == KEY


def test_decode_messages_names_the_key_of_the_bad_value() -> None:
    codec = get_codec("json")
    datas = [codec.encode(MESSAGE, _MESSAGE), b"\x81\xa1", codec.encode(MESSAGE, _MESSAGE)]
    with pytest.raises(CodecError) as info:
        codec.decode_many(MESSAGE, datas, keys=["k0", "k1", "k2"])
    assert info.value.key == "k1"
    with pytest.raises(ValueError, match="2 values but 1 keys"):
        codec.decode_many(MESSAGE, datas[:2], keys=["k0"])


class _Opaque:
    pass


def _cyclic() -> dict[str, Any]:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    return loop


UNENCODABLE = {
    "object": {"x": _Opaque()},
    "lone surrogate": {"x": "\ud800"},
    "cycle": _cyclic(),
    "object next to bytes": {"x": [b"\x00", _Opaque()]},
}


@pytest.mark.parametrize("codec", ALL, ids=CODECS)
@pytest.mark.parametrize("state", UNENCODABLE.values(), ids=UNENCODABLE.keys())
def test_unencodable_values_raise_codec_error(codec: Codec, state: dict[str, Any]) -> None:
    with pytest.raises(CodecError) as info:
        codec.encode(MULTI_AGENT, state, key=KEY)
    assert info.value.key == KEY and KEY in str(info.value)
    tool_use = {"toolUseId": "t", "name": "n", "input": state}
    message = SessionMessage(message={"role": "user", "content": [{"toolUse": tool_use}]}, message_id=0)  # type: ignore[typeddict-item]
    with pytest.raises(CodecError):
        codec.encode(MESSAGE, message)


@pytest.mark.parametrize("codec", ALL, ids=CODECS)
def test_encode_state_wants_a_dict(codec: Codec) -> None:
    with pytest.raises(CodecError, match="must be a dict"):
        codec.encode(MULTI_AGENT, [1, 2], key=KEY)  # type: ignore[misc]


def test_unknown_codec_is_a_config_error_listing_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="valid codecs: json, msgpack") as info:
        get_codec("yaml")
    assert isinstance(info.value, ValueError)
    assert CODECS == ("json", "msgpack")
    assert [get_codec(name).name for name in CODECS] == list(CODECS)
    assert get_codec("json") is get_codec("json")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"{}", "json"),
        (b'\n  {"a": 1}', "json"),
        (b"\x80", "msgpack"),
        (b"\x8f", "msgpack"),
        (b"\xde\x00\x10", "msgpack"),
        (b"\xdf", "msgpack"),
    ],
)
def test_sniff_format(data: bytes, expected: str) -> None:
    assert sniff_format(data) == expected


@pytest.mark.parametrize("data", [b"", b"  ", b"[", b"\x90", b"\xdc", b"\xc4", b"x{"])
def test_sniff_format_rejects_anything_else(data: bytes) -> None:
    with pytest.raises(CodecError):
        sniff_format(data)


def test_decode_messages_leaves_the_collector_as_it_found_it() -> None:
    import gc

    from kvsession.orm import get_codec
    from kvsession.strands.records import SessionMessage

    codec = get_codec("json")
    data = codec.encode(
        MESSAGE, SessionMessage.from_message({"role": "user", "content": [{"text": "hi"}]}, 0)
    )
    assert gc.isenabled()
    codec.decode_many(MESSAGE, [data], keys=["k"])
    assert gc.isenabled()
    gc.disable()
    try:
        codec.decode_many(MESSAGE, [data], keys=["k"])
        assert not gc.isenabled()
        with pytest.raises(CodecError):
            codec.decode_many(MESSAGE, [b"garbage"], keys=["k"])
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_collector_pause_is_counted_across_threads() -> None:
    """Threads decoding at once never leave the collector off (nor turn on one the app turned off)."""
    import gc
    import sys
    import threading

    from kvsession.orm import get_codec
    from kvsession.strands.records import SessionMessage

    codec = get_codec("json")
    page = [
        codec.encode(MESSAGE, SessionMessage.from_message({"role": "user", "content": [{"text": "x"}]}, i))
        for i in range(200)
    ]
    keys = [f"k{i}" for i in range(200)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for _ in range(5):
            threads = [
                threading.Thread(target=codec.decode_many, args=(MESSAGE, page), kwargs={"keys": keys})
                for _ in range(6)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert gc.isenabled()
    finally:
        sys.setswitchinterval(interval)
