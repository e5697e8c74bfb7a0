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
    "--codec", "target", type=click.Choice(FORMATS), required=True, help="The codec to rewrite into."
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
        recoder = Recoder(store.repo, target, dry_run=dry_run, on_unreadable=_warn)
        session_ids = all_session_ids(store.repo)
        with progress(len(session_ids), "recoding") as bar:
            for session_id in session_ids:
                bar.describe(session_id)
                total.add(recoder.session(session_id))
                bar.advance(1)
    verb = "would recode" if dry_run else "recoded"
    line = f"{verb} {total.recoded} value(s) to {target}; {total.already} already {target}"
    if total.changed:
        line += f"; {total.changed} changed meanwhile, left alone (run again)"
    if total.unreadable:
        line += f"; {total.unreadable} unreadable, left alone"
    click.echo(line)
