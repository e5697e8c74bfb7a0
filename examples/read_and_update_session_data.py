"""Read and update session data: session metadata, agent state and messages, outside the agent loop.

    python examples/read_and_update_session_data.py          # starts an embedded Valkey
    KVSESSION_URL=valkey://127.0.0.1:6379/0 python examples/read_and_update_session_data.py

Swap ``ScriptedModel`` for your model; the session manager is the reference's, import changed.
"""

from __future__ import annotations

import valkey
from _valkey import valkey_at
from strands import Agent

from kvsession.scripted import ScriptedModel, recall
from kvsession.strands import ValkeySessionManager


def main() -> None:
    with valkey_at() as (host, port, db):
        client = valkey.Valkey(host=host, port=port, db=db, decode_responses=True)

        # A session created with metadata, an agent with state, two turns.
        session_manager = ValkeySessionManager(
            session_id="user-42", client=client, metadata={"user": "alex", "plan": "free"}
        )
        agent = Agent(
            model=ScriptedModel(["Noted.", "Sure."]),
            session_manager=session_manager,
            state={"language": "en"},
            callback_handler=None,
        )
        agent("My card number is 4111 1111 1111 1111.")
        agent("Please call me Alex.")

        # -- read (a new manager, as another worker would) ----------------------------------
        reader = ValkeySessionManager(session_id="user-42", client=client)
        print(f"metadata:      {reader.metadata}")
        session_agent = reader.read_agent("user-42", "default")
        assert session_agent is not None
        print(f"agent state:   {session_agent.state}")
        print(f"messages:      {len(reader.list_messages())}")
        first_two = reader.list_messages(limit=2)
        print(f"first two:     {[m.message['content'][0]['text'] for m in first_two]}")
        print(f"from offset 2: {[m.message['content'][0]['text'] for m in reader.list_messages(offset=2)]}")

        # -- update --------------------------------------------------------------------------
        reader.update_metadata({**reader.metadata, "plan": "pro"})  # one round trip

        session_agent.state["language"] = "pt"
        reader.update_agent("user-42", session_agent)  # keeps created_at, moves updated_at

        card = reader.read_message("user-42", "default", 0)
        assert card is not None
        card.redact_message = {"role": "user", "content": [{"text": "[card number removed]"}]}
        reader.update_message("user-42", "default", card)  # the original stays on record

        # -- what the next worker sees --------------------------------------------------------
        later = ValkeySessionManager(session_id="user-42", client=client)
        restored = Agent(model=ScriptedModel([recall]), session_manager=later, callback_handler=None)
        print(f"\nmetadata now:  {later.metadata}")
        print(f"state now:     {restored.state.get()}")
        print(f"first message: {restored.messages[0]['content'][0]['text']}")
        print(f"agent says:    {str(restored('What did I tell you?')).strip()}")

        # -- delete ---------------------------------------------------------------------------
        later.delete_session()  # every key of the session, atomically
        print(f"after delete:  read_session() -> {later.read_session()}")


if __name__ == "__main__":
    main()
