"""Rewrite stored records in another codec, online: the service behind ``kvsession recode``.

Every record is read, and rewritten only if its format (sniffed from its first byte) is not
the target one, so a recode is idempotent and resumable: run it again and it continues.
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
from kvsession.orm import get_codec, sniff_format
from kvsession.strands.repository import KVSessionRepository

__all__ = ["RecodeCounts", "Recoder"]

logger = logging.getLogger(__name__)

_PAGE = 500


@dataclass
class RecodeCounts:
    """What a recode did (or, in a dry run, would do).

    Attributes:
        recoded: Values rewritten in the target codec.
        already: Values already in the target codec.
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
    """Rewrites the records of sessions in one codec.

    Args:
        repo: The store.
        target: The codec to rewrite into (``"json"`` or ``"msgpack"``).
        dry_run: Only count what would be rewritten.
        on_unreadable: Called with the error of each value that cannot be decoded (it is left
            alone and counted); default: logged.

    Raises:
        ConfigError: ``target`` is not a known codec.
    """

    def __init__(
        self,
        repo: KVSessionRepository,
        target: str,
        *,
        dry_run: bool = False,
        on_unreadable: Callable[[CodecError], None] | None = None,
    ) -> None:
        self.repo = repo
        self.codec = get_codec(target)
        self.target = self.codec.name
        self.dry_run = dry_run
        self._write = ConditionalWriter(repo.backend)
        self._on_unreadable = on_unreadable or _log_unreadable

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
                    if sniff_format(data) == self.target:
                        counts.already += 1
                        continue
                    changes.append((key, data, self._reencode(kind, key, data)))
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
