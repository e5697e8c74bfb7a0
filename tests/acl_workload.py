"""Every API and CLI path kvsession has, run against one URL: what a least-privilege user must manage.

Used by tests/acl (standalone) and tests/cluster (a real cluster) with a user restricted to
:func:`kvsession_valkey.acl.acl_rules`; the caller then checks the servers' ``ACL LOG`` is empty.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from strands.types.session import SessionAgent, SessionMessage, SessionType

import kvsession
from kvsession.storage import ValkeyStorage
from kvsession.strands.aio_repository import AsyncKVSessionRepository
from kvsession.strands.records import Session
from kvsession.strands.repository import KVSessionRepository
from tests.cli.helpers import Cli, seed_demo


class _MultiAgent:
    """The part of a Strands multi-agent orchestrator the repository uses."""

    def __init__(self, multi_agent_id: str, state: dict[str, object]) -> None:
        self.id = multi_agent_id
        self.state = state

    def serialize_state(self) -> dict[str, object]:
        return {"id": self.id, **self.state}


def _message(i: int) -> SessionMessage:
    return SessionMessage.from_message({"role": "user", "content": [{"text": f"m{i}"}]}, i)


def run_repository_paths(url: str) -> None:
    """Every repository method, with a ttl and touch_on_read (so group refreshes run too)."""
    repo = KVSessionRepository(kvsession.connect(url), ttl=3600, touch_on_read=True)
    try:
        repo.create_session(Session(session_id="acl-1", session_type=SessionType.AGENT, metadata={"a": 1}))
        repo.create_agent("acl-1", SessionAgent(agent_id="a", state={}, conversation_manager_state={}))
        for i in range(3):
            repo.create_message("acl-1", "a", _message(i))
        message = repo.read_message("acl-1", "a", 1)
        assert message is not None
        repo.update_message("acl-1", "a", message)
        assert len(repo.list_messages("acl-1", "a")) == 3
        assert repo.count_messages("acl-1", "a") == 3
        agent = repo.read_agent("acl-1", "a")
        assert agent is not None
        agent.state = {"x": 1}
        repo.update_agent("acl-1", agent)
        multi = _MultiAgent("swarm", {"step": 1})
        repo.create_multi_agent("acl-1", multi)  # type: ignore[arg-type]
        multi.state = {"step": 2}
        repo.update_multi_agent("acl-1", multi)  # type: ignore[arg-type]
        assert repo.read_multi_agent("acl-1", "swarm") == {"id": "swarm", "step": 2}
        session = repo.read_session("acl-1")
        assert session is not None
        repo.update_session(session)
        repo.acquire_lease("acl-1", 30)
        repo.create_message("acl-1", "a", _message(3))
        repo.release_lease("acl-1")
        assert repo.repair_messages_index("acl-1", "a") == 0
        assert [sid for sid, _ in repo.list_sessions()] == ["acl-1"]
        assert repo.count_sessions() == 1 and repo.last_active("acl-1") is not None
        assert repo.prune_sessions(grace=0) == 0
        repo.delete_session("acl-1")
        assert repo.clear_leftovers("acl-1") is True
        assert repo.list_sessions() == []
    finally:
        repo.backend.close()


def run_async_paths(url: str) -> None:
    """The async repository's write and restore paths."""

    async def main() -> None:
        repo = AsyncKVSessionRepository(await kvsession.connect_async(url))
        try:
            await repo.create_session(Session(session_id="acl-async", session_type=SessionType.AGENT))
            await repo.create_agent(
                "acl-async", SessionAgent(agent_id="a", state={}, conversation_manager_state={})
            )
            await repo.create_message("acl-async", "a", _message(0))
            assert len(await repo.list_messages("acl-async", "a")) == 1
            await repo.delete_session("acl-async")
        finally:
            await repo.backend.aclose()

    asyncio.run(main())


def run_storage_paths(url: str, *, cluster: bool) -> None:
    """ValkeyStorage (Strands' Storage protocol): write, read, list, search, delete."""

    async def main() -> None:
        storage = ValkeyStorage.from_url(url, cluster=cluster, ttl=3600)
        try:
            await storage.write("session/acl/agent/a.json", b'{"x": 1}')
            assert await storage.read("session/acl/agent/a.json") == b'{"x": 1}'
            assert await storage.list("session/acl/") == ["session/acl/agent/a.json"]
            await storage.delete("session/acl/agent/a.json")
            assert await storage.read("session/acl/agent/a.json") is None
        finally:
            await storage.aclose()

    asyncio.run(main())


def run_cli_paths(url: str, tmp: Path) -> None:
    """sessions (and --prune), show, export, rm, import, stats."""
    repo = KVSessionRepository(kvsession.connect(url))
    try:
        seed_demo(repo, "acl-cli")
    finally:
        repo.backend.close()
    cli = Cli(url)
    for args in (("sessions",), ("sessions", "--prune"), ("show", "acl-cli"), ("stats", "--json")):
        result = cli(*args)
        assert result.exit_code == 0, (args, result.output)
    assert json.loads(cli("stats", "--json").output)["sessions"] == 1
    backup = tmp / "backup.jsonl"
    assert cli("export", "--all", "-o", str(backup)).exit_code == 0
    result = cli("rm", "acl-cli", "--yes")
    assert result.exit_code == 0, result.output
    result = cli("import", str(backup))
    assert result.exit_code == 0, result.output
    assert "acl-cli" in cli("sessions").output
    assert cli("rm", "acl-cli", "--yes").exit_code == 0
