"""SnapshotSessionManager on ValkeyStorage restores in a new process, with only Valkey shared.

Each step runs ``snapshot_process.py`` with ``sys.executable`` in a fresh interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).with_name("snapshot_process.py")
ROOT = Path(__file__).resolve().parents[2]


def _run(scenario: str, url: str, session_id: str) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), scenario, url, session_id],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert completed.returncode == 0, completed.stderr
    report: dict[str, Any] = json.loads(completed.stdout)
    return report


def test_a_new_process_restores_the_agent_and_its_history(valkey_url: str) -> None:
    saved = _run("save", valkey_url, "user-42")
    assert len(saved["ids"]) == 2

    resumed = _run("restore", valkey_url, "user-42")
    assert resumed["restored"] == saved["messages"]
    assert resumed["state"] == "teal"
    assert resumed["reply"] == "Earlier you said: 1) My name is Ada.; 2) I like teal."
    assert resumed["ids"] == saved["ids"]  # the restore wrote latest only: history unchanged
    assert resumed["first_snapshot_users"] == ["My name is Ada."]
