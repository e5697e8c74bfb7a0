"""``kvsession sessions``, ``show`` and ``rm``: look at what is stored, and remove it."""

from __future__ import annotations

import click
import msgspec
from rich.text import Text
from strands.types.session import Session

from kvsession.admin.layout import SessionLayout, session_layout
from kvsession.admin.sessions import SessionSummary, clear_leftovers, iter_sessions, key_rows, summarize
from kvsession.cli.connection import Store, open_store, url_option
from kvsession.cli.output import (
    CliError,
    err_console,
    human_size,
    human_time,
    human_ttl,
    new_table,
    out_console,
    print_table,
    write_json,
)
from kvsession.cli.transcript import render_message
from kvsession.kv.errors import NotFoundError
from kvsession.orm import get_codec
from kvsession.strands.models import AGENT, MESSAGE, MULTI_AGENT, SESSION
from kvsession.strands.records import metadata_of
from kvsession.strands.repository import KVSessionRepository

__all__ = ["rm", "sessions", "show"]

_PAGE = 200
_JSON = get_codec("json")


def _read_session(store: Store, session_id: str) -> Session:
    session = store.repo.read_session(session_id)
    if session is None:
        raise CliError(f"unknown session {session_id!r} on {store.where}")
    return session


# -- sessions ----------------------------------------------------------------------------------


