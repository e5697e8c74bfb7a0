"""The ``kvsession`` click group: every command, and one-line errors for every failure.

Every failure ends the command with exit status 1 and one line, ``error: ...`` (a usage error
with exit status 2): click's own errors, kvsession's (:class:`~kvsession.kv.errors.KVSessionError`,
including the admin services' :class:`~kvsession.admin.errors.SourceError`) and file errors.
"""

from __future__ import annotations

from typing import Any

import click

from kvsession import __version__
from kvsession.cli.inspect import rm, sessions, show
from kvsession.cli.migrate import migrate
from kvsession.cli.output import CliError
from kvsession.cli.recode import recode
from kvsession.cli.serve import serve
from kvsession.cli.stats import stats
from kvsession.cli.transfer import export, import_
from kvsession.kv.errors import KVSessionError

__all__ = ["main"]


class _UsageLineError(CliError):
    """A usage error shown as one line, with click's exit status for usage errors."""

    exit_code = 2


class _Commands(click.Group):
    """A group that turns every expected failure into ``error: <one line>``."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            # A command's bad arguments: one line too, with where to look (exit status 2).
            where = exc.ctx.command_path if exc.ctx is not None else "kvsession"
            raise _UsageLineError(f"{exc.format_message()} See '{where} --help'.") from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KVSessionError as exc:
            raise CliError(str(exc)) from None
        except OSError as exc:
            where = f": {exc.filename}" if exc.filename else ""
            raise CliError(f"{exc.strerror or exc}{where}") from None


@click.group(
    name="kvsession",
    cls=_Commands,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="kvsession")
def main() -> None:
    """Inspect and manage Strands Agents sessions stored by kvsession.

    Commands other than `serve` connect to --url, else $KVSESSION_URL, else the server
    started by `kvsession serve`.

    \b
    Example:
      kvsession serve                       # in another terminal: embedded Valkey, persistent
      kvsession sessions                    # most recently updated first
      kvsession show user-42                # a readable transcript
      kvsession export --all -o backup.jsonl
    """  # noqa: D301 - click needs the \b (backspace) marker to keep examples unwrapped


for _command in (serve, sessions, show, rm, export, import_, migrate, recode, stats):
    main.add_command(_command)
