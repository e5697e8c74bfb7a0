"""The shapes kvsession stores, and their conversion to and from Strands' session types.

Strands' dataclasses (``strands.types.session``) are the source of truth for field names: a stored
document uses exactly those names (``_internal_state`` included), so the JSON files written by
Strands' own ``FileSessionManager`` decode here unchanged.

Only the record *envelope* is typed. The conversation payload (``SessionMessage.message``) stays a
plain ``dict`` on purpose: Strands' ``Message`` is an open family of TypedDicts that grows with every
release (video, citations, cache points ...), and typing it would silently drop content blocks or keys
this version does not know, which an update would then write back without them. See ``docs/codecs.md``
for the measurements behind that choice.

Agents decode straight into Strands' ``SessionAgent`` dataclass; sessions and messages go through the
small ``SessionRecord`` / ``MessageRecord`` structs below, which exist to be lenient where Strands'
own annotations are strict (an unknown ``session_type``) or not expressible to msgspec (``Message``).
Unknown fields are ignored on read and missing optional fields take Strands' defaults.
"""

from __future__ import annotations

import dataclasses
from collections.abc import KeysView
from datetime import datetime, timezone
from typing import Any, cast

import msgspec
from strands.types.content import ContentBlock, Message
from strands.types.session import Session as StrandsSession
from strands.types.session import SessionAgent, SessionMessage, SessionType

__all__ = [
    "ListedMessage",
    "MessageRecord",
    "Session",
    "SessionAgent",
    "SessionMessage",
    "SessionRecord",
    "SessionType",
    "metadata_of",
]


def _utc_now() -> str:
    # Same default as Strands' dataclasses, so a record missing a timestamp reads like Strands would.
    return datetime.now(timezone.utc).isoformat()


@dataclasses.dataclass
class Session(StrandsSession):
    """A Strands session plus the user's metadata dict.

    Strands' ``Session`` has no metadata field, but users of the reference package keep a metadata
    dict on the session record (DESIGN §3). Being a subclass, it can be handed to any Strands code
    that expects a ``Session``.

    Attributes:
        metadata: User-owned metadata; any JSON value or ``bytes`` inside round-trips.
    """

    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_strands(cls, session: StrandsSession, metadata: dict[str, Any] | None = None) -> Session:
        """Build a kvsession ``Session`` from a Strands one.

        Args:
            session: The Strands session to copy the fields of.
            metadata: Metadata to attach; defaults to the session's own metadata if it has any, else ``{}``.

        Returns:
            A new ``Session``; the argument is not modified.
        """
        if metadata is None:
            metadata = dict(getattr(session, "metadata", None) or {})
        return cls(
            session_id=session.session_id,
            session_type=session.session_type,
            created_at=session.created_at,
            updated_at=session.updated_at,
            metadata=metadata,
        )


def metadata_of(session: StrandsSession) -> dict[str, Any]:
    """Return a session's metadata: a kvsession :class:`Session`'s dict, ``{}`` for a Strands one."""
    return session.metadata if isinstance(session, Session) else {}


@dataclasses.dataclass(eq=False)
class ListedMessage(SessionMessage):
    """A Strands ``SessionMessage`` that also reads like the message it holds.

    What a session manager's ``list_messages()`` returns, so that both loops of the reference
    package's documentation run unchanged: ``msg["role"]`` / ``msg["content"]`` and
    ``msg.role`` / ``msg.content`` read the message as the agent sees it (the redacted content
    if there is one). It is still a ``SessionMessage`` (``isinstance``) and compares equal to a
    plain one with the same fields, in both directions. Repository methods return plain
    ``SessionMessage`` objects.
    """

    __hash__ = None  # type: ignore[assignment]  # mutable, like SessionMessage

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SessionMessage):
            return NotImplemented
        return _fields(self) == _fields(other)

    @property
    def role(self) -> str:
        """The role of the message as the agent sees it (``"user"`` / ``"assistant"``)."""
        return self.to_message()["role"]

    @property
    def content(self) -> list[ContentBlock]:
        """The content blocks of the message as the agent sees it."""
        return self.to_message()["content"]

    def __getitem__(self, key: str) -> Any:
        return self.to_message()[key]  # type: ignore[literal-required]

    def get(self, key: str, default: Any = None) -> Any:
        """``msg.get("role")``: a key of the message, or ``default``."""
        return self.to_message().get(key, default)

    def keys(self) -> KeysView[str]:
        """Return the message's keys (``role``, ``content`` ...)."""
        return self.to_message().keys()

    def __contains__(self, key: object) -> bool:
        return key in self.to_message()

    @classmethod
    def adopt(cls, messages: list[SessionMessage]) -> list[SessionMessage]:
        """Turn freshly decoded ``SessionMessage`` objects into ``ListedMessage``, in place."""
        for message in messages:
            if type(message) is SessionMessage:
                # Same fields, no slots: re-classing costs nothing per message, copying would not.
                message.__class__ = cls
        return messages


