"""Micro-benchmark of the codec layer: µs to encode and decode one Strands message record.

Run: ``.venv/bin/python -m benchmarks.codec_bench [--repeat 7] [--min-time 0.05]``

Three ways to turn stored bytes into Strands' ``SessionMessage`` are compared, in both formats:

- ``untyped+walk`` (what ``kvsession.orm`` ships): msgspec decodes a typed envelope whose message
  payload is a plain dict; JSON bytes markers are replaced in one Python walk, skipped when the raw
  document does not contain the marker key at all.
- ``msgspec-typed``: msgspec decodes the payload into Structs mirroring Strands' ``Message`` TypedDicts
  (msgspec cannot take the TypedDicts themselves: they contain unions of several TypedDicts), then
  ``msgspec.to_builtins`` turns the Structs back into the dicts Strands expects.
- ``cattrs``: msgspec decodes untyped, then cattrs structures the dict into Strands' own types, with
  hooks for the bytes marker, ``Any`` values and the unions cattrs cannot type either.

Encoding is the same msgspec call for the first two (there is nothing to type on the way out);
the cattrs path unstructures through cattrs first. Strands' ``FileSessionManager`` way (stdlib ``json``
plus ``to_dict``/``from_dict``) is shown as a baseline. Figures are medians over ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import timeit
from collections.abc import Callable
from functools import partial
from typing import Any, Literal

import cattrs
import msgspec
from strands.types.citations import CitationLocation
from strands.types.media import SourceLocation
from strands.types.session import SessionMessage

from kvsession.orm import get_codec
from kvsession.strands.models import MESSAGE

_UNSET: Any = msgspec.UNSET
_MARKER_KEY = "__bytes_encoded__"
_NEEDLE = b'"__bytes_encoded__"'


# --- the workload: typical Strands messages -----------------------------------------------------------


def workload() -> dict[str, SessionMessage]:
    """Return the benchmarked messages by name."""
    image = os.urandom(200_000)
    messages: dict[str, dict[str, Any]] = {
        "text (user)": {
            "role": "user",
            "content": [
                {
                    "text": "Can you summarise the attached quarterly report and list the three biggest "
                    "risks? Keep it under 200 words, and answer in English, please."
                }
            ],
        },
        "toolUse (assistant)": {
            "role": "assistant",
            "content": [
                {"text": "I'll look up the current weather in Paris and Berlin."},
                {
                    "toolUse": {
                        "toolUseId": "tooluse_8PqV3kz2Q1u9TnBw",
                        "name": "get_weather",
                        "input": {
                            "locations": [
                                {"city": "Paris", "country": "FR"},
                                {"city": "Berlin", "country": "DE"},
                            ],
                            "units": "metric",
                            "include": ["temperature", "wind", "humidity"],
                            "days": 3,
                        },
                    }
                },
            ],
            "metadata": {
                "usage": {"inputTokens": 1234, "outputTokens": 87, "totalTokens": 1321},
                "metrics": {"latencyMs": 842},
            },
        },
        "toolResult (user)": {
            "role": "user",
            "content": [
                {
                    "toolResult": {
                        "toolUseId": "tooluse_8PqV3kz2Q1u9TnBw",
                        "status": "success",
                        "content": [
                            {"text": "Forecast for 2 locations, 3 days."},
                            {
                                "json": {
                                    city: {
                                        "temperature": [18.5, 19.1, 17.2],
                                        "wind_kmh": [12, 9, 20],
                                        "humidity": [0.61, 0.58, 0.72],
                                        "summary": "Partly cloudy, light rain on day 3",
                                    }
                                    for city in ("Paris", "Berlin")
                                }
                            },
                        ],
                    }
                }
            ],
        },
        "image 200 KB (user)": {
            "role": "user",
            "content": [
                {"text": "What is in this picture?"},
                {"image": {"format": "png", "source": {"bytes": image}}},
            ],
        },
    }
    return {
        name: SessionMessage(message=dict(message, tracking_id=f"trk-{i}"), message_id=i)  # type: ignore[arg-type]
        for i, (name, message) in enumerate(messages.items())
    }


# --- msgspec-typed path: Structs mirroring Strands' Message TypedDicts ---------------------------------


class _Marker(msgspec.Struct):
    encoded: bool = msgspec.field(name=_MARKER_KEY)
    data: bytes = b""  # msgspec decodes the base64 in C


_Blob = _Marker | bytes  # JSON stores the marker object, MessagePack raw bin


class _Source(msgspec.Struct, omit_defaults=True):
    bytes: _Blob = _UNSET
    location: dict[str, Any] = _UNSET


class _Media(msgspec.Struct, omit_defaults=True):
    format: str
    source: _Source


class _Document(msgspec.Struct, omit_defaults=True):
    format: str = _UNSET
    name: str = _UNSET
    source: _Source = _UNSET
    citations: dict[str, Any] | None = _UNSET
    context: str | None = _UNSET


class _ToolUse(msgspec.Struct, omit_defaults=True, rename="camel"):
    input: Any
    name: str
    tool_use_id: str
    reasoning_signature: str = _UNSET


class _ToolResultContent(msgspec.Struct, omit_defaults=True):
    document: _Document = _UNSET
    image: _Media = _UNSET
    json: Any = _UNSET
    text: str = _UNSET


class _ToolResult(msgspec.Struct, rename="camel"):
    content: list[_ToolResultContent]
    status: Literal["success", "error"]
    tool_use_id: str


class _ReasoningText(msgspec.Struct, omit_defaults=True):
    text: str = _UNSET
    signature: str | None = _UNSET


class _Reasoning(msgspec.Struct, omit_defaults=True, rename="camel"):
    reasoning_text: _ReasoningText = _UNSET
    redacted_content: _Blob = _UNSET


class _ContentBlock(msgspec.Struct, omit_defaults=True, rename="camel"):
    audio: _Media = _UNSET
    cache_point: dict[str, Any] = _UNSET
    document: _Document = _UNSET
    guard_content: dict[str, Any] = _UNSET
    image: _Media = _UNSET
    reasoning_content: _Reasoning = _UNSET
    text: str = _UNSET
    tool_result: _ToolResult = _UNSET
    tool_use: _ToolUse = _UNSET
    video: _Media = _UNSET
    citations_content: dict[str, Any] = _UNSET


class _Message(msgspec.Struct, omit_defaults=True):
    role: Literal["user", "assistant"]
    content: list[_ContentBlock]
    tracking_id: str = _UNSET
    metadata: dict[str, Any] = _UNSET


class _TypedMessageRecord(msgspec.Struct):
    message: _Message
    message_id: int
    redact_message: _Message | None = None
    created_at: str = ""
    updated_at: str = ""


def _unmark_any(value: Any) -> Any:
    # After to_builtins a typed marker holds bytes already; one in an ``Any`` field still holds base64.
    if isinstance(value, dict):
        if len(value) == 2 and value.get(_MARKER_KEY) is True:
            data = value["data"]
            return data if isinstance(data, bytes) else msgspec.convert(data, bytes)
        for k, item in value.items():
            if isinstance(item, (dict, list)):
                value[k] = _unmark_any(item)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, (dict, list)):
                value[i] = _unmark_any(item)
    return value


def _typed_decoder(fmt: str) -> Callable[[bytes], SessionMessage]:
    module: Any = msgspec.json if fmt == "json" else msgspec.msgpack
    decoder = module.Decoder(_TypedMessageRecord)

    def decode(data: bytes) -> SessionMessage:
        record = decoder.decode(data)
        message = msgspec.to_builtins(record.message, builtin_types=(bytes,))
        redact = (
            None
            if record.redact_message is None
            else msgspec.to_builtins(record.redact_message, builtin_types=(bytes,))
        )
        if fmt == "json" and _NEEDLE in data:
            message = _unmark_any(message)
        return SessionMessage(message, record.message_id, redact, record.created_at, record.updated_at)

    return decode


# --- cattrs path ------------------------------------------------------------------------------------------


def _cattrs_converter(json_markers: bool) -> cattrs.Converter:
    converter = cattrs.Converter()
    # Unions of several TypedDicts: cattrs cannot pick a member, just as msgspec cannot.
    converter.register_structure_hook_func(
        lambda t: t in (SourceLocation, CitationLocation), lambda v, _: dict(v)
    )
    if json_markers:
        converter.register_structure_hook(bytes, lambda v, _: msgspec.convert(v["data"], bytes))
        converter.register_structure_hook_func(lambda t: t is Any, lambda v, _: _unmark_any(v))
        converter.register_unstructure_hook(
            bytes, lambda v: {_MARKER_KEY: True, "data": msgspec.to_builtins(v)}
        )
    else:
        converter.register_structure_hook(bytes, lambda v, _: v)
        converter.register_unstructure_hook(bytes, lambda v: v)
    return converter


# --- timing ----------------------------------------------------------------------------------------------


def _median_us(func: Callable[[], object], repeat: int, min_time: float) -> float:
    timer = timeit.Timer(func)
    number = 1
    while timer.timeit(number) < min_time:
        number *= 2
    return statistics.median(timer.repeat(repeat=repeat, number=number)) / number * 1e6


Encode = Callable[[SessionMessage], bytes]
Decode = Callable[[bytes], SessionMessage]


def _shipped(fmt: str) -> tuple[Encode, Decode]:
    codec = get_codec(fmt)

    def decode(data: bytes) -> SessionMessage:
        return codec.decode(MESSAGE, data, key="bench")

    return partial(codec.encode, MESSAGE), decode


def _cattrs(fmt: str) -> tuple[Encode, Decode]:
    converter = _cattrs_converter(json_markers=fmt == "json")
    module: Any = msgspec.json if fmt == "json" else msgspec.msgpack
    encoder, decoder = module.Encoder(), module.Decoder()

    def encode(message: SessionMessage) -> bytes:
        return encoder.encode(converter.unstructure(message))  # type: ignore[no-any-return]

    def decode(data: bytes) -> SessionMessage:
        return converter.structure(decoder.decode(data), SessionMessage)

    return encode, decode


def _strands_encode(message: SessionMessage) -> bytes:
    return json.dumps(message.to_dict(), ensure_ascii=False).encode()


def _strands_decode(data: bytes) -> SessionMessage:
    return SessionMessage.from_dict(json.loads(data))


def cases() -> dict[tuple[str, str], tuple[Encode, Decode]]:
    """Return (encode, decode) per (format, path); the first one is what kvsession ships, in JSON."""
    found: dict[tuple[str, str], tuple[Encode, Decode]] = {}
    for fmt in ("json", "msgpack"):
        found[fmt, "untyped+walk"] = _shipped(fmt)
        found[fmt, "msgspec-typed"] = (_shipped(fmt)[0], _typed_decoder(fmt))
        found[fmt, "cattrs"] = _cattrs(fmt)
    found["json", "strands stdlib"] = (_strands_encode, _strands_decode)
    return found


def _restore_rows(repeat: int, min_time: float, messages: list[SessionMessage]) -> list[str]:
    rows = []
    keys = [f"m{i}" for i in range(len(messages))]
    for fmt in ("json", "msgpack"):
        codec = get_codec(fmt)
        datas = [codec.encode(MESSAGE, m) for m in messages]
        us = _median_us(partial(codec.decode_many, MESSAGE, datas, keys), repeat, min_time)
        rows.append(
            f"| decode_messages, {len(messages)} text/tool messages | {fmt} | {us:,.0f} µs "
            f"| {us / len(messages):.2f} µs |"
        )
    return rows


def main() -> None:
    """Run the benchmark and print markdown tables."""
    parser = argparse.ArgumentParser(description="Codec micro-benchmark (medians).")
    parser.add_argument("--repeat", type=int, default=15, help="timed runs per figure; the median is shown")
    parser.add_argument("--min-time", type=float, default=0.02, help="seconds per timed run")
    args = parser.parse_args()

    messages = workload()
    baseline: dict[str, float] = {}
    print(f"median of {args.repeat} runs; ratio = enc+dec / shipped JSON path for the same message")
    print()
    print("| message | format | path | encode µs | decode µs | enc+dec µs | ratio | stored bytes |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for name, message in messages.items():
        for (fmt, path), (encode, decode) in cases().items():
            data = encode(message)
            assert decode(data) == message, (name, fmt, path)
            enc = _median_us(partial(encode, message), args.repeat, args.min_time)
            dec = _median_us(partial(decode, data), args.repeat, args.min_time)
            total = enc + dec
            baseline.setdefault(name, total)
            print(
                f"| {name} | {fmt} | {path} | {enc:.2f} | {dec:.2f} | {total:.2f} | "
                f"{total / baseline[name]:.2f} | {len(data):,} |"
            )
    small = [m for name, m in messages.items() if "image" not in name]
    print()
    print("| restore hot path | format | median | per message |")
    print("|---|---|---:|---:|")
    for row in _restore_rows(args.repeat, args.min_time, small * 334):
        print(row)


if __name__ == "__main__":
    main()
