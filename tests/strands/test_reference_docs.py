"""The reference package's documented loops over ``list_messages()`` run verbatim on kvsession.

Its docs read the messages of a session two ways, in a process other than the one that wrote
them. Both run here against the real Valkey server, in two fresh interpreters: the first holds
a conversation (with a tool call), the second runs the documented loops with only the import
line changed, and prints what they print.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from strands.types.session import SessionAgent, SessionMessage

import kvsession
from kvsession.strands import KVSessionManager
from kvsession.strands.records import ListedMessage

CONVERSE = """
import sys
import valkey
from strands import Agent, tool
from kvsession import ValkeySessionManager
from kvsession.scripted import ScriptedModel, ToolCall

@tool
def weather(city: str) -> str:
    \"\"\"Weather in a city.\"\"\"
    return f"18C in {city}"

client = valkey.Valkey(host="127.0.0.1", port=int(sys.argv[1]))
session_manager = ValkeySessionManager(session_id="docs-42", client=client)
model = ScriptedModel([ToolCall("weather", {"city": "Paris"}), "It is 18C in Paris, " + "sunny " * 20])
agent = Agent(model=model, tools=[weather], session_manager=session_manager, callback_handler=None)
agent("What's the weather in Paris?")
"""

# The two loops as the reference documents them; only the import line is kvsession's.
READ_BACK = """
import sys
import valkey
from kvsession import ValkeySessionManager

client = valkey.Valkey(host="127.0.0.1", port=int(sys.argv[1]))
session_manager = ValkeySessionManager(session_id="docs-42", client=client)
sm = session_manager

for msg in session_manager.list_messages():
    print(f"[{msg['role']}] {str(msg['content'])[:80]}")

for msg in sm.list_messages():
    text_blocks = [b["text"] for b in msg.content if "text" in b]
    print(f" [{msg.role:9}] {text_blocks[0][:80] if text_blocks else '[tool use/result]'}")
"""


def _python(code: str, port: int) -> str:
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), str(port)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def test_the_reference_docs_loops_run_in_a_new_process(valkey_url: str, valkey_server: object) -> None:
    port = int(valkey_url.rsplit(":", 1)[1].split("/")[0])
    _python(CONVERSE, port)

    lines = _python(READ_BACK, port).splitlines()

    assert lines[0] == "[user] [{'text': \"What's the weather in Paris?\"}]"
    assert lines[1].startswith("[assistant] [{'toolUse': {'toolUseId': ")
    assert lines[2].startswith("[user] [{'toolResult': {'toolUseId': ")
    assert lines[3].startswith("[assistant] [{'text': 'It is 18C in Paris, sunny sunny")
    assert len(lines[3]) == len("[assistant] ") + 80
    assert lines[4:] == [
        " [user     ] What's the weather in Paris?",
        " [assistant] [tool use/result]",
        " [user     ] [tool use/result]",
        " [assistant] " + ("It is 18C in Paris, " + "sunny " * 20)[:80],
    ]


def test_listed_messages_are_strands_session_messages() -> None:
    manager = KVSessionManager("s1", backend=kvsession.connect("memory://"))
    record = SessionMessage(
        message={"role": "user", "content": [{"text": "hi"}]},
        message_id=0,
        created_at="2026-01-01T00:00:00+00:00",
        updated_at="2026-01-01T00:00:00+00:00",
    )
    manager.create_agent("s1", SessionAgent("a1", {}, {}))
    manager.create_message("s1", "a1", record)

    [listed] = manager.list_messages()

    assert isinstance(listed, SessionMessage) and type(listed) is ListedMessage
    assert listed == record and record == listed and not listed != record  # noqa: SIM202 -- __ne__ too
    assert listed["role"] == listed.role == "user" and "content" in listed
    assert listed.content == [{"text": "hi"}] and listed.get("missing", 1) == 1
    assert type(manager.repository.list_messages("s1", "a1")[0]) is SessionMessage
    # A redacted message reads as the agent sees it; the record still holds both.
    record.redact_message = {"role": "user", "content": [{"text": "[redacted]"}]}
    manager.update_message("s1", "a1", record)
    [redacted] = manager.list_messages()
    assert isinstance(redacted, ListedMessage)
    assert redacted.content == [{"text": "[redacted]"}] and redacted.message["content"] == [{"text": "hi"}]
