"""``kvsession stats``: keys, memory and codec mix, per session and in total.

Sessions come from the sessions index and keys from each session's owned-keys set, so the
numbers cover what kvsession stores, found without scanning the keyspace. Memory is Valkey's
``MEMORY USAGE`` per key when the backend offers it (see :mod:`kvsession.cli.capabilities`);
otherwise the sum of value sizes, and the output says which.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import click
import msgspec

from kvsession.cli.capabilities import memory_usage_of
from kvsession.cli.connection import open_store, url_option
from kvsession.cli.layout import all_session_ids, session_layout
from kvsession.cli.output import human_size, new_table, out_console, print_table, progress, write_json
from kvsession.codecs import sniff_format
from kvsession.errors import CodecError
from kvsession.repository import KVSessionRepository

__all__ = ["SessionStats", "StoreStats", "stats"]

_PAGE = 500

MemoryOf = Callable[[Sequence[str]], list[int | None]]


class SessionStats(msgspec.Struct, kw_only=True):
    """Numbers of one session.

    Attributes:
        session_id: The session.
        keys: Keys it owns (records and indexes).
        messages: Message records.
        memory: Bytes (server memory, or value sizes; see ``StoreStats.memory_source``).
        json: Records stored as JSON.
        msgpack: Records stored as MessagePack.
    """

    session_id: str
    keys: int = 0
    messages: int = 0
    memory: int = 0
    json: int = 0
    msgpack: int = 0


class StoreStats(msgspec.Struct, kw_only=True):
    """Totals of the store.

    Attributes:
        store: Where (URL without credentials).
        sessions: Sessions in the sessions index.
        keys: Keys of all sessions, plus the sessions index itself.
        memory: Total bytes.
        memory_source: ``memory_usage`` (Valkey ``MEMORY USAGE``) or ``value_sizes``.
        json: Records stored as JSON.
        msgpack: Records stored as MessagePack.
        largest: The largest sessions by memory.
    """

    store: str
    sessions: int
    keys: int
    memory: int
    memory_source: str
    json: int
    msgpack: int
    largest: list[SessionStats]


def _session_stats(repo: KVSessionRepository, session_id: str, memory_of: MemoryOf | None) -> SessionStats:
    keys = repo.session_keys(session_id)
    layout = session_layout(repo, session_id)
    result = SessionStats(session_id=session_id, keys=len(keys))
    value_keys = [key for key in keys if layout.kind(key) not in ("index", "set")]
    result.messages = sum(1 for key in value_keys if layout.kind(key) == "message")
    for start in range(0, len(value_keys), _PAGE):
        for data in repo.backend.get_many(value_keys[start : start + _PAGE]):
            if data is None:
                continue
            if memory_of is None:
                result.memory += len(data)
            try:
                fmt = sniff_format(data)
            except CodecError:
                continue
            if fmt == "json":
                result.json += 1
            else:
                result.msgpack += 1
    if memory_of is not None:
        for start in range(0, len(keys), _PAGE):
            result.memory += sum(size or 0 for size in memory_of(keys[start : start + _PAGE]))
    return result


@click.command()
@click.option(
    "--limit", type=click.IntRange(min=0), default=10, show_default=True, help="Largest sessions listed."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@url_option
def stats(limit: int, as_json: bool, url: str | None) -> None:
    """Show keys, memory and the codec mix, per session and in total.

    Memory is Valkey's MEMORY USAGE of every key when the server supports it, else the sum
    of value sizes (memory://, fakeredis://), as the output says.

    \b
    Example:
      kvsession stats --limit 5
    """  # noqa: D301 - click needs the \b (backspace) marker to keep examples unwrapped
    with open_store(url) as store:
        repo = store.repo
        memory_of = memory_usage_of(store.backend)
        index = repo.keys.sessions_index()
        session_ids = all_session_ids(repo)
        count = len(session_ids)
        per_session: list[SessionStats] = []
        with progress(count, "measuring") as bar:
            for session_id in session_ids:
                found = _session_stats(repo, session_id, memory_of)
                if found.keys:  # an index entry of an expired session has no keys left
                    per_session.append(found)
                bar.advance(1)
        index_memory = (memory_of([index])[0] or 0) if memory_of is not None and count else 0
        result = StoreStats(
            store=store.where,
            sessions=len(per_session),
            keys=sum(s.keys for s in per_session) + (1 if count else 0),
            memory=sum(s.memory for s in per_session) + index_memory,
            memory_source="memory_usage" if memory_of is not None else "value_sizes",
            json=sum(s.json for s in per_session),
            msgpack=sum(s.msgpack for s in per_session),
            largest=sorted(per_session, key=lambda s: (-s.memory, s.session_id))[:limit],
        )
    if as_json:
        write_json(result)
        return
    _print(result)


def _print(result: StoreStats) -> None:
    console = out_console()
    source = (
        "Valkey MEMORY USAGE of every key"
        if result.memory_source == "memory_usage"
        else "sum of value sizes: this backend has no MEMORY USAGE"
    )
    summary = {
        "store": result.store,
        "sessions": str(result.sessions),
        "keys": f"{result.keys} (records, indexes and the sessions index)",
        "memory": f"{human_size(result.memory)} ({source})",
        "codecs": f"json {result.json} · msgpack {result.msgpack}",
    }
    for name, value in summary.items():
        console.print(f"{name:<9} {value}")
    if not result.largest:
        return
    numbers = ("KEYS", "MESSAGES", "MEMORY", "JSON", "MSGPACK")
    table = new_table("SESSION", *numbers, numeric=numbers, title="largest sessions")
    for s in result.largest:
        table.add_row(
            s.session_id, str(s.keys), str(s.messages), human_size(s.memory), str(s.json), str(s.msgpack)
        )
    console.print()
    print_table(table)
