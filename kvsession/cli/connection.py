"""Which store a command talks to, and opening it.

A command's URL comes from, in order: ``--url``, ``$KVSESSION_URL``, then the state file that a
running ``kvsession serve`` writes (``$XDG_STATE_HOME/kvsession/server.json``, by default
``~/.local/state/kvsession/server.json``). With none of them the command stops with one line
saying what to do. A state file whose server process is gone is ignored.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
import msgspec
from valkey.exceptions import ConnectionError as ValkeyConnectionError
from valkey.exceptions import TimeoutError as ValkeyTimeoutError
from valkey.exceptions import ValkeyError

from kvsession.cli.output import CliError
from kvsession.kv.config import ENV_URL, parse_url, redact_url
from kvsession.kv.errors import BackendUnavailable, ConfigError
from kvsession.kv.protocol import KeyValueBackend
from kvsession.kv.registry import connect
from kvsession.strands.repository import KVSessionRepository

__all__ = [
    "ServerState",
    "Store",
    "clear_state",
    "default_data_dir",
    "open_store",
    "read_state",
    "resolve_url",
    "state_path",
    "unreachable_message",
    "url_option",
    "write_state",
]

F = TypeVar("F", bound=Callable[..., Any])


class ServerState(msgspec.Struct, kw_only=True):
    """What ``kvsession serve`` records about the embedded server it runs.

    Attributes:
        url: The URL other commands connect with.
        pid: Process id of the ``kvsession serve`` process.
        port: TCP port on 127.0.0.1.
        data_dir: Where the append-only files live.
        started_at: ISO-8601 start time.
    """

    url: str
    pid: int
    port: int
    data_dir: str
    started_at: str


def _xdg_dir(variable: str, fallback: str) -> Path:
    base = os.environ.get(variable)
    return Path(base) if base else Path.home() / fallback


def state_path() -> Path:
    """Path of the state file written by ``kvsession serve``."""
    return _xdg_dir("XDG_STATE_HOME", ".local/state") / "kvsession" / "server.json"


def default_data_dir() -> Path:
    """Default data directory of ``kvsession serve`` (``$XDG_DATA_HOME/kvsession``)."""
    return _xdg_dir("XDG_DATA_HOME", ".local/share") / "kvsession"


def write_state(state: ServerState) -> Path:
    """Write ``state`` atomically to :func:`state_path` and return the path."""
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(msgspec.json.format(msgspec.json.encode(state), indent=2))
    tmp.replace(path)
    return path


def read_state() -> ServerState | None:
    """Return the running embedded server's state, or ``None`` (no file, unreadable, or stale)."""
    try:
        state = msgspec.json.decode(state_path().read_bytes(), type=ServerState)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return None
    return state if _alive(state.pid) else None


def clear_state(pid: int) -> None:
    """Remove the state file if it still describes the server run by process ``pid``."""
    path = state_path()
    try:
        state = msgspec.json.decode(path.read_bytes(), type=ServerState)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return
    if state.pid == pid:
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def resolve_url(url: str | None) -> str:
    """Return the URL a command uses: ``--url``, ``$KVSESSION_URL``, or the embedded server's.

    Raises:
        CliError: None of the three is available.
    """
    if url:
        return url
    from_env = os.environ.get(ENV_URL)
    if from_env:
        return from_env
    state = read_state()
    if state is not None:
        return state.url
    raise CliError(
        f"no store to talk to: run `kvsession serve` (in another terminal), set {ENV_URL}, or pass --url"
    )


def url_option(command: F) -> F:
    """Add the ``--url`` option every command but ``serve`` takes."""
    return click.option(
        "--url",
        metavar="URL",
        help=f"Store URL, e.g. valkey://127.0.0.1:6379/0 [default: ${ENV_URL}, else the server "
        "started by `kvsession serve`].",
    )(command)


@dataclass
class Store:
    """An open store: the backend, a repository over it, and where it is.

    Attributes:
        backend: The connected backend.
        repo: A repository using the URL's codec, prefix and key scheme.
        where: The URL without credentials or options, for messages.
    """

    backend: KeyValueBackend
    repo: KVSessionRepository
    where: str


def _where(url: str) -> str:
    try:
        config = parse_url(url)
    except ConfigError:
        return redact_url(url)
    if config.host is None:
        return f"{config.scheme}://{config.name}"
    port = f":{config.port}" if config.port is not None else ""
    return f"{config.scheme}://{config.host}{port}"


def unreachable_message(where: str, exc: BaseException) -> str:
    """Return ``cannot reach <where> (<reason>)`` for a connection failure."""
    return f"cannot reach {where} ({_reason(exc)})"


def _reason(exc: BaseException) -> str:
    seen: BaseException | None = exc
    text = ""
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError) or "refused" in str(seen).lower():
            return "connection refused"
        if isinstance(seen, (TimeoutError, socket.timeout)) or "timed out" in str(seen).lower():
            return "timed out"
        if isinstance(seen, socket.gaierror) or "name or service not known" in str(seen).lower():
            return "unknown host"
        if isinstance(seen, OSError) and seen.errno == errno.ECONNRESET:
            return "connection reset"
        text = str(seen) or text
        seen = seen.__cause__ or seen.__context__
    return text.split("\n", 1)[0] or type(exc).__name__


@contextmanager
def open_store(url: str | None) -> Iterator[Store]:
    """Connect to the store a command should use and close it afterwards.

    A connection failure anywhere in the block becomes ``error: cannot reach <url> (<reason>)``.

    Raises:
        CliError: No URL could be found, the URL is invalid, or the server cannot be reached.
    """
    resolved = resolve_url(url)
    where = _where(resolved)
    try:
        backend = connect(resolved)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    try:
        # Inspection must not keep sessions alive, whatever the URL says about touch_on_read.
        repo = KVSessionRepository(backend, touch_on_read=False)
        backend.exists(repo.keys.listing_keys()[0])  # fail early and clearly if unreachable
        yield Store(backend, repo, where)
    except (BackendUnavailable, ValkeyConnectionError, ValkeyTimeoutError) as exc:
        # valkey-py's own errors come from the raw client of `migrate --from-reference`.
        raise CliError(unreachable_message(where, exc)) from None
    except ValkeyError as exc:
        raise CliError(f"{where}: {exc}") from None
    finally:
        with suppress(Exception):
            backend.close()
