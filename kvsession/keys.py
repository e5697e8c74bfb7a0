"""Every key kvsession writes is built here, and every id is validated here first.

Layout (``prefix:`` only when a prefix is configured; in the cluster key scheme the session id
is wrapped as a hash tag, ``session:{user-42}:...``, so one session lives in one slot)::

    session:{sid}                                   session record
    session:{sid}:agent:{aid}                       agent record
    session:{sid}:agent:{aid}:message:{mid}         message record
    session:{sid}:agent:{aid}:messages              ordered index: message ids, score = id
    session:{sid}:agents                            set index: agent ids
    session:{sid}:multi_agent:{id}                  multi-agent state record
    session:{sid}:multi_agents                      set index: multi-agent ids
    session:{sid}:keys                              set index: every key above of this session
    sessions                                        ordered index: session ids, score = updated_at

``:keys`` lets a whole session be deleted or re-expired without scanning the keyspace; the
``sessions`` index lets tools list sessions by recency.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from kvsession.errors import InvalidIdError

__all__ = ["MAX_ID_LENGTH", "KeyScheme", "validate_id", "validate_message_id"]

MAX_ID_LENGTH = 256

# ASCII characters that would break the key grammar or a hash tag, plus whitespace/control.
_FORBIDDEN_ASCII = re.compile(r"[:{}\s\x00-\x1f\x7f]")


def validate_id(kind: str, value: object) -> str:
    """Return ``value`` if it can be used as a session/agent id, else raise.

    Args:
        kind: What the id names, for the error message (``"session_id"``, ``"agent_id"``).
        value: The candidate id.

    Raises:
        InvalidIdError: (a ``ValueError``) naming the id: not a str, empty, longer than
            256 characters, or containing ``:``, ``{``, ``}``, whitespace or control characters.
    """
    if type(value) is str:
        # The same few ids come back on every write of a session: remember the valid ones.
        return _validate_str_id(kind, value)
    return _validate_id(kind, value)


@functools.lru_cache(maxsize=4096)
def _validate_str_id(kind: str, value: str) -> str:
    return _validate_id(kind, value)


def _validate_id(kind: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidIdError(kind, value, f"must be a str, not {type(value).__name__}")
    if not value:
        raise InvalidIdError(kind, value, "must not be empty")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidIdError(kind, value, f"longer than {MAX_ID_LENGTH} characters")
    bad = _FORBIDDEN_ASCII.search(value)
    if bad is not None:
        raise InvalidIdError(
            kind,
            value,
            f"contains {bad.group()!r}; ':', '{{', '}}', whitespace and control characters are not allowed",
        )
    if not value.isascii():
        for char in value:
            # Other/separator categories: C1 controls, format chars (zero-width), unassigned, line seps.
            if unicodedata.category(char)[0] in "CZ":
                raise InvalidIdError(kind, value, f"contains {char!r} (U+{ord(char):04X})")
    return value


def validate_message_id(value: object) -> int:
    """Return ``value`` if it is a valid message id (a non-negative int), else raise ``InvalidIdError``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidIdError("message_id", value, "must be a non-negative integer")
    return value


@dataclass(frozen=True)
class KeyScheme:
    """Builds keys. Callers validate ids first (the repository does, at its entry points).

    Attributes:
        prefix: Namespace put in front of every key, without the trailing ``:``.
        cluster: Wrap the session id in ``{}`` so all of a session's keys share a hash slot.
    """

    prefix: str = ""
    cluster: bool = False

    def _root(self, session_id: str) -> str:
        tagged = f"{{{session_id}}}" if self.cluster else session_id
        return f"{self.prefix}:session:{tagged}" if self.prefix else f"session:{tagged}"

    def session(self, session_id: str) -> str:
        """Key of the session record."""
        return self._root(session_id)

    def agent(self, session_id: str, agent_id: str) -> str:
        """Key of an agent record."""
        return f"{self._root(session_id)}:agent:{agent_id}"

    def message(self, session_id: str, agent_id: str, message_id: int) -> str:
        """Key of one message record."""
        return f"{self._root(session_id)}:agent:{agent_id}:message:{message_id}"

    def messages_index(self, session_id: str, agent_id: str) -> str:
        """Key of an agent's ordered index of message ids."""
        return f"{self._root(session_id)}:agent:{agent_id}:messages"

    def agents_index(self, session_id: str) -> str:
        """Key of the set of a session's agent ids."""
        return f"{self._root(session_id)}:agents"

    def multi_agent(self, session_id: str, multi_agent_id: str) -> str:
        """Key of a multi-agent state record."""
        return f"{self._root(session_id)}:multi_agent:{multi_agent_id}"

    def multi_agents_index(self, session_id: str) -> str:
        """Key of the set of a session's multi-agent ids."""
        return f"{self._root(session_id)}:multi_agents"

    def owned_keys(self, session_id: str) -> str:
        """Key of the set of every key the session owns (for delete and expiry without a scan)."""
        return f"{self._root(session_id)}:keys"

    def sessions_index(self) -> str:
        """Key of the ordered index of all session ids, scored by last update (epoch seconds)."""
        return f"{self.prefix}:sessions" if self.prefix else "sessions"
