"""``kvsession migrate``: from the reference package's RedisJSON records and from Strands' files.

The reference path runs on fakeredis, whose JSON commands stand in for the RedisJSON module
(the embedded Valkey has no JSON module, so the reference package cannot run on it at all);
the data is written exactly as the reference writes it: ``JSON.SET key $ json.dumps(record.to_dict())``.
The directory path reads a directory written by Strands' own ``FileSessionManager``.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import fakeredis
import pytest
from strands.multiagent.base import MultiAgentBase
from strands.session.file_session_manager import FileSessionManager
from strands.types.session import Session as StrandsSession
from strands.types.session import SessionAgent, SessionMessage, SessionType

import kvsession
from kvsession.admin.reference import apply_reference_session, plan_reference, raw_client
from kvsession.strands.records import Session
from kvsession.strands.repository import KVSessionRepository
from kvsession_fakeredis import drop_shared_server, shared_server
from tests.cli.helpers import DEMO_MESSAGES, PNG, Cli, seed_chat

# -- the reference package's layout, written as it writes it ------------------------------------


class Reference:
    """Writes records the way strands-valkey-session-manager does (JSON.SET of ``to_dict()``)."""

    def __init__(self, client: fakeredis.FakeValkey) -> None:
        self.client = client

    def _set(self, key: str, data: dict[str, Any]) -> None:
        command: Any = self.client.execute_command
        command("JSON.SET", key, "$", json.dumps(data, ensure_ascii=False))

    def session(self, session_id: str) -> StrandsSession:
        session = StrandsSession(session_id=session_id, session_type=SessionType.AGENT)
        self._set(f"session:{session_id}", session.to_dict())
        return session

    def agent(self, session_id: str, agent_id: str) -> SessionAgent:
        agent = SessionAgent(
            agent_id=agent_id, state={"n": 1}, conversation_manager_state={"removed_message_count": 0}
        )
        self._set(f"session:{session_id}:agent:{agent_id}", agent.to_dict())
        return agent

    def messages(self, session_id: str, agent_id: str, count: int) -> list[SessionMessage]:
        written = []
        for index in range(count):
            content = DEMO_MESSAGES[index % len(DEMO_MESSAGES)]
            message = SessionMessage.from_message(content, index)
            self._set(f"session:{session_id}:agent:{agent_id}:message:{index}", message.to_dict())
            written.append(message)
        return written


@pytest.fixture
def fake_url() -> Iterator[str]:
    name = f"cli-ref-{uuid.uuid4().hex}"
    yield f"fakeredis://{name}"
    drop_shared_server(name)


@pytest.fixture
def reference(fake_url: str) -> Reference:
    server = shared_server(fake_url.removeprefix("fakeredis://"))
    return Reference(fakeredis.FakeValkey(server=server))


def is_json_document(client: fakeredis.FakeValkey, key: str) -> bool:
    """A RedisJSON document (GET fails on it), not a string value."""
    try:
        client.strlen(key)
    except Exception:
        command: Any = client.execute_command
        return command("JSON.TYPE", key) in (b"object", "object")
    return False


def seed_reference(reference: Reference) -> dict[str, list[SessionMessage]]:
    reference.session("alpha")
    reference.agent("alpha", "default")
    alpha = reference.messages("alpha", "default", 6)
    reference.session("beta")
    reference.agent("beta", "default")
    reference.agent("beta", "helper")
    beta = reference.messages("beta", "default", 3)
    helper = reference.messages("beta", "helper", 2)
    return {"alpha/default": alpha, "beta/default": beta, "beta/helper": helper}


def test_reference_dry_run_then_apply_then_nothing_left(reference: Reference, fake_url: str) -> None:
    written = seed_reference(reference)
    before = {key.decode() for key in reference.client.scan_iter(match="*")}
    cli = Cli(fake_url)

    dry = cli("migrate", "--from-reference")
    assert dry.exit_code == 0, dry.output
    assert dry.stdout.splitlines() == [
        "SESSION  AGENTS  MESSAGES  ACTION",
        "alpha         1         6  would rewrite",
        "beta          2         5  would rewrite",
        "dry run: would rewrite 2 session(s) (3 agent(s), 11 message(s)); 0 already in kvsession format. "
        "Run again with --apply to do it.",
    ]
    assert all(is_json_document(reference.client, key) for key in before)

    applied = cli("migrate", "--from-reference", "--apply")
    assert applied.exit_code == 0, applied.output
    assert (
        applied.stdout.splitlines()[-1]
        == "rewrote 2 session(s) (3 agent(s), 11 message(s)); 0 already in kvsession format"
    )

    repo = KVSessionRepository(kvsession.connect(fake_url))
    assert {sid for sid, _ in repo.list_sessions()} == {"alpha", "beta"}
    assert repo.list_agents("beta") == ["default", "helper"]
    for name, messages in written.items():
        session_id, agent_id = name.split("/")
        assert repo.list_messages(session_id, agent_id) == messages
    image = repo.list_messages("alpha", "default")[0].message["content"][1]["image"]["source"]["bytes"]
    assert image == PNG
    assert not any(is_json_document(reference.client, key) for key in before)
    assert before <= {key.decode() for key in reference.client.scan_iter(match="*")}

    again = cli("migrate", "--from-reference", "--apply")
    assert (
        again.stdout.splitlines()[-1]
        == "rewrote 0 session(s) (0 agent(s), 0 message(s)); 2 already in kvsession format"
    )
    listed = cli("sessions", "--json")
    assert {entry["session_id"]: entry["messages"] for entry in json.loads(listed.stdout)} == {
        "alpha": 6,
        "beta": 5,
    }


class SimulatedCrashError(Exception):
    pass


def test_reference_migration_resumes_and_never_loses_a_record(reference: Reference, fake_url: str) -> None:
    written = seed_reference(reference)
    keys = {key.decode() for key in reference.client.scan_iter(match="*")}
    backend = kvsession.connect(fake_url)
    repo = KVSessionRepository(backend)
    client = raw_client(backend)
    assert client is not None
    [alpha, _] = plan_reference(client)
    progress = 0

    def crash_after_four(amount: float) -> None:
        nonlocal progress
        progress += int(amount)
        if progress >= 4:
            raise SimulatedCrashError

    with pytest.raises(SimulatedCrashError):
        apply_reference_session(repo, client, alpha, crash_after_four)

    # Every record still exists, in one format or the other; the session is not visible yet.
    assert all(reference.client.exists(key) for key in keys)
    assert is_json_document(reference.client, "session:alpha")
    assert repo.list_sessions() == []  # the root goes last: not a kvsession session yet
    assert not is_json_document(reference.client, "session:alpha:agent:default")

    resumed = Cli(fake_url)("migrate", "--from-reference", "--apply")
    assert resumed.exit_code == 0, resumed.output
    assert "alpha         0         0  rewrite" in resumed.stdout  # only its session record was left
    assert repo.list_messages("alpha", "default") == written["alpha/default"]
    assert repo.list_messages("beta", "helper") == written["beta/helper"]


def test_reference_with_a_prefix_writes_new_keys_then_deletes_old(
    reference: Reference, fake_url: str
) -> None:
    written = seed_reference(reference)

    result = Cli(f"{fake_url}?prefix=app")("migrate", "--from-reference", "--apply")

    assert result.exit_code == 0, result.output
    repo = KVSessionRepository(kvsession.connect(f"{fake_url}?prefix=app"))
    assert repo.list_messages("alpha", "default") == written["alpha/default"]
    remaining = {key.decode() for key in reference.client.scan_iter(match="session:*")}
    assert remaining == set()


def test_reference_records_without_a_session_are_left_alone(reference: Reference, fake_url: str) -> None:
    reference.agent("ghost", "default")
    reference.messages("ghost", "default", 2)

    result = Cli(fake_url)("migrate", "--from-reference", "--apply")

    assert result.exit_code == 0, result.output
    assert "ghost         1         2  no session record: left alone" in result.stdout
    assert is_json_document(reference.client, "session:ghost:agent:default:message:1")


def test_reference_on_valkey_and_memory(valkey_url: str) -> None:
    repo = KVSessionRepository(kvsession.connect(valkey_url))
    seed_chat(repo, "ours", {"default": 2})
    on_valkey = Cli(valkey_url)("migrate", "--from-reference")
    assert on_valkey.exit_code == 0, on_valkey.output
    assert "ours          0         0  in kvsession format" in on_valkey.stdout

    on_memory = Cli("memory://")("migrate", "--from-reference")
    assert on_memory.exit_code == 1
    assert (
        on_memory.stderr
        == "error: --from-reference needs a Valkey server; memory:// cannot hold the reference's records\n"
    )


# -- Strands FileSessionManager directory ---------------------------------------------------------


class _Graph:
    """The part of a multi-agent orchestrator FileSessionManager stores."""

    id = "graph"

    def serialize_state(self) -> dict[str, Any]:
        return {"type": "graph", "status": "completed", "node_results": {"a": {"status": "completed"}}}


def write_strands_directory(root: Path) -> dict[str, Any]:
    """Sessions written by Strands' own FileSessionManager; returns what it reads back."""
    expected: dict[str, Any] = {}
    for session_id, counts in (("files-1", {"default": 6}), ("files-2", {"default": 2, "helper": 1})):
        manager = FileSessionManager(session_id=session_id, storage_dir=str(root))
        for agent_id, count in counts.items():
            manager.create_agent(
                session_id, SessionAgent(agent_id=agent_id, state={"k": "v"}, conversation_manager_state={})
            )
            for index in range(count):
                manager.create_message(
                    session_id, agent_id, SessionMessage.from_message(DEMO_MESSAGES[index], index)
                )
        expected[session_id] = {
            agent_id: (manager.read_agent(session_id, agent_id), manager.list_messages(session_id, agent_id))
            for agent_id in counts
        }
    manager.create_multi_agent("files-2", cast(MultiAgentBase, _Graph()))
    return expected


