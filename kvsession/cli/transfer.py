"""``kvsession export`` and ``import``: sessions to and from a JSON-lines file, losslessly.

File format (one JSON object per line, written and read line by line)::

    {"kind":"header","format":"kvsession-export","version":1}
    {"kind":"session","session_id":"s1","record":{...}}
    {"kind":"agent","session_id":"s1","agent_id":"default","record":{...}}
    {"kind":"message","session_id":"s1","agent_id":"default","record":{...}}
    {"kind":"multi_agent","session_id":"s1","multi_agent_id":"graph","record":{...}}

``record`` is the record exactly as kvsession's JSON codec stores it: Strands' field names, and
every ``bytes`` value (images, documents ...) as Strands' marker
``{"__bytes_encoded__": true, "data": "<base64>"}``. A session's lines follow its ``session``
line. Export pages through each agent's messages and import writes them in bounded batches, so
both run in constant memory whatever the number of messages.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import click
import msgspec

from kvsession.cli.connection import open_store, url_option
from kvsession.cli.layout import all_session_ids
from kvsession.cli.loader import SessionWriter
from kvsession.cli.output import CliError, note, progress
from kvsession.codecs import get_codec
from kvsession.errors import CodecError, InvalidIdError
from kvsession.records import Session
from kvsession.repository import KVSessionRepository

__all__ = ["export", "import_"]

FORMAT = "kvsession-export"
VERSION = 1
_PAGE = 500
_JSON = get_codec("json")


class Header(msgspec.Struct, tag_field="kind", tag="header"):
    """First line: what the file is."""

    format: str
    version: int


class SessionLine(msgspec.Struct, tag_field="kind", tag="session"):
    """A session record; the lines after it belong to this session."""

    session_id: str
    record: msgspec.Raw


class AgentLine(msgspec.Struct, tag_field="kind", tag="agent"):
    """An agent record."""

    session_id: str
    agent_id: str
    record: msgspec.Raw


class MessageLine(msgspec.Struct, tag_field="kind", tag="message"):
    """A message record."""

    session_id: str
    agent_id: str
    record: msgspec.Raw


class MultiAgentLine(msgspec.Struct, tag_field="kind", tag="multi_agent"):
    """A multi-agent state."""

    session_id: str
    multi_agent_id: str
    record: msgspec.Raw


Line = Header | SessionLine | AgentLine | MessageLine | MultiAgentLine

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Line)


# -- export ------------------------------------------------------------------------------------


@click.command()
@click.argument("session_ids", nargs=-1, metavar="[SESSION]...")
@click.option("--all", "all_sessions", is_flag=True, help="Export every session.")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="File to write (- for stdout).",
)
@url_option
def export(session_ids: tuple[str, ...], all_sessions: bool, output: Path, url: str | None) -> None:
    """Export sessions to a JSON-lines file (bytes included, nothing lost).

    The file is written under a temporary name and renamed when complete.

    \b
    Example:
      kvsession export user-42 user-43 -o backup.jsonl
      kvsession export --all -o backup.jsonl
    """  # noqa: D301 - click needs the \b (backspace) marker to keep examples unwrapped
    if all_sessions == bool(session_ids):
        raise CliError("name the sessions to export, or pass --all (not both)")
    with open_store(url) as store:
        repo = store.repo
        if all_sessions:
            ids = all_session_ids(repo)
        else:
            ids = list(dict.fromkeys(session_ids))
            for session_id in ids:
                if repo.read_session(session_id) is None:
                    raise CliError(f"unknown session {session_id!r} on {store.where}")
        total = sum(repo.count_messages(sid, aid) for sid in ids for aid in repo.list_agents(sid))
        counts = [0, 0, 0]
        with _output_file(output) as stream, progress(total, "exporting") as bar:
            stream.write(_encoder.encode(Header(format=FORMAT, version=VERSION)) + b"\n")
            for session_id in ids:
                bar.describe(session_id)
                written = _export_session(repo, session_id, stream, bar.advance)
                counts = [a + b for a, b in zip(counts, written, strict=True)]
    where = "stdout" if str(output) == "-" else str(output)
    note(f"exported {counts[0]} session(s), {counts[1]} agent(s), {counts[2]} message(s) to {where}")


def _export_session(
    repo: KVSessionRepository, session_id: str, stream: IO[bytes], advance: Callable[[float], None]
) -> list[int]:
    """Write one session's lines; return ``[sessions, agents, messages]`` written."""
    session = repo.read_session(session_id)
    if session is None:  # deleted or expired since it was listed
        return [0, 0, 0]
    write = stream.write
    write(_line(SessionLine(session_id, msgspec.Raw(_JSON.encode_session(session)))))
    agents = messages = 0
    for agent_id in repo.list_agents(session_id):
        agent = repo.read_agent(session_id, agent_id)
        if agent is None:
            continue
        write(_line(AgentLine(session_id, agent_id, msgspec.Raw(_JSON.encode_agent(agent)))))
        agents += 1
        offset = 0
        while True:
            page = repo.list_messages(session_id, agent_id, limit=_PAGE, offset=offset)
            for message in page:
                write(_line(MessageLine(session_id, agent_id, msgspec.Raw(_JSON.encode_message(message)))))
            messages += len(page)
            advance(len(page))
            if len(page) < _PAGE:
                break
            offset += len(page)
    for multi_id in repo.list_multi_agents(session_id):
        state = repo.read_multi_agent(session_id, multi_id)
        if state is not None:
            write(_line(MultiAgentLine(session_id, multi_id, msgspec.Raw(_JSON.encode_state(state)))))
    return [1, agents, messages]


