"""``kvsession recode`` (online, idempotent, conditional) and ``kvsession stats``."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

import kvsession
from kvsession.admin.conditional import compare_and_set
from kvsession.kv.memory import MemoryBackend
from kvsession.kv.protocol import KeyValueBackend
from kvsession.orm import sniff_format
from kvsession.strands.repository import KVSessionRepository
from tests.cli.helpers import Cli, seed_chat, seed_demo, snapshot


def formats(repo: KVSessionRepository) -> dict[str, int]:
    counts = {"json": 0, "msgpack": 0}
    for session_id, _ in repo.list_sessions():
        values = repo.backend.get_many(repo.session_keys(session_id))
        for value in values:
            if value is not None:
                counts[sniff_format(value)] += 1
    return counts


def test_recode_both_ways_is_lossless_and_idempotent(cli: Cli, repo: KVSessionRepository) -> None:
    seed_demo(repo)
    seed_chat(repo, "chat", {"a": 2, "b": 1})
    repo.put_multi_agent_state("chat", "graph", {"blob": {"__bytes_encoded__": True, "data": "AAE="}})
    before = snapshot(repo)
    values = sum(formats(repo).values())

    dry = cli("recode", "--codec", "msgpack", "--dry-run")
    assert dry.stdout == f"would recode {values} value(s) to msgpack; 0 already msgpack\n"
    assert formats(repo) == {"json": values, "msgpack": 0}

    first = cli("recode", "--codec", "msgpack")
    assert first.exit_code == 0, first.output
    assert first.stdout == f"recoded {values} value(s) to msgpack; 0 already msgpack\n"
    assert formats(repo) == {"json": 0, "msgpack": values}
    assert snapshot(repo) == before

    again = cli("recode", "--codec", "msgpack")
    assert again.stdout == f"recoded 0 value(s) to msgpack; {values} already msgpack\n"

    back = cli("recode", "--codec", "json")
    assert back.stdout == f"recoded {values} value(s) to json; 0 already json\n"
    assert snapshot(repo) == before


def test_recode_keeps_expiry(valkey_url: str) -> None:
    repo = KVSessionRepository(kvsession.connect(f"{valkey_url}?ttl=3600"))
    seed_chat(repo, "expiring", {"default": 2})
    key = repo.keys.message("expiring", "default", 1)
    ttl_before = repo.backend.ttl(key)
    assert ttl_before is not None

    assert Cli(valkey_url)("recode", "--codec", "msgpack").exit_code == 0

    ttl_after = repo.backend.ttl(key)
    assert ttl_after is not None and ttl_after > ttl_before - 60
    stored = repo.backend.get(key)
    assert stored is not None and sniff_format(stored) == "msgpack"


@pytest.fixture(params=["memory", "fakeredis", "valkey"])
def any_backend(request: pytest.FixtureRequest) -> Iterator[KeyValueBackend]:
    if request.param == "memory":
        backend: KeyValueBackend = MemoryBackend()
    elif request.param == "fakeredis":
        backend = kvsession.connect("fakeredis://")
    else:
        backend = kvsession.connect(str(request.getfixturevalue("valkey_url")))
    yield backend
    backend.close()


def test_conditional_write_never_resurrects_or_overwrites(any_backend: KeyValueBackend) -> None:
    any_backend.set("kept", b"old")
    any_backend.set("deleted", b"old")
    any_backend.set("updated", b"old")
    any_backend.delete_many(["deleted"])  # deleted by someone else after recode read it
    any_backend.set("updated", b"newer")  # rewritten by someone else after recode read it

    done = compare_and_set(
        any_backend,
        [("kept", b"old", b"recoded"), ("deleted", b"old", b"recoded"), ("updated", b"old", b"recoded")],
    )

    assert any_backend.get("kept") == b"recoded"
    assert any_backend.get("deleted") is None
    if isinstance(any_backend, MemoryBackend):
        assert done == 2  # only-if-present without a server: no compare, but no resurrection
    else:
        assert done == 1
        assert any_backend.get("updated") == b"newer"


def test_stats_on_valkey_uses_memory_usage(valkey_url: str) -> None:
    repo = KVSessionRepository(kvsession.connect(valkey_url))
    seed_demo(repo)
    seed_chat(repo, "chat", {"default": 3})
    cli = Cli(valkey_url)
    assert cli("recode", "--codec", "msgpack").exit_code == 0
    seed_chat(repo, "later", {"default": 1})

    result = cli("stats")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    keys = (
        len(repo.session_keys("demo")) + len(repo.session_keys("chat")) + len(repo.session_keys("later")) + 1
    )
    assert lines[0] == f"store     {valkey_url.rsplit('/', 1)[0]}"
    assert lines[1] == "sessions  3"
    assert lines[2] == f"keys      {keys} (records, indexes and the sessions index)"
    assert lines[3].endswith("(Valkey MEMORY USAGE of every key)")
    assert lines[4] == "codecs    json 3 · msgpack 13"
    assert lines[6] == "largest sessions"
    assert lines[8].split()[:3] == ["demo", str(len(repo.session_keys("demo"))), "6"]
    data = json.loads(cli("stats", "--json", "--limit", "1").stdout)
    assert data["memory_source"] == "memory_usage"
    assert data["memory"] > 200 * 1024  # the image alone is 200 KB
    assert [s["session_id"] for s in data["largest"]] == ["demo"]


@pytest.mark.parametrize("store_url", ["fakeredis"], indirect=True)
def test_stats_without_memory_usage_sums_value_sizes(store_url: str) -> None:
    url = store_url
    repo = KVSessionRepository(kvsession.connect(url))
    seed_chat(repo, "chat", {"default": 2})
    sizes = sum(len(v) for v in repo.backend.get_many(repo.session_keys("chat")) if v is not None)

    result = Cli(url)("stats", "--json")

    data = json.loads(result.stdout)
    assert data["memory_source"] == "value_sizes"
    assert data["memory"] == sizes
    assert data["json"] == 4 and data["msgpack"] == 0
    text = Cli(url)("stats").stdout
    assert "(sum of value sizes: this backend has no MEMORY USAGE)" in text