def test_directory_dry_run_apply_and_rerun(store_url: str, repo: KVSessionRepository, tmp_path: Path) -> None:
    expected = write_strands_directory(tmp_path / "sessions")
    cli = Cli(store_url)

    dry = cli("migrate", "--from-dir", str(tmp_path / "sessions"))
    assert dry.exit_code == 0, dry.output
    assert dry.stdout.splitlines() == [
        "SESSION  AGENTS  MESSAGES  ACTION",
        "files-1       1         6  would import",
        "files-2       2         3  would import",
        "dry run: would import 2 session(s) (3 agent(s), 9 message(s)); 0 already migrated. "
        "Run again with --apply to do it.",
    ]
    assert repo.list_sessions() == []

    applied = cli("migrate", "--from-dir", str(tmp_path / "sessions"), "--apply")
    assert applied.exit_code == 0, applied.output
    assert (
        applied.stdout.splitlines()[-1]
        == "imported 2 session(s) (3 agent(s), 9 message(s)); 0 already migrated"
    )
    for session_id, agents in expected.items():
        assert repo.list_agents(session_id) == sorted(agents)
        for agent_id, (agent, messages) in agents.items():
            assert repo.read_agent(session_id, agent_id) == agent
            assert repo.list_messages(session_id, agent_id) == messages
    assert repo.read_multi_agent("files-2", "graph") == _Graph().serialize_state()
    image = repo.list_messages("files-1", "default")[0].message["content"][1]["image"]["source"]["bytes"]
    assert image == PNG
    session = repo.read_session("files-1")
    assert session is not None
    last_write = max(m.updated_at for m in expected["files-1"]["default"][1])
    assert session.updated_at == last_write  # the latest write, not the folder's creation time

    again = cli("migrate", "--from-dir", str(tmp_path / "sessions"), "--apply")
    assert (
        again.stdout.splitlines()[-1]
        == "imported 0 session(s) (0 agent(s), 0 message(s)); 2 already migrated"
    )


