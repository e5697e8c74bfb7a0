"""The Strands session layout, declared as orm models: every key a session store writes.

Layout (``prefix:`` only when a prefix is configured; in the cluster key space the session id
is wrapped as a hash tag, ``session:{user-42}:...``, so one session lives in one slot)::

    session:{sid}                                   session record (the root)
    session:{sid}:agent:{aid}                       agent record
    session:{sid}:agent:{aid}:message:{mid}         message record
    session:{sid}:agent:{aid}:messages              ordered index: message ids, score = id
    session:{sid}:agents                            set index: agent ids
    session:{sid}:multi_agent:{id}                  multi-agent state record
    session:{sid}:multi_agents                      set index: multi-agent ids
    session:{sid}:keys                              group: every key above of this session
    session:{sid}:writer:{wid}                      a writer's last write token (writes.py; ttl 300 s)
    sessions                                        ordered index: session ids, score = updated_at

``:keys`` lets a whole session be deleted or re-expired without scanning the keyspace; the
``sessions`` index lets tools list sessions by recency.

In the cluster key space one global ``sessions`` key would put a second node on every write's
path (another slot, so another round trip, and one node taking every session's calls). There the
index is split in buckets, one per slot, each next to the sessions it lists::

    sessions:{tag}                                  ordered index of the sessions of tag's slot
    sessions:buckets:{shard}                        set: the tags of the buckets in use, of 1,024 slots

``tag`` is the short text that routes to the session's own slot (:func:`kvsession.orm.slots.slot_tag`),
so a session's entry is written in the same atomic script as its records. The tags of the buckets
in use are listed in 16 registry sets, one per 1,024 slots, each tagged to live in the first slot
of its range (so, with the usual contiguous slot ranges, on the node that holds most of them: no
one node takes every session's registration). A session's registry set is written once, when its
root is created (before it), and the 16 sets are read only to list.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from strands.types.session import Session as StrandsSession

from kvsession.orm import KeyTemplate, Model, MsgspecConverter, OrderedIndex, SetIndex
from kvsession.orm.slots import SLOTS, key_slot, slot_tag
from kvsession.orm.store_base import ModelStoreBase
from kvsession.strands.records import MessageRecord, SessionAgent, SessionMessage, SessionRecord

__all__ = [
    "AGENT",
    "AGENTS",
    "MESSAGE",
    "MESSAGES",
    "MULTI_AGENT",
    "MULTI_AGENTS",
    "REGISTRY_SHARDS",
    "SESSION",
    "SESSIONS",
    "SESSIONS_BUCKET",
    "SESSION_BUCKETS",
    "SESSION_GROUP",
    "SessionKeys",
]


def _session_key(pattern: str) -> KeyTemplate:
    return KeyTemplate("session:{session_id}" + pattern, hash_tag="session_id")


SESSION_GROUP = _session_key(":keys")
"""Every key a session owns: deleted and expired together."""
SESSIONS = KeyTemplate("sessions")
"""Every session id, scored by its last write (epoch seconds)."""
SESSIONS_BUCKET = KeyTemplate("sessions:{bucket}", hash_tag="bucket")
"""Cluster key space: the session ids of one slot, scored by their last write."""
SESSION_BUCKETS = KeyTemplate("sessions:buckets:{shard}", hash_tag="shard")
"""Cluster key space: the tags of the :data:`SESSIONS_BUCKET` keys in use, of one range of slots."""
REGISTRY_SHARDS = 16
"""How many :data:`SESSION_BUCKETS` sets there are; each covers ``SLOTS // REGISTRY_SHARDS`` slots."""
_SLOTS_PER_SHARD = SLOTS // REGISTRY_SHARDS

MESSAGES = OrderedIndex(_session_key(":agent:{agent_id}:messages"), member="message_id", score="message_id")
AGENTS = SetIndex(_session_key(":agents"), member="agent_id")
MULTI_AGENTS = SetIndex(_session_key(":multi_agents"), member="multi_agent_id")

