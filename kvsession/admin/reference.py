"""Read and rewrite the records of the reference package (strands-valkey-session-manager).

The reference stores each record as a RedisJSON document (``JSON.SET key $ <json>``) under::

    session:<sid>                                   session
    session:<sid>:agent:<aid>                       agent
    session:<sid>:agent:<aid>:message:<n>           message

and keeps no index, so finding its records takes the one legitimate ``SCAN session:*`` of
kvsession. Its JSON is Strands' own ``to_dict()`` format, which kvsession's JSON codec reads.

Finding and reading them takes foreign commands (``SCAN``, ``STRLEN``, ``JSON.TYPE``,
``JSON.GET``), sent through the server client of a backend that exposes one
(:class:`~kvsession.kv.capabilities.RawClientAccess`, see :func:`raw_client`); everything
written goes through the repository.

In kvsession's default key space the keys are the *same*, so a record is replaced in place:
one atomic batch overwrites the JSON document with the kvsession value (``SET`` replaces a key
of any type) and adds the index entries, so a record is never lost and never half-migrated.
With a prefix or the cluster key space the new record is written first and the old key is
deleted afterwards. The session record goes last, so a session appears in kvsession only once
all its records are there. Re-running finds only the documents still in JSON form: it resumes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, cast

from kvsession.admin.times import Latest
from kvsession.kv.capabilities import RawClient, RawClientAccess
from kvsession.kv.errors import InvalidIdError
from kvsession.kv.protocol import KeyValueBackend
from kvsession.orm import KeySpace, KeyTemplate, get_codec, id_from_segment
from kvsession.strands.models import AGENT, MESSAGE, SESSION
from kvsession.strands.repository import KVSessionRepository

__all__ = [
    "Converted",
    "RecordState",
    "ReferencePlan",
    "apply_reference_session",
    "plan_reference",
    "raw_client",
]

logger = logging.getLogger(__name__)

RecordState = Literal["reference", "kvsession", "missing"]
"""A key holds a reference JSON document, something else (kvsession's value), or nothing."""

_CHUNK = 200
_JSON = get_codec("json")

# The reference's record keys are kvsession's layout in the default key space: no prefix, no
# hash tag. They are built (and recognised) from the session models' templates.
_SOURCE = KeySpace()
_SESSION_KEY = _SOURCE.bind(SESSION.key)
_AGENT_KEY = _SOURCE.bind(AGENT.key)
_MESSAGE_KEY = _SOURCE.bind(MESSAGE.key)
_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::(int|id))?\}")


def raw_client(backend: KeyValueBackend) -> RawClient | None:
    """Return the backend's server client if it exposes one (:class:`RawClientAccess`), else ``None``."""
    if isinstance(backend, RawClientAccess):
        return cast(RawClient, backend.client)
    return None


def _matcher(template: KeyTemplate) -> re.Pattern[str]:
    """Return a regular expression matching the keys of ``template`` in the default key space."""
    parts: list[str] = []
    position = 0
    for match in _FIELD.finditer(template.pattern):
        parts.append(re.escape(template.pattern[position : match.start()]))
        parts.append(f"(?P<{match.group(1)}>{'[0-9]+' if match.group(2) == 'int' else '[^:]+'})")
        position = match.end()
    parts.append(re.escape(template.pattern[position:]))
    return re.compile("".join(parts) + r"\Z")


_RECOGNISERS = [(model.key, _matcher(model.key)) for model in (SESSION, AGENT, MESSAGE)]


def _recognise(key: str) -> tuple[KeyTemplate, dict[str, Any]] | None:
    """Return the template of a reference record key and its validated fields, or ``None``."""
    for template, pattern in _RECOGNISERS:
        match = pattern.match(key)
        if match is None:
            continue
        try:
            found: dict[str, Any] = {
                name: int(value) if name in template.int_fields else id_from_segment(value)
                for name, value in match.groupdict().items()
            }
            fields = template.validated(found)
        except InvalidIdError:
            return None
        # A key the template would not write (``message:007``) is not one of its records.
        return (template, fields) if _SOURCE.bind(template).build(fields) == key else None
    return None


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


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def plan_reference(client: RawClient) -> list[ReferencePlan]:
    """SCAN ``session:*`` and report, per session id, which records are still reference JSON."""
    found: dict[str, tuple[KeyTemplate, dict[str, Any]]] = {}
    for raw in client.scan_iter(match=_SESSION_KEY(session_id="*"), count=1000):
        key = _text(raw)
        recognised = _recognise(key)
        if recognised is not None:
            found[key] = recognised
    states = _classify(client, list(found))
    plans: dict[str, ReferencePlan] = {}
    for key, (template, fields) in found.items():
        plan = plans.setdefault(fields["session_id"], ReferencePlan(fields["session_id"]))
        if template is SESSION.key:
            plan.root = states[key]
        elif template is AGENT.key:
            plan.agents[fields["agent_id"]] = states[key]
        elif states[key] == "reference":
            plan.messages.setdefault(fields["agent_id"], []).append(fields["message_id"])
    for plan in plans.values():
        for ids in plan.messages.values():
            ids.sort()
    return [plans[sid] for sid in sorted(plans)]


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
            if isinstance(reply, Exception):  # WRONGTYPE: not a string
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
    latest = Latest()
    seen = latest.see
    fields = {"session_id": sid}
    logger.debug("session_id=<%s>, records=<%d> | migrating reference records", sid, plan.records_to_convert)
    for agent_id in plan.agents_to_convert:
        old = _AGENT_KEY(**fields, agent_id=agent_id)
        data = _json_get(client, [old])[0]
        if data is not None:
            agent = replace(_JSON.decode(AGENT, data, key=old), agent_id=agent_id)
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
            old_keys = [_MESSAGE_KEY(**fields, agent_id=agent_id, message_id=mid) for mid in chunk]
            messages = []
            moves = []
            for mid, old, data in zip(chunk, old_keys, _json_get(client, old_keys), strict=True):
                if data is None:
                    continue
                message = _JSON.decode(MESSAGE, data, key=old)
                message.message_id = mid
                seen(message.updated_at)
                messages.append(message)
                moves.append((old, repo.keys.message(sid, agent_id, mid)))
            repo.put_messages(sid, agent_id, messages, replace=True)
            _drop_old(repo, moves)
            done.messages += len(messages)
            advance(len(chunk))
    if plan.root == "reference":
        old = _SESSION_KEY(**fields)
        data = _json_get(client, [old])[0]
        if data is not None:
            session = _JSON.decode(SESSION, data, key=old)
            session.session_id = sid
            seen(session.updated_at)
            session.updated_at = latest.isoformat() or session.updated_at
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
