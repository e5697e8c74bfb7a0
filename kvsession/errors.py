"""The one exception hierarchy of kvsession.

Every error carries the key or id at fault, so a log line is enough to find the record.
Errors that Strands code may catch as ``SessionException`` subclass it as well.
"""

from __future__ import annotations

from strands.types.exceptions import SessionException

__all__ = [
    "BackendError",
    "BackendUnavailable",
    "CodecError",
    "ConfigError",
    "ConflictError",
    "IncompleteSessionError",
    "InvalidIdError",
    "KVSessionError",
    "MessageExistsError",
    "NotFoundError",
    "RecordExistsError",
    "SessionExistsError",
    "ValueTooLargeError",
]


class KVSessionError(Exception):
    """Base class of every error raised by kvsession."""


class ConfigError(KVSessionError, ValueError):
    """A connection URL or option is invalid (unknown scheme, unknown option, bad value)."""


class InvalidIdError(KVSessionError, ValueError):
    """A session or agent id cannot be used in a key.

    Attributes:
        kind: What the id names (``"session_id"``, ``"agent_id"`` ...).
        value: The rejected id.
    """

    def __init__(self, kind: str, value: object, reason: str) -> None:
        self.kind = kind
        self.value = value
        super().__init__(f"{kind}=<{value!r}> | invalid id: {reason}")


class BackendError(KVSessionError):
    """The backend refused an operation.

    Attributes:
        key: The key the failed operation touched, when one is known.
    """

    def __init__(self, message: str, *, key: str | None = None) -> None:
        self.key = key
        prefix = f"key=<{key}> | " if key is not None else ""
        super().__init__(f"{prefix}{message}")


class BackendUnavailable(BackendError):  # noqa: N818 -- the name STYLE.md gives this leaf
    """The backend cannot be reached (connection refused, lost, or timed out)."""


class ValueTooLargeError(BackendError):
    """A value exceeds the backend's configured maximum size; nothing was written.

    Attributes:
        size: Size of the rejected value in bytes.
        limit: The configured maximum in bytes.
    """

    def __init__(self, key: str, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"value of {size} bytes exceeds the limit of {limit} bytes", key=key)


class ConflictError(BackendError):
    """A conditional write found the key in the wrong state; the whole batch was not applied.

    Attributes:
        key: The key whose only-if-absent / only-if-present condition failed.
    """


class CodecError(KVSessionError):
    """Stored bytes cannot be decoded (or a value cannot be encoded).

    Attributes:
        key: The key the bytes were read from, when known.
    """

    def __init__(self, message: str, *, key: str | None = None) -> None:
        self.key = key
        prefix = f"key=<{key}> | " if key is not None else ""
        super().__init__(f"{prefix}{message}")


class RecordExistsError(ConflictError, SessionException):
    """A create found the record already there (a second writer); nothing was written."""


class SessionExistsError(RecordExistsError):
    """``create_session`` found a session with the same id; the stored one is untouched."""

    def __init__(self, session_id: str, key: str) -> None:
        self.session_id = session_id
        super().__init__(f"session_id=<{session_id}> | session already exists", key=key)


class MessageExistsError(RecordExistsError):
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


class NotFoundError(KVSessionError, SessionException):
    """An update or delete named a record that does not exist; nothing was written.

    Attributes:
        key: The key of the missing record.
    """

    def __init__(self, message: str, *, key: str) -> None:
        self.key = key
        super().__init__(f"key=<{key}> | {message}")


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