SESSION: Model[StrandsSession] = Model(
    "session",
    StrandsSession,
    key=_session_key(""),
    group=SESSION_GROUP,
    # Read leniently (an unknown session_type stays readable), then built as the class stored:
    # a kvsession Session when the record has metadata, else Strands' own.
    converter=MsgspecConverter(StrandsSession, stored_as=SessionRecord, load=SessionRecord.to_session),
)
AGENT: Model[SessionAgent] = Model(
    "agent",
    SessionAgent,
    key=_session_key(":agent:{agent_id}"),
    indexes=(AGENTS,),
    group=SESSION_GROUP,
)
MESSAGE: Model[SessionMessage] = Model(
    "message",
    SessionMessage,
    key=_session_key(":agent:{agent_id}:message:{message_id:int}"),
    indexes=(MESSAGES,),
    group=SESSION_GROUP,
    # The payload stays an open dict (see records.py); the envelope is typed.
    converter=MsgspecConverter(
        SessionMessage, stored_as=MessageRecord, load=MessageRecord.to_session_message
    ),
)
MULTI_AGENT: Model[dict[str, Any]] = Model(
    "multi-agent state",
    dict[str, Any],
    key=_session_key(":multi_agent:{multi_agent_id}"),
    indexes=(MULTI_AGENTS,),
    group=SESSION_GROUP,
    # Stored as serialize_state() returns it, like FileSessionManager: Strands' byte markers inside
    # stay dicts both ways, and JSON refuses raw bytes (docs/codecs.md).
    converter=MsgspecConverter(dict[str, Any], bytes_markers=False),
)


class SessionKeys:
    """Names the keys of the layout above in a store's key space, for callers and tools.

    Ids must already be valid (the repository validates them at its entry points).
    """

    def __init__(self, store: ModelStoreBase[Any]) -> None:
        self._store = store
        self.prefix = store.keys.prefix
        self.cluster = store.keys.cluster
        self._sessions_index = store.template(SESSIONS)()
        self._bucket = store.template(SESSIONS_BUCKET)
        registry = store.template(SESSION_BUCKETS)
        self._registries = [
            registry(shard=slot_tag(shard * _SLOTS_PER_SHARD)) for shard in range(REGISTRY_SHARDS)
        ]

    def session(self, session_id: str) -> str:
        """Key of the session record (the root)."""
        return self._store.template(SESSION.key)(session_id=session_id)

    def agent(self, session_id: str, agent_id: str) -> str:
        """Key of an agent record."""
        return self._store.template(AGENT.key)(session_id=session_id, agent_id=agent_id)

    def message(self, session_id: str, agent_id: str, message_id: int) -> str:
        """Key of one message record."""
        return self._store.template(MESSAGE.key)(
            session_id=session_id, agent_id=agent_id, message_id=message_id
        )

    def messages_index(self, session_id: str, agent_id: str) -> str:
        """Key of an agent's ordered index of message ids."""
        return self._store.template(MESSAGES.key)(session_id=session_id, agent_id=agent_id)

    def agents_index(self, session_id: str) -> str:
        """Key of the set of a session's agent ids."""
        return self._store.template(AGENTS.key)(session_id=session_id)

    def multi_agent(self, session_id: str, multi_agent_id: str) -> str:
        """Key of a multi-agent state record."""
        return self._store.template(MULTI_AGENT.key)(session_id=session_id, multi_agent_id=multi_agent_id)

    def multi_agents_index(self, session_id: str) -> str:
        """Key of the set of a session's multi-agent ids."""
        return self._store.template(MULTI_AGENTS.key)(session_id=session_id)

    def owned_keys(self, session_id: str) -> str:
        """Key of the group: every key the session owns."""
        return self._store.template(SESSION_GROUP)(session_id=session_id)

    def sessions_index(self, session_id: str) -> str:
        """Key of the ordered index that lists ``session_id``, scored by last update (epoch seconds).

        The one ``sessions`` key, or in the cluster key space the bucket of the session's slot.
        """
        if not self.cluster:
            return self._sessions_index
        return self._bucket(bucket=self.bucket_tag(session_id))

    def bucket_tag(self, session_id: str) -> str:
        """Cluster key space: the tag of the bucket that lists ``session_id`` (same slot as its keys)."""
        return slot_tag(key_slot(self.session(session_id)))

    def registry_key(self, session_id: str) -> str:
        """Cluster key space: the set that lists the tag of ``session_id``'s bucket."""
        return self._registries[key_slot(self.session(session_id)) // _SLOTS_PER_SHARD]

    def sessions_indexes(self, tags: Iterable[str] = ()) -> list[str]:
        """Keys of every index listing sessions: ``sessions``, or the buckets of ``tags`` (cluster)."""
        if not self.cluster:
            return [self._sessions_index]
        return [self._bucket(bucket=tag) for tag in sorted(tags)]

    def listing_keys(self) -> list[str]:
        """Keys read first to list sessions: ``sessions``, or the 16 bucket registries (cluster)."""
        return list(self._registries) if self.cluster else [self._sessions_index]
