"""Small Strands records for repository tests: one way to build them, shared by the suites."""

from __future__ import annotations

from strands.types.session import SessionAgent, SessionMessage, SessionType

from kvsession.strands.records import Session


def message(i: int, text: str | None = None) -> SessionMessage:
    """A user message with id ``i`` and one text block (``"m<i>"`` unless ``text``)."""
    return SessionMessage.from_message({"role": "user", "content": [{"text": text or f"m{i}"}]}, i)


def session(sid: str = "s1") -> Session:
    """An agent session with no metadata."""
    return Session(session_id=sid, session_type=SessionType.AGENT)


def agent(aid: str = "a1") -> SessionAgent:
    """An agent with empty state."""
    return SessionAgent(agent_id=aid, state={}, conversation_manager_state={})
