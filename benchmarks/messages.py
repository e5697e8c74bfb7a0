"""The benchmarked conversations: realistic Strands message shapes, deterministic from a seed.

A conversation repeats a four-message turn, as a tool-using agent produces it:

1. ``user``: a question of about 200 characters;
2. ``assistant``: a short text plus a ``toolUse`` block with a JSON input;
3. ``user``: the matching ``toolResult`` (a JSON document and a text summary);
4. ``assistant``: the answer, about 300 characters.

With ``image_every=50`` every 50th message also carries a 200 KB image (a ``bytes`` content
block; inside the ``toolResult`` when that message is one), which is what a vision tool or
an uploaded screenshot puts in a session.
"""

from __future__ import annotations

import random
from typing import Any, cast

from strands.types.content import Message
from strands.types.session import SessionMessage

__all__ = ["IMAGE_BYTES", "WORDS", "conversation", "session_messages"]

IMAGE_BYTES = 200_000
"""Size of each image content block."""

WORDS = (
    "order",
    "invoice",
    "shipment",
    "customer",
    "refund",
    "warehouse",
    "parcel",
    "tracking",
    "delivery",
    "address",
    "account",
    "payment",
    "status",
    "update",
    "priority",
    "express",
    "standard",
    "return",
    "label",
    "carrier",
    "region",
    "discount",
    "subscription",
    "renewal",
    "monthly",
    "annual",
    "receipt",
    "balance",
    "credit",
    "support",
    "ticket",
    "escalation",
)


def _sentence(rng: random.Random, length: int) -> str:
    words: list[str] = []
    size = 0
    while size < length:
        word = rng.choice(WORDS)
        words.append(word)
        size += len(word) + 1
    return (" ".join(words)).capitalize()[:length].rstrip() + "."


def _turn(rng: random.Random, turn: int) -> list[dict[str, Any]]:
    tool_use_id = f"tooluse_{turn:06d}_{rng.getrandbits(48):012x}"
    customer = f"cust-{rng.randrange(10**6):06d}"
    return [
        {"role": "user", "content": [{"text": _sentence(rng, 200)}]},
        {
            "role": "assistant",
            "content": [
                {"text": _sentence(rng, 120)},
                {
                    "toolUse": {
                        "toolUseId": tool_use_id,
                        "name": "search_orders",
                        "input": {
                            "customer_id": customer,
                            "status": ["shipped", "pending"],
                            "since": "2025-01-01",
                            "limit": 20,
                            "include_items": True,
                        },
                    }
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "toolResult": {
                        "toolUseId": tool_use_id,
                        "status": "success",
                        "content": [
                            {
                                "json": {
                                    "customer_id": customer,
                                    "orders": [
                                        {
                                            "id": f"ord-{rng.randrange(10**8):08d}",
                                            "total": round(rng.uniform(5, 500), 2),
                                            "status": rng.choice(["shipped", "pending"]),
                                            "items": rng.randrange(1, 6),
                                        }
                                        for _ in range(3)
                                    ],
                                }
                            },
                            {"text": _sentence(rng, 80)},
                        ],
                    }
                }
            ],
        },
        {"role": "assistant", "content": [{"text": _sentence(rng, 300)}]},
    ]


def _add_image(message: dict[str, Any], image: bytes) -> None:
    block = {"image": {"format": "png", "source": {"bytes": image}}}
    first = message["content"][0]
    if "toolResult" in first:
        first["toolResult"]["content"].append(block)
    else:
        message["content"].append(block)


def conversation(count: int, *, image_every: int | None = None, seed: int = 7) -> list[Message]:
    """Return ``count`` Strands messages, a well-formed tool-using conversation.

    Args:
        count: Number of messages.
        image_every: Attach a 200 KB image to every message whose index is a multiple of it.
        seed: Makes the texts, ids and image bytes reproducible.

    Returns:
        New message dicts (the caller may hand them to an ``Agent``, which may modify them).
    """
    rng = random.Random(seed)
    messages: list[dict[str, Any]] = []
    turn = 0
    while len(messages) < count:
        messages.extend(_turn(rng, turn))
        turn += 1
    del messages[count:]
    if image_every:
        for index in range(0, count, image_every):
            _add_image(messages[index], rng.randbytes(IMAGE_BYTES))
    return cast(list[Message], messages)


def session_messages(count: int, *, image_every: int | None = None, seed: int = 7) -> list[SessionMessage]:
    """Return the conversation as Strands ``SessionMessage`` records (``SessionMessage.from_message``)."""
    return [
        SessionMessage.from_message(message, index)
        for index, message in enumerate(conversation(count, image_every=image_every, seed=seed))
    ]
