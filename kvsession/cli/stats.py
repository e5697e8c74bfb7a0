"""``kvsession stats``: keys, memory and codec mix, per session and in total.

The numbers come from :class:`kvsession.admin.stats.StatsCollector`: sessions from the sessions
index, keys from each session's owned-keys group, memory from Valkey's ``MEMORY USAGE`` when
the backend offers it (:class:`~kvsession.kv.capabilities.MemoryUsage`), else value sizes.
"""

from __future__ import annotations

import click

from kvsession.admin.layout import all_session_ids
from kvsession.admin.stats import StatsCollector, StoreStats
from kvsession.cli.connection import open_store, url_option
from kvsession.cli.output import human_size, new_table, out_console, print_table, progress, write_json

__all__ = ["stats"]


@click.command()
@click.option(
    "--limit", type=click.IntRange(min=0), default=10, show_default=True, help="Largest sessions listed."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@url_option
def stats(limit: int, as_json: bool, url: str | None) -> None:
    """Show keys, memory and the codec mix, per session and in total.

    Memory is Valkey's MEMORY USAGE of every key when the server supports it and lets this
    user run it on the store's keys, else the sum of value sizes (memory://, fakeredis://, or
    an ACL without memory|usage), as the output says.

    \b
    Example:
      kvsession stats --limit 5
    """  # noqa: D301 - click needs the \b (backspace) marker to keep examples unwrapped
    with open_store(url) as store:
        collector = StatsCollector(store.repo)
        session_ids = all_session_ids(store.repo)
        with progress(len(session_ids), "measuring") as bar:
            result = collector.store(store.where, limit=limit, advance=bar.advance, session_ids=session_ids)
    if as_json:
        write_json(result)
        return
    _print(result, collector.memory_refused)


def _stages(result: StoreStats) -> str:
    """`` · compressed N · encrypted N``, for the stages that some records went through."""
    parts = [
        f" · {name} {count}"
        for name, count in (("compressed", result.compressed), ("encrypted", result.encrypted))
        if count
    ]
    return "".join(parts)


def _print(result: StoreStats, memory_refused: str | None) -> None:
    console = out_console()
    if result.memory_source == "memory_usage":
        source = "Valkey MEMORY USAGE of every key"
    elif memory_refused is not None:
        source = "sum of value sizes: the server refused MEMORY USAGE to this user"
    else:
        source = "sum of value sizes: this backend has no MEMORY USAGE"
    summary = {
        "store": result.store,
        "sessions": str(result.sessions),
        "keys": f"{result.keys} (records, indexes and the sessions index)",
        "memory": f"{human_size(result.memory)} ({source})",
        "codecs": f"json {result.json} · msgpack {result.msgpack}" + _stages(result),
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
