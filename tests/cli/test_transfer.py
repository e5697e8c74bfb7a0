"""``kvsession export`` / ``import``: lossless round trips, existing sessions, streaming."""

from __future__ import annotations

import gc
import json
import sys
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rich.console import Console

import kvsession
import kvsession.cli.output
from kvsession.orm import sniff_format
from kvsession.strands.models import AGENT, MESSAGE, SESSION
from kvsession.strands.repository import KVSessionRepository
from kvsession_fakeredis import drop_shared_server
from tests.cli.helpers import PNG, Cli, seed_bulk, seed_chat, seed_demo, snapshot


@pytest.fixture
def other_url(store_url: str) -> Iterator[str]:
    """A second, empty store of the same kind (another fakeredis server, or Valkey db 1)."""
    if store_url.startswith("fakeredis://"):
        name = f"cli-other-{uuid.uuid4().hex}"
        yield f"fakeredis://{name}"
        drop_shared_server(name)
    else:
        yield store_url.rsplit("/", 1)[0] + "/1"


# Bytes in a multi-agent state, as Strands' serialize_state() marks them (raw bytes are JSON-refused).
BLOB = {"__bytes_encoded__": True, "data": "AP8A/wD/AP8A/wD/AP8A/wD/AP8="}


def open_repo(url: str) -> KVSessionRepository:
    return KVSessionRepository(kvsession.connect(url))


def seed_everything(repo: KVSessionRepository) -> None:
    seed_demo(repo)
    seed_chat(repo, "support-7", {"triage": 3, "billing": 2})
    repo.put_multi_agent_state("support-7", "graph", {"status": "done", "blob": BLOB})


@pytest.mark.parametrize("codec", ["json", "msgpack"])
def test_export_import_round_trip_is_lossless(
    codec: str, cli: Cli, repo: KVSessionRepository, other_url: str, tmp_path: Path
) -> None:
    seed_everything(repo)
    first = tmp_path / "first.jsonl"
    again = tmp_path / "again.jsonl"
    target_url = f"{other_url}?codec={codec}"

    exported = cli("export", "--all", "-o", str(first))
    imported = cli("import", str(first), url=target_url)
    exported_again = cli("export", "--all", "-o", str(again), url=target_url)

    assert exported.exit_code == imported.exit_code == exported_again.exit_code == 0, imported.output
    assert exported.stderr == f"exported 2 session(s), 3 agent(s), 11 message(s) to {first}\n"
    assert imported.stderr == "imported 2 session(s), 3 agent(s), 11 message(s)\n"
    assert first.read_bytes() == again.read_bytes()
    target = open_repo(target_url)
    assert snapshot(target) == snapshot(repo)
    restored = target.list_messages("demo", "default")
    assert restored[0].message["content"][1]["image"]["source"]["bytes"] == PNG
    assert target.read_multi_agent("support-7", "graph") == {"status": "done", "blob": BLOB}
    stored = target.backend.get(target.keys.message("demo", "default", 0))
    assert stored is not None and sniff_format(stored) == codec
    assert [sid for sid, _ in target.list_sessions()] == [sid for sid, _ in repo.list_sessions()]


def test_export_file_format(cli: Cli, repo: KVSessionRepository, tmp_path: Path) -> None:
    seed_demo(repo)
    path = tmp_path / "demo.jsonl"

    assert cli("export", "demo", "-o", str(path)).exit_code == 0

    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0] == {"kind": "header", "format": "kvsession-export", "version": 1}
    assert [line["kind"] for line in lines[1:]] == ["session", "agent"] + ["message"] * 6
    image = lines[3]["record"]["message"]["content"][1]["image"]["source"]["bytes"]
    assert image["__bytes_encoded__"] is True
    assert not list(tmp_path.glob(".*.part"))


def test_existing_sessions_are_skipped_unless_replace(
    cli: Cli, repo: KVSessionRepository, tmp_path: Path
) -> None:
    seed_chat(repo, "chat", {"default": 4})
    path = tmp_path / "chat.jsonl"
    assert cli("export", "chat", "-o", str(path)).exit_code == 0
    repo.delete_session("chat")
    seed_chat(repo, "chat", {"default": 1})

    skipped = cli("import", str(path))
    assert skipped.exit_code == 0
    assert skipped.stderr.splitlines() == [
        "session 'chat' exists; skipped (--replace to overwrite)",
        "imported 0 session(s), 0 agent(s), 0 message(s); "
        "skipped 1 existing session(s) (--replace to overwrite)",
    ]
    assert repo.count_messages("chat", "default") == 1

    replaced = cli("import", str(path), "--replace")
    assert replaced.exit_code == 0
    assert replaced.stderr == "imported 1 session(s), 1 agent(s), 4 message(s)\n"
    assert repo.count_messages("chat", "default") == 4


