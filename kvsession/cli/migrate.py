"""``kvsession migrate``: bring sessions from the reference package or a Strands directory.

Dry run by default: it shows what would change; ``--apply`` does it. Both sources are
resumable (re-running skips what is done and continues) and no source record is deleted
before its replacement is written (a directory is only read).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import click

from kvsession.cli.capabilities import raw_client
from kvsession.cli.connection import Store, open_store, url_option
from kvsession.cli.loader import SessionWriter
from kvsession.cli.output import CliError, new_table, note, print_table, progress
from kvsession.cli.reference import ReferencePlan, apply_reference_session, plan_reference
from kvsession.codecs import get_codec
from kvsession.errors import CodecError, InvalidIdError
from kvsession.keys import validate_id
from kvsession.records import Session
from kvsession.repository import KVSessionRepository

__all__ = ["DirSession", "migrate", "read_directory"]

_JSON = get_codec("json")


@click.command()
@click.option(
    "--from-reference",
    is_flag=True,
    help="Rewrite sessions of strands-valkey-session-manager (RedisJSON values) found in the store.",
)
@click.option(
    "--from-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Import a Strands FileSessionManager directory (the one holding session_<id>/ folders).",
)
@click.option("--apply", "apply_changes", is_flag=True, help="Make the changes (default: only show them).")
@url_option
def migrate(from_reference: bool, from_dir: Path | None, apply_changes: bool, url: str | None) -> None:
    """Move sessions from another store into kvsession's format.

    Dry run unless --apply. Resumable: run it again after an interruption and it skips what
    is done. --from-reference rewrites the records in place (stop the writers first);
    --from-dir only reads the directory.

    \b
    Example:
      kvsession migrate --from-reference
      kvsession migrate --from-reference --apply
      kvsession migrate --from-dir ~/.strands/sessions --apply
    """  # noqa: D301 - click needs the \b (backspace) marker to keep examples unwrapped
    if from_reference == (from_dir is not None):
        raise CliError("choose one source: --from-reference or --from-dir PATH")
    with open_store(url) as store:
        if from_dir is not None:
            _migrate_directory(store, from_dir, apply_changes)
        else:
            _migrate_reference(store, apply_changes)


# -- reference package ---------------------------------------------------------------------------


def _migrate_reference(store: Store, apply_changes: bool) -> None:
    client = raw_client(store.backend)
    if client is None:
        raise CliError(
            f"--from-reference needs a Valkey server; {store.where} cannot hold the reference's records"
        )
    plans = plan_reference(client)
    table = new_table("SESSION", "AGENTS", "MESSAGES", "ACTION", numeric=("AGENTS", "MESSAGES"))
    todo: list[ReferencePlan] = []
    done = orphaned = 0
    for plan in plans:
        if plan.orphaned:
            orphaned += 1
            action = "no session record: left alone"
        elif plan.records_to_convert == 0:
            done += 1
            action = "in kvsession format"
        else:
            todo.append(plan)
            action = "rewrite" if apply_changes else "would rewrite"
        table.add_row(plan.session_id, str(len(plan.agents_to_convert)), str(plan.message_count), action)
    if plans:
        print_table(table)
    agents = sum(len(plan.agents_to_convert) for plan in todo)
    messages = sum(plan.message_count for plan in todo)
    counts = f"{len(todo)} session(s) ({agents} agent(s), {messages} message(s))"
    tail = f"; {done} already in kvsession format"
    if orphaned:
        tail += f"; {orphaned} without a session record left alone"
    if not apply_changes:
        click.echo(f"dry run: would rewrite {counts}{tail}. Run again with --apply to do it.")
        return
    skipped = 0
    total = sum(plan.records_to_convert for plan in todo)
    with progress(total, "migrating") as bar:
        for plan in todo:
            bar.describe(plan.session_id)
            result = apply_reference_session(store.repo, client, plan, bar.advance)
            skipped += result.skipped_messages
    click.echo(f"rewrote {counts}{tail}")
    if skipped:
        note(f"left {skipped} message(s) alone: their agent has no record")


# -- Strands FileSessionManager directory --------------------------------------------------------


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
        raise CliError(f"{path}: refusing to read a symlink")
    return path.read_bytes()


def read_directory(root: Path) -> Iterator[DirSession | tuple[Path, str]]:
    """Yield each session folder of ``root``, or ``(folder, problem)`` for one that cannot be used."""
    for session_id, folder in _entries(root, "session_").items():
        record = folder / "session.json"
        if not record.is_file():
            yield folder, "no session.json"
            continue
        try:
            validate_id("session_id", session_id)
            session = _JSON.decode_session(_read(record), key=str(record))
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


def _migrate_directory(store: Store, root: Path, apply_changes: bool) -> None:
    repo = store.repo
    table = new_table("SESSION", "AGENTS", "MESSAGES", "ACTION", numeric=("AGENTS", "MESSAGES"))
    todo: list[DirSession] = []
    done = problems = 0
    details: list[str] = []
    for found in read_directory(root):
        if isinstance(found, tuple):
            folder, problem = found
            problems += 1
            table.add_row(folder.name, "-", "-", "skipped, see below")
            details.append(f"{folder.name}: {problem}")
            continue
        existing = repo.read_session(found.session.session_id)
        if existing is None:
            todo.append(found)
            action = "import" if apply_changes else "would import"
        elif existing.created_at == found.session.created_at:
            done += 1
            action = "already migrated"
        else:
            problems += 1
            action = "skipped: another session with this id exists"
        table.add_row(found.session.session_id, str(len(found.agents)), str(found.message_count), action)
    if table.row_count:
        print_table(table)
    for detail in details:
        click.echo(detail)
    messages = sum(found.message_count for found in todo)
    agents = sum(len(found.agents) for found in todo)
    counts = f"{len(todo)} session(s) ({agents} agent(s), {messages} message(s))"
    tail = f"; {done} already migrated" + (f"; {problems} skipped" if problems else "")
    if not apply_changes:
        click.echo(f"dry run: would import {counts}{tail}. Run again with --apply to do it.")
        return
    with progress(messages, "migrating") as bar:
        for found in todo:
            bar.describe(found.session.session_id)
            _load_directory_session(repo, found, bar.advance)
    click.echo(f"imported {counts}{tail}")


def _load_directory_session(
    repo: KVSessionRepository, found: DirSession, advance: Callable[[float], None]
) -> None:
    """Write one session folder, root last (see :mod:`kvsession.cli.loader`)."""
    writer = SessionWriter(repo, found.session, latest_updated_at=True)
    writer.begin("skip")
    try:
        for agent_id, folder in found.agents.items():
            agent_file = folder / "agent.json"
            writer.add_agent(_JSON.decode_agent(_read(agent_file), key=str(agent_file)))
            for _, path in _message_files(folder):
                data = _read(path)
                writer.add_message(agent_id, _JSON.decode_message(data, key=str(path)), size_hint=len(data))
                advance(1)
        for multi_id, path in found.multi_agents.items():
            if path.is_file():
                writer.add_multi_agent(multi_id, _JSON.decode_state(_read(path), key=str(path)))
    except (CodecError, InvalidIdError) as exc:
        raise CliError(
            f"{exc} (nothing of session {found.session.session_id!r} is visible; fix and re-run)"
        ) from None
    writer.finish()
