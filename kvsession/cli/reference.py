"""Read and rewrite the records of the reference package (strands-valkey-session-manager).

The reference stores each record as a RedisJSON document (``JSON.SET key $ <json>``) under::

    session:<sid>                                   session
    session:<sid>:agent:<aid>                       agent
    session:<sid>:agent:<aid>:message:<n>           message

and keeps no index, so finding its records takes the one legitimate ``SCAN session:*`` of
kvsession. Its JSON is Strands' own ``to_dict()`` format, which kvsession's JSON codec reads.

With kvsession's default key scheme the keys are the *same*, so a record is replaced in place:
one atomic batch overwrites the JSON document with the kvsession value (``SET`` replaces a key
of any type) and adds the index entries, so a record is never lost and never half-migrated.
With a prefix or the cluster key scheme the new record is written first and the old key is
deleted afterwards. The session record goes last, so a session appears in kvsession only once
all its records are there. Re-running finds only the documents still in JSON form: it resumes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from valkey.exceptions import ResponseError

from kvsession.cli.capabilities import RawClient
from kvsession.cli.output import parse_time
from kvsession.codecs import get_codec
from kvsession.errors import InvalidIdError
from kvsession.keys import KeyScheme, validate_id
from kvsession.repository import KVSessionRepository

__all__ = ["RecordState", "ReferencePlan", "apply_reference_session", "plan_reference"]

RecordState = Literal["reference", "kvsession", "missing"]
"""A key holds a reference JSON document, something else (kvsession's value), or nothing."""

_CHUNK = 200
_JSON = get_codec("json")
_SOURCE = KeyScheme()
"""The reference's record keys are kvsession's default layout: no prefix, no hash tag."""


@dataclass
class ReferencePlan:
    """What the keyspace holds for one session id.

    Attributes:
        session_id: The session.
        root: State of the ``session:<sid>`` key.
        agents: Agent id -> state of its agent key.
        messages: Agent id -> ids of messages still stored as reference JSON.
    """

    session_id: str
    root: RecordState = "missing"
    agents: dict[str, RecordState] = field(default_factory=dict)
    messages: dict[str, list[int]] = field(default_factory=dict)

    @property
    def agents_to_convert(self) -> list[str]:
        """Agents whose record is still reference JSON."""
        return sorted(aid for aid, state in self.agents.items() if state == "reference")

    @property
    def message_count(self) -> int:
        """Messages still stored as reference JSON."""
        return sum(len(ids) for ids in self.messages.values())

    @property
    def records_to_convert(self) -> int:
        """Records (root, agents, messages) still stored as reference JSON."""
        return (self.root == "reference") + len(self.agents_to_convert) + self.message_count

    @property
    def orphaned(self) -> bool:
        """Reference records without a session record anywhere: left alone."""
        return self.root == "missing" and self.records_to_convert > 0


@dataclass
class _Found:
    sessions: dict[str, ReferencePlan] = field(default_factory=dict)
    roots: dict[str, str] = field(default_factory=dict)
    agents: dict[str, tuple[str, str]] = field(default_factory=dict)
    messages: dict[str, tuple[str, str, int]] = field(default_factory=dict)

    def plan(self, session_id: str) -> ReferencePlan:
        return self.sessions.setdefault(session_id, ReferencePlan(session_id))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _valid(*ids: str) -> bool:
    try:
        for value in ids:
            validate_id("id", value)
    except InvalidIdError:
        return False
    return True


def plan_reference(client: RawClient) -> list[ReferencePlan]:
    """SCAN ``session:*`` and report, per session id, which records are still reference JSON."""
    found = _Found()
    for raw in client.scan_iter(match="session:*", count=1000):
        key = _text(raw)
        parts = key.split(":")
        if len(parts) == 2 and _valid(parts[1]):
            found.roots[key] = parts[1]
        elif len(parts) == 4 and parts[2] == "agent" and _valid(parts[1], parts[3]):
            found.agents[key] = (parts[1], parts[3])
        elif (
            len(parts) == 6
            and parts[2] == "agent"
            and parts[4] == "message"
            and parts[5].isdigit()
            and _valid(parts[1], parts[3])
        ):
            found.messages[key] = (parts[1], parts[3], int(parts[5]))
    states = _classify(client, [*found.roots, *found.agents, *found.messages])
    for key, session_id in found.roots.items():
        found.plan(session_id).root = states[key]
    for key, (session_id, agent_id) in found.agents.items():
        found.plan(session_id).agents[agent_id] = states[key]
    for key, (session_id, agent_id, message_id) in found.messages.items():
        if states[key] == "reference":
            found.plan(session_id).messages.setdefault(agent_id, []).append(message_id)
    for plan in found.sessions.values():
        for ids in plan.messages.values():
            ids.sort()
    return [found.sessions[sid] for sid in sorted(found.sessions)]


def _classify(client: RawClient, keys: Sequence[str]) -> dict[str, RecordState]:
    """Tell reference JSON documents from kvsession values without reading the values.

    ``STRLEN`` answers for a string and fails (WRONGTYPE) for anything else; of those,
    ``JSON.TYPE`` answers ``object`` only for a JSON document (it fails, or names another
    type, for sorted sets and sets; a server without the JSON module has no such documents).
    """
    states: dict[str, RecordState] = {}
    for start in range(0, len(keys), 1000):
        chunk = keys[start : start + 1000]
        pipe = client.pipeline(transaction=False)
        for key in chunk:
            pipe.execute_command("STRLEN", key)
        candidates: list[str] = []
        for key, reply in zip(chunk, pipe.execute(raise_on_error=False), strict=True):
            if isinstance(reply, ResponseError):
                candidates.append(key)
            else:
                states[key] = "kvsession"
        if not candidates:
            continue
        pipe = client.pipeline(transaction=False)
        for key in candidates:
            pipe.execute_command("JSON.TYPE", key)
        for key, reply in zip(candidates, pipe.execute(raise_on_error=False), strict=True):
            if isinstance(reply, list):
                reply = reply[0] if reply else None
            is_json = isinstance(reply, (bytes, str)) and _text(reply) == "object"
            states[key] = "reference" if is_json else "missing"
    return states


def _json_get(client: RawClient, keys: Sequence[str]) -> list[bytes | None]:
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.execute_command("JSON.GET", key, ".")
    return [
        None if reply is None else (reply if isinstance(reply, bytes) else str(reply).encode())
        for reply in pipe.execute()
    ]


@dataclass
class Converted:
    """What :func:`apply_reference_session` rewrote.

    Attributes:
        agents: Agent records rewritten.
        messages: Message records rewritten.
        sessions: 1 if the session record was rewritten.
        skipped_messages: Messages left alone because their agent has no record.
    """

    agents: int = 0
    messages: int = 0
    sessions: int = 0
    skipped_messages: int = 0


def apply_reference_session(
    repo: KVSessionRepository, client: RawClient, plan: ReferencePlan, advance: Callable[[float], None]
) -> Converted:
    """Rewrite one session's reference records in kvsession's format, root last.

    Every batch writes the new records (with their index entries) before any old key is
    deleted; when old and new keys coincide the overwrite is that same atomic batch.
    """
    done = Converted()
    sid = plan.session_id
    latest: datetime | None = None

    def seen(updated_at: str) -> None:
        nonlocal latest
        moment = parse_time(updated_at)
        if moment is not None and (latest is None or moment > latest):
            latest = moment

    for agent_id in plan.agents_to_convert:
        old = _SOURCE.agent(sid, agent_id)
        data = _json_get(client, [old])[0]
        if data is not None:
            agent = replace(_JSON.decode_agent(data, key=old), agent_id=agent_id)
            seen(agent.updated_at)
            repo.put_agents(sid, [agent], replace=True)
            _drop_old(repo, [(old, repo.keys.agent(sid, agent_id))])
            done.agents += 1
        advance(1)
    for agent_id, ids in sorted(plan.messages.items()):
        if plan.agents.get(agent_id, "missing") == "missing":
            done.skipped_messages += len(ids)
            advance(len(ids))
            continue
        for chunk in _chunks(ids):
            old_keys = [_SOURCE.message(sid, agent_id, mid) for mid in chunk]
            messages = []
            moves = []
            for mid, old, data in zip(chunk, old_keys, _json_get(client, old_keys), strict=True):
                if data is None:
                    continue
                message = _JSON.decode_message(data, key=old)
                message.message_id = mid
                seen(message.updated_at)
                messages.append(message)
                moves.append((old, repo.keys.message(sid, agent_id, mid)))
            repo.put_messages(sid, agent_id, messages, replace=True)
            _drop_old(repo, moves)
            done.messages += len(messages)
            advance(len(chunk))
    if plan.root == "reference":
        old = _SOURCE.session(sid)
        data = _json_get(client, [old])[0]
        if data is not None:
            session = _JSON.decode_session(data, key=old)
            session.session_id = sid
            seen(session.updated_at)
            if latest is not None:
                session.updated_at = latest.isoformat()
            repo.put_session(session, replace=True)
            _drop_old(repo, [(old, repo.keys.session(sid))])
            done.sessions = 1
        advance(1)
    return done


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _drop_old(repo: KVSessionRepository, moves: Sequence[tuple[str, str]]) -> None:
    """Delete old keys whose record now lives under a different key (only after it was written)."""
    stale = [old for old, new in moves if old != new]
    if stale:
        repo.backend.delete_many(stale)
