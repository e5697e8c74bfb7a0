"""The records behind ``tests/fixtures/stored_v0_1_0.json``: built the same way every time.

The fixture holds the bytes kvsession 0.1.0 stored for exactly these records, with each codec
(captured before the kv / orm / strands redesign). ``tests/strands/test_stored_bytes.py`` reads
them back with today's code and checks it gets these objects, and writes these objects and checks
it stores the same bytes.
"""

from __future__ import annotations

from typing import Any

from strands.types.session import SessionAgent, SessionMessage, SessionType

from kvsession import Session

SESSION_ID = "compat-session"
AGENT_IDS = ("assistant", "reviewer")
MULTI_AGENT_ID = "swarm-1"
CREATED = "2026-01-02T03:04:05.678901+00:00"
UPDATED = "2026-01-02T04:05:06.789012+00:00"
IMAGE = bytes(range(256)) * 3


def session() -> Session:
    return Session(
        session_id=SESSION_ID,
        session_type=SessionType.AGENT,
        created_at=CREATED,
        updated_at=UPDATED,
        metadata={"user": "Zoë", "tier": 3, "avatar": b"\x00\xffpng", "tags": ["a", "b"], "ratio": 0.25},
    )


def agents() -> list[SessionAgent]:
    return [
        SessionAgent(
            agent_id=agent_id,
            state={"counter": i, "blob": IMAGE[: 10 + i], "nested": {"ok": True, "none": None}},
            conversation_manager_state={
                "__name__": "SlidingWindowConversationManager",
                "removed_message_count": i,
            },
            _internal_state={"interrupt_state": {"activated": False}},
            created_at=CREATED,
            updated_at=UPDATED,
        )
        for i, agent_id in enumerate(AGENT_IDS)
    ]


def messages() -> list[SessionMessage]:
    contents: list[dict[str, Any]] = [
        {"role": "user", "content": [{"text": "Hello, 世界 — what's the weather?"}]},
        {
            "role": "assistant",
            "content": [
                {"toolUse": {"toolUseId": "t-1", "name": "weather", "input": {"city": "Paris", "days": 2}}}
            ],
        },
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": "t-1", "status": "success", "content": [{"json": {"t": 21.5}}]}}
            ],
        },
        {"role": "user", "content": [{"image": {"format": "png", "source": {"bytes": IMAGE}}}]},
        {"role": "assistant", "content": [{"text": "Sunny, 21.5 °C."}]},
    ]
    result = [
        SessionMessage(message=content, message_id=i, created_at=CREATED, updated_at=UPDATED)  # type: ignore[arg-type]
        for i, content in enumerate(contents)
    ]
    result.append(
        SessionMessage(
            message={"role": "user", "content": [{"text": "secret"}]},
            message_id=len(result),
            redact_message={"role": "user", "content": [{"text": "[redacted]"}]},
            created_at=CREATED,
            updated_at=UPDATED,
        )
    )
    return result


def multi_agent_state(codec: str = "msgpack") -> dict[str, Any]:
    """The state as stored with ``codec``. JSON keeps what Strands' ``serialize_state()`` gives, its
    bytes as marker dicts (raw bytes there are refused); 0.1.0 stored raw bytes as the same text."""
    blob: Any = b"\x01\x02"
    if codec == "json":
        blob = {"__bytes_encoded__": True, "data": "AQI="}
    return {
        "type": "swarm",
        "status": "completed",
        "node_history": ["a", "b"],
        "context": {"bytes": blob},
    }


def write_records(repo: Any) -> None:
    """Store every record above through ``repo`` (a ``KVSessionRepository``), root last."""
    repo.put_agents(SESSION_ID, agents())
    for agent_id in AGENT_IDS:
        repo.put_messages(SESSION_ID, agent_id, messages())
    repo.put_multi_agent_state(SESSION_ID, MULTI_AGENT_ID, multi_agent_state(repo.codec.name))
    repo.put_session(session())
