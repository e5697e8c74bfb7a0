"""Records written by Strands' own FileSessionManager decode with our JSON codec, unchanged.

The files are written by a real ``FileSessionManager`` through its repository methods, then read
back from disk as bytes, exactly as a migration tool would copy them into Valkey.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import given, settings
from strands.session.file_session_manager import FileSessionManager
from strands.types.session import Session as StrandsSession
from strands.types.session import SessionAgent, SessionMessage, SessionType

from kvsession.orm import FORMATS as CODECS
from kvsession.orm import get_codec
from kvsession.strands.models import AGENT, MESSAGE, SESSION
from tests.strategies import assert_identical, session_agents, session_messages

ALL = [get_codec(name) for name in CODECS]
IMAGE = bytes(range(256)) * 40


def _paths(root: Path, session_id: str, agent_id: str) -> tuple[Path, Path, Path]:
    session_dir = root / f"session_{session_id}"
    agent_dir = session_dir / "agents" / f"agent_{agent_id}"
    return session_dir / "session.json", agent_dir / "agent.json", agent_dir / "messages"


def _conversation() -> list[SessionMessage]:
    return [
        SessionMessage(
            message={
                "role": "user",
                "content": [
                    {"text": "Was ist auf dem Bild? 🖼️"},
                    {"image": {"format": "png", "source": {"bytes": IMAGE}}},
                    {
                        "document": {
                            "format": "pdf",
                            "name": "report",
                            "source": {"bytes": b"%PDF-1.7\x00\xff"},
                        }
                    },
                ],
                "tracking_id": "6f1c0a9e-3b1e-4a57-9a57-0c1f0d1e2f3a",
            },
            message_id=0,
        ),
        SessionMessage(
            message={
                "role": "assistant",
                "content": [
                    {"toolUse": {"toolUseId": "t1", "name": "ocr", "input": {"page": 1, "raw": b"\x00\x01"}}},
                ],
                "metadata": {"usage": {"inputTokens": 10, "outputTokens": 2, "totalTokens": 12}},
            },
            message_id=1,
        ),
        SessionMessage(
            message={
                "role": "user",
                "content": [
                    {
                        "toolResult": {
                            "toolUseId": "t1",
                            "status": "success",
                            "content": [
                                {"json": {"lines": ["a", "b"], "thumb": b"\xff\xd8"}},
                                {"image": {"format": "jpeg", "source": {"bytes": b"\xff\xd8\xff"}}},
                            ],
                        }
                    }
                ],
            },
            message_id=2,
            redact_message={"role": "user", "content": [{"text": "[redacted]"}]},
        ),
    ]


def test_file_session_manager_records_decode_with_the_json_codec(tmp_path: Path) -> None:
    manager = FileSessionManager(session_id="fsm-session", storage_dir=str(tmp_path))
    session = StrandsSession(session_id="fsm-import", session_type=SessionType.AGENT)
    agent = SessionAgent(
        agent_id="fsm-agent",
        state={"avatar": b"\x89PNG\r\n", "prefs": {"lang": "de"}},
        conversation_manager_state={
            "__name__": "SlidingWindowConversationManager",
            "removed_message_count": 0,
        },
        _internal_state={"interrupt_state": {"interrupts": {}, "context": {}, "activated": False}},
    )
    manager.create_session(session)
    manager.create_agent(session.session_id, agent)
    conversation = _conversation()
    for message in conversation:
        manager.create_message(session.session_id, agent.agent_id, message)

    session_file, agent_file, messages_dir = _paths(tmp_path, session.session_id, agent.agent_id)
    for codec in ALL:  # every codec object reads JSON, whatever it writes
        decoded_session = codec.decode(SESSION, session_file.read_bytes(), key=str(session_file))
        assert_identical(decoded_session, session)  # a plain Strands Session, as it was stored
        assert_identical(codec.decode(AGENT, agent_file.read_bytes(), key=str(agent_file)), agent)
        files = [messages_dir / f"message_{m.message_id}.json" for m in conversation]
        decoded = codec.decode_many(MESSAGE, [f.read_bytes() for f in files], keys=[str(f) for f in files])
        assert_identical(decoded, conversation)


def test_the_json_codec_writes_what_file_session_manager_reads(tmp_path: Path) -> None:
    manager = FileSessionManager(session_id="fsm-session", storage_dir=str(tmp_path))
    manager.create_session(StrandsSession(session_id="ours", session_type=SessionType.AGENT))
    agent = SessionAgent(agent_id="a1", state={"k": b"\x00"}, conversation_manager_state={})
    manager.create_agent("ours", agent)
    _, agent_file, messages_dir = _paths(tmp_path, "ours", "a1")
    codec = get_codec("json")
    agent_file.write_bytes(codec.encode(AGENT, agent))
    conversation = _conversation()
    for message in conversation:
        (messages_dir / f"message_{message.message_id}.json").write_bytes(codec.encode(MESSAGE, message))
    assert_identical(manager.read_agent("ours", "a1"), agent)
    assert_identical(manager.list_messages("ours", "a1"), conversation)


@settings(max_examples=40, deadline=None)
@given(session_messages(), session_agents())
def test_anything_file_session_manager_writes_decodes_identically(
    message: SessionMessage, agent: SessionAgent
) -> None:
    with tempfile.TemporaryDirectory() as root:
        manager = FileSessionManager(session_id="owner", storage_dir=root)
        manager.create_session(StrandsSession(session_id="prop", session_type=SessionType.AGENT))
        manager.create_agent("prop", agent)
        manager.create_message("prop", agent.agent_id, message)
        _, agent_file, messages_dir = _paths(Path(root), "prop", agent.agent_id)
        message_file = messages_dir / f"message_{message.message_id}.json"
        assert os.path.exists(message_file)
        for codec in ALL:
            assert_identical(codec.decode(MESSAGE, message_file.read_bytes(), key="m"), message)
            assert_identical(codec.decode(AGENT, agent_file.read_bytes(), key="a"), agent)
