"""The restore rule, as the read plans every repository operation shares.

The root record decides whether a session exists: a record read under a missing root does not
exist, a key of another kind where a record belongs is ``CorruptDataError``, and a messages
index that lost entries the session's group still names is ``UnindexedMessagesError``, never
half a conversation. :class:`RestoreRule` holds these plans (no I/O, like every plan);
:class:`~kvsession.strands.plans.RepositoryPlans` builds the repository's operations on them.
Message ids as kvsession writes them are parsed and checked here too.
"""

from __future__ import annotations

from collections.abc import Sequence

from strands.types.session import SessionMessage

from kvsession.kv.errors import CorruptDataError
from kvsession.orm.plans import Io, Plan
from kvsession.strands.errors import UnindexedMessagesError
from kvsession.strands.models import MESSAGE, SESSION_GROUP
from kvsession.strands.writes import SessionBackend, SessionCore

__all__ = ["RestoreRule", "is_message_id"]

_UNINDEXED_SHOWN = 1000
"""How many unindexed message records a restore checks and names at most."""

_MAX_ID_DIGITS = 20
"""The longest message id an index may list (a 64-bit id has at most 20 digits)."""


def is_message_id(text: str) -> bool:
    """Whether ``text`` is a message id as kvsession writes it (``0`` or digits without a leading 0)."""
    return (
        text.isascii() and text.isdigit() and (text == "0" or text[0] != "0") and len(text) <= _MAX_ID_DIGITS
    )


def _message_ids(members: Sequence[str], index: str) -> Sequence[int]:
    """Return the message ids an index lists, as ints (a ``range`` when they are a run).

    The restore's hot path: the usual window, a run of well-formed ids, is checked with a few
    string operations over the joined members and never parses each one.

    Raises:
        CorruptDataError: A member is not a message id (naming the index and the member).
    """
    if not members:
        return []
    text = "|".join(members)
    digits = text.replace("|", "")
    if (
        digits.isascii()
        and digits.isdigit()
        and len(digits) + len(members) - 1 == len(text)  # no member held a "|"
        and "||" not in text
        and text[0] != "|"
        and text[-1] != "|"
        and ("|" + text).count("|0") == ("|" + text + "|").count("|0|")  # no leading zero
        and max(map(len, members)) <= _MAX_ID_DIGITS
    ):
        first, last = int(members[0]), int(members[-1])
        if last - first == len(members) - 1:
            return range(first, last + 1)
        return [int(member) for member in members]
    for member in members:
        if not is_message_id(member):
            shown = member if len(member) <= 40 else f"{member[:40]}... ({len(member)} characters)"
            raise CorruptDataError(f"lists {shown!r}, which is not a message id", key=index)
    return [int(member) for member in members]  # pragma: no cover -- the check above found one


def _check_message_id(message: SessionMessage, message_id: int, key: str) -> None:
    """Raise ``CorruptDataError`` if the record at ``key`` holds another message id than its key."""
    if message.message_id != message_id:
        raise CorruptDataError(
            f"holds message_id=<{message.message_id!r}>, not the <{message_id}> its key names", key=key
        )


class RestoreRule(SessionCore[SessionBackend]):
    """The plans that read a session's records under its root, and tell missing from damaged."""

    def _plan_get_under_root(
        self, session_id: str, key: str, *, check_missing: bool = True
    ) -> Plan[bytes | None]:
        """Read ``key`` and the session's root in one round trip; ``None`` if either is missing.

        The restore rule: the records of a session whose root is gone do not exist. A multi-get
        reads a key of another kind as missing: when the root, or (with ``check_missing``) the
        record under an existing root, reads as missing, one more round trip asks whether it is
        there after all, and if so ``CorruptDataError`` names it, as ``read_session`` does.
        ``read_agent`` passes ``check_missing=False``: a new agent of an existing session is
        Strands' start-up path, and stays one round trip.
        """
        root_key = self.keys.session(session_id)
        # The incarnation rides along (no extra round trip): a restore (read_agent) learns
        # which incarnation of the session its writes will go to (fencing.py, INCARNATION).
        data, root, incarnation = yield from Io.get_many([key, root_key, self.incarnation_key(session_id)])
        if root is None:
            yield from self._plan_check_kind(root_key)
            return None
        self._notice_incarnation(session_id, incarnation)
        if data is None and check_missing:
            yield from self._plan_check_kind(key)
        return data

    def _plan_check_kind(self, key: str) -> Plan[None]:
        """Raise ``CorruptDataError`` if ``key``, read as missing or refused, holds another kind of data."""
        if (yield from Io.exists(key)):
            raise CorruptDataError("holds another kind of data where a record belongs", key=key)

    def _plan_check_index(
        self, session_id: str, agent_id: str, index: str, listed: Sequence[str], *, offset: int | None = None
    ) -> Plan[None]:
        """Raise ``UnindexedMessagesError`` if the agent has message records its index does not list.

        The session's group (``:keys``) names every record key it owns; the records it names
        under this agent that the index misses, and that exist while the root does, mean the
        index was lost or emptied. ``listed``: the record keys already known to be listed;
        ``offset``: given when the window at that offset came back empty.
        """
        fields = {"session_id": session_id, "agent_id": agent_id}
        owned = yield from Io.set_members(self.store.key(SESSION_GROUP, session_id=session_id))
        head = self.store.key(MESSAGE, message_id=0, **fields)[:-1]  # "...:message:"
        stored = {key for key in owned if key.startswith(head) and is_message_id(key[len(head) :])}
        stored.difference_update(listed)
        if not stored or (offset is not None and len(stored) <= offset):
            return  # (a whole index would show nothing at that offset either)
        # The index is read again, after the group: a record the group names was written in the
        # same batch as its index entry, so this read lists every append the group read saw (the
        # window read earlier may predate a concurrent append, which is no loss of the index).
        indexed = _message_ids((yield from Io.index_range(index)), index)
        stored.difference_update(self.store.record_keys(MESSAGE, "message_id", indexed, **fields))
        if not stored:
            return
        # The group may name records that expired or were evicted since: only those still there,
        # in a session that still exists, are unlisted.
        by_id: dict[int, str] = {int(key[len(head) :]): key for key in stored}
        candidates: list[str] = [by_id[message_id] for message_id in sorted(by_id)][:_UNINDEXED_SHOWN]
        values = yield from Io.get_many([*candidates, self.keys.session(session_id)])
        if values[-1] is None:
            return
        unindexed = [key for key, data in zip(candidates, values, strict=False) if data is not None]
        if unindexed:
            raise UnindexedMessagesError(session_id, agent_id, index, unindexed)
