"""Builders and comparison helpers shared by the parity tests (not a test module)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from strands.multiagent.base import MultiAgentBase
from strands.session.file_session_manager import FileSessionManager
from strands.types.content import Message, Messages
from strands.types.exceptions import SessionException
from strands.types.session import Session, SessionAgent, SessionMessage, SessionType

from kvsession.kv.errors import CodecError
from kvsession.strands import KVSessionRepository

Repository = FileSessionManager | KVSessionRepository
"""Either store a differential test drives."""

Step = tuple[str, Callable[[Repository], Any]]
"""One labelled call a differential test makes on each store."""

Outcome = tuple[str, Any]
"""``("ok", result)`` or ``("raises", kind)``: what one repository call did."""


def new_session(session_id: str) -> Session:
    """A plain Strands session record."""
    return Session(session_id=session_id, session_type=SessionType.AGENT)


def new_agent(agent_id: str, **state: Any) -> SessionAgent:
    """A Strands agent record with this state and an empty conversation manager state."""
    return SessionAgent(agent_id=agent_id, state=dict(state), conversation_manager_state={})


def text_message(message_id: int, text: str | None = None) -> SessionMessage:
    """A message record: even ids are the user's, odd ids the assistant's."""
    role: Literal["user", "assistant"] = "user" if message_id % 2 == 0 else "assistant"
    return SessionMessage.from_message(
        {"role": role, "content": [{"text": f"m{message_id}" if text is None else text}]}, message_id
    )


@dataclass
class StubMultiAgent:
    """What a repository needs of a Swarm or Graph: an ``id`` and ``serialize_state()``.

    Attributes:
        id: The multi-agent id.
        state: What ``serialize_state()`` returns (the same object every time).
        restored: Every state ``deserialize_state`` was given.
    """

    id: str
    state: dict[str, Any]
    restored: list[dict[str, Any]] = field(default_factory=list)

    def serialize_state(self) -> dict[str, Any]:
        return self.state

    def deserialize_state(self, payload: dict[str, Any]) -> None:
        self.restored.append(payload)


def multi_agent(multi_agent_id: str, state: dict[str, Any] | None = None) -> MultiAgentBase:
    """A :class:`StubMultiAgent` typed as what the repository methods take."""
    payload = {"id": multi_agent_id, "state": {"step": 1}} if state is None else state
    return cast(MultiAgentBase, StubMultiAgent(multi_agent_id, payload))


def outcome(call: Callable[[], Any]) -> Outcome:
    """Run ``call``; return what it returned, or the kind of error it raised.

    The kinds a differential test compares: ``SessionException`` (Strands' own error, any
    subclass), ``ValueError``, ``unencodable`` (Strands' File store raises ``TypeError`` from
    ``json.dump``; kvsession raises ``CodecError``), else the exception's class name.
    """
    try:
        return ("ok", call())
    except SessionException:
        return ("raises", "SessionException")
    except (CodecError, TypeError):
        return ("raises", "unencodable")
    except ValueError:
        return ("raises", "ValueError")
    except Exception as error:  # the name is the comparison
        return ("raises", type(error).__name__)


def comparable(value: Any) -> Any:
    """``value`` with every NaN replaced by a marker, so two decoded copies compare with ``==``."""
    if isinstance(value, float) and math.isnan(value):
        return ("NaN", math.copysign(1.0, value))
    if isinstance(value, dict):
        return {key: comparable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(comparable(item) for item in value)
    return value


def without_tracking_ids(value: Any, volatile: frozenset[str] = frozenset({"tracking_id"})) -> Any:
    """``value`` without per-run keys (Strands' random ``tracking_id`` by default), at any depth."""
    if isinstance(value, dict):
        return {
            key: without_tracking_ids(item, volatile) for key, item in value.items() if key not in volatile
        }
    if isinstance(value, list):
        return [without_tracking_ids(item, volatile) for item in value]
    return value


def as_sent(messages: Messages) -> list[dict[str, Any]]:
    """Messages without per-process fields (Strands' random ``tracking_id``, pin ``metadata``)."""
    return [{"role": message["role"], "content": message["content"]} for message in messages]


def stored_view(records: list[SessionMessage]) -> list[tuple[int, dict[str, Any], dict[str, Any] | None]]:
    """Message records as (id, message, redaction), without per-process fields."""

    def strip(message: Message | None) -> dict[str, Any] | None:
        return None if message is None else as_sent([message])[0]

    return [
        (record.message_id, cast(dict[str, Any], strip(record.message)), strip(record.redact_message))
        for record in records
    ]


def deep_differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    """One line per place where ``actual`` differs from ``expected`` (dicts and lists walked)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        lines = []
        for key in [*expected, *(key for key in actual if key not in expected)]:
            if key not in actual or key not in expected:
                left, right = expected.get(key, "<absent>"), actual.get(key, "<absent>")
                lines.append(f"{path}/{key}: File {left!r} != ours {right!r}")
            else:
                lines.extend(deep_differences(expected[key], actual[key], f"{path}/{key}"))
        return lines
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [
            line
            for index, pair in enumerate(zip(expected, actual, strict=True))
            for line in deep_differences(*pair, f"{path}[{index}]")
        ]
    if expected != actual or type(expected) is not type(actual):
        return [f"{path}: File {expected!r} != ours {actual!r}"]
    return []
