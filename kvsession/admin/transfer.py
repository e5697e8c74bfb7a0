"""Sessions to and from a JSON-lines file, losslessly (``kvsession export`` and ``import``).

File format (one JSON object per line, written and read line by line)::

    {"kind":"header","format":"kvsession-export","version":1}
    {"kind":"session","session_id":"s1","record":{...}}
    {"kind":"agent","session_id":"s1","agent_id":"default","record":{...}}
    {"kind":"message","session_id":"s1","agent_id":"default","record":{...}}
    {"kind":"multi_agent","session_id":"s1","multi_agent_id":"graph","record":{...}}

``record`` is the record exactly as kvsession's JSON codec stores it: Strands' field names, and
every ``bytes`` value (images, documents ...) as Strands' marker
``{"__bytes_encoded__": true, "data": "<base64>"}``. A session's lines follow its ``session``
line. Export pages through each agent's messages and import writes them in bounded batches
(:class:`~kvsession.admin.loader.SessionWriter`, root last), so both run in constant memory
whatever the number of messages, and an interrupted import leaves no partial session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from strands.types.session import Session

from kvsession.admin.errors import SourceError
from kvsession.admin.loader import SessionWriter
from kvsession.kv.errors import CodecError, InvalidIdError
from kvsession.orm import get_codec
from kvsession.strands.models import AGENT, MESSAGE, MULTI_AGENT, SESSION
from kvsession.strands.repository import KVSessionRepository

__all__ = [
    "FORMAT",
    "VERSION",
    "AgentLine",
    "Header",
    "ImportCounts",
    "Line",
    "MessageLine",
    "MultiAgentLine",
    "SessionLine",
    "TransferCounts",
    "export_session",
    "header_line",
    "import_lines",
    "read_lines",
    "validate_file",
]

FORMAT = "kvsession-export"
"""The ``format`` of the header line."""
VERSION = 1
"""The version of the file format this module writes and reads."""

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
"""Any line of the file."""

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Line)


@dataclass
class TransferCounts:
    """What an export or import moved.

    Attributes:
        sessions: Sessions written.
        agents: Agent records written.
        messages: Message records written.
    """

    sessions: int = 0
    agents: int = 0
    messages: int = 0

    def add(self, other: TransferCounts) -> None:
        """Add ``other``'s counts to these."""
        self.sessions += other.sessions
        self.agents += other.agents
        self.messages += other.messages


@dataclass
class ImportCounts(TransferCounts):
    """What an import did.

    Attributes:
        skipped: Ids of sessions left alone because they exist.
    """

    skipped: list[str] = field(default_factory=list)


# -- export ------------------------------------------------------------------------------------


def header_line() -> bytes:
    """Return the first line of an export file."""
    return _encoder.encode(Header(format=FORMAT, version=VERSION)) + b"\n"


def _line(line: Line) -> bytes:
    return _encoder.encode(line) + b"\n"


def export_session(
    repo: KVSessionRepository,
    session_id: str,
    write: Callable[[bytes], Any],
    advance: Callable[[float], None] = lambda _: None,
) -> TransferCounts:
    """Write one session's lines, a page of messages at a time.

    Args:
        repo: Where the session is read.
        session_id: The session; one deleted or expired meanwhile writes nothing.
        write: Called with each line (bytes ending in a newline).
        advance: Called with the number of messages after each page (for a progress bar).
    """
    counts = TransferCounts()
    session = repo.read_session(session_id)
    if session is None:  # deleted or expired since it was listed
        return counts
    write(_line(SessionLine(session_id, msgspec.Raw(_JSON.encode(SESSION, session)))))
    counts.sessions = 1
    for agent_id in repo.list_agents(session_id):
        agent = repo.read_agent(session_id, agent_id)
        if agent is None:
            continue
        write(_line(AgentLine(session_id, agent_id, msgspec.Raw(_JSON.encode(AGENT, agent)))))
        counts.agents += 1
        offset = 0
        while True:
            page = repo.list_messages(session_id, agent_id, limit=_PAGE, offset=offset)
            for message in page:
                write(_line(MessageLine(session_id, agent_id, msgspec.Raw(_JSON.encode(MESSAGE, message)))))
            counts.messages += len(page)
            advance(len(page))
            if len(page) < _PAGE:
                break
            offset += len(page)
    for multi_id in repo.list_multi_agents(session_id):
        state = repo.read_multi_agent(session_id, multi_id)
        if state is not None:
            write(_line(MultiAgentLine(session_id, multi_id, msgspec.Raw(_JSON.encode(MULTI_AGENT, state)))))
    return counts


# -- import ------------------------------------------------------------------------------------


