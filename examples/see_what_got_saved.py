"""See what got saved: the keys of a session and the records behind them.

    python examples/see_what_got_saved.py          # starts an embedded Valkey
    KVSESSION_URL=valkey://127.0.0.1:6379/0 python examples/see_what_got_saved.py

Swap ``ScriptedModel`` for your model; the session manager is the reference's, import changed.
"""

from __future__ import annotations

import json

import valkey
from _valkey import valkey_at
from strands import Agent, tool

from kvsession.scripted import ScriptedModel, ToolCall
from kvsession.strands import ValkeySessionManager


@tool
def search(query: str) -> str:
    """Search the team's notes.

    Args:
        query: What to look for.
    """
    return f"3 notes match {query!r}"


def main() -> None:
    with valkey_at() as (host, port, db):
        client = valkey.Valkey(host=host, port=port, db=db, decode_responses=True)
        session_manager = ValkeySessionManager(session_id="user-42", client=client)
        agent = Agent(
            model=ScriptedModel([ToolCall("search", {"query": "RAG pipeline"}), "I found 3 notes on it."]),
            tools=[search],
            session_manager=session_manager,
            callback_handler=None,
        )
        agent("My name is Alex and I'm building a RAG pipeline.")

        # Every key the session owns, found through its own index (no SCAN of the keyspace).
        print("keys:")
        for key in session_manager.repository.session_keys("user-42"):
            print(f"  {client.type(key):<6} {key}")

        session = session_manager.read_session()
        assert session is not None
        print(f"\nsession: id={session.session_id} created_at={session.created_at}")
        print(f"         metadata={session_manager.metadata}")

        session_agent = session_manager.read_agent("user-42", agent.agent_id)
        assert session_agent is not None
        print(
            f"agent:   id={session_agent.agent_id} state={session_agent.state} "
            f"conversation_manager_state={session_agent.conversation_manager_state}"
        )

        # The conversation, in order (no arguments: every message of this session).
        print("\nmessages:")
        for msg in session_manager.list_messages():
            role = msg.message["role"]
            block = msg.message["content"][0]
            if "toolUse" in block:
                content = f"[tool call] {block['toolUse']['name']}({json.dumps(block['toolUse']['input'])})"
            elif "toolResult" in block:
                content = "[tool result] " + " ".join(
                    item["text"] for item in block["toolResult"]["content"] if "text" in item
                )
            else:
                content = block["text"]
            print(f"  {msg.message_id} ** {role.upper()}**: {content}")

        # Records are JSON by default: readable with valkey-cli GET.
        print(f"\nGET session:user-42:agent:{agent.agent_id}:message:1")
        print(f"  {client.get(f'session:user-42:agent:{agent.agent_id}:message:1')}")

        session_manager.delete_session()  # leave a shared server as we found it


if __name__ == "__main__":
    main()
