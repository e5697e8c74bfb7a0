"""Rewrite stored records in another codec, online: the service behind ``kvsession recode``.

The target is a format and the store's stages (compression, encryption under the keyring's
newest key). Every record is read, and rewritten only if it is not stored that way already
(format sniffed from its first byte, stages from their header), so a recode is idempotent and
resumable: run it again and it continues. Re-encrypting a store under a new key after a
rotation is a recode with the new keyring.
Writes are conditional (:class:`~kvsession.admin.conditional.ConditionalWriter`): with a Valkey
server a value is replaced only if it still holds what was read (one atomic script per page,
expiry kept), so a record updated or deleted by a live writer meanwhile is left alone rather
than overwritten or resurrected. Other backends get only-if-present writes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from kvsession.admin.conditional import Change, ConditionalWriter
from kvsession.admin.layout import MODELS, RecordKind, message_key_pages, session_layout
from kvsession.kv.errors import CodecError
from kvsession.orm import Codec, get_codec, sniff_format, stored_form
from kvsession.orm.at_rest import SEALED_PREFIX
from kvsession.strands.repository import KVSessionRepository

__all__ = ["RecodeCounts", "Recoder"]

logger = logging.getLogger(__name__)

_PAGE = 500


@dataclass
class RecodeCounts:
    """What a recode did (or, in a dry run, would do).

    Attributes:
        recoded: Values rewritten in the target codec and stages.
        already: Values already stored that way.
        changed: Values updated or deleted by someone else meanwhile, left alone.
        unreadable: Values that could not be decoded, left alone.
    """

    recoded: int = 0
    already: int = 0
    changed: int = 0
    unreadable: int = 0

    def add(self, other: RecodeCounts) -> None:
        """Add ``other``'s counts to these."""
        self.recoded += other.recoded
        self.already += other.already
        self.changed += other.changed
        self.unreadable += other.unreadable


class Recoder:
    """Rewrites the records of sessions in one codec, with the store's stages.

    Args:
        repo: The store; its codec's stages (compression, keyring) are the target's.
        target: The format to rewrite into (``"json"`` or ``"msgpack"``); default the
            repository's.
        dry_run: Only count what would be rewritten.
        on_unreadable: Called with the error of each value that cannot be decoded (it is left
            alone and counted); default: logged.

    Raises:
        ConfigError: ``target`` is not a known codec.
    """

    def __init__(
        self,
        repo: KVSessionRepository,
        target: str | None = None,
        *,
        dry_run: bool = False,
        on_unreadable: Callable[[CodecError], None] | None = None,
    ) -> None:
        self.repo = repo
        stages = repo.codec.stages
        name = target or repo.codec.name
        self.codec = get_codec(name) if stages is None else Codec(name, stages=stages)
        self.target = self.codec.name
        self.dry_run = dry_run
        self._write = ConditionalWriter(repo.backend)
        self._on_unreadable = on_unreadable or _log_unreadable

    def describe(self) -> str:
        """Name the target: ``json``, or with stages e.g. ``msgpack+zstd+key k2``."""
        stages = self.codec.stages
        if stages is None:
            return self.target
        parts = [self.target]
        if stages.compression is not None:
            parts.append("zstd")
        if stages.keyring is not None and stages.keyring.current_id is not None:
            parts.append(f"key {stages.keyring.current_id}")
        return "+".join(parts)

    def session(self, session_id: str) -> RecodeCounts:
        """Rewrite one session's records in the target codec; return the counts."""
        counts = RecodeCounts()
        for page in self._record_key_pages(session_id):
            values = self.repo.backend.get_many([key for key, _ in page])
            changes: list[Change] = []
            for (key, kind), data in zip(page, values, strict=True):
                if data is None:
                    continue  # deleted since its key was listed
                try:
                    if self.codec.stages is None and data[:1] != SEALED_PREFIX:
                        # Plain to plain: the first byte tells, nothing needs decoding.
                        if sniff_format(data) == self.target:
                            counts.already += 1
                            continue
                        changes.append((key, data, self._reencode(kind, key, data)))
                        continue
                    new = self._reencode(kind, key, data)
                    if stored_form(data, key, self.codec.stages) == stored_form(new, key, self.codec.stages):
                        counts.already += 1
                        continue
                    changes.append((key, data, new))
                except CodecError as exc:
                    counts.unreadable += 1
                    self._on_unreadable(exc)
            if self.dry_run:
                counts.recoded += len(changes)
                continue
            written = self._write(changes)
            counts.recoded += written
            counts.changed += len(changes) - written
        logger.debug(
            "session_id=<%s>, recoded=<%d>, changed=<%d> | recoded session",
            session_id,
            counts.recoded,
            counts.changed,
        )
        return counts

    def _record_key_pages(self, session_id: str) -> Iterator[list[tuple[str, RecordKind]]]:
        """Yield the session's record keys with their kind, a page at a time (root first)."""
        layout = session_layout(self.repo, session_id)
        head: list[tuple[str, RecordKind]] = [(layout.root, "session")]
        head += [(key, "agent") for key in layout.agents.values()]
        head += [(key, "multi_agent") for key in layout.multi_agents.values()]
        yield head
        for agent_id in layout.agents:
            for page in message_key_pages(self.repo, session_id, agent_id, page_size=_PAGE):
                yield [(key, "message") for _, key in page]

    def _reencode(self, kind: RecordKind, key: str, data: bytes) -> bytes:
        model = MODELS[kind]
        return self.codec.encode(model, self.codec.decode(model, data, key=key), key=key)


def _log_unreadable(exc: CodecError) -> None:
    logger.warning("%s; left alone", exc)
