"""Data stored by kvsession 0.1.0 (before the kv / orm / strands layers) reads back unchanged,
and today's code writes exactly the same bytes, keys and index entries.

``tests/fixtures/stored_v0_1_0.json`` was captured from the 0.1.0 code writing the records of
``tests/compat_records.py`` with each codec.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from kvsession.kv.protocol import IndexAddOp, KeyValueBackend, SetAddOp, SetOp, WriteOp
from kvsession.orm import FORMATS
from kvsession.strands.models import SESSION
from kvsession.strands.records import metadata_of
from kvsession.strands.repository import KVSessionRepository
from tests import compat_records as compat
from tests.conftest import BackendHarness

FIXTURE = json.loads((Path(__file__).parent.parent / "fixtures" / "stored_v0_1_0.json").read_text())
SESSIONS_INDEX = "sessions"  # its score is the time of capture; compared apart


def _load(backend: KeyValueBackend, dump: dict[str, Any]) -> None:
    ops: list[WriteOp] = []
    for key, entry in dump.items():
        if "value" in entry:
            ops.append(SetOp(key, base64.b64decode(entry["value"])))
        elif "index" in entry:
            ops.append(IndexAddOp(key, tuple((member, float(score)) for member, score in entry["index"])))
        else:
            ops.append(SetAddOp(key, tuple(entry["set"])))
    backend.apply(ops)


def _dump(backend: KeyValueBackend, keys: list[str], like: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in keys:
        if "value" in like[key]:
            value = backend.get(key)
            out[key] = {"value": None if value is None else base64.b64encode(value).decode()}
        elif "index" in like[key]:
            out[key] = {"index": sorted([m, s] for m, s in backend.index_range_with_scores(key))}
        else:
            out[key] = {"set": sorted(backend.set_members(key))}
    return out


@pytest.mark.parametrize("codec", FORMATS)
def test_records_stored_by_0_1_0_read_back_identical(kv: BackendHarness, codec: str) -> None:
    _load(kv.backend, FIXTURE[codec])
    repo = KVSessionRepository(kv.backend)
    root = repo.keys.session(compat.SESSION_ID)
    raw_root = kv.backend.get(root)
    assert raw_root is not None
    assert repo.codec.decode(SESSION, raw_root, key=root) == compat.session()
    session = repo.read_session(compat.SESSION_ID)
    assert session is not None and metadata_of(session) == compat.session().metadata
    for agent in compat.agents():
        assert repo.read_agent(compat.SESSION_ID, agent.agent_id) == agent
        assert repo.list_messages(compat.SESSION_ID, agent.agent_id) == compat.messages()
    assert repo.read_multi_agent(compat.SESSION_ID, compat.MULTI_AGENT_ID) == compat.multi_agent_state(codec)
    [(session_id, updated)] = repo.list_sessions()
    assert session_id == compat.SESSION_ID
    assert updated == pytest.approx(FIXTURE[codec][SESSIONS_INDEX]["index"][0][1])


@pytest.mark.parametrize("codec", FORMATS)
def test_todays_code_writes_the_bytes_0_1_0_wrote(kv: BackendHarness, codec: str) -> None:
    expected = FIXTURE[codec]
    compat.write_records(KVSessionRepository(kv.backend, codec=codec))
    keys = sorted(key for key in expected if key != SESSIONS_INDEX)
    assert _dump(kv.backend, keys, expected) == {key: expected[key] for key in keys}
    [(session_id, _)] = kv.backend.index_range_with_scores(SESSIONS_INDEX)
    assert session_id == compat.SESSION_ID
