"""``kvsession export`` and ``import``: sessions to and from a JSON-lines file, losslessly.

The file format, and the export and import themselves, are :mod:`kvsession.admin.transfer`'s;
this module adds the commands, the files (stdout/stdin, a temporary name renamed when complete)
and the progress bars.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import click

from kvsession.admin.layout import all_session_ids
from kvsession.admin.transfer import (
    TransferCounts,
    export_session,
    header_line,
    import_lines,
    read_lines,
    validate_file,
)
from kvsession.cli.connection import open_store, url_option
from kvsession.cli.output import CliError, note, progress

__all__ = ["export", "import_"]


# -- export ------------------------------------------------------------------------------------


@click.command()
@click.argument("session_ids", nargs=-1, metavar="[SESSION]...")
@click.option("--all", "all_sessions", is_flag=True, help="Export every session.")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="File to write (- for stdout).",
)
@url_option
def export(session_ids: tuple[str, ...], all_sessions: bool, output: Path, url: str | None) -> None:
    """Export sessions to a JSON-lines file (bytes included, nothing lost).

    The file is written under a temporary name and renamed when complete.

    \b
    Example:
      kvsession export user-42 user-43 -o backup.jsonl
      kvsession export --all -o backup.jsonl
    """  # noqa: D301 - click needs the \b (backspace) marker to keep examples unwrapped
    if all_sessions == bool(session_ids):
        raise CliError("name the sessions to export, or pass --all (not both)")
    with open_store(url) as store:
        repo = store.repo
        if all_sessions:
            ids = all_session_ids(repo)
        else:
            ids = list(dict.fromkeys(session_ids))
            for session_id in ids:
                if repo.read_session(session_id) is None:
                    raise CliError(f"unknown session {session_id!r} on {store.where}")
        total = sum(repo.count_messages(sid, aid) for sid in ids for aid in repo.list_agents(sid))
        counts = TransferCounts()
        with _output_file(output) as stream, progress(total, "exporting") as bar:
            stream.write(header_line())
            for session_id in ids:
                bar.describe(session_id)
                counts.add(export_session(repo, session_id, stream.write, bar.advance))
    where = "stdout" if str(output) == "-" else str(output)
    what = f"{counts.sessions} session(s), {counts.agents} agent(s), {counts.messages} message(s)"
    note(f"exported {what} to {where}")


@contextmanager
def _output_file(path: Path) -> Iterator[IO[bytes]]:
    """Yield a binary stream: stdout for ``-``, else a temporary file renamed into place on success."""
    if str(path) == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        with open(tmp, "wb") as stream:
            yield stream
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


# -- import ------------------------------------------------------------------------------------


def _skipped(session_id: str) -> None:
    note(f"session {session_id!r} exists; skipped (--replace to overwrite)")


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--replace", is_flag=True, help="Overwrite sessions that already exist (default: skip them).")
@url_option
def import_(file: Path, replace: bool, url: str | None) -> None:
    """Import sessions from a file written by `kvsession export`.

    A session that already exists is skipped with a message, unless --replace, which deletes
    it first. Each session appears only once all its records are written, so an interrupted
    import leaves no partial session behind: run it again. A file given by name is checked
    completely before anything is written.

    \b
    Example:
      kvsession import backup.jsonl
      kvsession import backup.jsonl --replace
    """  # noqa: D301 - click needs the \b (backspace) marker to keep examples unwrapped
    from_stdin = str(file) == "-"
    if not from_stdin:
        validate_file(file)
    with open_store(url) as store:
        size = None if from_stdin else file.stat().st_size
        stream = sys.stdin.buffer if from_stdin else open(file, "rb")  # noqa: SIM115 - closed below
        try:
            with progress(size, "importing") as bar:
                counts = import_lines(
                    store.repo, read_lines(stream, str(file), bar.advance), replace=replace, on_skip=_skipped
                )
        finally:
            if not from_stdin:
                stream.close()
    summary = f"imported {counts.sessions} session(s), {counts.agents} agent(s), {counts.messages} message(s)"
    if counts.skipped:
        summary += f"; skipped {len(counts.skipped)} existing session(s) (--replace to overwrite)"
    note(summary)
