"""A user's own models, stored next to Strands sessions: attrs (cattrs), msgspec, dataclass.

Every test runs on memory, fakeredis and the real server, with both codecs.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import attrs
import msgspec
import pytest
from strands.types.session import SessionType

from kvsession.kv.errors import CodecError, ConflictError, InvalidIdError
from kvsession.orm import (
    FORMATS,
    CattrsConverter,
    KeyTemplate,
    Model,
    ModelStore,
    OrderedIndex,
    SetIndex,
)
from kvsession.strands.models import SESSION_GROUP
from kvsession.strands.records import Session
from kvsession.strands.repository import KVSessionRepository
from kvsession.testing import CountingBackend
from tests.conftest import BackendHarness


@attrs.define
class Profile:
    user_id: str
    name: str = attrs.field(validator=attrs.validators.min_len(1))
    age: int = attrs.field(default=0, validator=attrs.validators.ge(0))
    avatar: bytes = b""
    tags: list[str] = attrs.field(factory=list)


PROFILES = SetIndex(KeyTemplate("profiles"), member="user_id")
PROFILE: Model[Profile] = Model(
    "profile", Profile, key=KeyTemplate("profile:{user_id}", hash_tag="user_id"), indexes=(PROFILES,)
)


class Note(msgspec.Struct):
    user_id: str
    note_id: int
    text: str
    attachment: bytes | None = None


NOTES = OrderedIndex(KeyTemplate("notes:{user_id}", hash_tag="user_id"), member="note_id", score="note_id")
NOTE: Model[Note] = Model(
    "note", Note, key=KeyTemplate("note:{user_id}:{note_id:int}", hash_tag="user_id"), indexes=(NOTES,)
)


@dataclasses.dataclass
class Preference:
    session_id: str
    theme: str
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


# Kept in the session's group: expires and is deleted with the session.
PREFERENCE: Model[Preference] = Model(
    "preference",
    Preference,
    key=KeyTemplate("session:{session_id}:preference", hash_tag="session_id"),
    group=SESSION_GROUP,
)


@pytest.fixture(params=FORMATS)
def store(request: pytest.FixtureRequest, kv: BackendHarness) -> ModelStore:
    return ModelStore(kv.backend, codec=request.param)


def test_an_attrs_model_round_trips(store: ModelStore) -> None:
    profile = Profile("u1", "Ada", 36, avatar=b"\x00\xff\x10", tags=["math", "poetry"])
    with store.batch() as batch:
        store.create(batch, PROFILE, profile)
    assert store.get(PROFILE, user_id="u1") == profile
    assert store.get(PROFILE, user_id="nobody") is None
    assert store.members(
        PROFILES,
    ) == {"u1"}


def test_each_codec_reads_what_the_other_wrote(kv: BackendHarness) -> None:
    json_store, msgpack_store = ModelStore(kv.backend, codec="json"), ModelStore(kv.backend, codec="msgpack")
    with json_store.batch() as batch:
        json_store.create(batch, PROFILE, Profile("j", "Jo", avatar=b"\x01"))
    with msgpack_store.batch() as batch:
        msgpack_store.create(batch, PROFILE, Profile("m", "Mo", avatar=b"\x02"))
    assert (kv.backend.get("profile:j") or b"")[:1] == b"{"
    assert msgpack_store.get(PROFILE, user_id="j") == Profile("j", "Jo", avatar=b"\x01")
    assert json_store.get(PROFILE, user_id="m") == Profile("m", "Mo", avatar=b"\x02")


def test_bad_data_is_a_codec_error_naming_key_and_field(store: ModelStore, kv: BackendHarness) -> None:
    kv.backend.set("profile:u2", msgspec.json.encode({"user_id": "u2", "name": "Bo", "age": "old"}))
    with pytest.raises(CodecError) as info:
        store.get(PROFILE, user_id="u2")
    assert info.value.key == "profile:u2"
    assert "$.age" in str(info.value)


def test_a_failing_validator_is_a_codec_error_naming_the_field(store: ModelStore, kv: BackendHarness) -> None:
    kv.backend.set("profile:u3", msgspec.msgpack.encode({"user_id": "u3", "name": "", "age": 1}))
    with pytest.raises(CodecError, match="name") as info:
        store.get(PROFILE, user_id="u3")
    assert "profile:u3" in str(info.value)


def test_a_struct_model_fails_with_the_field_named(store: ModelStore, kv: BackendHarness) -> None:
    kv.backend.set("note:u1:1", msgspec.json.encode({"user_id": "u1", "note_id": "one", "text": "x"}))
    with pytest.raises(CodecError, match=r"\$\.note_id") as info:
        store.get(NOTE, user_id="u1", note_id=1)
    assert info.value.key == "note:u1:1"


def test_an_unencodable_value_is_a_codec_error(store: ModelStore) -> None:
    with pytest.raises(CodecError, match="profile"), store.batch() as batch:
        store.create(batch, PROFILE, Profile("u4", "Cy", tags=[object()]))  # type: ignore[list-item]


def test_invalid_key_fields_are_refused_before_the_backend(store: ModelStore) -> None:
    with pytest.raises(InvalidIdError, match="user_id"):
        store.get(PROFILE, user_id="x" * 257)
    with pytest.raises(InvalidIdError, match="note_id"):
        store.get(NOTE, user_id="u1", note_id=-1)


def test_a_struct_model_lists_through_its_index(store: ModelStore) -> None:
    with store.batch() as batch:
        for note_id in (3, 1, 2):
            store.create(batch, NOTE, Note("u1", note_id, f"note {note_id}", attachment=bytes([note_id])))
    notes = store.list_indexed(NOTE, NOTES, user_id="u1")
    assert [note.note_id for note in notes] == [1, 2, 3]
    assert notes[0].attachment == b"\x01"
    assert [
        n.note_id for n in store.list_indexed(NOTE, NOTES, user_id="u1", offset=1, limit=1, reverse=True)
    ] == [2]
    assert store.get_many(NOTE, [{"user_id": "u1", "note_id": 2}, {"user_id": "u1", "note_id": 9}])[1] is None


def test_create_refuses_an_existing_record_and_writes_nothing(store: ModelStore) -> None:
    with store.batch() as batch:
        store.create(batch, NOTE, Note("u1", 1, "first"))
    batch = store.batch()
    store.create(batch, NOTE, Note("u1", 2, "second"))
    store.create(batch, NOTE, Note("u1", 1, "again"))
    with pytest.raises(ConflictError) as info:
        batch.apply()
    assert info.value.key == "note:u1:1"
    assert [note.text for note in store.list_indexed(NOTE, NOTES, user_id="u1")] == ["first"]


def test_update_replace_and_delete_keep_indexes_and_records_agreeing(store: ModelStore) -> None:
    with store.batch() as batch:
        store.create(batch, NOTE, Note("u1", 1, "first"))
        store.create(batch, NOTE, Note("u1", 2, "second"))
    with store.batch() as batch:
        store.update(batch, NOTE, Note("u1", 1, "edited"))
    with store.batch() as batch:
        store.replace(batch, NOTE, Note("u1", 2, "replaced"))
    assert [note.text for note in store.list_indexed(NOTE, NOTES, user_id="u1")] == ["edited", "replaced"]
    with store.batch() as batch:
        store.delete(batch, NOTE, user_id="u1", note_id=1)
    assert store.index_window(NOTES, user_id="u1") == ["2"]
    assert store.get(NOTE, user_id="u1", note_id=1) is None
    batch = store.batch()
    store.update(batch, NOTE, Note("u1", 7, "never created"))
    with pytest.raises(ConflictError):
        batch.apply()


def test_several_models_are_written_in_one_round_trip(kv: BackendHarness) -> None:
    counting = CountingBackend(kv.backend)
    store = ModelStore(counting)
    with store.batch() as batch:
        store.create(batch, PROFILE, Profile("u1", "Ada"))
        store.create(batch, NOTE, Note("u1", 1, "hello"))
        store.create(batch, PREFERENCE, Preference("u1", "dark"))
    assert counting.calls == {"apply": 1}


def test_a_model_in_the_session_group_is_deleted_and_expired_with_the_session(kv: BackendHarness) -> None:
    repo = KVSessionRepository(kv.backend, ttl=2)
    repo.create_session(Session(session_id="u1", session_type=SessionType.AGENT))
    with repo.store.batch() as batch:
        repo.store.create(batch, PREFERENCE, Preference("u1", "dark", {"font": b"\x00mono"}))
    assert repo.store.get(PREFERENCE, session_id="u1") == Preference("u1", "dark", {"font": b"\x00mono"})
    assert repo.store.key(PREFERENCE, session_id="u1") in repo.session_keys("u1")
    assert kv.backend.ttl("session:u1:preference") is not None
    repo.delete_session("u1")
    assert repo.store.get(PREFERENCE, session_id="u1") is None


@attrs.define
class ProfileV2:
    user_id: str
    first_name: str
    last_name: str
    age: int = 0


def _split_name(document: dict[str, Any]) -> dict[str, Any]:
    first, _, last = document.pop("name").partition(" ")
    return {**document, "first_name": first, "last_name": last}


PROFILE_V2: Model[ProfileV2] = Model(
    "profile",
    ProfileV2,
    key=PROFILE.key,
    indexes=PROFILE.indexes,
    converter=CattrsConverter(ProfileV2, version=2, upgrades={1: _split_name}),
)


def test_an_old_record_is_upgraded_on_read_and_stored_in_the_new_shape_on_its_next_write(
    store: ModelStore, kv: BackendHarness
) -> None:
    with store.batch() as batch:
        store.create(batch, PROFILE, Profile("u1", "Ada Lovelace", 36, tags=["x"]))
    upgraded = store.get(PROFILE_V2, user_id="u1")
    assert upgraded == ProfileV2("u1", "Ada", "Lovelace", 36)
    assert upgraded is not None
    upgraded.age = 37
    with store.batch() as batch:
        store.update(batch, PROFILE_V2, upgraded)
    raw = kv.backend.get("profile:u1")
    assert raw is not None
    document = msgspec.json.decode(raw) if raw[:1] == b"{" else msgspec.msgpack.decode(raw)
    assert document == {
        "user_id": "u1",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "age": 37,
        "_version": 2,
    }
    assert store.get(PROFILE_V2, user_id="u1") == ProfileV2("u1", "Ada", "Lovelace", 37)


def test_a_record_from_a_newer_version_is_refused(store: ModelStore, kv: BackendHarness) -> None:
    kv.backend.set(
        "profile:u9",
        msgspec.json.encode({"user_id": "u9", "first_name": "A", "last_name": "B", "_version": 3}),
    )
    with pytest.raises(CodecError, match="version 3"):
        store.get(PROFILE_V2, user_id="u9")


def test_a_converter_without_every_upgrade_hook_is_refused() -> None:
    with pytest.raises(ValueError, match="upgrade hook"):
        CattrsConverter(ProfileV2, version=3, upgrades={1: _split_name})
