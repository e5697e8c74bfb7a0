"""Your own records next to a Strands session: an attrs ``UserProfile`` in the session's group.

    python examples/attrs_user_profile_next_to_session.py          # starts an embedded Valkey
    KVSESSION_URL=valkey://127.0.0.1:6379/0 python examples/attrs_user_profile_next_to_session.py

The profile is declared once as an orm model: an attrs class with a validator (cattrs converts
it), a key template whose hash tag is the user id, and the session's group, so it expires and is
deleted together with the user's conversation. Then the same data is read back after switching
the codec json <-> msgpack through the URL: the format is sniffed on read.
"""

from __future__ import annotations

import attrs
from _valkey import valkey_at
from strands import Agent

import kvsession
from kvsession.orm import KeyTemplate, Model, ModelStore
from kvsession.scripted import ScriptedModel
from kvsession.strands.models import SESSION_GROUP


@attrs.define
class UserProfile:
    """What the application knows about a user, beside the conversation."""

    session_id: str
    display_name: str = attrs.field(validator=attrs.validators.min_len(1))
    locale: str = "en"
    avatar: bytes = b""


PROFILE: Model[UserProfile] = Model(
    "user profile",
    UserProfile,
    key=KeyTemplate("profile:{session_id}", hash_tag="session_id"),
    group=SESSION_GROUP,  # expires and is deleted with session:{session_id}
)


def main() -> None:
    with valkey_at() as (host, port, db):
        for codec in ("json", "msgpack"):
            url = f"valkey://{host}:{port}/{db}?codec={codec}&ttl=3600"
            with kvsession.KVSessionManager("user-7", url=url) as manager:
                agent = Agent(
                    model=ScriptedModel(["Hello Grace!"]), session_manager=manager, callback_handler=None
                )
                agent("Hi, I'm Grace.")
                store = ModelStore(manager.backend)  # same backend, codec, prefix and ttl as the session
                with store.batch() as batch:  # one atomic round trip
                    store.replace(batch, PROFILE, UserProfile("user-7", "Grace", "en-GB", avatar=b"\x89PNG"))
                stored = manager.backend.get("profile:user-7") or b""
                print(f"{codec}: profile stored as {'JSON' if stored[:1] == b'{' else 'MessagePack'}")

            other = "msgpack" if codec == "json" else "json"
            backend = kvsession.connect(f"valkey://{host}:{port}/{db}?codec={other}")
            repository = kvsession.KVSessionRepository(backend)
            profile = ModelStore(backend).get(PROFILE, session_id="user-7")
            restored = repository.list_messages("user-7", "default")
            print(f"  read with codec={other}: {profile}, {len(restored)} messages")
            repository.delete_session("user-7")
            gone = ModelStore(backend).get(PROFILE, session_id="user-7")
            print(f"  after delete_session: profile = {gone}")
            backend.close()


if __name__ == "__main__":
    main()
