"""``--help`` of every command shows an example; ``python -m kvsession`` is the same program."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kvsession.cli import main
from tests.cli.helpers import Cli

COMMANDS = ["serve", "sessions", "show", "rm", "export", "import", "migrate", "recode", "stats"]


def test_every_command_is_registered() -> None:
    assert sorted(main.commands) == sorted(COMMANDS)


@pytest.mark.parametrize("command", [*COMMANDS, None])
def test_help_has_an_example(command: str | None) -> None:
    args = ["--help"] if command is None else [command, "--help"]

    result = Cli(None)(*args, url=None)

    assert result.exit_code == 0
    assert "Example:\n    kvsession " in result.stdout


def test_python_dash_m_runs_the_same_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kvsession", "--version"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert result.stdout.startswith("kvsession, version ")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["export"], "error: Missing option '-o' / '--output'. See 'kvsession export --help'.\n"),
        (["show"], "error: Missing argument 'SESSION'. See 'kvsession show --help'.\n"),
        (["bogus"], "error: No such command 'bogus'. See 'kvsession --help'.\n"),
    ],
)
def test_usage_errors_are_one_line_too(args: list[str], expected: str) -> None:
    result = Cli(None)(*args, url=None)
    assert result.exit_code == 2
    assert result.stderr == expected