def _line(line: Line) -> bytes:
    return _encoder.encode(line) + b"\n"


@contextmanager
def _output_file(path: Path) -> Iterator[IO[bytes]]:
    """Yield a binary stream: stdout for ``-``, else a temporary file renamed into place on success."""
    if str(path) == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        with open(tmp, "wb") as stream:
            yield stream
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


# -- import ------------------------------------------------------------------------------------


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--replace", is_flag=True, help="Overwrite sessions that already exist (default: skip them).")
@url_option
def import_(file: Path, replace: bool, url: str | None) -> None:
    """Import sessions from a file written by `kvsession export`.

    A session that already exists is skipped with a message, unless --replace, which deletes
    it first. Each session appears only once all its records are written, so an interrupted
    import leaves no partial session behind: run it again. A file given by name is checked
    completely before anything is written.

    \b
    Example:
      kvsession import backup.jsonl
      kvsession import backup.jsonl --replace
    """  # noqa: D301 - click needs the \b (backspace) marker to keep examples unwrapped
    from_stdin = str(file) == "-"
    if not from_stdin:
        _validate(file)
    with open_store(url) as store:
        size = None if from_stdin else file.stat().st_size
        stream = sys.stdin.buffer if from_stdin else open(file, "rb")  # noqa: SIM115 - closed below
        try:
            with progress(size, "importing") as bar:
                imported, skipped, agents, messages = _import_lines(
                    store.repo, _numbered(stream, str(file), bar.advance), replace
                )
        finally:
            if not from_stdin:
                stream.close()
    summary = f"imported {imported} session(s), {agents} agent(s), {messages} message(s)"
    if skipped:
        summary += f"; skipped {len(skipped)} existing session(s) (--replace to overwrite)"
    note(summary)


def _numbered(stream: IO[bytes], name: str, advance: Callable[[float], None]) -> Iterator[tuple[str, Line]]:
    """Yield ``(where, line)`` for each non-blank line, ``where`` being ``FILE:NUMBER``."""
    for number, raw in enumerate(stream, start=1):
        advance(len(raw))
        if not raw.strip():
            continue
        where = f"{name}:{number}"
        try:
            line = _decoder.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise CliError(f"{where}: not a kvsession export line ({exc})") from None
        if number == 1 and not (isinstance(line, Header) and line.format == FORMAT):
            raise CliError(f"{where}: not a kvsession export (the first line must be its header)")
        if isinstance(line, Header) and line.version != VERSION:
            raise CliError(
                f"{where}: export format version {line.version} is not supported (expected {VERSION})"
            )
        yield where, line


