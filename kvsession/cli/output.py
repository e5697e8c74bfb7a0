"""How the command line talks: one-line errors, consoles, human sizes and times, progress bars.

Data goes to stdout; progress bars and notes go to stderr, so ``kvsession export -o -`` and
``--json`` output stay clean when piped. Colours and progress bars appear on a terminal only.
"""

from __future__ import annotations

import sys
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import timezone
from typing import IO, Any

import click
import msgspec
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from kvsession.admin.times import parse_time

__all__ = [
    "CliError",
    "ProgressBar",
    "err_console",
    "human_size",
    "human_time",
    "human_ttl",
    "new_table",
    "note",
    "out_console",
    "print_table",
    "progress",
    "write_json",
]

_PIPE_WIDTH = 120
"""Table width when stdout is not a terminal (rich would otherwise wrap at 80 columns)."""


class CliError(click.ClickException):
    """A failure reported as one line, ``error: <message>``, with exit status 1."""

    def show(self, file: IO[Any] | None = None) -> None:
        """Print ``error: <message>`` to stderr."""
        click.echo(f"error: {self.format_message()}", err=True, file=file)


def out_console() -> Console:
    """Return a console on the current stdout (colours only on a terminal)."""
    return _console(sys.stdout)


def err_console() -> Console:
    """Return a console on the current stderr, for notes and progress bars."""
    return _console(sys.stderr)


def _console(stream: IO[str]) -> Console:
    console = Console(file=stream, highlight=False, soft_wrap=False, markup=False, emoji=False)
    if not console.is_terminal:
        console = Console(
            file=stream,
            highlight=False,
            soft_wrap=False,
            markup=False,
            emoji=False,
            width=_PIPE_WIDTH,
            no_color=True,
        )
    return console


def new_table(*columns: str, numeric: Collection[str] = (), title: str | None = None) -> Table:
    """Return a borderless table with bold headers; ``numeric`` columns are right-aligned."""
    table = Table(box=None, pad_edge=False, header_style="bold", title=title, title_justify="left")
    for name in columns:
        table.add_column(name, overflow="fold", justify="right" if name in numeric else "left")
    return table


def printable(text: str) -> str:
    """``text`` with each unprintable character (newline, control, lone surrogate) escaped.

    Ids may hold any character Strands accepts; a table or a one-line error must stay one line.
    """
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def print_table(table: Table) -> None:
    """Print a table on stdout; when piped, without the padding rich leaves at line ends."""
    console = out_console()
    if console.is_terminal:
        console.print(table)
        return
    with console.capture() as captured:
        console.print(table)
    for line in captured.get().splitlines():
        click.echo(line.rstrip())


def note(message: str) -> None:
    """Print an informational line to stderr (kept out of data written to stdout)."""
    click.echo(message, err=True)


def write_json(value: object) -> None:
    """Print ``value`` as indented JSON on stdout (bytes as base64 strings)."""
    click.echo(msgspec.json.format(msgspec.json.encode(value), indent=2).decode())


def human_size(size: float) -> str:
    """Return a size in bytes as ``512 B``, ``200.0 KB``, ``1.5 MB`` (powers of 1024)."""
    if size < 1024:
        return f"{int(size)} B"
    for unit in ("KB", "MB", "GB", "TB"):
        size /= 1024
        if size < 1024 or unit == "TB":
            break
    return f"{size:.1f} {unit}"


def human_time(value: str | float | None) -> str:
    """Return a time as ``2025-11-25 11:50:02 UTC`` (``-`` if missing or unreadable)."""
    moment = parse_time(value)
    if moment is None:
        return "-" if value is None else str(value)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def human_ttl(seconds: float | None) -> str:
    """Return a remaining lifetime as ``none``, ``45s``, ``12m 5s`` or ``3h 2m``."""
    if seconds is None:
        return "none"
    whole = int(seconds)
    if whole < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes}m"
    return f"{hours // 24}d {hours % 24}h"


class ProgressBar:
    """A task on a rich progress display, or a no-op when progress is not shown."""

    def __init__(self, progress: Progress | None, total: float | None, description: str) -> None:
        self._progress = progress
        self._task = progress.add_task(description, total=total) if progress is not None else None

    def advance(self, amount: float = 1) -> None:
        """Move the bar forward."""
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, amount)

    def describe(self, description: str) -> None:
        """Change the text in front of the bar."""
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, description=description)


@contextmanager
def progress(total: float | None, description: str, *, enabled: bool | None = None) -> Iterator[ProgressBar]:
    """Show a progress bar on stderr while the block runs, only when stderr is a terminal.

    Args:
        total: The amount that completes the bar (``None``: unknown).
        description: Text in front of the bar.
        enabled: Force the bar on or off; default: on when stderr is a terminal.
    """
    console = err_console()
    if enabled is None:
        enabled = console.is_terminal
    if not enabled:
        yield ProgressBar(None, total, description)
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        yield ProgressBar(bar, total, description)