@click.command()
@click.option(
    "--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Show at most N sessions."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--prune", is_flag=True, help="First drop index entries of sessions that expired.")
@url_option
def sessions(limit: int, as_json: bool, prune: bool, url: str | None) -> None:
    """List sessions, most recently updated first.

    Reads the repository's sessions index (no keyspace scan) and shows each session's
    created and updated time, its agents and their message counts. Expiry removes a
    session's keys but not its index entry; --prune drops such entries.

    \b
    Example:
      kvsession sessions --limit 5
      kvsession sessions --prune
    """  # noqa: D301 - click needs the \b (backspace) marker to keep examples unwrapped
    with open_store(url) as store:
        if prune:
            pruned = store.repo.prune_sessions()
            err_console().print(f"pruned {pruned} expired session(s) from the index", style="dim")
        total = store.repo.count_sessions()
        found: list[SessionSummary] = []
        more = False
        for session in iter_sessions(store.repo):
            if len(found) == limit:
                more = True
                break
            found.append(summarize(store.repo, session))
    if as_json:
        write_json(found)
        return
    table = new_table("SESSION", "UPDATED", "CREATED", "AGENTS", "MESSAGES", numeric=("AGENTS", "MESSAGES"))
    for summary in found:
        table.add_row(
            summary.session_id,
            human_time(summary.updated_at),
            human_time(summary.created_at),
            str(len(summary.agents)),
            _message_counts(summary),
        )
    console = out_console()
    if found:
        print_table(table)
    if more:
        console.print(f"first {len(found)} session(s); --limit {total} to see all", style="dim")
    else:
        console.print(f"{len(found)} session(s)", style="dim")


def _message_counts(summary: SessionSummary) -> str:
    if len(summary.agents) <= 1:
        return str(summary.messages)
    detail = ", ".join(f"{agent_id} {count}" for agent_id, count in summary.agents.items())
    return f"{summary.messages} ({detail})"


# -- show --------------------------------------------------------------------------------------


@click.command()
@click.argument("session_id", metavar="SESSION")
@click.option("--agent", "agent_id", metavar="AGENT", help="Only this agent's messages.")
@click.option("--json", "as_json", is_flag=True, help="Print the stored records as JSON (bytes base64).")
@click.option("--raw", is_flag=True, help="List every key the session owns, with type, size and ttl.")
@url_option
def show(session_id: str, agent_id: str | None, as_json: bool, raw: bool, url: str | None) -> None:
    """Show a session as a readable transcript.

    Roles, text, tool calls and results; binary content is summarised by type and size
    (``[image png 200.0 KB]``); redacted messages are marked. --raw lists the keys instead.

    \b
    Example:
      kvsession show user-42
      kvsession show user-42 --agent default --json
      kvsession show user-42 --raw
    """  # noqa: D301 - click needs the \b (backspace) marker to keep examples unwrapped
    with open_store(url) as store:
        session = _read_session(store, session_id)
        layout = session_layout(store.repo, session_id)
        if agent_id is not None and agent_id not in layout.agents:
            known = ", ".join(layout.agents) or "none"
            raise CliError(f"session {session_id!r} has no agent {agent_id!r} (agents: {known})")
        agent_ids = [agent_id] if agent_id is not None else list(layout.agents)
        if raw:
            _show_raw(store, layout, as_json)
        elif as_json:
            _show_json(store.repo, session, agent_ids, layout)
        else:
            _show_transcript(store.repo, session, agent_ids, layout)


def _show_transcript(
    repo: KVSessionRepository, session: Session, agent_ids: list[str], layout: SessionLayout
) -> None:
    console = out_console()
    kind = getattr(session.session_type, "value", session.session_type)
    heading = Text(f"session {session.session_id}", style="bold")
    heading.append(
        f" · {kind} · created {human_time(session.created_at)} · updated {human_time(session.updated_at)}",
        style="dim",
    )
    console.print(heading)
    metadata = metadata_of(session)
    if metadata:
        console.print(Text(f"metadata: {_compact(_JSON.encode(MULTI_AGENT, metadata))}"))
    for agent_id in agent_ids:
        agent = repo.read_agent(session.session_id, agent_id)
        count = repo.count_messages(session.session_id, agent_id)
        console.print()
        console.print(Text(f"agent {agent_id} · {count} message(s)", style="bold"))
        if agent is not None and agent.state:
            console.print(Text(f"  state: {_compact(_JSON.encode(MULTI_AGENT, agent.state))}", style="dim"))
        offset = 0
        while True:
            page = repo.list_messages(session.session_id, agent_id, limit=_PAGE, offset=offset)
            for message in page:
                console.print(render_message(message))
            if len(page) < _PAGE:
                break
            offset += len(page)
    shown_multi = layout.multi_agents if len(agent_ids) == len(layout.agents) else {}
    for multi_id in shown_multi:
        state = repo.read_multi_agent(session.session_id, multi_id) or {}
        console.print()
        console.print(Text(f"multi-agent {multi_id} · state: {_compact(_JSON.encode(MULTI_AGENT, state))}"))


def _compact(encoded: bytes, limit: int = 300) -> str:
    text = encoded.decode()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _show_json(
    repo: KVSessionRepository, session: Session, agent_ids: list[str], layout: SessionLayout
) -> None:
    """Stream one JSON document page by page, so a long session needs little memory."""
    echo = click.echo
    echo('{"session": ' + _JSON.encode(SESSION, session).decode() + ', "agents": [', nl=False)
    for number, agent_id in enumerate(agent_ids):
        agent = repo.read_agent(session.session_id, agent_id)
        agent_json = "null" if agent is None else _JSON.encode(AGENT, agent).decode()
        echo(("," if number else "") + '\n  {"agent": ' + agent_json + ', "messages": [', nl=False)
        offset = 0
        while True:
            page = repo.list_messages(session.session_id, agent_id, limit=_PAGE, offset=offset)
            for position, message in enumerate(page):
                comma = "," if offset or position else ""
                echo(comma + "\n    " + _JSON.encode(MESSAGE, message).decode(), nl=False)
            if len(page) < _PAGE:
                break
            offset += len(page)
        echo("]}", nl=False)
    echo('\n], "multi_agents": {', nl=False)
    for number, multi_id in enumerate(layout.multi_agents):
        state = repo.read_multi_agent(session.session_id, multi_id) or {}
        name = msgspec.json.encode(multi_id).decode()
        echo(("," if number else "") + f"\n  {name}: " + _JSON.encode(MULTI_AGENT, state).decode(), nl=False)
    echo("}}")


def _show_raw(store: Store, layout: SessionLayout, as_json: bool) -> None:
    rows = key_rows(store.repo, layout)
    if as_json:
        write_json(rows)
        return
    table = new_table("KEY", "TYPE", "SIZE", "TTL", numeric=("SIZE", "TTL"))
    for row in rows:
        size = f"{row.size} member(s)" if row.is_index else human_size(row.size)
        table.add_row(row.key, row.type, size, human_ttl(row.ttl))
    console = out_console()
    print_table(table)
    value_bytes = sum(row.size for row in rows if not row.is_index)
    console.print(f"{len(rows)} key(s), {human_size(value_bytes)} in values", style="dim")


# -- rm ----------------------------------------------------------------------------------------


@click.command()
@click.argument("session_ids", nargs=-1, required=True, metavar="SESSION...")
@click.option("--yes", "-y", is_flag=True, help="Delete without asking.")
@url_option
def rm(session_ids: tuple[str, ...], yes: bool, url: str | None) -> None:
    """Delete sessions and every key they own.

    Asks for confirmation unless --yes. A session that does not exist is not an error:
    it is reported and skipped (leftover keys of an expired session are cleaned up).

    \b
    Example:
      kvsession rm user-42 user-43 --yes
    """  # noqa: D301 - click needs the \b (backspace) marker to keep examples unwrapped
    with open_store(url) as store:
        repo = store.repo
        existing = [sid for sid in dict.fromkeys(session_ids) if repo.read_session(sid) is not None]
        for session_id in dict.fromkeys(session_ids):
            if session_id not in existing:
                leftovers = clear_leftovers(repo, session_id)
                extra = f"; removed {leftovers} leftover key(s)" if leftovers else ""
                click.echo(f"session {session_id!r} does not exist; nothing to delete{extra}")
        if not existing:
            return
        if not yes:
            click.confirm(f"Delete {len(existing)} session(s): {', '.join(existing)}?", abort=True, err=True)
        for session_id in existing:
            count = len(repo.session_keys(session_id))
            try:
                repo.delete_session(session_id)
            except NotFoundError:
                click.echo(f"session {session_id!r} was deleted meanwhile; nothing to delete")
                continue
            click.echo(f"deleted session {session_id!r} ({count} keys)")