class _Structure:
    """Checks the grouping: records follow their session line, messages follow their agent line."""

    def __init__(self) -> None:
        self.session: str | None = None
        self.agents: set[str] = set()

    def check(self, where: str, line: Line) -> None:
        """Raise ``CliError`` naming ``where`` if ``line`` is out of place."""
        if isinstance(line, Header):
            return
        if isinstance(line, SessionLine):
            self.session, self.agents = line.session_id, set()
            return
        if line.session_id != self.session:
            raise CliError(f"{where}: {_kind(line)} of session {line.session_id!r} outside its session")
        if isinstance(line, AgentLine):
            self.agents.add(line.agent_id)
        elif isinstance(line, MessageLine) and line.agent_id not in self.agents:
            raise CliError(f"{where}: message of agent {line.agent_id!r} before that agent's line")


def _validate(file: Path) -> None:
    """Check the file's structure (not its records) before anything is written."""
    structure = _Structure()
    with open(file, "rb") as stream:
        for where, line in _numbered(stream, str(file), lambda _: None):
            structure.check(where, line)


def _import_lines(
    repo: KVSessionRepository, lines: Iterator[tuple[str, Line]], replace: bool
) -> tuple[int, list[str], int, int]:
    """Load sessions line by line; return (imported, skipped ids, agents, messages)."""
    writer: SessionWriter | None = None
    skipping: str | None = None
    imported = agents = messages = 0
    skipped: list[str] = []

    def finish() -> None:
        nonlocal imported, agents, messages
        if writer is not None:
            writer.finish()
            imported += 1
            agents += writer.agents
            messages += writer.messages

    structure = _Structure()
    for where, line in lines:
        structure.check(where, line)
        try:
            if isinstance(line, Header):
                continue
            if isinstance(line, SessionLine):
                finish()
                writer, skipping = _start(repo, line, replace)
                if skipping is not None:
                    skipped.append(skipping)
                    note(f"session {skipping!r} exists; skipped (--replace to overwrite)")
                continue
            if writer is None:  # the lines of a skipped session
                continue
            record = bytes(line.record)
            if isinstance(line, AgentLine):
                writer.add_agent(_JSON.decode_agent(record, key=where))
            elif isinstance(line, MessageLine):
                message = _JSON.decode_message(record, key=where)
                writer.add_message(line.agent_id, message, size_hint=len(record))
            else:
                writer.add_multi_agent(line.multi_agent_id, _JSON.decode_state(record, key=where))
        except CodecError as exc:
            # The line number says where; drop the codec's own "key=<...> | " label.
            raise CliError(f"{where}: {str(exc).removeprefix(f'key=<{exc.key}> | ')}") from None
        except InvalidIdError as exc:
            raise CliError(f"{where}: {exc}") from None
    finish()
    return imported, skipped, agents, messages


def _kind(line: Line) -> str:
    kind: str = line.__struct_config__.tag  # type: ignore[assignment]
    return kind


def _start(
    repo: KVSessionRepository, line: SessionLine, replace: bool
) -> tuple[SessionWriter | None, str | None]:
    """Begin a session; return ``(writer, None)``, or ``(None, session_id)`` when it is skipped."""
    session: Session = _JSON.decode_session(bytes(line.record), key=line.session_id)
    if session.session_id != line.session_id:
        raise CodecError(f"record of session {session.session_id!r} on the line of {line.session_id!r}")
    writer = SessionWriter(repo, session)
    if writer.begin("replace" if replace else "skip"):
        return writer, None
    return None, session.session_id
