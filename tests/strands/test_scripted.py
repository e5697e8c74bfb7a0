"""``ScriptedModel`` streams what a real provider streams, and Strands' event loop accepts it."""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import BaseModel
from strands import Agent, tool
from strands.types.content import Messages
from strands.types.streaming import StreamEvent

from kvsession.scripted import (
    Reply,
    ScriptedModel,
    ScriptExhaustedError,
    ToolCall,
    recall,
    tool_result_texts,
    user_texts,
)


def _events(model: ScriptedModel, messages: Messages) -> list[StreamEvent]:
    async def collect() -> list[StreamEvent]:
        return [event async for event in model.stream(messages)]

    return asyncio.run(collect())


HELLO: Messages = [{"role": "user", "content": [{"text": "hello there"}]}]


def test_text_reply_is_a_bedrock_shaped_stream() -> None:
    events = _events(ScriptedModel(["Hi, how are you?"]), HELLO)

    assert events[0] == {"messageStart": {"role": "assistant"}}
    assert events[1] == {"contentBlockStart": {"contentBlockIndex": 0, "start": {}}}
    deltas = [event["contentBlockDelta"]["delta"]["text"] for event in events if "contentBlockDelta" in event]
    assert len(deltas) == 4 and "".join(deltas) == "Hi, how are you?"
    assert {"contentBlockStop": {"contentBlockIndex": 0}} in events
    assert events[-2] == {"messageStop": {"stopReason": "end_turn"}}
    assert events[-1]["metadata"]["usage"] == {"inputTokens": 2, "outputTokens": 4, "totalTokens": 6}


def test_tool_call_streams_its_input_as_json_fragments() -> None:
    events = _events(ScriptedModel([ToolCall("lookup", {"city": "Paris", "days": 2})]), HELLO)

    start = events[1]["contentBlockStart"]["start"]
    assert start == {"toolUse": {"toolUseId": "tooluse-1-0", "name": "lookup"}}
    fragments = [
        event["contentBlockDelta"]["delta"]["toolUse"]["input"]
        for event in events
        if "contentBlockDelta" in event
    ]
    assert len(fragments) == 2
    assert json.loads("".join(fragments)) == {"city": "Paris", "days": 2}
    assert events[-2] == {"messageStop": {"stopReason": "tool_use"}}


def test_reply_with_redaction_emits_the_guardrail_event_before_message_stop() -> None:
    reply = Reply(text="no", redact_user="[gone]", stop_reason="guardrail_intervened")
    events = _events(ScriptedModel([reply]), HELLO)

    assert events[-3] == {
        "redactContent": {"redactUserContentMessage": "[gone]", "redactAssistantContentMessage": None}
    }
    assert events[-2] == {"messageStop": {"stopReason": "guardrail_intervened"}}


def test_script_then_fallback_then_exhaustion() -> None:
    model = ScriptedModel(["one"], fallback=lambda messages: f"seen {len(messages)}")
    assert model.remaining == 1
    assert model.next_reply(HELLO) == Reply(text="one")
    assert model.next_reply(HELLO) == Reply(text="seen 1")
    assert model.remaining == 0

    with pytest.raises(ScriptExhaustedError):
        ScriptedModel().next_reply(HELLO)


def test_rules_read_the_conversation() -> None:
    messages: Messages = [
        {"role": "user", "content": [{"text": "I like tea."}]},
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t", "name": "f", "input": {}}}]},
        {
            "role": "user",
            "content": [
                {
                    "toolResult": {
                        "toolUseId": "t",
                        "status": "success",
                        "content": [{"text": "ok"}, {"json": [1]}],
                    }
                }
            ],
        },
        {"role": "assistant", "content": [{"text": "Noted."}]},
        {"role": "user", "content": [{"text": "What do I like?"}]},
    ]
    assert user_texts(messages) == ["I like tea.", "What do I like?"]
    assert tool_result_texts(messages) == ["ok", "[1]"]
    assert recall(messages) == "Earlier you said: 1) I like tea."
    assert recall(messages[-1:]) == "I don't remember anything before this message."


class Weather(BaseModel):
    city: str
    celsius: int


def test_agent_runs_tools_and_structured_output_with_the_scripted_model() -> None:
    @tool
    def double(number: int) -> int:
        """Double a number.

        Args:
            number: The number.
        """
        return number * 2

    model = ScriptedModel(
        [
            ToolCall("double", {"number": 21}),
            lambda messages: f"It is {tool_result_texts(messages)[-1]}.",
            '{"city": "Oslo", "celsius": -3}',
        ]
    )
    agent = Agent(model=model, tools=[double], callback_handler=None)
    assert str(agent("Double 21.")).strip() == "It is 42."
    assert model.calls[0].tool_names == ("double",)
    assert model.calls[1].messages[-1]["content"][0]["toolResult"]["content"] == [{"text": "42"}]

    weather = asyncio.run(_structured(model))
    assert weather == Weather(city="Oslo", celsius=-3)


async def _structured(model: ScriptedModel) -> Weather:
    async for event in model.structured_output(Weather, HELLO):
        output = event["output"]
        assert isinstance(output, Weather)
        return output
    raise AssertionError("no output")