def test_directory_resumes_after_an_interruption(
    store_url: str, repo: KVSessionRepository, tmp_path: Path
) -> None:
    expected = write_strands_directory(tmp_path / "sessions")
    # An interrupted earlier run: some records of files-1 written, its session record not yet.
    agent, messages = expected["files-1"]["default"]
    repo.put_agents("files-1", [agent])
    repo.put_messages("files-1", "default", messages[:3])

    result = Cli(store_url)("migrate", "--from-dir", str(tmp_path / "sessions"), "--apply")

    assert result.exit_code == 0, result.output
    assert repo.list_messages("files-1", "default") == messages


def test_directory_conflicts_and_bad_folders(
    store_url: str, repo: KVSessionRepository, tmp_path: Path
) -> None:
    root = tmp_path / "sessions"
    write_strands_directory(root)
    # A folder name that is not UTF-8 (bytes 0xff) cannot be an id: Python reads it as a lone surrogate.
    FileSessionManager(session_id="bad", storage_dir=str(root))
    os.rename(root / "session_bad", os.path.join(os.fsencode(root), b"session_bad\xff"))
    (root / "session_broken").mkdir()
    (root / "session_broken" / "session.json").write_text("{not json")
    repo.create_session(Session(session_id="files-2", session_type=SessionType.AGENT))  # someone else's

    result = Cli(store_url)("migrate", "--from-dir", str(root), "--apply")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    rows = {line.split()[0]: line for line in lines[1:5]}
    assert rows["session_bad\\udcff"].endswith("skipped, see below")
    assert rows["session_broken"].endswith("skipped, see below")
    assert rows["files-2"].endswith("skipped: another session with this id exists")
    assert lines[5].startswith("session_bad\\udcff: session_id=<'bad\\udcff'> | invalid id")
    assert lines[6].startswith("session_broken: cannot decode session record as json: ")
    assert lines[6].endswith(f"({root / 'session_broken' / 'session.json'})")
    assert (
        result.stdout.splitlines()[-1]
        == "imported 1 session(s) (1 agent(s), 6 message(s)); 0 already migrated; 3 skipped"
    )
    assert repo.list_agents("files-2") == []


def test_migrate_needs_exactly_one_source(tmp_path: Path) -> None:
    cli = Cli("memory://")
    assert cli("migrate").stderr == "error: choose one source: --from-reference or --from-dir PATH\n"
    both = cli("migrate", "--from-reference", "--from-dir", str(tmp_path))
    assert both.exit_code == 1


def test_reference_keys_are_recognised_by_the_session_templates(reference: Reference, fake_url: str) -> None:
    reference.session("alpha")
    reference.agent("alpha", "default")
    reference.messages("alpha", "default", 1)
    # Not keys the templates write: a padded message id, an id with a space, an unknown suffix.
    for key in ("session:alpha:agent:default:message:007", "session:bad id", "session:alpha:notes"):
        reference._set(key, {"x": 1})
    client = raw_client(kvsession.connect(fake_url))
    assert client is not None

    [plan] = plan_reference(client)

    assert plan.session_id == "alpha"
    assert plan.root == "reference"
    assert plan.agents == {"default": "reference"}
    assert plan.messages == {"default": [0]}
