"""A real ``strands.Agent`` with a ``ScriptedModel``, stored and restored, on every backend.

Each test builds an agent, lets it talk, then builds a *new* agent with a *new* session manager
over another connection to the same data (a second worker) and checks what it restored and what
its model was shown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from strands import Agent, tool
from strands.agent.conversation_manager import SlidingWindowConversationManager
from strands.types.content import ContentBlock, Messages
from strands.types.tools import ToolContext

from kvsession.kv.protocol import KeyValueBackend
from kvsession.scripted import Reply, ScriptedModel, Step, ToolCall, recall, tool_result_texts, user_texts
from kvsession.strands import KVSessionManager

if TYPE_CHECKING:
    from tests.conftest import BackendHarness

Reconnect = Callable[[], KeyValueBackend]


@tool(context=True)
def add_to_cart(item: str, quantity: int, tool_context: ToolContext) -> dict[str, Any]:
    """Put an item in the user's cart (kept in the agent's state).

    Args:
        item: What to add.
        quantity: How many.
        tool_context: Injected by Strands.
    """
    cart: dict[str, int] = dict(tool_context.agent.state.get("cart") or {})
    cart[item] = cart.get(item, 0) + quantity
    tool_context.agent.state.set("cart", cart)
    return {
        "status": "success",
        "content": [{"json": {"cart": cart}}, {"text": f"{quantity} x {item} added"}],
    }


def _agent(
    manager: KVSessionManager, script: list[Step], *, agent_id: str = "shop", **kwargs: Any
) -> tuple[Agent, ScriptedModel]:
    model = ScriptedModel(script)
    agent = Agent(
        model=model,
        tools=[add_to_cart],
        session_manager=manager,
        agent_id=agent_id,
        callback_handler=None,
        **kwargs,
    )
    return agent, model


def _as_sent(messages: Messages) -> list[dict[str, Any]]:
    """Messages as Strands sends them to a model: role and content only."""
    return [{"role": message["role"], "content": message["content"]} for message in messages]


def test_conversation_and_state_restore_in_a_new_worker(kv: BackendHarness, reconnect: Reconnect) -> None:
    manager = KVSessionManager("user-42", backend=kv.backend)
    agent, _ = _agent(
        manager,
        [
            ToolCall("add_to_cart", {"item": "tea", "quantity": 2}),
            lambda messages: f"Done: {tool_result_texts(messages)[-1]}.",
            "Anything else?",
        ],
    )
    agent("Two teas please.")
    agent("That's all for now.")

    restored_manager = KVSessionManager("user-42", backend=reconnect())
    restored, model = _agent(restored_manager, [recall])

    assert restored.messages == agent.messages  # tracking ids and usage metadata included
    assert restored.state.get("cart") == {"tea": 2}
    assert str(restored("What did I ask for?")).strip() == (
        "Earlier you said: 1) Two teas please.; 2) That's all for now."
    )
    # The model was shown the whole earlier conversation, then the new prompt.
    seen = model.calls[0].messages
    assert seen[:-1] == _as_sent(agent.messages)
    assert seen[-1] == {"role": "user", "content": [{"text": "What did I ask for?"}]}
    # Message ids continue where the first worker stopped: nothing overwritten, nothing skipped.
    assert [record.message_id for record in restored_manager.list_messages()] == list(range(8))


def test_tool_use_and_tool_results_survive_restore(kv: BackendHarness, reconnect: Reconnect) -> None:
    manager = KVSessionManager("s-tools", backend=kv.backend)
    agent, _ = _agent(
        manager,
        [
            Reply(
                text="Adding both.",
                tool_calls=(
                    ToolCall("add_to_cart", {"item": "tea", "quantity": 1}, tool_use_id="t-1"),
                    ToolCall("add_to_cart", {"item": "scone", "quantity": 3}, tool_use_id="t-2"),
                ),
            ),
            "Both are in your cart.",
        ],
    )
    agent("A tea and three scones.")
    tool_use_message, tool_result_message = agent.messages[1], agent.messages[2]
    assert [block["toolUse"]["toolUseId"] for block in tool_use_message["content"] if "toolUse" in block] == [
        "t-1",
        "t-2",
    ]

    restored, model = _agent(
        KVSessionManager("s-tools", backend=reconnect()),
        [lambda messages: " | ".join(tool_result_texts(messages))],
    )

    assert restored.messages[1] == tool_use_message
    assert restored.messages[2] == tool_result_message
    results = {
        block["toolResult"]["toolUseId"]: block["toolResult"] for block in restored.messages[2]["content"]
    }
    assert results["t-2"]["status"] == "success"
    assert results["t-2"]["content"][0] == {"json": {"cart": {"tea": 1, "scone": 3}}}
    assert restored.state.get("cart") == {"tea": 1, "scone": 3}
    # The restored agent's model reads the tool results of the earlier turn.
    answer = str(restored("What happened?")).strip()
    assert "3 x scone added" in answer and '{"cart": {"scone": 3, "tea": 1}}' in answer
    assert model.calls[0].tool_names == ("add_to_cart",)


def test_guardrail_redaction_from_the_model_persists(kv: BackendHarness, reconnect: Reconnect) -> None:
    manager = KVSessionManager("s-guard", backend=kv.backend)
    agent, _ = _agent(
        manager,
        [
            Reply(
                text="My card is 4111 1111 1111 1111, right?",
                redact_user="[User input redacted.]",
                redact_assistant="[Assistant output redacted.]",
                stop_reason="guardrail_intervened",
            ),
            "Hello again.",
        ],
    )
    agent("Store my card 4111 1111 1111 1111.")
    agent("Hi.")
    assert agent.messages[0]["content"] == [{"text": "[User input redacted.]"}]
    assert agent.messages[1]["content"] == [{"text": "[Assistant output redacted.]"}]

    reader = KVSessionManager("s-guard", backend=reconnect())
    record = reader.read_message("s-guard", "shop", 0)
    assert record is not None
    assert record.redact_message is not None
    assert record.redact_message["content"] == [{"text": "[User input redacted.]"}]

    restored, model = _agent(reader, [recall])
    assert restored.messages == agent.messages
    restored("What did I say?")
    assert "4111" not in repr(model.calls[0].messages)
    assert model.calls[0].messages[0]["content"] == [{"text": "[User input redacted.]"}]


def test_redact_latest_message_replaces_what_a_restore_sees(kv: BackendHarness, reconnect: Reconnect) -> None:
    manager = KVSessionManager("s-redact", backend=kv.backend)
    agent, _ = _agent(manager, ["Your password is hunter2."])
    agent("Remind me of my password.")
    original = agent.messages[-1]

    manager.redact_latest_message({"role": "assistant", "content": [{"text": "[redacted]"}]}, agent)

    reader = KVSessionManager("s-redact", backend=reconnect())
    record = reader.read_message("s-redact", "shop", 1)
    assert record is not None
    assert record.message == original  # the original stays on record, but is not what a restore shows
    restored, model = _agent(reader, [recall])
    assert restored.messages[-1] == {"role": "assistant", "content": [{"text": "[redacted]"}]}
    restored("Again?")
    assert "hunter2" not in repr(model.calls[0].messages)


def test_sliding_window_restores_the_trimmed_window(kv: BackendHarness, reconnect: Reconnect) -> None:
    manager = KVSessionManager("s-window", backend=kv.backend)
    agent, _ = _agent(
        manager,
        [f"answer {n}" for n in range(4)],
        conversation_manager=SlidingWindowConversationManager(window_size=4),
    )
    for n in range(4):
        agent(f"question {n}")
    assert user_texts(agent.messages) == ["question 2", "question 3"]
    assert agent.conversation_manager.removed_message_count == 4

    window = SlidingWindowConversationManager(window_size=4)
    restored_manager = KVSessionManager("s-window", backend=reconnect())
    restored, model = _agent(restored_manager, [recall], conversation_manager=window)

    assert restored.messages == agent.messages
    assert window.removed_message_count == 4
    assert len(restored_manager.list_messages()) == 8  # the store keeps everything; the window is a view
    assert str(restored("question 4")).strip() == "Earlier you said: 1) question 2; 2) question 3"
    assert user_texts(model.calls[0].messages) == ["question 2", "question 3", "question 4"]
    assert window.removed_message_count == 6

    again, _ = _agent(
        KVSessionManager("s-window", backend=reconnect()),
        [],
        conversation_manager=SlidingWindowConversationManager(window_size=4),
    )
    assert again.messages == restored.messages
    assert [record.message_id for record in restored_manager.list_messages()] == list(range(10))


def test_two_agents_in_one_session_restore_their_own_history(
    kv: BackendHarness, reconnect: Reconnect
) -> None:
    manager = KVSessionManager("s-team", backend=kv.backend)
    planner, _ = _agent(manager, ["Plan: one step."], agent_id="planner")
    writer, _ = _agent(manager, ["Draft: done."], agent_id="writer")
    planner("Plan the launch.")
    writer("Write the announcement.")

    restored_manager = KVSessionManager("s-team", backend=reconnect())
    planner_again, planner_model = _agent(restored_manager, [recall], agent_id="planner")
    writer_again, _ = _agent(restored_manager, [], agent_id="writer")

    assert planner_again.messages == planner.messages
    assert writer_again.messages == writer.messages
    planner_again("And?")
    assert user_texts(planner_model.calls[0].messages) == ["Plan the launch.", "And?"]
    assert restored_manager.repository.list_agents("s-team") == ["planner", "writer"]
    # No arguments: the whole session, both agents, in the order it was written.
    assert [record.message["content"][0] for record in restored_manager.list_messages()] == [
        {"text": "Plan the launch."},
        {"text": "Plan: one step."},
        {"text": "Write the announcement."},
        {"text": "Draft: done."},
        {"text": "And?"},
        {"text": "Earlier you said: 1) Plan the launch."},
    ]
    assert [record.message["content"][0] for record in restored_manager.list_messages(agent_id="writer")] == [
        {"text": "Write the announcement."},
        {"text": "Draft: done."},
    ]


# Every byte value, plus sequences that mean something to the JSON codec or to MessagePack.
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) + b'{"__bytes_encoded__": true, "data": "AA=="}'
PDF = b"%PDF-1.7\n" + bytes(range(255, -1, -1)) + b"\x00\xc1\xdf\xde\x80\xff"


@pytest.mark.parametrize("codec", ["json", "msgpack"])
def test_images_and_documents_survive_byte_for_byte(
    kv: BackendHarness, reconnect: Reconnect, codec: str
) -> None:
    manager = KVSessionManager("s-files", backend=kv.backend, codec=codec)
    agent, _ = _agent(manager, ["A chart and a report."])
    prompt: list[ContentBlock] = [
        {"text": "What are these?"},
        {"image": {"format": "png", "source": {"bytes": PNG}}},
        {"document": {"format": "pdf", "name": "report", "source": {"bytes": PDF}}},
    ]
    agent(prompt)

    raw = kv.backend.get(manager.repository.keys.message("s-files", "shop", 0))
    assert raw is not None
    if codec == "msgpack":
        assert raw[0] in range(0x80, 0x90) or raw[0] in (0xDE, 0xDF)
        assert PNG in raw and PDF in raw  # MessagePack stores bytes raw
    else:
        assert raw.startswith(b"{") and b"__bytes_encoded__" in raw

    # Restore with the *other* codec configured: reading sniffs the stored format.
    other = "json" if codec == "msgpack" else "msgpack"
    restored, model = _agent(KVSessionManager("s-files", backend=reconnect(), codec=other), ["Seen."])
    content = restored.messages[0]["content"]
    image_bytes = content[1]["image"]["source"]["bytes"]
    document_bytes = content[2]["document"]["source"]["bytes"]
    assert type(image_bytes) is bytes and image_bytes == PNG
    assert type(document_bytes) is bytes and document_bytes == PDF
    assert restored.messages == agent.messages
    restored("And now?")
    assert model.calls[0].messages[0]["content"] == prompt


def test_session_metadata_is_kept_and_updatable(kv: BackendHarness, reconnect: Reconnect) -> None:
    manager = KVSessionManager("s-meta", backend=kv.backend, metadata={"user": "u-42", "plan": "free"})
    agent, _ = _agent(manager, ["ok"])
    agent("hi")
    manager.update_metadata({**manager.metadata, "plan": "pro"})

    reader = KVSessionManager("s-meta", backend=reconnect(), metadata={"ignored": True})
    assert reader.metadata == {"user": "u-42", "plan": "pro"}
