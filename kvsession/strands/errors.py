"""The Strands-facing leaves of kvsession's error tree: each is also Strands' ``SessionException``.

Strands' session managers catch ``SessionException``; these subclasses let them do so while a
kvsession caller can still catch the generic parent (``RecordExistsError``, ``NotFoundError``).
"""

from __future__ import annotations

from strands.types.exceptions import SessionException

from kvsession.kv.errors import KVSessionError, NotFoundError, RecordExistsError

__all__ = [
    "IncompleteSessionError",
    "MessageExistsError",
    "SessionExistsError",
    "SessionRecordExistsError",
    "SessionRecordNotFoundError",
]


class SessionRecordExistsError(RecordExistsError, SessionException):
    """Creating a session's record (agent, message, multi-agent state) found it already there."""


class SessionRecordNotFoundError(NotFoundError, SessionException):
    """An update or delete named a session record that does not exist; nothing was written."""


class SessionExistsError(SessionRecordExistsError):
    """``create_session`` found a session with the same id; the stored one is untouched."""

    def __init__(self, session_id: str, key: str) -> None:
        self.session_id = session_id
        super().__init__(f"session_id=<{session_id}> | session already exists", key=key)


class MessageExistsError(SessionRecordExistsError):
    """``create_message`` found a message with the same id (a second writer); nothing was written."""

    def __init__(self, session_id: str, agent_id: str, message_id: int, key: str) -> None:
        self.session_id = session_id
        self.agent_id = agent_id
        self.message_id = message_id
        super().__init__(
            f"session_id=<{session_id}>, agent_id=<{agent_id}>, message_id=<{message_id}> | "
            "message already exists",
            key=key,
        )


class IncompleteSessionError(KVSessionError, SessionException):
    """An index lists records that are gone, so the conversation cannot be restored whole.

    Raised instead of returning part of a conversation (see docs/keys.md, "Restore rule").

    Attributes:
        session_id: The session.
        agent_id: The agent whose message index disagrees with its records.
        missing_keys: Keys listed by the index but missing.
    """

    def __init__(self, session_id: str, agent_id: str, missing_keys: list[str]) -> None:
        self.session_id = session_id
        self.agent_id = agent_id
        self.missing_keys = missing_keys
        shown = ", ".join(missing_keys[:5]) + (" ..." if len(missing_keys) > 5 else "")
        super().__init__(
            f"session_id=<{session_id}>, agent_id=<{agent_id}> | {len(missing_keys)} indexed message "
            f"record(s) missing ({shown}); refusing to restore part of a conversation"
        )
