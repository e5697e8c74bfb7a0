"""Every failure ends with exit status 1 and exactly one line on stderr, ``error: ...``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import Result

from kvsession.cli.connection import ServerState, state_path, write_state
from kvsession.strands.repository import KVSessionRepository
from tests.cli.helpers import Cli, closed_port, seed_chat

HEADER = '{"kind":"header","format":"kvsession-export","version":1}\n'
AGENTLESS_MESSAGE = (
    '{"kind":"session","session_id":"a","record":{}}\n'
    '{"kind":"message","session_id":"a","agent_id":"x","record":{}}\n'
)


def assert_one_line_error(result: Result, expected_start: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"error: {expected_start}"), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.output


@pytest.fixture
def valid_export(tmp_path: Path) -> Path:
    path = tmp_path / "ok.jsonl"
    path.write_text(HEADER)
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["sessions"],
        ["show", "demo"],
        ["rm", "demo", "--yes"],
        ["export", "--all", "-o", "out.jsonl"],
        ["import", "VALID"],
        ["migrate", "--from-reference"],
        ["recode", "--codec", "msgpack"],
        ["stats"],
    ],
    ids=lambda args: args[0],
)
def test_unreachable_server(
    args: list[str], valid_export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    port = closed_port()
    args = [str(valid_export) if arg == "VALID" else arg for arg in args]

    result = Cli(f"valkey://127.0.0.1:{port}/0")(*args)

    assert_one_line_error(result, f"cannot reach valkey://127.0.0.1:{port} (connection refused)")
    assert not (tmp_path / "out.jsonl").exists()


def test_no_url_anywhere_says_what_to_do() -> None:
    result = Cli(None)("sessions")
    assert_one_line_error(result, "no store to talk to: run `kvsession serve`")
    assert "KVSESSION_URL" in result.stderr


def test_url_from_environment_and_from_the_serve_state_file(monkeypatch: pytest.MonkeyPatch) -> None:
    from_env = closed_port()
    monkeypatch.setenv("KVSESSION_URL", f"valkey://127.0.0.1:{from_env}/0")
    assert_one_line_error(Cli(None)("sessions"), f"cannot reach valkey://127.0.0.1:{from_env} ")

    monkeypatch.delenv("KVSESSION_URL")
    from_state = closed_port()
    state = ServerState(
        url=f"valkey://127.0.0.1:{from_state}/0",
        pid=os.getpid(),
        port=from_state,
        data_dir="/x",
        started_at="",
    )
    write_state(state)
    assert_one_line_error(Cli(None)("sessions"), f"cannot reach valkey://127.0.0.1:{from_state} ")


def test_stale_state_file_is_ignored() -> None:
    state = ServerState(url="valkey://127.0.0.1:1/0", pid=2**22 + 12345, port=1, data_dir="/x", started_at="")
    write_state(state)
    assert state_path().exists()
    assert_one_line_error(Cli(None)("sessions"), "no store to talk to")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("nope://x", "scheme=<nope> | no kvsession backend for this scheme"),
        (
            "valkey://127.0.0.1:6379/0?colour=red",
            "url=<valkey://127.0.0.1:6379/0?colour=red> | unknown option 'colour'",
        ),
        ("valkey://127.0.0.1:notaport/0", "url=<valkey://127.0.0.1:notaport/0> | malformed URL"),
    ],
)
def test_bad_urls(url: str, expected: str) -> None:
    assert_one_line_error(Cli(url)("sessions"), expected)


def test_memory_store_works_but_is_empty() -> None:
    cli = Cli("memory://")
    assert cli("sessions").stdout == "0 session(s)\n"
    assert_one_line_error(cli("show", "demo"), "unknown session 'demo' on memory://")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", None),
        ("not json\n", "{file}:1: not a kvsession export line"),
        ('{"kind":"session","session_id":"a","record":{}}\n', "{file}:1: not a kvsession export"),
        (HEADER + '{"kind":"weird"}\n', "{file}:2: not a kvsession export line"),
        (HEADER.replace('"version":1', '"version":9'), "{file}:1: export format version 9 is not supported"),
        (
            HEADER + '{"kind":"agent","session_id":"a","agent_id":"x","record":{}}\n',
            "{file}:2: agent of session 'a' outside",
        ),
        (HEADER + AGENTLESS_MESSAGE, "{file}:3: message of agent 'x' before that agent's line"),
        (
            HEADER + '{"kind":"session","session_id":"a","record":{"session_id":"a"}}\n',
            "{file}:2: cannot decode session record",
        ),
    ],
    ids=[
        "empty",
        "garbage",
        "no-header",
        "unknown-kind",
        "version",
        "orphan-record",
        "no-agent",
        "bad-record",
    ],
)
def test_bad_export_files(
    content: str, expected: str | None, cli: Cli, repo: KVSessionRepository, tmp_path: Path
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)

    result = cli("import", str(path))

    if expected is None:  # an empty file is an empty export
        assert result.exit_code == 0
        assert result.stderr == "imported 0 session(s), 0 agent(s), 0 message(s)\n"
    else:
        assert_one_line_error(result, expected.format(file=path))
    assert repo.list_sessions() == []


def test_a_bad_message_leaves_no_partial_session(cli: Cli, repo: KVSessionRepository, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    session = '{"session_id":"a","session_type":"AGENT","created_at":"2025-01-01T00:00:00+00:00"}'
    agent = '{"agent_id":"x","state":{},"conversation_manager_state":{}}'
    good = '{"message":{"role":"user","content":[{"text":"hi"}]},"message_id":0}'
    bad = '{"message":{"content":[]},"message_id":1}'
    path.write_text(
        HEADER
        + f'{{"kind":"session","session_id":"a","record":{session}}}\n'
        + f'{{"kind":"agent","session_id":"a","agent_id":"x","record":{agent}}}\n'
        + f'{{"kind":"message","session_id":"a","agent_id":"x","record":{good}}}\n'
        + f'{{"kind":"message","session_id":"a","agent_id":"x","record":{bad}}}\n'
    )

    assert_one_line_error(cli("import", str(path)), f"{path}:5: cannot decode message record")

    assert repo.read_session("a") is None
    assert cli("sessions").stdout == "0 session(s)\n"


def test_missing_file_and_bad_export_arguments(cli: Cli, repo: KVSessionRepository, tmp_path: Path) -> None:
    seed_chat(repo, "a", {"default": 1})
    assert_one_line_error(cli("import", str(tmp_path / "missing.jsonl")), "No such file or directory: ")
    assert_one_line_error(
        cli("export", "-o", str(tmp_path / "x.jsonl")), "name the sessions to export, or pass --all"
    )
    assert_one_line_error(cli("export", "a", "--all", "-o", str(tmp_path / "x.jsonl")), "name the sessions")
    assert_one_line_error(cli("export", "nope", "-o", str(tmp_path / "x.jsonl")), "unknown session 'nope'")
    assert_one_line_error(
        cli("export", "a", "-o", str(tmp_path / "no-such-dir" / "x.jsonl")), "No such file or directory"
    )
    assert not (tmp_path / "x.jsonl").exists()
