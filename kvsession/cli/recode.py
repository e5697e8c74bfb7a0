"""``kvsession recode``: rewrite stored records in another codec, online.

Every record is read, and rewritten only if its format (sniffed from its first byte) is not
the target one, so the command is idempotent and resumable: run it again and it continues.
Writes are conditional: with a Valkey server a value is replaced only if it still holds what
was read (one atomic script per batch, expiry kept), so a record updated or deleted by a live
writer meanwhile is left alone rather than overwritten or resurrected. Without a server
client (``memory://``) writes are only-if-present.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import click

from kvsession.cli.capabilities import compare_and_set
from kvsession.cli.connection import open_store, url_option
from kvsession.cli.layout import KeyKind, all_session_ids, message_key_pages, session_layout
from kvsession.cli.output import note, progress
from kvsession.codecs import CODECS, Codec, get_codec, sniff_format
from kvsession.errors import CodecError
from kvsession.repository import KVSessionRepository

__all__ = ["RecodeCounts", "recode", "recode_session"]

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


def _value_key_pages(repo: KVSessionRepository, session_id: str) -> Iterator[list[tuple[str, KeyKind]]]:
    """Yield the session's record keys with their kind, a page at a time (root first)."""
    layout = session_layout(repo, session_id)
    head: list[tuple[str, KeyKind]] = [(layout.root, "session")]
    head += [(key, "agent") for key in layout.agents.values()]
    head += [(key, "multi_agent") for key in layout.multi_agents.values()]
    yield head
    for agent_id in layout.agents:
        for page in message_key_pages(repo, session_id, agent_id, page_size=_PAGE):
            yield [(key, "message") for _, key in page]


def _reencode(codec: Codec, kind: KeyKind, key: str, data: bytes) -> bytes:
    if kind == "session":
        return codec.encode_session(codec.decode_session(data, key=key), key=key)
    if kind == "agent":
        return codec.encode_agent(codec.decode_agent(data, key=key), key=key)
    if kind == "multi_agent":
        return codec.encode_state(codec.decode_state(data, key=key), key=key)
    return codec.encode_message(codec.decode_message(data, key=key), key=key)


def recode_session(repo: KVSessionRepository, session_id: str, target: str, *, dry_run: bool) -> RecodeCounts:
    """Rewrite one session's records in the ``target`` codec; return the counts."""
    codec = get_codec(target)
    counts = RecodeCounts()
    for page in _value_key_pages(repo, session_id):
        values = repo.backend.get_many([key for key, _ in page])
        changes: list[tuple[str, bytes, bytes]] = []
        for (key, kind), data in zip(page, values, strict=True):
            if data is None:
                continue
            try:
                if sniff_format(data) == target:
                    counts.already += 1
                    continue
                changes.append((key, data, _reencode(codec, kind, key, data)))
            except CodecError as exc:
                counts.unreadable += 1
                note(f"warning: {exc}; left alone")
        if dry_run:
            counts.recoded += len(changes)
            continue
        written = compare_and_set(repo.backend, changes)
        counts.recoded += written
        counts.changed += len(changes) - written
    return counts


@click.command()
@click.option(
    "--codec", "target", type=click.Choice(CODECS), required=True, help="The codec to rewrite into."
)
@click.option("--dry-run", is_flag=True, help="Only count what would be rewritten.")
@url_option
def recode(target: str, dry_run: bool, url: str | None) -> None:
    """Rewrite stored records in another codec, while the store is in use.

    Records already in the target codec are skipped, so it can be re-run at any time and
    continues where it stopped. Readers decode both codecs, so nothing breaks meanwhile;
    set codec=<target> in your URL so that new writes use it too.

    \b
    Example:
      kvsession recode --codec msgpack
    """  # noqa: D301 - click needs the \b (backspace) marker to keep examples unwrapped
    total = RecodeCounts()
    with open_store(url) as store:
        repo = store.repo
        session_ids = all_session_ids(repo)
        with progress(len(session_ids), "recoding") as bar:
            for session_id in session_ids:
                bar.describe(session_id)
                counts = recode_session(repo, session_id, target, dry_run=dry_run)
                total.recoded += counts.recoded
                total.already += counts.already
                total.changed += counts.changed
                total.unreadable += counts.unreadable
                bar.advance(1)
    verb = "would recode" if dry_run else "recoded"
    line = f"{verb} {total.recoded} value(s) to {target}; {total.already} already {target}"
    if total.changed:
        line += f"; {total.changed} changed meanwhile, left alone (run again)"
    if total.unreadable:
        line += f"; {total.unreadable} unreadable, left alone"
    click.echo(line)
