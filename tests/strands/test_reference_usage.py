"""The usage the reference package documents works with only the import line changed."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from strands import Agent
from strands.types.content import ContentBlock

import kvsession
from kvsession.scripted import ScriptedModel, recall
from kvsession.strands import KVSessionManager, ValkeySessionManager

if TYPE_CHECKING:
    from tests.conftest import BackendHarness


def test_valkey_session_manager_over_a_decode_responses_client(networked_kv: BackendHarness) -> None:
    client = networked_kv.raw_client(decode_responses=True)
    sm = ValkeySessionManager(session_id="user-42", client=client)
    agent = Agent(model=ScriptedModel(["Hi, Ann.", recall]), session_manager=sm, callback_handler=None)
    agent("I'm Ann.")
    agent("Who am I?")

    # No arguments: every message of the session, in order.
    assert [record.message["content"][0]["text"] for record in sm.list_messages()] == [
        "I'm Ann.",
        "Hi, Ann.",
        "Who am I?",
        "Earlier you said: 1) I'm Ann.",
    ]
    assert [record.message_id for record in sm.list_messages(limit=2, offset=1)] == [1, 2]
    assert [record.message_id for record in sm.list_messages("user-42", "default")] == [0, 1, 2, 3]
    # The reference's key layout, readable with any client.
    assert client.exists("session:user-42", "session:user-42:agent:default") == 2
    stored = client.get("session:user-42:agent:default:message:3")
    assert isinstance(stored, str)
    assert json.loads(stored)["message_id"] == 3

    # Another worker, another str-returning client, and the msgpack codec (needs bytes: handled).
    restored_sm = ValkeySessionManager(
        session_id="user-42", client=networked_kv.raw_client(decode_responses=True), codec="msgpack"
    )
    restored = Agent(model=ScriptedModel(["Noted."]), session_manager=restored_sm, callback_handler=None)
    assert restored.messages == agent.messages
    restored("One more.")
    assert [record.message["content"][0]["text"] for record in sm.list_messages()][-2:] == [
        "One more.",
        "Noted.",
    ]


def test_kvsession_manager_from_a_backend_and_from_a_url() -> None:
    manager = KVSessionManager("user-7", backend=kvsession.connect("memory://"))
    agent = Agent(model=ScriptedModel(["Hi!"]), session_manager=manager, callback_handler=None)
    agent("Hello.")
    assert [record.message["content"] for record in manager.list_messages()] == [
        [{"text": "Hello."}],
        [{"text": "Hi!"}],
    ]
    # A second manager over the same backend object resumes the session.
    same_store = KVSessionManager("user-7", backend=manager.backend)
    assert Agent(model=ScriptedModel(), session_manager=same_store, callback_handler=None).messages == (
        agent.messages
    )

    from_url = KVSessionManager.from_url("user-7", "memory://")
    url_agent = Agent(model=ScriptedModel(["Hey."]), session_manager=from_url, callback_handler=None)
    assert url_agent.messages == []  # memory:// is private to its backend: a new, empty store
    url_agent("Hello?")
    assert len(from_url.list_messages()) == 2
    assert len(manager.list_messages()) == 2


def test_manager_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, valkey_url: str) -> None:
    monkeypatch.setenv("KVSESSION_URL", f"{valkey_url}?prefix=app")
    sm = ValkeySessionManager("user-9")
    Agent(model=ScriptedModel(["ok"]), session_manager=sm, callback_handler=None)("hi")
    assert sm.repository.session_keys("user-9")[0].startswith("app:session:user-9")
    assert len(KVSessionManager("user-9", prefix="app", url=valkey_url).list_messages()) == 2


def test_image_bytes_through_a_decode_responses_client_with_msgpack(networked_kv: BackendHarness) -> None:
    image = bytes(range(256)) * 4  # not valid UTF-8: a str-returning connection would mangle it
    sm = ValkeySessionManager(
        session_id="user-5", client=networked_kv.raw_client(decode_responses=True), codec="msgpack"
    )
    agent = Agent(model=ScriptedModel(["A picture."]), session_manager=sm, callback_handler=None)
    prompt: list[ContentBlock] = [{"text": "Look:"}, {"image": {"format": "png", "source": {"bytes": image}}}]
    agent(prompt)

    restored_sm = ValkeySessionManager(
        session_id="user-5", client=networked_kv.raw_client(decode_responses=True)
    )
    restored = Agent(model=ScriptedModel(), session_manager=restored_sm, callback_handler=None)
    assert restored.messages[0]["content"][1]["image"]["source"]["bytes"] == image
    assert restored.messages == agent.messages
