"""Where a :class:`~kvsession.storage.ValkeyStorage` key lives in Valkey, and which keys go together.

Strands' storage keys are ``/``-separated paths (``session/<sid>/scopes/agent/<aid>/...``). A
key's **tag** is its first two segments (``session/<sid>``), or its only segment: everything
one session stores (its latest snapshot, its immutable history, its stash under
``context/<sid>``) shares the tag, and the tag is the cluster hash tag of every physical key
the session touches, so each write is one atomic batch in one slot. Per tag::

    <prefix>:{<tag>}:v<rest>   the value of the logical key <tag><rest> (<rest> is "" or "/...")
    <prefix>:{<tag>}:i         a lexicographic index (score 0) of the tag's logical keys
    <prefix>:{<tag>}:g         the tag's group: its value keys, whose expiry a write refreshes

and one global index ``<prefix>:tags`` (score 0) of every tag, for listing prefixes shorter
than two segments. The tag and the prefix are escaped with
:func:`~kvsession.orm.keys.key_segment`, so neither can end or open a hash tag early.

Nothing here does I/O: it builds keys and the write ops of a batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kvsession.kv.protocol import (
    DeleteOp,
    ExpireOp,
    IndexAddOp,
    IndexRemoveOp,
    RefreshTtlOp,
    RequireOp,
    SetAddOp,
    SetOp,
    SetRemoveOp,
    WriteOp,
)
from kvsession.orm.keys import key_segment

__all__ = ["StorageLayout", "tag_of", "tag_of_prefix"]

# A refresh is due when the group has less than `below` seconds to live: asking for more than
# the ttl makes every write refresh, so a session's keys always share one expiry instant.
_ALWAYS_DUE = 1.0


def tag_of(key: str) -> str:
    """Return the tag of a normalized logical key: its first two segments, or its only one."""
    first, slash, rest = key.partition("/")
    if not slash:
        return first
    second = rest.partition("/")[0]
    return f"{first}/{second}"


def tag_of_prefix(prefix: str) -> str | None:
    """Return the one tag every key starting with ``prefix`` has, or ``None`` if there can be several.

    A prefix names one tag when its first two segments are complete (``session/s1/`` or
    ``session/s1/scopes``); ``session/s`` may be the start of ``session/s1`` and ``session/s2``.
    """
    parts = prefix.split("/", 2)
    if len(parts) < 3:
        return None
    return f"{parts[0]}/{parts[1]}"


@dataclass(frozen=True)
class StorageLayout:
    """The physical key names and the write batches of one storage prefix.

    Attributes:
        prefix: The key namespace in Valkey (``strands``), written as the first key segment.
        ttl: Seconds a tag's keys live after the tag's last write; ``None``: no expiry.
        cluster: Leave the global tags index out of the per-tag batches (another slot in a
            cluster); the storage adds a tag to it in its own call instead.
    """

    prefix: str = "strands"
    ttl: float | None = None
    cluster: bool = False

    @property
    def tags_key(self) -> str:
        """The global lexicographic index of tags."""
        return f"{key_segment(self.prefix)}:tags"

    def _head(self, tag: str) -> str:
        return f"{key_segment(self.prefix)}:{{{key_segment(tag)}}}:"

    def value_key(self, key: str, tag: str | None = None) -> str:
        """Return the physical key holding the value of the logical ``key``."""
        tag = tag_of(key) if tag is None else tag
        return f"{self._head(tag)}v{key[len(tag) :]}"

    def value_keys(self, keys: Iterable[str]) -> list[str]:
        """Return the physical keys of many logical keys, in order."""
        return [self.value_key(key) for key in keys]

    def index_key(self, tag: str) -> str:
        """Return the lexicographic index of the logical keys of ``tag``."""
        return f"{self._head(tag)}i"

    def group_key(self, tag: str) -> str:
        """Return the set of ``tag``'s value keys, expired together."""
        return f"{self._head(tag)}g"

    def write_ops(self, key: str, data: bytes) -> list[WriteOp]:
        """Return the one atomic batch that stores ``data`` under the logical ``key``.

        The value, its index entry, its group membership, the tag in the tags index (unless
        ``cluster``) and, with a ttl, the refresh of the whole group and the index to the same
        expiry: the index never outlives a value it lists, nor a value its index entry.
        """
        tag = tag_of(key)
        value_key = self.value_key(key, tag)
        index_key = self.index_key(tag)
        group_key = self.group_key(tag)
        ops: list[WriteOp] = [
            SetOp(value_key, data, ttl=self.ttl),
            IndexAddOp(index_key, ((key, 0.0),)),
            SetAddOp(group_key, (value_key,)),
        ]
        if not self.cluster:
            ops.append(self.tag_op(tag))
        if self.ttl is not None:
            ops.append(RefreshTtlOp(group_key, self.ttl, below=self.ttl + _ALWAYS_DUE))
            ops.append(ExpireOp(index_key, self.ttl))
        return ops

    def tag_op(self, tag: str) -> IndexAddOp:
        """Return the op listing ``tag`` in the global tags index."""
        return IndexAddOp(self.tags_key, ((tag, 0.0),))

    def delete_ops(self, key: str) -> list[WriteOp]:
        """Return the one atomic batch that deletes the logical ``key`` (missing: nothing deleted)."""
        tag = tag_of(key)
        value_key = self.value_key(key, tag)
        return [
            DeleteOp((value_key,)),
            IndexRemoveOp(self.index_key(tag), (key,)),
            SetRemoveOp(self.group_key(tag), (value_key,)),
        ]

    def prune_ops(self, tag: str) -> list[WriteOp]:
        """Remove ``tag`` from the tags index, but only if it has no key left (conditional, atomic)."""
        return [RequireOp(self.index_key(tag), present=False), IndexRemoveOp(self.tags_key, (tag,))]
