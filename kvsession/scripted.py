"""``ScriptedModel``: a deterministic Strands model for tests, examples and demos (no network).

It plays a script of replies, one per model call, and streams each as the ``StreamEvent`` sequence
a real provider sends (``messageStart``, ``contentBlockStart/Delta/Stop`` with text or tool-use
JSON deltas, an optional ``redactContent`` guardrail event, ``messageStop``, ``metadata`` with
usage), so Strands' event loop, tool executor, hooks and session managers run exactly as they do
against a real model.

A step of the script is one of:

- ``str``: a text reply (``stopReason`` ``"end_turn"``);
- :class:`ToolCall`: a reply that calls a tool (``"tool_use"``); Strands runs the tool, then calls
  the model again, which plays the next step (typically the text that follows the tool call);
- :class:`Reply`: text and/or several tool calls, plus optional guardrail redactions;
- a rule, ``Callable[[Messages], str | ToolCall | Reply]``: computed from the conversation the
  model receives, e.g. :func:`recall` lists what the user said in earlier turns, so a restored
  agent visibly "remembers".

Example:
    >>> model = ScriptedModel([ToolCall("get_weather", {"city": "Paris"}), "Sunny in Paris.", recall])
    >>> agent = Agent(model=model, tools=[get_weather], session_manager=sm)
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel
from strands.models.model import Model
from strands.types.content import ContentBlock, Messages, SystemContentBlock
from strands.types.event_loop import StopReason
from strands.types.streaming import StreamEvent
from strands.types.tools import ToolChoice, ToolSpec
from typing_extensions import TypedDict, Unpack

if TYPE_CHECKING:
    from strands.agent.agent_metadata import AgentMetadata

__all__ = [
    "ModelCall",
    "Reply",
    "Rule",
    "ScriptExhaustedError",
    "ScriptedModel",
    "ScriptedModelConfig",
    "Step",
    "ToolCall",
    "recall",
    "tool_result_texts",
    "user_texts",
]

_OutputT = TypeVar("_OutputT", bound=BaseModel)

# Words with their trailing whitespace, so the deltas concatenate back to the exact text.
_TEXT_PIECES = re.compile(r"\s*\S+\s*|\s+")


@dataclass(frozen=True)
class ToolCall:
    """A tool call the model makes.

    Attributes:
        name: Name of the tool (as registered with the agent).
        input: The tool's input; streamed as JSON, so it must be JSON-serialisable.
        tool_use_id: Id of the call; by default derived from the conversation length, which is
            deterministic and unique within one conversation (also across restores).
    """

    name: str
    input: Mapping[str, Any] = field(default_factory=dict)
    tool_use_id: str | None = None


@dataclass(frozen=True)
class Reply:
    """A full model reply.

    Attributes:
        text: Text of the reply (streamed before any tool call); empty for none.
        tool_calls: Tool calls of the reply; ``stopReason`` is ``"tool_use"`` when there are any.
        redact_user: Guardrail: replace the user's latest input with this text. Strands rewrites
            ``agent.messages[-1]`` and calls the session manager's ``redact_latest_message``.
        redact_assistant: Guardrail: replace this reply's content with this text.
        stop_reason: Overrides the ``stopReason`` derived from the content.
    """

    text: str = ""
    tool_calls: Sequence[ToolCall] = ()
    redact_user: str | None = None
    redact_assistant: str | None = None
    stop_reason: StopReason | None = None


Rule = Callable[[Messages], str | ToolCall | Reply]
"""Computes a reply from the messages the model receives."""

Step = str | ToolCall | Reply | Rule
"""One entry of a script: the reply to one model call, or a rule computing it."""


@dataclass(frozen=True)
class ModelCall:
    """What the model received on one call (deep copies, safe to keep).

    Attributes:
        messages: The conversation as sent to the model.
        system_prompt: The system prompt, if any.
        tool_names: Names of the tools offered to the model.
    """

    messages: Messages
    system_prompt: str | None
    tool_names: tuple[str, ...]


class ScriptExhaustedError(RuntimeError):
    """The model was called more often than its script has steps, and it has no fallback rule."""


class ScriptedModelConfig(TypedDict, total=False):
    """Configuration of :class:`ScriptedModel`.

    Attributes:
        model_id: Name reported for the model.
        context_window_limit: Context window in tokens (set so Strands need not guess one).
    """

    model_id: str
    context_window_limit: int | None


class ScriptedModel(Model):
    """A deterministic ``strands.models.Model`` that plays a script of replies.

    Args:
        script: The replies, one per model call, in order (see the module docstring).
        fallback: Rule answering every call once the script is used up; without one such a call
            raises :class:`ScriptExhaustedError`.
        **config: :class:`ScriptedModelConfig` values.

    Attributes:
        calls: One :class:`ModelCall` per call so far, in order.
    """

    def __init__(
        self,
        script: Iterable[Step] = (),
        *,
        fallback: Rule | None = None,
        **config: Unpack[ScriptedModelConfig],
    ) -> None:
        self._script: list[Step] = list(script)
        self._fallback = fallback
        self._position = 0
        self._lock = threading.Lock()
        self.config: ScriptedModelConfig = {"model_id": "scripted", "context_window_limit": 128_000}
        self.config.update(config)
        self.calls: list[ModelCall] = []

    @property
    def remaining(self) -> int:
        """How many scripted steps have not been played yet."""
        return len(self._script) - self._position

    def update_config(self, **model_config: Unpack[ScriptedModelConfig]) -> None:  # type: ignore[override]
        """Update the configuration.

        Args:
            **model_config: :class:`ScriptedModelConfig` values.
        """
        self.config.update(model_config)

    def get_config(self) -> ScriptedModelConfig:
        """Return the configuration.

        Returns:
            The model's configuration.
        """
        return self.config

    def next_reply(self, messages: Messages) -> Reply:
        """Take the next step of the script (or the fallback rule) and resolve it to a :class:`Reply`.

        Args:
            messages: The conversation the step is computed from, when it is a rule.

        Returns:
            The reply for this call.

        Raises:
            ScriptExhaustedError: The script is used up and there is no fallback rule.
        """
        with self._lock:
            if self._position < len(self._script):
                step: Step = self._script[self._position]
                self._position += 1
            elif self._fallback is not None:
                step = self._fallback
            else:
                raise ScriptExhaustedError(
                    f"calls=<{len(self.calls)}>, steps=<{len(self._script)}> | the script has no step left"
                )
        if callable(step):
            step = step(messages)
        if isinstance(step, str):
            return Reply(text=step)
        if isinstance(step, ToolCall):
            return Reply(tool_calls=(step,))
        return step

    async def stream(
        self,
        messages: Messages,
        tool_specs: list[ToolSpec] | None = None,
        system_prompt: str | None = None,
        *,
        tool_choice: ToolChoice | None = None,
        system_prompt_content: list[SystemContentBlock] | None = None,
        invocation_state: dict[str, Any] | None = None,
        cancel_signal: threading.Event | None = None,
        agent_metadata: AgentMetadata | None = None,
        structured_output_model: type[BaseModel] | None = None,
        **kwargs: Any,
    ) -> AsyncGenerator[StreamEvent, None]:
        """Stream the next scripted reply as Strands ``StreamEvent`` chunks.

        Args:
            messages: The conversation so far.
            tool_specs: Tools offered to the model (recorded, not enforced).
            system_prompt: System prompt (recorded).
            tool_choice: Ignored; the script decides.
            system_prompt_content: Ignored.
            invocation_state: Ignored.
            cancel_signal: Ignored; Strands checks it between chunks.
            agent_metadata: Ignored.
            structured_output_model: Ignored.
            **kwargs: Ignored.

        Yields:
            ``messageStart``, one ``contentBlockStart/Delta/Stop`` group per text or tool call,
            ``redactContent`` when the reply redacts, ``messageStop``, ``metadata``.

        Raises:
            ScriptExhaustedError: The script is used up and there is no fallback rule.
        """
        snapshot = copy.deepcopy(messages)
        self.calls.append(
            ModelCall(
                messages=snapshot,
                system_prompt=system_prompt,
                tool_names=tuple(spec["name"] for spec in tool_specs or ()),
            )
        )
        reply = self.next_reply(snapshot)
        for event in _reply_events(reply, conversation_length=len(messages), input_tokens=_count(messages)):
            yield event

    async def structured_output(
        self, output_model: type[_OutputT], prompt: Messages, system_prompt: str | None = None, **kwargs: Any
    ) -> AsyncGenerator[dict[str, _OutputT | Any], None]:
        """Validate the next scripted reply's text, a JSON object, as ``output_model``.

        Args:
            output_model: The pydantic model to produce.
            prompt: The conversation so far.
            system_prompt: System prompt (recorded).
            **kwargs: Ignored.

        Yields:
            One event, ``{"output": <output_model instance>}``.

        Raises:
            ScriptExhaustedError: The script is used up and there is no fallback rule.
            pydantic.ValidationError: The reply's text does not validate.
        """
        snapshot = copy.deepcopy(prompt)
        self.calls.append(ModelCall(messages=snapshot, system_prompt=system_prompt, tool_names=()))
        reply = self.next_reply(snapshot)
        yield {"output": output_model.model_validate_json(reply.text)}


def _reply_events(reply: Reply, *, conversation_length: int, input_tokens: int) -> list[StreamEvent]:
    """Build the stream of one reply, shaped as Bedrock's ConverseStream (Strands' reference)."""
    events: list[StreamEvent] = [{"messageStart": {"role": "assistant"}}]
    index = 0
    output_tokens = 0
    if reply.text:
        events.append({"contentBlockStart": {"contentBlockIndex": index, "start": {}}})
        for piece in _TEXT_PIECES.findall(reply.text):
            events.append({"contentBlockDelta": {"contentBlockIndex": index, "delta": {"text": piece}}})
            output_tokens += 1
        events.append({"contentBlockStop": {"contentBlockIndex": index}})
        index += 1
    for number, call in enumerate(reply.tool_calls):
        tool_use_id = call.tool_use_id or f"tooluse-{conversation_length}-{number}"
        arguments = json.dumps(dict(call.input), separators=(",", ":"))
        events.append(
            {
                "contentBlockStart": {
                    "contentBlockIndex": index,
                    "start": {"toolUse": {"toolUseId": tool_use_id, "name": call.name}},
                }
            }
        )
        # Two fragments, as real providers split tool input: Strands must join them before parsing.
        middle = len(arguments) // 2
        for fragment in (arguments[:middle], arguments[middle:]):
            events.append(
                {"contentBlockDelta": {"contentBlockIndex": index, "delta": {"toolUse": {"input": fragment}}}}
            )
        events.append({"contentBlockStop": {"contentBlockIndex": index}})
        output_tokens += 1 + len(arguments) // 4
        index += 1
    if reply.redact_user is not None or reply.redact_assistant is not None:
        events.append(
            {
                "redactContent": {
                    "redactUserContentMessage": reply.redact_user,
                    "redactAssistantContentMessage": reply.redact_assistant,
                }
            }
        )
    stop_reason: StopReason = reply.stop_reason or ("tool_use" if reply.tool_calls else "end_turn")
    events.append({"messageStop": {"stopReason": stop_reason}})
    events.append(
        {
            "metadata": {
                "usage": {
                    "inputTokens": input_tokens,
                    "outputTokens": output_tokens,
                    "totalTokens": input_tokens + output_tokens,
                },
                "metrics": {"latencyMs": 0},
            }
        }
    )
    return events


def _count(messages: Messages) -> int:
    """Count input tokens deterministically: words of text blocks, one per other block."""
    return sum(
        len(block["text"].split()) if "text" in block else 1
        for message in messages
        for block in message["content"]
    )


def _texts(content: Iterable[ContentBlock]) -> list[str]:
    return [block["text"] for block in content if "text" in block]


def user_texts(messages: Messages) -> list[str]:
    """Return the text the user typed, one entry per user message, oldest first.

    Messages that only carry tool results are not the user speaking and are skipped.

    Args:
        messages: A conversation.

    Returns:
        The user's texts (blocks of one message joined with a space).
    """
    return [
        " ".join(texts)
        for message in messages
        if message["role"] == "user" and (texts := _texts(message["content"]))
    ]


def tool_result_texts(messages: Messages) -> list[str]:
    """Return the text of every tool result in the conversation, oldest first.

    Args:
        messages: A conversation.

    Returns:
        The texts inside ``toolResult`` blocks (JSON results rendered as JSON).
    """
    found: list[str] = []
    for message in messages:
        for block in message["content"]:
            if "toolResult" in block:
                for item in block["toolResult"]["content"]:
                    if "text" in item:
                        found.append(item["text"])
                    elif "json" in item:
                        found.append(json.dumps(item["json"], sort_keys=True))
    return found


def recall(messages: Messages) -> str:
    """Answer with what the user said before the latest message (a :data:`Rule`).

    Args:
        messages: The conversation the model received.

    Returns:
        ``"Earlier you said: 1) ...; 2) ..."``, or a line saying there is nothing earlier.
    """
    earlier = user_texts(messages)[:-1]
    if not earlier:
        return "I don't remember anything before this message."
    return "Earlier you said: " + "; ".join(f"{n}) {text}" for n, text in enumerate(earlier, 1))
