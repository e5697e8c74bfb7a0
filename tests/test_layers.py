"""Each layer imports only what is below it (docs/architecture.md), checked in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

import pytest

FORBIDDEN = {
    "kvsession.kv": {"strands", "valkey", "click", "rich", "cattrs"},
    "kvsession.orm": {"strands", "valkey", "click", "rich"},
    "kvsession.testing": {"strands", "valkey", "click", "rich"},
    "kvsession.strands": {"click", "rich"},
    "kvsession.admin": {"click", "rich"},
    "kvsession.storage": {"click", "rich"},
    "kvsession": {"strands", "valkey", "click", "rich", "cattrs"},
}


@pytest.mark.parametrize("module", sorted(FORBIDDEN))
def test_a_layer_loads_nothing_above_it(module: str) -> None:
    forbidden = sorted(FORBIDDEN[module])
    check = f"import {module}, sys; print(sorted(set({forbidden!r}) & set(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]", f"import {module} loaded {loaded.strip()}"


def test_public_names_load_on_first_use() -> None:
    check = "import kvsession, sys; kvsession.KVSessionManager; print('strands' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "True"
