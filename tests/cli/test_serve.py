"""``kvsession serve`` as a real process, used by the installed ``kvsession`` console script.

Starts ``python -m kvsession serve`` on a free loopback port with a temporary data directory,
waits for its URL line, talks to it through the console script (which finds it through the
state file, without --url), stops it with SIGINT, checks the append-only files, and restarts
it to see the data come back.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import kvsession
from kvsession.strands.repository import KVSessionRepository
from tests.cli.helpers import closed_port, seed_demo

CONSOLE_SCRIPT = Path(sys.executable).parent / "kvsession"
START_TIMEOUT = 30.0


class Served:
    """A running ``kvsession serve`` process and the lines it printed."""

    def __init__(self, data: Path, port: int, env: dict[str, str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.printed: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kvsession", "serve", "--data", str(data), "--port", str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None
        stdout = self.process.stdout

        def pump() -> None:
            for line in stdout:
                self.lines.put(line)

        threading.Thread(target=pump, daemon=True).start()

    def wait_for(self, prefix: str) -> str:
        """Return the first printed line starting with ``prefix``."""
        while True:
            try:
                line = self.lines.get(timeout=START_TIMEOUT).rstrip("\n")
            except queue.Empty:
                raise AssertionError(f"no line starting with {prefix!r}; printed: {self.printed}") from None
            self.printed.append(line)
            if line.startswith(prefix):
                return line

    def stop(self, sig: signal.Signals) -> int:
        """Send ``sig`` and return the exit status; collect what it printed."""
        self.process.send_signal(sig)
        status = self.process.wait(timeout=START_TIMEOUT)
        while not self.lines.empty():
            self.printed.append(self.lines.get().rstrip("\n"))
        return status

    def ensure_stopped(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # lets it stop its valkey-server
            try:
                self.process.wait(timeout=START_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    variables = {key: value for key, value in os.environ.items() if key != "KVSESSION_URL"}
    variables["XDG_STATE_HOME"] = str(tmp_path / "state")
    return variables


@pytest.fixture
def served(tmp_path: Path, env: dict[str, str]) -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for server in started:
        server.ensure_stopped()


def kvsession_script(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CONSOLE_SCRIPT), *args], capture_output=True, text=True, env=env, timeout=START_TIMEOUT
    )


def test_serve_persists_and_stops_cleanly(tmp_path: Path, env: dict[str, str], served: list[Served]) -> None:
    data = tmp_path / "data"
    port = closed_port()
    url = f"valkey://127.0.0.1:{port}/0"
    served.append(Served(data, port, env))

    assert served[0].wait_for("URL: ") == f"URL: {url}"
    state_file = tmp_path / "state" / "kvsession" / "server.json"
    assert state_file.exists()
    empty = kvsession_script(env, "sessions")
    assert (empty.returncode, empty.stdout, empty.stderr) == (0, "0 session(s)\n", "")
    backend = kvsession.connect(url)
    seed_demo(KVSessionRepository(backend))
    backend.close()
    shown = kvsession_script(env, "show", "demo")
    assert shown.returncode == 0, shown.stderr
    assert "[image png 200.0 KB]" in shown.stdout

    assert served[0].stop(signal.SIGINT) == 0
    assert served[0].printed[-1] == "stopped; data saved."
    aof = data / "appendonlydir"
    assert list(aof.glob("*.manifest")) and list(aof.glob("*.aof"))
    assert not state_file.exists()
    gone = kvsession_script(env, "sessions")
    assert gone.returncode == 1
    assert gone.stderr.startswith("error: no store to talk to: run `kvsession serve`")

    served.append(Served(data, port, env))
    served[1].wait_for("URL: ")
    again = kvsession_script(env, "sessions", "--json")
    assert again.returncode == 0, again.stderr
    assert '"session_id": "demo"' in again.stdout
    assert served[1].stop(signal.SIGTERM) == 0


def test_serve_on_a_busy_port_fails_with_one_line(
    tmp_path: Path, env: dict[str, str], valkey_url: str
) -> None:
    port = valkey_url.split(":")[2].split("/")[0]
    result = subprocess.run(
        [sys.executable, "-m", "kvsession", "serve", "--data", str(tmp_path / "d"), "--port", port],
        capture_output=True,
        text=True,
        env=env,
        timeout=START_TIMEOUT,
    )
    assert result.returncode == 1
    assert result.stderr == f"error: cannot start valkey-server: Port {port} is already in use on 127.0.0.1\n"
