"""``kvsession recode``: rewrite stored records in another codec, online.

The work is :class:`kvsession.admin.recode.Recoder`'s: records already in the target codec are
skipped (idempotent, resumable), and writes are conditional, so a record a live writer updates
or deletes meanwhile is left alone.
"""

from __future__ import annotations

import click

from kvsession.admin.layout import all_session_ids
from kvsession.admin.recode import RecodeCounts, Recoder
from kvsession.cli.connection import open_store, url_option
from kvsession.cli.output import note, progress
from kvsession.kv.errors import CodecError
from kvsession.orm import FORMATS

__all__ = ["recode"]


def _warn(exc: CodecError) -> None:
    note(f"warning: {exc}; left alone")


@click.command()
@click.option(
    "--codec",
    "target",
    type=click.Choice(FORMATS),
    help="The codec to rewrite into [default: the URL's codec].",
)
@click.option("--dry-run", is_flag=True, help="Only count what would be rewritten.")
@url_option
def recode(target: str | None, dry_run: bool, url: str | None) -> None:
    """Rewrite stored records in another codec, while the store is in use.

    Records are rewritten in the codec and with the URL's compress= and encrypt= stages
    (encrypted with the newest key): after a key rotation, this re-encrypts the store.
    Records already stored that way are skipped, so it can be re-run at any time and
    continues where it stopped. Readers decode every codec and stage, so nothing breaks
    meanwhile; set the same options in your URL so that new writes use them too.

    \b
    Example:
      kvsession recode --codec msgpack
      kvsession recode --url 'valkey://host:6379/0?compress=zstd&encrypt=env:KVSESSION_KEYS'
    """  # noqa: D301 - click needs the \b (backspace) marker to keep examples unwrapped
    total = RecodeCounts()
    with open_store(url) as store:
        recoder = Recoder(store.repo, target, dry_run=dry_run, on_unreadable=_warn)
        shown = recoder.describe()
        session_ids = all_session_ids(store.repo)
        with progress(len(session_ids), "recoding") as bar:
            for session_id in session_ids:
                bar.describe(session_id)
                total.add(recoder.session(session_id))
                bar.advance(1)
    verb = "would recode" if dry_run else "recoded"
    line = f"{verb} {total.recoded} value(s) to {shown}; {total.already} already {shown}"
    if total.changed:
        line += f"; {total.changed} changed meanwhile, left alone (run again)"
    if total.unreadable:
        line += f"; {total.unreadable} unreadable, left alone"
    click.echo(line)
