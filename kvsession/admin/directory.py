"""Import the sessions of a Strands ``FileSessionManager`` directory (``migrate --from-dir``).

The directory is only read. Each session is written root last
(:class:`~kvsession.admin.loader.SessionWriter`), so an interrupted import leaves nothing
visible and the next run imports that session again from the start; a session already
imported (same id and creation time) is recognised and skipped.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from strands.types.session import Session

from kvsession.admin.errors import SourceError
from kvsession.admin.loader import SessionWriter
from kvsession.kv.errors import CodecError, InvalidIdError
from kvsession.orm import get_codec, validate_id
from kvsession.strands.models import AGENT, MESSAGE, MULTI_AGENT, SESSION
from kvsession.strands.repository import KVSessionRepository

__all__ = [
    "DirAction",
    "DirEntry",
    "DirSession",
    "load_directory_session",
    "plan_directory",
    "read_directory",
]

logger = logging.getLogger(__name__)

_JSON = get_codec("json")

DirAction = Literal["import", "done", "conflict", "unusable"]
"""What a migration does with a folder: import it, nothing (already imported), nothing (another
session with its id exists), nothing (the folder cannot be used; see its problem)."""


@dataclass
class DirSession:
    """One ``session_<id>/`` folder of a Strands ``FileSessionManager`` directory.

    Attributes:
        path: The folder.
        session: Its decoded ``session.json``.
        agents: Agent id -> the agent's folder.
        messages: Agent id -> number of message files.
        multi_agents: Multi-agent id -> its ``multi_agent.json``.
    """

    path: Path
    session: Session
    agents: dict[str, Path] = field(default_factory=dict)
    messages: dict[str, int] = field(default_factory=dict)
    multi_agents: dict[str, Path] = field(default_factory=dict)

    @property
    def message_count(self) -> int:
        """Message files of all agents."""
        return sum(self.messages.values())


@dataclass
class DirEntry:
    """A folder of the directory and what a migration does with it.

    Attributes:
        folder: The ``session_<id>/`` folder.
        action: See :data:`DirAction`.
        found: The session folder's contents (``None`` when ``unusable``).
        problem: Why the folder cannot be used (only when ``unusable``).
    """

    folder: Path
    action: DirAction
    found: DirSession | None = None
    problem: str | None = None


def _entries(folder: Path, prefix: str) -> dict[str, Path]:
    """Sub-folders ``<prefix><id>`` of ``folder`` by id (symlinks ignored, as Strands does)."""
    if not folder.is_dir():
        return {}
    found = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(prefix) and entry.is_dir() and not entry.is_symlink():
            found[entry.name[len(prefix) :]] = entry
    return found


def _message_files(agent_dir: Path) -> list[tuple[int, Path]]:
    folder = agent_dir / "messages"
    if not folder.is_dir():
        return []
    files = []
    for name in os.listdir(folder):
        number = name[len("message_") : -len(".json")]
        if name.startswith("message_") and name.endswith(".json") and number.isdigit():
            files.append((int(number), folder / name))
    return sorted(files)


def _read(path: Path) -> bytes:
    if path.is_symlink():
        raise SourceError(f"{path}: refusing to read a symlink")
    return path.read_bytes()


def read_directory(root: Path) -> Iterator[DirSession | tuple[Path, str]]:
    """Yield each session folder of ``root``, or ``(folder, problem)`` for one that cannot be used.

    Raises:
        SourceError: A ``session.json`` is a symlink.
    """
    for session_id, folder in _entries(root, "session_").items():
        record = folder / "session.json"
        if not record.is_file():
            yield folder, "no session.json"
            continue
        try:
            validate_id("session_id", session_id)
            session = _JSON.decode(SESSION, _read(record), key=str(record))
            # An agent folder without agent.json (never written whole) has nothing to restore.
            agents = {
                aid: path
                for aid, path in _entries(folder / "agents", "agent_").items()
                if (path / "agent.json").is_file()
            }
            for agent_id in agents:
                validate_id("agent_id", agent_id)
            multi = {
                mid: path / "multi_agent.json"
                for mid, path in _entries(folder / "multi_agents", "multi_agent_").items()
            }
            for multi_id in multi:
                validate_id("multi_agent_id", multi_id)
        except CodecError as exc:
            yield folder, str(exc).removeprefix(f"key=<{exc.key}> | ") + f" ({exc.key})"
            continue
        except InvalidIdError as exc:
            yield folder, str(exc)
            continue
        if session.session_id != session_id:
            yield folder, f"session.json names session {session.session_id!r}"
            continue
        counts = {agent_id: len(_message_files(path)) for agent_id, path in agents.items()}
        yield DirSession(folder, session, agents, counts, multi)


def plan_directory(repo: KVSessionRepository, root: Path) -> list[DirEntry]:
    """Read ``root`` and decide, for each session folder, what a migration into ``repo`` does.

    Raises:
        SourceError: A ``session.json`` is a symlink.
    """
    plan: list[DirEntry] = []
    for found in read_directory(root):
        if isinstance(found, tuple):
            folder, problem = found
            plan.append(DirEntry(folder, "unusable", problem=problem))
            continue
        existing = repo.read_session(found.session.session_id)
        if existing is None:
            action: DirAction = "import"
        elif existing.created_at == found.session.created_at:
            action = "done"
        else:
            action = "conflict"
        plan.append(DirEntry(found.path, action, found=found))
    return plan


def load_directory_session(
    repo: KVSessionRepository, found: DirSession, advance: Callable[[float], None] = lambda _: None
) -> None:
    """Write one session folder, root last; its ``updated_at`` becomes its latest record's.

    Args:
        repo: Where to write.
        found: The folder, as read by :func:`read_directory`.
        advance: Called with 1 after each message (for a progress bar).

    Raises:
        SourceError: A record cannot be read; nothing of the session is visible.
    """
    session_id = found.session.session_id
    writer = SessionWriter(repo, found.session, latest_updated_at=True)
    writer.begin("skip")
    try:
        for agent_id, folder in found.agents.items():
            agent_file = folder / "agent.json"
            writer.add_agent(_JSON.decode(AGENT, _read(agent_file), key=str(agent_file)))
            for _, path in _message_files(folder):
                data = _read(path)
                writer.add_message(agent_id, _JSON.decode(MESSAGE, data, key=str(path)), size_hint=len(data))
                advance(1)
        for multi_id, path in found.multi_agents.items():
            if path.is_file():
                writer.add_multi_agent(multi_id, _JSON.decode(MULTI_AGENT, _read(path), key=str(path)))
    except (CodecError, InvalidIdError) as exc:
        raise SourceError(f"{exc} (nothing of session {session_id!r} is visible; fix and re-run)") from None
    writer.finish()
    logger.debug("session_id=<%s>, path=<%s> | imported session folder", session_id, found.path)
