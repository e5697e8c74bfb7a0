"""Hypothesis strategies for Strands messages and session records, shared by every test suite.

``messages()`` draws Strands ``Message`` dicts covering every content block kind a session stores
(text, toolUse with nested JSON input, toolResult with text / json / image / document content, image,
document, video, reasoningContent, cachePoint, citationsContent), with ``bytes`` in media sources and
anywhere inside nested JSON, and optional ``tracking_id`` / ``metadata``. ``session_messages()``,
``session_agents()``, ``sessions()`` and ``states()`` wrap them in the records a repository stores.

Values stay inside what every codec can round-trip exactly: JSON values (no NaN or infinity, ints in
the signed 64-bit range, string keys) plus ``bytes``. No dict uses the JSON bytes-marker key.
``assert_identical`` compares a round-tripped value with the original, types included.
"""

from __future__ import annotations

import string
from datetime import timezone
from typing import Any, cast

from hypothesis import strategies as st
from strands.types.content import ContentBlock, Message
from strands.types.session import SessionAgent, SessionMessage, SessionType

from kvsession.strands.records import Session

__all__ = [
    "assert_identical",
    "binaries",
    "content_blocks",
    "ids",
    "json_values",
    "messages",
    "session_agents",
    "session_messages",
    "sessions",
    "states",
    "timestamps",
]

_INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_FLOATS = st.floats(allow_nan=False, allow_infinity=False)

ids = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=24)
"""Session / agent / tool-use ids: what Strands and the key scheme accept."""

timestamps = st.datetimes(timezones=st.just(timezone.utc)).map(lambda moment: moment.isoformat())
"""ISO-8601 UTC timestamps, as Strands writes ``created_at`` / ``updated_at``."""

binaries = st.binary(max_size=512)
"""Media and blob payloads (any byte values, empty included)."""

_KEYS = st.text(max_size=12).filter(lambda key: key != "__bytes_encoded__")


