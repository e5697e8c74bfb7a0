"""Restores across processes on the real Valkey server: nothing but Valkey is shared.

Each step runs ``agent_process.py`` with ``sys.executable`` in a fresh interpreter, so a pass
cannot come from anything cached in Python memory.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import kvsession
from kvsession.strands.repository import KVSessionRepository

SCRIPT = Path(__file__).with_name("agent_process.py")


def _run(scenario: str, url: str, session_id: str, *, expect_exit: int = 0) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), scenario, url, session_id],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == expect_exit, completed.stderr
    report: dict[str, Any] = json.loads(completed.stdout) if completed.stdout else {}
    return report


def _as_sent(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"role": message["role"], "content": message["content"]} for message in messages]


@pytest.mark.parametrize("codec", ["json", "msgpack"])
def test_second_process_recalls_the_first_ones_conversation(valkey_url: str, codec: str) -> None:
    url = f"{valkey_url}?codec={codec}"
    first = _run("first", url, "user-42")
    assert first["reply"] == "Done. Remembered: favourite colour: teal."
    assert first["state"] == {"facts": ["favourite colour: teal"]}
    assert [message["role"] for message in first["messages"]] == ["user", "assistant", "user", "assistant"]

    # The second process uses the reference's ValkeySessionManager over a decode_responses=True
    # client with the default (json) codec: msgpack written by the first process must still read.
    second = _run("resume", url, "user-42")
    assert second["restored"] == first["messages"]
    assert second["restored_state"] == {"facts": ["favourite colour: teal"]}
    assert second["seen"] == [
        *_as_sent(first["messages"]),
        {"role": "user", "content": [{"text": "What did I tell you before?"}]},
    ]
    assert second["reply"] == "Earlier you said: 1) My favourite colour is teal. Please remember it."
    assert len(second["stored"]) == 6
    assert second["stored"][:4] == first["messages"]

    # This process, a third reader, sees the same six records in order.
    repository = KVSessionRepository(kvsession.connect(valkey_url))
    assert [record.message_id for record in repository.list_messages("user-42", "assistant")] == list(
        range(6)
    )
    assert repository.list_agents("user-42") == ["assistant"]


def test_graph_resumes_in_a_new_process_after_the_worker_died(valkey_url: str) -> None:
    _run("graph-crash", valkey_url, "job-7", expect_exit=17)
    state = KVSessionRepository(kvsession.connect(valkey_url)).read_multi_agent("job-7", "default_graph")
    assert state is not None
    assert state["completed_nodes"] == ["research"]
    assert state["next_nodes_to_execute"] == ["write"]

    resumed = _run("graph-resume", valkey_url, "job-7")
    assert resumed["status"] == "completed"
    assert resumed["execution_order"] == ["research", "write"]
    assert resumed["research_calls"] == 0  # research's result came from Valkey, not a new model call
    assert resumed["write_calls"] == 1
    assert "Facts: Valkey is a BSD-licensed key-value store." in resumed["note"]
    assert "Write a note about Valkey." in resumed["note"]
