"""Helpers of the command-line tests: the in-process runner and seed data.

Seed data is written with :class:`KVSessionRepository` directly (create_session /
create_agent / create_message with Strands' ``SessionMessage.from_message``).
"""

from __future__ import annotations

import socket
from typing import Any, cast

from click.testing import CliRunner, Result
from strands.types.content import Message
from strands.types.session import SessionAgent, SessionMessage, SessionType

from kvsession.cli import main
from kvsession.strands.records import Session
from kvsession.strands.repository import KVSessionRepository

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 800
"""A 200 KB 'image' holding every byte value."""

PDF = b"%PDF-1.7\n" + bytes(range(255, -1, -1)) * 40


def message(role: str, *content: dict[str, Any]) -> Message:
    """A Strands message dict."""
    return cast(Message, {"role": role, "content": list(content)})


DEMO_MESSAGES: list[Message] = [
    message(
        "user",
        {"text": "What's the weather in Paris? Here is a photo."},
        {"image": {"format": "png", "source": {"bytes": PNG}}},
    ),
    message("assistant", {"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"city": "Paris"}}}),
    message(
        "user",
        {"toolResult": {"toolUseId": "t1", "status": "success", "content": [{"json": {"temp_c": 18}}]}},
    ),
    message("assistant", {"text": "It is 18 °C and cloudy in Paris."}),
    message(
        "user",
        {"text": "Read this"},
        {"document": {"format": "pdf", "name": "report", "source": {"bytes": PDF}}},
    ),
    message("user", {"text": "my card is 4111 1111 1111 1111"}),
]


def seed_demo(repo: KVSessionRepository, session_id: str = "demo") -> None:
    """A session with one agent: text, an image, a tool call and result, a document, a redaction."""
    repo.create_session(
        Session(session_id=session_id, session_type=SessionType.AGENT, metadata={"user": "ana"})
    )
    repo.create_agent(
        session_id,
        SessionAgent(
            agent_id="default",
            state={"city": "Paris"},
            conversation_manager_state={"removed_message_count": 0},
        ),
    )
    for index, content in enumerate(DEMO_MESSAGES):
        repo.create_message(session_id, "default", SessionMessage.from_message(content, index))
    redacted = repo.read_message(session_id, "default", len(DEMO_MESSAGES) - 1)
    assert redacted is not None
    redacted.redact_message = message("user", {"text": "[User input redacted.]"})
    repo.update_message(session_id, "default", redacted)


def seed_chat(repo: KVSessionRepository, session_id: str, agents: dict[str, int]) -> None:
    """A session whose agents (id -> message count) hold plain alternating text turns."""
    repo.create_session(Session(session_id=session_id, session_type=SessionType.AGENT))
    for agent_id, count in agents.items():
        repo.create_agent(
            session_id, SessionAgent(agent_id=agent_id, state={}, conversation_manager_state={})
        )
        for index in range(count):
            role = "user" if index % 2 == 0 else "assistant"
            repo.create_message(
                session_id,
                agent_id,
                SessionMessage.from_message(message(role, {"text": f"{agent_id} turn {index}"}), index),
            )


def seed_bulk(repo: KVSessionRepository, session_id: str, count: int, *, text_size: int = 200) -> None:
    """One agent with ``count`` messages, written in large batches (fast seeding for volume tests)."""
    repo.create_session(Session(session_id=session_id, session_type=SessionType.AGENT))
    repo.create_agent(session_id, SessionAgent(agent_id="default", state={}, conversation_manager_state={}))
    for start in range(0, count, 1000):
        batch = [
            SessionMessage.from_message(message("user", {"text": f"{index:08d} " + "x" * text_size}), index)
            for index in range(start, min(count, start + 1000))
        ]
        repo.put_messages(session_id, "default", batch)


def snapshot(repo: KVSessionRepository) -> dict[str, Any]:
    """Everything the repository returns for every session: to compare two stores."""
    result: dict[str, Any] = {}
    offset = 0
    while True:
        page = repo.list_sessions(limit=100, offset=offset)
        for session_id, _ in page:
            session = repo.read_session(session_id)
            assert session is not None
            agents = {}
            for agent_id in repo.list_agents(session_id):
                agents[agent_id] = (
                    repo.read_agent(session_id, agent_id),
                    repo.list_messages(session_id, agent_id),
                )
            multi = {
                mid: repo.read_multi_agent(session_id, mid) for mid in repo.list_multi_agents(session_id)
            }
            result[session_id] = (session, agents, multi)
        if len(page) < 100:
            return result
        offset += 100


class Cli:
    """Runs ``kvsession`` in-process through its real entry point (``kvsession.cli:main``).

    Args:
        url: Appended as ``--url URL`` unless the call passes ``url=None``.
    """

    def __init__(self, url: str | None) -> None:
        self.url = url
        self.runner = CliRunner()

    def __call__(self, *args: str, stdin: str | bytes | None = None, url: str | None = "default") -> Result:
        """Run ``kvsession ARGS`` and return its result (exit code, stdout, stderr)."""
        full = list(args)
        chosen = self.url if url == "default" else url
        if chosen is not None:
            full += ["--url", chosen]
        return self.runner.invoke(main, full, input=stdin, catch_exceptions=False)


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
