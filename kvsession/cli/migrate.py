"""``kvsession migrate``: bring sessions from the reference package or a Strands directory.

Dry run by default: it shows what would change; ``--apply`` does it. Both sources are
resumable (re-running skips what is done and continues) and no source record is deleted
before its replacement is written (a directory is only read).
"""

from __future__ import annotations

from pathlib import Path

import click

from kvsession.admin.directory import load_directory_session, plan_directory
from kvsession.admin.reference import ReferencePlan, apply_reference_session, plan_reference, raw_client
from kvsession.cli.connection import Store, open_store, url_option
from kvsession.cli.output import CliError, new_table, note, print_table, printable, progress

__all__ = ["migrate"]


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

_DIR_ACTIONS = {
    "done": "already migrated",
    "conflict": "skipped: another session with this id exists",
    "unusable": "skipped, see below",
}


def _migrate_directory(store: Store, root: Path, apply_changes: bool) -> None:
    plan = plan_directory(store.repo, root)
    table = new_table("SESSION", "AGENTS", "MESSAGES", "ACTION", numeric=("AGENTS", "MESSAGES"))
    details: list[str] = []
    for entry in plan:
        if entry.found is None:
            table.add_row(printable(entry.folder.name), "-", "-", _DIR_ACTIONS["unusable"])
            details.append(printable(f"{entry.folder.name}: {entry.problem}"))
            continue
        found = entry.found
        action = ("import" if apply_changes else "would import") if entry.action == "import" else None
        table.add_row(
            printable(found.session.session_id),
            str(len(found.agents)),
            str(found.message_count),
            action or _DIR_ACTIONS[entry.action],
        )
    if table.row_count:
        print_table(table)
    for detail in details:
        click.echo(detail)
    todo = [entry.found for entry in plan if entry.action == "import" and entry.found is not None]
    done = sum(1 for entry in plan if entry.action == "done")
    problems = sum(1 for entry in plan if entry.action in ("conflict", "unusable"))
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
            load_directory_session(store.repo, found, bar.advance)
    click.echo(f"imported {counts}{tail}")