def test_an_interrupted_import_is_invisible_and_redone(
    cli: Cli, repo: KVSessionRepository, tmp_path: Path
) -> None:
    seed_chat(repo, "chat", {"default": 3})
    path = tmp_path / "chat.jsonl"
    assert cli("export", "chat", "-o", str(path)).exit_code == 0
    repo.delete_session("chat")
    # What an import cut short leaves: records and indexes, but no session record.
    lines = path.read_text().splitlines()
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[:-1]) + "\n")
    session_line = json.loads(lines[1])
    assert session_line["kind"] == "session"
    from kvsession.admin.loader import SessionWriter
    from kvsession.orm import get_codec

    writer = SessionWriter(
        repo, get_codec("json").decode(SESSION, json.dumps(session_line["record"]), key="s")
    )
    writer.begin("skip")
    for raw in lines[2:-1]:
        line = json.loads(raw)
        record = json.dumps(line["record"]).encode()
        if line["kind"] == "agent":
            writer.add_agent(get_codec("json").decode(AGENT, record, key="a"))
        else:
            writer.add_message("default", get_codec("json").decode(MESSAGE, record, key="m"))
    writer._flush()  # written, but never finished

    assert repo.read_session("chat") is None
    assert json.loads(cli("sessions", "--json").stdout) == []

    result = cli("import", str(path))
    assert result.exit_code == 0, result.output
    assert result.stderr == "imported 1 session(s), 1 agent(s), 3 message(s)\n"
    assert [m.message_id for m in repo.list_messages("chat", "default")] == [0, 1, 2]


def test_stdout_and_stdin(cli: Cli, repo: KVSessionRepository, other_url: str) -> None:
    seed_demo(repo)

    exported = cli("export", "demo", "-o", "-")
    assert exported.exit_code == 0
    assert exported.stderr == "exported 1 session(s), 1 agent(s), 6 message(s) to stdout\n"
    imported = cli("import", "-", stdin=exported.stdout_bytes, url=other_url)

    assert imported.exit_code == 0, imported.output
    assert snapshot(open_repo(other_url)) == snapshot(repo)


def test_progress_bar_only_on_a_terminal(
    cli: Cli, repo: KVSessionRepository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_chat(repo, "chat", {"default": 3})
    piped = cli("export", "--all", "-o", str(tmp_path / "a.jsonl"))
    assert piped.stderr == f"exported 1 session(s), 1 agent(s), 3 message(s) to {tmp_path / 'a.jsonl'}\n"

    terminal: Callable[[], Console] = lambda: Console(file=sys.stderr, force_terminal=True, width=100)  # noqa: E731
    monkeypatch.setattr(kvsession.cli.output, "err_console", terminal)
    shown = cli("export", "--all", "-o", str(tmp_path / "b.jsonl"))
    assert shown.exit_code == 0
    assert "\x1b[" in shown.stderr  # the bar was drawn (and cleared) on the "terminal"


def _traced_peak(action: Callable[[], object]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("store_url", ["valkey"], indirect=True)
def test_export_and_import_stream_in_constant_memory(
    cli: Cli, repo: KVSessionRepository, other_url: str, tmp_path: Path
) -> None:
    """Peak Python memory of export and import does not grow with the number of messages.

    The server is out of process, so tracemalloc sees only the command's own memory. A
    command that held all messages would need ~4x more at 4x the messages; streaming needs
    about the same (one page / one batch).
    """
    peaks: dict[int, tuple[int, int]] = {}
    for count in (1_000, 4_000):
        session_id = f"bulk-{count}"
        seed_bulk(repo, session_id, count)
        path = tmp_path / f"{session_id}.jsonl"
        export_args = ("export", session_id, "-o", str(path))
        import_args = ("import", str(path))
        export_peak = _traced_peak(lambda: cli(*export_args))  # noqa: B023 - called right away
        assert sum(1 for _ in path.open()) == count + 3
        import_peak = _traced_peak(lambda: cli(*import_args, url=other_url))  # noqa: B023
        assert open_repo(other_url).count_messages(session_id, "default") == count
        peaks[count] = (export_peak, import_peak)

    small, large = peaks[1_000], peaks[4_000]
    assert large[0] < small[0] * 1.5 + 512 * 1024, peaks
    assert large[1] < small[1] * 1.5 + 512 * 1024, peaks


def test_import_into_a_store_with_ttl_expires_every_key_with_the_root(
    cli: Cli, repo: KVSessionRepository, other_url: str, tmp_path: Path
) -> None:
    seed_demo(repo)
    path = tmp_path / "demo.jsonl"
    assert cli("export", "demo", "-o", str(path)).exit_code == 0

    assert cli("import", str(path), url=f"{other_url}?ttl=60").exit_code == 0

    target = open_repo(other_url)
    ttls = {key: target.backend.ttl(key) for key in target.session_keys("demo")}
    root_ttl = ttls[target.keys.session("demo")]
    assert root_ttl is not None
    assert all(ttl is not None and 60 <= ttl <= root_ttl + 1 for ttl in ttls.values()), ttls
