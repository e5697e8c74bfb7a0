"""Render stored messages as a readable transcript (``kvsession show``).

Text is shown as is; tool calls and results on one line each; binary content (images,
documents, video, audio, redacted reasoning) is summarised by type and size, e.g.
``[image png 200.0 KB]``; a redacted message is marked and shows what the agent now sees.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import msgspec
from rich.text import Text

from kvsession.cli.output import human_size, human_time
from kvsession.strands.records import SessionMessage

__all__ = ["describe_block", "render_message"]

_INLINE_LIMIT = 300
"""Longest tool input / result / state shown inline before it is cut with an ellipsis."""

_ROLE_STYLES = {"user": "bold cyan", "assistant": "bold green"}


def render_message(message: SessionMessage) -> Text:
    """Return one message as a heading line plus one indented line per content block."""
    shown = message.redact_message if message.redact_message is not None else message.message
    role = str(shown.get("role", "?"))
    text = Text()
    text.append(f"#{message.message_id:<4} ", style="dim")
    text.append(f"{role:<9}", style=_ROLE_STYLES.get(role, "bold"))
    text.append(f" {human_time(message.created_at)}", style="dim")
    if message.redact_message is not None:
        original = len(message.message.get("content", []))
        text.append(f"  [redacted: original withheld, {original} block(s); --json shows it]", style="yellow")
    for block in shown.get("content", []):
        for line in describe_block(block):
            text.append("\n      ")
            text.append(line)
    return text


def describe_block(block: Mapping[str, Any]) -> Iterator[str]:
    """Yield the lines that describe one content block."""
    if not isinstance(block, Mapping):
        yield _inline(block)
        return
    if "text" in block:
        yield from str(block["text"]).splitlines() or [""]
    elif "toolUse" in block:
        use = block["toolUse"]
        yield f"→ tool call {use.get('name', '?')} [{use.get('toolUseId', '?')}] {_inline(use.get('input'))}"
    elif "toolResult" in block:
        result = block["toolResult"]
        status = result.get("status", "?")
        parts = [" ".join(describe_block(item)) for item in result.get("content", [])]
        yield f"← tool result [{result.get('toolUseId', '?')}] {status}: {_cut(' | '.join(parts))}"
    elif "reasoningContent" in block:
        reasoning = block["reasoningContent"]
        if "reasoningText" in reasoning:
            yield f"[reasoning] {_cut(str(reasoning['reasoningText'].get('text', '')))}"
        if "redactedContent" in reasoning:
            yield f"[reasoning redacted {_size_of(reasoning['redactedContent'])}]"
    elif "guardContent" in block:
        guarded = block["guardContent"]
        inner = guarded.get("text", {}).get("text") if isinstance(guarded.get("text"), Mapping) else None
        yield f"[guard content] {_cut(str(inner))}" if inner is not None else "[guard content]"
    elif "citationsContent" in block:
        cited = block["citationsContent"]
        texts = [str(part.get("text", "")) for part in cited.get("content", []) if isinstance(part, Mapping)]
        yield f"{' '.join(texts)} [{len(cited.get('citations', []))} citation(s)]"
    elif "cachePoint" in block:
        yield "[cache point]"
    else:
        yield from _media_or_unknown(block)


def _media_or_unknown(block: Mapping[str, Any]) -> Iterator[str]:
    for kind in ("image", "document", "video", "audio"):
        if kind in block:
            yield _media(kind, block[kind])
            return
    if "json" in block:
        yield _inline(block["json"])
        return
    yield f"[{', '.join(str(name) for name in block) or 'empty block'}]"


def _media(kind: str, content: Any) -> str:
    if not isinstance(content, Mapping):
        return f"[{kind}]"
    words = [kind, str(content.get("format", "?"))]
    if content.get("name"):
        words.append(repr(str(content["name"])))
    source = content.get("source", {})
    if isinstance(source, Mapping) and "bytes" in source:
        words.append(_size_of(source["bytes"]))
    elif isinstance(source, Mapping) and "location" in source:
        location = source["location"]
        words.append(str(location.get("uri", location)) if isinstance(location, Mapping) else str(location))
    return f"[{' '.join(words)}]"


def _size_of(value: Any) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return human_size(len(value))
    return "?"


def _inline(value: Any) -> str:
    try:
        encoded = msgspec.json.encode(value).decode()
    except (TypeError, msgspec.EncodeError):
        encoded = repr(value)
    return _cut(encoded)


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _INLINE_LIMIT else text[: _INLINE_LIMIT - 1] + "…"
