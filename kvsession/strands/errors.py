"""The Strands-facing leaves of kvsession's error tree: each is also Strands' ``SessionException``.

Strands' session managers catch ``SessionException``; these subclasses let them do so while a
kvsession caller can still catch the generic parent (``RecordExistsError``, ``NotFoundError``).
"""

from __future__ import annotations

from strands.types.exceptions import SessionException

from kvsession.kv.errors import ConflictError, KVSessionError, NotFoundError, RecordExistsError

__all__ = [
    "IncompleteSessionError",
    "MessageExistsError",
    "SessionBusyError",
    "SessionConflictError",
    "SessionExistsError",
    "SessionRecordExistsError",
    "SessionRecordNotFoundError",
    "UnindexedMessagesError",
]


class SessionRecordExistsError(RecordExistsError, SessionException):
    """Creating a session's record (agent, message, multi-agent state) found it already there."""


class SessionRecordNotFoundError(NotFoundError, SessionException):
    """An update or delete named a session record that does not exist; nothing was written."""


class SessionConflictError(ConflictError, SessionException):
    """An update was based on a state another writer has replaced since; nothing was written.

    Agent and multi-agent state are updated optimistically: each repository remembers the
    bytes it last read or wrote, and the update applies only if they are still stored. A
    conflict means another worker wrote the record in between (two workers on one session):
    read the record again (``read_agent``, or rebuild the Strands agent) and decide, or use
    the session lease to keep one writer per session (docs/keys.md).

    Attributes:
        session_id: The session.
        key: The record that another writer changed.
    """

    def __init__(self, message: str, *, session_id: str, key: str) -> None:
        self.session_id = session_id
        super().__init__(message, key=key)


class SessionBusyError(KVSessionError, SessionException):
    """Another worker holds the session's lease (or this worker's lease was lost); nothing was written.

    Raised when a lease cannot be acquired within its wait, and by a write of a worker whose
    lease expired (or was taken by another worker) since it acquired it (docs/keys.md, "Two
    workers on one session").

    Attributes:
        session_id: The session.
        key: The lease key.
    """

    def __init__(self, message: str, *, session_id: str, key: str) -> None:
        self.session_id = session_id
        self.key = key
        super().__init__(f"key=<{key}> | {message}")


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


class UnindexedMessagesError(IncompleteSessionError):
    """The agent's message index lists fewer messages than the session holds (it was lost or emptied).

    Raised instead of restoring the part of a conversation the index still lists. The records
    are intact: ``repair_messages_index(session_id, agent_id)`` lists them again.

    Attributes:
        session_id: The session.
        agent_id: The agent whose message index is short.
        unindexed_keys: Message records of the agent that the index does not list.
    """

    def __init__(self, session_id: str, agent_id: str, index_key: str, unindexed_keys: list[str]) -> None:
        self.session_id = session_id
        self.agent_id = agent_id
        self.index_key = index_key
        self.unindexed_keys = unindexed_keys
        self.missing_keys: list[str] = []
        shown = ", ".join(unindexed_keys[:5]) + (" ..." if len(unindexed_keys) > 5 else "")
        KVSessionError.__init__(
            self,
            f"session_id=<{session_id}>, agent_id=<{agent_id}>, key=<{index_key}> | "
            f"{len(unindexed_keys)} message record(s) not in the index ({shown}); refusing to restore "
            "part of a conversation (repair_messages_index lists them again)",
        )