def json_values(*, allow_bytes: bool = True, max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Nested JSON values (unicode strings, 64-bit ints, finite floats), with ``bytes`` leaves if allowed."""
    leaves: st.SearchStrategy[Any] = st.none() | st.booleans() | _INT64 | _FLOATS | st.text(max_size=40)
    if allow_bytes:
        leaves = leaves | st.binary(max_size=64)
    return st.recursive(
        leaves,
        lambda children: st.lists(children, max_size=4) | st.dictionaries(_KEYS, children, max_size=4),
        max_leaves=max_leaves,
    )


def _json_objects(*, allow_bytes: bool = True) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(_KEYS, json_values(allow_bytes=allow_bytes), max_size=5)


def _source() -> st.SearchStrategy[dict[str, Any]]:
    s3 = st.fixed_dictionaries(
        {"type": st.just("s3"), "uri": st.builds("s3://bucket/{}".format, ids)},
        optional={"bucketOwner": st.from_regex(r"\A[0-9]{12}\Z")},
    )
    return st.fixed_dictionaries({"bytes": binaries}) | st.fixed_dictionaries({"location": s3})


def _image() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"format": st.sampled_from(["png", "jpeg", "gif", "webp"]), "source": _source()}
    )


def _document() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "format": st.sampled_from(["pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md"]),
            "name": st.text(min_size=1, max_size=30),
            "source": _source(),
        },
        optional={
            "citations": st.none() | st.fixed_dictionaries({"enabled": st.booleans()}),
            "context": st.none() | st.text(max_size=40),
        },
    )


def _tool_result() -> st.SearchStrategy[dict[str, Any]]:
    content = st.one_of(
        st.fixed_dictionaries({"text": st.text()}),
        st.fixed_dictionaries({"json": json_values()}),
        st.fixed_dictionaries({"image": _image()}),
        st.fixed_dictionaries({"document": _document()}),
    )
    return st.fixed_dictionaries(
        {
            "toolUseId": ids,
            "status": st.sampled_from(["success", "error"]),
            "content": st.lists(content, max_size=4),
        }
    )


def _reasoning() -> st.SearchStrategy[dict[str, Any]]:
    text = st.fixed_dictionaries(
        {"text": st.text()}, optional={"signature": st.none() | st.text(min_size=1, max_size=40)}
    )
    return st.fixed_dictionaries({"reasoningText": text}) | st.fixed_dictionaries(
        {"redactedContent": binaries}
    )


def _citations() -> st.SearchStrategy[dict[str, Any]]:
    span = st.fixed_dictionaries(
        {"documentIndex": st.integers(0, 9), "start": st.integers(0, 999), "end": st.integers(0, 999)}
    )
    location = st.fixed_dictionaries({"documentChar": span}) | st.fixed_dictionaries({"documentPage": span})
    citation = st.fixed_dictionaries(
        {
            "location": location,
            "sourceContent": st.lists(st.fixed_dictionaries({"text": st.text()}), max_size=2),
        },
        optional={"title": st.text(max_size=20)},
    )
    return st.fixed_dictionaries(
        {
            "citations": st.lists(citation, max_size=2),
            "content": st.lists(st.fixed_dictionaries({"text": st.text()}), max_size=2),
        }
    )


def content_blocks() -> st.SearchStrategy[ContentBlock]:
    """One Strands ``ContentBlock`` of any kind a conversation stores."""
    tool_use = st.fixed_dictionaries(
        {"toolUseId": ids, "name": ids, "input": json_values()},
        optional={"reasoningSignature": st.text(min_size=1, max_size=40)},
    )
    video = st.fixed_dictionaries({"format": st.sampled_from(["mp4", "webm", "mov"]), "source": _source()})
    block = st.one_of(
        st.fixed_dictionaries({"text": st.text()}),
        st.fixed_dictionaries({"toolUse": tool_use}),
        st.fixed_dictionaries({"toolResult": _tool_result()}),
        st.fixed_dictionaries({"image": _image()}),
        st.fixed_dictionaries({"document": _document()}),
        st.fixed_dictionaries({"video": video}),
        st.fixed_dictionaries({"reasoningContent": _reasoning()}),
        st.fixed_dictionaries({"cachePoint": st.fixed_dictionaries({"type": st.just("default")})}),
        st.fixed_dictionaries({"citationsContent": _citations()}),
    )
    return cast("st.SearchStrategy[ContentBlock]", block)


def messages() -> st.SearchStrategy[Message]:
    """A Strands ``Message``: a role, one to five content blocks, maybe a tracking id and metadata."""
    usage = st.fixed_dictionaries(
        {
            "inputTokens": st.integers(0, 10**6),
            "outputTokens": st.integers(0, 10**6),
            "totalTokens": st.integers(0, 10**6),
        }
    )
    metadata = st.fixed_dictionaries(
        {},
        optional={
            "usage": usage,
            "metrics": st.fixed_dictionaries({"latencyMs": st.integers(0, 10**6)}),
            "custom": _json_objects(),
        },
    )
    message = st.fixed_dictionaries(
        {
            "role": st.sampled_from(["user", "assistant"]),
            "content": st.lists(content_blocks(), min_size=1, max_size=5),
        },
        optional={"tracking_id": st.uuids().map(str), "metadata": metadata},
    )
    return cast("st.SearchStrategy[Message]", message)


def session_messages() -> st.SearchStrategy[SessionMessage]:
    """A Strands ``SessionMessage``, redacted or not."""
    return st.builds(
        SessionMessage,
        message=messages(),
        message_id=st.integers(min_value=0, max_value=10**6),
        redact_message=st.none() | messages(),
        created_at=timestamps,
        updated_at=timestamps,
    )


def states(*, allow_bytes: bool = True) -> st.SearchStrategy[dict[str, Any]]:
    """A free-form state dict (agent state, multi-agent state, session metadata), bytes included."""
    return _json_objects(allow_bytes=allow_bytes)


def session_agents() -> st.SearchStrategy[SessionAgent]:
    """A Strands ``SessionAgent`` with bytes in its state and internal state."""
    conversation_manager_state = st.fixed_dictionaries(
        {
            "__name__": st.just("SlidingWindowConversationManager"),
            "removed_message_count": st.integers(0, 1000),
        }
    )
    internal_state = st.fixed_dictionaries(
        {},
        optional={
            "interrupt_state": st.fixed_dictionaries(
                {
                    "interrupts": _json_objects(allow_bytes=False),
                    "context": _json_objects(),
                    "activated": st.booleans(),
                }
            ),
            "model_state": states(),
        },
    )
    return st.builds(
        SessionAgent,
        agent_id=ids,
        state=states(),
        conversation_manager_state=conversation_manager_state,
        _internal_state=internal_state,
        created_at=timestamps,
        updated_at=timestamps,
    )


def sessions() -> st.SearchStrategy[Session]:
    """A kvsession ``Session`` with metadata."""
    return st.builds(
        Session,
        session_id=ids,
        session_type=st.just(SessionType.AGENT),
        created_at=timestamps,
        updated_at=timestamps,
        metadata=states(),
    )


def assert_identical(actual: object, expected: object, path: str = "$") -> None:
    """Assert two values are equal *and* of the same type all the way down.

    ``==`` is not enough for a round trip: ``b"x" == bytearray(b"x")``, ``1 == True`` and
    ``SessionType.AGENT == "AGENT"`` all hold. Dataclasses are compared field by field.
    """
    assert type(actual) is type(expected), f"{path}: {type(actual).__name__} != {type(expected).__name__}"
    if isinstance(expected, dict):
        assert isinstance(actual, dict)
        assert actual.keys() == expected.keys(), f"{path}: keys {set(actual)} != {set(expected)}"
        for key, value in expected.items():
            assert_identical(actual[key], value, f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list)
        assert len(actual) == len(expected), f"{path}: length {len(actual)} != {len(expected)}"
        for i, (got, want) in enumerate(zip(actual, expected, strict=True)):
            assert_identical(got, want, f"{path}[{i}]")
    elif hasattr(expected, "__dataclass_fields__"):
        assert_identical(vars(actual), vars(expected), path)
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"
