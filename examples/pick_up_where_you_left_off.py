"""Pick up where you left off: a new agent with the same session_id gets the conversation back.

    python examples/pick_up_where_you_left_off.py          # starts an embedded Valkey
    KVSESSION_URL=valkey://127.0.0.1:6379/0 python examples/pick_up_where_you_left_off.py

Swap ``ScriptedModel`` for your model (``Agent()`` alone uses Amazon Bedrock); everything else
is the reference's usage with only the import line changed.
"""

from __future__ import annotations

import valkey
from _valkey import valkey_at
from strands import Agent

from kvsession.scripted import ScriptedModel, recall
from kvsession.strands import ValkeySessionManager


def main() -> None:
    with valkey_at() as (host, port, db):
        # Earlier (another process, yesterday ...): the user introduces themselves.
        client = valkey.Valkey(host=host, port=port, db=db, decode_responses=True)
        session_manager = ValkeySessionManager(session_id="user-42", client=client)
        agent = Agent(
            model=ScriptedModel(["Nice to meet you, Alex! A RAG pipeline over Valkey sounds fun."]),
            session_manager=session_manager,
            callback_handler=None,
        )
        agent("My name is Alex and I'm building a RAG pipeline.")

        # Now: a new client, a new session manager, a new agent. Same session_id.
        client = valkey.Valkey(host=host, port=port, db=db, decode_responses=True)
        session_manager = ValkeySessionManager(session_id="user-42", client=client)
        agent = Agent(model=ScriptedModel([recall]), session_manager=session_manager, callback_handler=None)
        print(f"restored {len(agent.messages)} messages")

        response = agent("What was I just telling you about?")
        print(response)

        session_manager.delete_session()  # leave a shared server as we found it


if __name__ == "__main__":
    main()