def read_lines(
    stream: Iterable[bytes], name: str, advance: Callable[[float], None] = lambda _: None
) -> Iterator[tuple[str, Line]]:
    """Yield ``(where, line)`` for each non-blank line, ``where`` being ``NAME:NUMBER``.

    Args:
        stream: The file's raw lines.
        name: The file's name, for ``where``.
        advance: Called with each raw line's length (for a progress bar).

    Raises:
        SourceError: A line is not a line of a kvsession export, naming ``where``.
    """
    for number, raw in enumerate(stream, start=1):
        advance(len(raw))
        if not raw.strip():
            continue
        where = f"{name}:{number}"
        try:
            line = _decoder.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise SourceError(f"{where}: not a kvsession export line ({exc})") from None
        if number == 1 and not (isinstance(line, Header) and line.format == FORMAT):
            raise SourceError(f"{where}: not a kvsession export (the first line must be its header)")
        if isinstance(line, Header) and line.version != VERSION:
            raise SourceError(
                f"{where}: export format version {line.version} is not supported (expected {VERSION})"
            )
        yield where, line


class _Structure:
    """Checks the grouping: records follow their session line, messages follow their agent line."""

    def __init__(self) -> None:
        self.session: str | None = None
        self.agents: set[str] = set()

    def check(self, where: str, line: Line) -> None:
        """Raise ``SourceError`` naming ``where`` if ``line`` is out of place."""
        if isinstance(line, Header):
            return
        if isinstance(line, SessionLine):
            self.session, self.agents = line.session_id, set()
            return
        if line.session_id != self.session:
            raise SourceError(f"{where}: {_kind(line)} of session {line.session_id!r} outside its session")
        if isinstance(line, AgentLine):
            self.agents.add(line.agent_id)
        elif isinstance(line, MessageLine) and line.agent_id not in self.agents:
            raise SourceError(f"{where}: message of agent {line.agent_id!r} before that agent's line")


def _kind(line: Line) -> str:
    kind: str = line.__struct_config__.tag  # type: ignore[assignment]
    return kind


def validate_file(file: Path) -> None:
    """Check a file's structure (not its records), so nothing is written from a malformed file.

    Raises:
        SourceError: The file is not a well-formed export, naming the line.
        OSError: The file cannot be read.
    """
    structure = _Structure()
    with open(file, "rb") as stream:
        for where, line in read_lines(stream, str(file)):
            structure.check(where, line)


def import_lines(
    repo: KVSessionRepository,
    lines: Iterable[tuple[str, Line]],
    *,
    replace: bool = False,
    on_skip: Callable[[str], None] = lambda _: None,
) -> ImportCounts:
    """Load sessions line by line, each root last.

    Args:
        repo: Where to write.
        lines: ``(where, line)`` pairs, as :func:`read_lines` yields them.
        replace: Delete an existing session first (default: skip it).
        on_skip: Called with the id of each existing session that is skipped.

    Raises:
        SourceError: A line is out of place or its record cannot be read, naming the line; the
            sessions before it are imported, the one it belongs to is not visible.
    """
    counts = ImportCounts()
    writer: SessionWriter | None = None

    def finish() -> None:
        if writer is not None:
            writer.finish()
            counts.add(TransferCounts(1, writer.agents, writer.messages))

    structure = _Structure()
    for where, line in lines:
        structure.check(where, line)
        try:
            if isinstance(line, Header):
                continue
            if isinstance(line, SessionLine):
                finish()
                writer = _start(repo, line, replace)
                if writer is None:
                    counts.skipped.append(line.session_id)
                    on_skip(line.session_id)
                continue
            if writer is None:  # the lines of a skipped session
                continue
            record = bytes(line.record)
            if isinstance(line, AgentLine):
                writer.add_agent(_JSON.decode(AGENT, record, key=where))
            elif isinstance(line, MessageLine):
                message = _JSON.decode(MESSAGE, record, key=where)
                writer.add_message(line.agent_id, message, size_hint=len(record))
            else:
                writer.add_multi_agent(line.multi_agent_id, _JSON.decode(MULTI_AGENT, record, key=where))
        except CodecError as exc:
            # The line number says where; drop the codec's own "key=<...> | " label.
            raise SourceError(f"{where}: {str(exc).removeprefix(f'key=<{exc.key}> | ')}") from None
        except InvalidIdError as exc:
            raise SourceError(f"{where}: {exc}") from None
    finish()
    return counts


def _start(repo: KVSessionRepository, line: SessionLine, replace: bool) -> SessionWriter | None:
    """Begin a session; return its writer, or ``None`` when it exists and is skipped."""
    session: Session = _JSON.decode(SESSION, bytes(line.record), key=line.session_id)
    if session.session_id != line.session_id:
        raise CodecError(f"record of session {session.session_id!r} on the line of {line.session_id!r}")
    writer = SessionWriter(repo, session)
    return writer if writer.begin("replace" if replace else "skip") else None