def _fields(message: SessionMessage) -> tuple[Any, ...]:
    return (
        message.message,
        message.message_id,
        message.redact_message,
        message.created_at,
        message.updated_at,
    )


class SessionRecord(msgspec.Struct):
    """The stored session document, as decoded before it becomes a ``Session``.

    ``session_type`` is read as a plain string so that a type added by a newer Strands does not make
    the whole session unreadable; ``to_session`` maps known values to ``SessionType``.

    Attributes:
        session_id: The session id.
        session_type: Strands' session type value (``"AGENT"``).
        created_at: ISO-8601 creation time.
        updated_at: ISO-8601 time the record was last written.
        metadata: The user's metadata dict; absent (unset) in records of a plain Strands
            ``Session``, as in the files Strands itself writes.
    """

    session_id: str
    session_type: str
    created_at: str = msgspec.field(default_factory=_utc_now)
    updated_at: str = msgspec.field(default_factory=_utc_now)
    metadata: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET

    def to_session(self) -> StrandsSession:
        """Convert to the session type that was stored.

        Returns:
            A kvsession :class:`Session` if the record holds ``metadata``, else a plain Strands
            ``Session``, so what ``read_session`` returns compares equal (``==``) to what
            ``create_session`` was given. An unknown ``session_type`` is kept as the raw
            string, as Strands' ``Session.from_dict`` does.
        """
        try:
            session_type = SessionType(self.session_type)
        except ValueError:
            session_type = cast(SessionType, self.session_type)
        if self.metadata is msgspec.UNSET:
            return StrandsSession(
                session_id=self.session_id,
                session_type=session_type,
                created_at=self.created_at,
                updated_at=self.updated_at,
            )
        return Session(
            session_id=self.session_id,
            session_type=session_type,
            created_at=self.created_at,
            updated_at=self.updated_at,
            metadata=self.metadata,
        )


class MessageRecord(msgspec.Struct):
    """The stored message document, as decoded before it becomes a Strands ``SessionMessage``.

    Attributes:
        message: The Strands ``Message`` dict, untyped below ``role`` / ``content`` (see module docs).
        message_id: Strands' integer index of the message in the conversation.
        redact_message: Replacement content when the original was redacted, else ``None``.
        created_at: ISO-8601 creation time.
        updated_at: ISO-8601 time of the last write.
    """

    message: dict[str, Any]
    message_id: int
    redact_message: dict[str, Any] | None = None
    created_at: str = msgspec.field(default_factory=_utc_now)
    updated_at: str = msgspec.field(default_factory=_utc_now)

    def to_session_message(self) -> SessionMessage:
        """Convert to Strands' ``SessionMessage``.

        Returns:
            The message record; its dicts are the ones decoded, not copies.

        Raises:
            ValueError: ``message`` or ``redact_message`` lacks a ``role`` or a ``content`` list.
        """
        return SessionMessage(
            message=_checked_message(self.message, "message"),
            message_id=self.message_id,
            redact_message=None
            if self.redact_message is None
            else _checked_message(self.redact_message, "redact_message"),
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


def _checked_message(value: dict[str, Any], field_name: str) -> Message:
    # The payload is otherwise untyped; these two keys are what every Strands code path reads, so a
    # record without them must fail here, with the key in the error, not later inside the agent loop.
    if not isinstance(value.get("role"), str) or not isinstance(value.get("content"), list):
        raise ValueError(f"{field_name} needs a string 'role' and a list 'content'")
    return cast(Message, value)
