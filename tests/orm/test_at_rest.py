"""Compression and encryption at rest: every backend, both codecs, rotation, mixing, failures."""

from __future__ import annotations

import base64
from typing import Any, cast

import msgspec
import pytest
from strands.multiagent.base import MultiAgentBase
from strands.types.session import SessionAgent, SessionMessage, SessionType

from kvsession.admin.layout import session_layout
from kvsession.admin.recode import Recoder
from kvsession.kv.errors import CodecError, ConfigError, DecryptionError
from kvsession.kv.memory import MemoryBackend
from kvsession.orm import (
    FORMATS,
    Codec,
    Compression,
    Keyring,
    KeyTemplate,
    Model,
    ModelStore,
    ValueStages,
    get_codec,
    stored_form,
)
from kvsession.strands.models import MESSAGE, SESSION
from kvsession.strands.records import Session, metadata_of
from kvsession.strands.repository import KVSessionRepository
from tests.conftest import BackendHarness

SECRET = "tell-no-one-7f3a"
BIG = f"{SECRET} " * 600  # 10 KB of text: compressed when compression is on
KEY_1 = Keyring.generate_key()
KEY_2 = Keyring.generate_key()
STAGES: dict[str, dict[str, Any]] = {
    "zstd": {"compress": "zstd"},
    "aes": {"keyring": Keyring([("k1", KEY_1)])},
    "zstd+aes": {"compress": "zstd", "keyring": Keyring([("k1", KEY_1)])},
}


def _message(text: str, message_id: int = 0) -> SessionMessage:
    return SessionMessage(
        message={
            "role": "user",
            "content": [{"text": text}, {"image": {"format": "png", "source": {"bytes": SECRET.encode()}}}],
        },
        message_id=message_id,
    )


def _fill(repo: KVSessionRepository, session_id: str = "s1") -> None:
    repo.create_session(Session(session_id, SessionType.AGENT, metadata={"owner": SECRET}))
    repo.create_agent(session_id, SessionAgent("a1", {"note": SECRET}, {}))
    repo.create_message(session_id, "a1", _message(SECRET, 0))
    repo.create_message(session_id, "a1", _message(BIG, 1))
    repo.create_multi_agent(session_id, cast(MultiAgentBase, _Graph(SECRET)))


class _Graph:
    """The least a Strands MultiAgentBase must offer to be stored."""

    def __init__(self, note: str) -> None:
        self.id = "g1"
        self.note = note

    def serialize_state(self) -> dict[str, Any]:
        return {"id": self.id, "note": self.note}


def _check(repo: KVSessionRepository, session_id: str = "s1") -> None:
    session = repo.read_session(session_id)
    assert session is not None and metadata_of(session) == {"owner": SECRET}
    agent = repo.read_agent(session_id, "a1")
    assert agent is not None and agent.state == {"note": SECRET}
    messages = repo.list_messages(session_id, "a1")
    assert [m.message["content"][0]["text"] for m in messages][:2] == [SECRET, BIG]
    assert messages[1].message["content"][1]["image"]["source"]["bytes"] == SECRET.encode()
    assert repo.read_multi_agent(session_id, "g1") == {"id": "g1", "note": SECRET}


def _raw_values(kv: BackendHarness, repo: KVSessionRepository, session_id: str = "s1") -> dict[str, bytes]:
    """Every record's bytes as the server holds them (straight from Valkey where there is one)."""
    layout = session_layout(repo, session_id)
    keys = [key for key in repo.session_keys(session_id) if not layout.is_index(key)]
    values: list[bytes | None] = (
        repo.backend.get_many(keys) if kv.make_client is None else kv.raw_client().mget(keys)  # type: ignore[assignment]
    )
    return {key: value for key, value in zip(keys, values, strict=True) if value is not None}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("stages", list(STAGES))
def test_round_trip_on_every_backend_and_codec(kv: BackendHarness, fmt: str, stages: str) -> None:
    repo = KVSessionRepository(kv.backend, codec=fmt, **STAGES[stages])
    _fill(repo)
    _check(repo)

    raw = _raw_values(kv, repo)
    assert len(raw) >= 5
    forms = {key: stored_form(value) for key, value in raw.items()}
    if "aes" in stages:
        for key, value in raw.items():
            assert SECRET.encode() not in value, key  # the plaintext is nowhere, not even the bytes
            assert base64.b64encode(SECRET.encode()) not in value, key
            assert forms[key].key_id == "k1"
    if "zstd" in stages:
        big = repo.keys.message("s1", "a1", 1)
        assert forms[big].compressed
        assert len(raw[big]) < len(BIG) // 10
    # Another repository with the same keys, whatever it is set to write, reads it all.
    _check(KVSessionRepository(kv.backend, codec="json", keyring=Keyring([("k0", KEY_2), ("k1", KEY_1)])))


def test_small_values_stay_plain_under_compression_alone() -> None:
    repo = KVSessionRepository(MemoryBackend(), compress="zstd")
    _fill(repo)
    assert repo.backend.get(repo.keys.message("s1", "a1", 0))[:1] == b"{"  # type: ignore[index]
    assert stored_form(repo.backend.get(repo.keys.message("s1", "a1", 1)) or b"").compressed


@pytest.mark.parametrize("fmt", FORMATS)
def test_plain_and_compressed_data_mix_both_ways(kv: BackendHarness, fmt: str) -> None:
    plain = KVSessionRepository(kv.backend, codec=fmt)
    _fill(plain, "before")
    compressing = KVSessionRepository(kv.backend, codec=fmt, compress=Compression(threshold=0))
    _fill(compressing, "after")
    for repo in (plain, compressing, KVSessionRepository(kv.backend, keyring=Keyring([("k1", KEY_1)]))):
        _check(repo, "before")
        _check(repo, "after")
    datas = [kv.backend.get(plain.keys.message(s, "a1", 1)) or b"" for s in ("before", "after")]
    keys = [plain.keys.message(s, "a1", 1) for s in ("before", "after")]
    assert [stored_form(d).compressed for d in datas] == [False, True]
    decoded = get_codec("json").decode_many(MESSAGE, datas, keys)
    assert decoded[0].message == decoded[1].message


def test_encrypted_values_need_their_key(kv: BackendHarness) -> None:
    repo = KVSessionRepository(kv.backend, keyring=Keyring([("k1", KEY_1)]))
    _fill(repo)
    root = repo.keys.session("s1")
    message = repo.keys.message("s1", "a1", 1)

    with pytest.raises(DecryptionError, match=r"key id <k1> is not in the keyring \(no keyring") as missing:
        KVSessionRepository(kv.backend).read_session("s1")
    assert (missing.value.key, missing.value.key_id) == (root, "k1")

    with pytest.raises(DecryptionError, match=r"key id <k1> is not in the keyring \(known: k2\)"):
        KVSessionRepository(kv.backend, keyring=Keyring([("k2", KEY_2)])).list_messages("s1", "a1")

    wrong = KVSessionRepository(kv.backend, keyring=Keyring([("k1", KEY_2)]))
    with pytest.raises(DecryptionError, match="a different key under that id") as wrong_key:
        wrong.list_messages("s1", "a1")
    assert wrong_key.value.key == repo.keys.message("s1", "a1", 0)
    assert isinstance(wrong_key.value, CodecError)  # one tree: CodecError handlers catch it

    # A value copied under another key (here: message 1 over message 0) does not decrypt.
    kv.backend.set(repo.keys.message("s1", "a1", 0), kv.backend.get(message) or b"")
    with pytest.raises(DecryptionError, match="copied from another key") as moved:
        repo.read_message("s1", "a1", 0)
    assert moved.value.key == repo.keys.message("s1", "a1", 0)


def test_tampered_headers_and_payloads_are_errors() -> None:
    stages = ValueStages(compression=Compression(threshold=0), keyring=Keyring([("k1", KEY_1)]))
    codec = Codec("msgpack", stages=stages)
    data = codec.encode(MESSAGE, _message(BIG), key="k")
    assert data[:3] == b"\xc1\x01\x03"
    flipped = data[:2] + bytes([0x02]) + data[3:]  # "not compressed": the header is authenticated
    body = data[:-1] + bytes([data[-1] ^ 1])
    for bad in (flipped, body):
        with pytest.raises(DecryptionError):
            codec.decode(MESSAGE, bad, key="k")
    for bad, match in (
        (b"\xc1\x02\x00", "newer kvsession"),
        (b"\xc1\x01\x80", "newer kvsession"),
        (b"\xc1\x01", "truncated"),
        (b"\xc1\x01\x02\x05k1", "damaged key id"),
        (b"\xc1\x01\x01not zstd", "cannot decompress"),
    ):
        with pytest.raises(CodecError, match=match):
            codec.decode_many(MESSAGE, [bad], ["k"])
    with pytest.raises(CodecError, match="needs the key"):
        codec.encode(MESSAGE, _message("x"))


@pytest.mark.parametrize("fmt", FORMATS)
def test_rotation_then_recode_reencrypts_under_the_newest_key(kv: BackendHarness, fmt: str) -> None:
    old = KVSessionRepository(kv.backend, codec=fmt, keyring=Keyring([("k1", KEY_1)]))
    _fill(old)
    rotated = KVSessionRepository(
        kv.backend, codec=fmt, compress="zstd", keyring=Keyring([("k1", KEY_1), ("k2", KEY_2)])
    )
    _check(rotated)  # reads with any known key
    rotated.create_message("s1", "a1", _message("after rotation", 2))
    assert stored_form(kv.backend.get(rotated.keys.message("s1", "a1", 2)) or b"").key_id == "k2"

    counts = Recoder(rotated).session("s1")
    assert counts.unreadable == 0 and counts.changed == 0
    assert counts.recoded == 5 and counts.already == 1
    again = Recoder(rotated).session("s1")
    assert (again.recoded, again.already) == (0, 6)

    only_new = KVSessionRepository(kv.backend, keyring=Keyring([("k2", KEY_2)]))
    _check(only_new)
    assert {stored_form(v).key_id for v in _raw_values(kv, only_new).values()} == {"k2"}
    assert stored_form(kv.backend.get(only_new.keys.message("s1", "a1", 1)) or b"").compressed

    # Turning both stages off: a read-only keyring decrypts, writes are plain; recode rewrites all.
    reading = KVSessionRepository(kv.backend, codec=fmt, keyring=Keyring([("k2", KEY_2)], read_only=True))
    assert Recoder(reading).session("s1").recoded == 6
    _check(KVSessionRepository(kv.backend))
    assert {stored_form(v).format for v in _raw_values(kv, only_new).values()} == {fmt}


class Preferences(msgspec.Struct):
    user_id: str
    theme: str
    history: list[str]


PREFERENCES: Model[Preferences] = Model("preferences", Preferences, key=KeyTemplate("prefs:{user_id}"))


def test_user_models_go_through_the_same_stages() -> None:
    store = ModelStore(MemoryBackend(), compress=Compression(threshold=0), keyring=Keyring([("k1", KEY_1)]))
    prefs = Preferences("u1", "dark", [SECRET] * 50)
    with store.batch() as batch:
        store.create(batch, PREFERENCES, prefs)
    raw = store.backend.get("prefs:u1") or b""
    assert SECRET.encode() not in raw and stored_form(raw) == stored_form(raw).__class__(None, True, "k1")
    assert store.get(PREFERENCES, user_id="u1") == prefs


def test_url_options_build_the_stages(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = Keyring.new_entry("2026-07")
    monkeypatch.setenv("APP_KEYS", f"old:{base64.b64encode(KEY_1).decode()}, {entry}")
    backend = MemoryBackend.from_config(
        __import__("kvsession").parse_url(
            "memory://?codec=msgpack&compress=zstd&compress_threshold=64&encrypt=env:APP_KEYS"
        )
    )
    store = ModelStore(backend)
    stages = store.codec.stages
    assert stages is not None and stages.keyring is not None and stages.compression is not None
    assert stages.keyring.key_ids == ("old", "2026-07") and stages.keyring.current_id == "2026-07"
    assert stages.compression.threshold == 64
    assert (
        "AAAA" not in repr(store.codec)
        and repr(stages.keyring) == "Keyring(key_ids=('old', '2026-07'), current='2026-07')"
    )
    assert ModelStore(MemoryBackend()).codec is get_codec(
        "json"
    )  # no stage configured: the shared plain codec

    monkeypatch.delenv("APP_KEYS")
    with pytest.raises(ConfigError, match=r"env:APP_KEYS \| the environment variable"):
        ModelStore(backend)
    with pytest.raises(ConfigError, match="beside it"):
        ModelStore(MemoryBackend(), codec=get_codec("json"), keyring=Keyring([("k1", KEY_1)]))
    with pytest.raises(ConfigError, match="does not encrypt"):
        ModelStore(backend, codec=get_codec("json"))  # the URL asks for encryption: no plaintext


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "entry 1 is not key_id:base64key"),
        ("k1:" + base64.b64encode(b"short").decode(), "k1.*32 bytes"),
        ("k1:not base64!", "k1.*not valid base64"),
        (f"k1:{base64.b64encode(KEY_1).decode()},k1:{base64.b64encode(KEY_2).decode()}", "k1.*twice"),
        (f"bad id:{base64.b64encode(KEY_1).decode()}", "invalid key id"),
        (base64.b64encode(KEY_1).decode(), "entry 1 is not key_id:base64key"),
    ],
)
def test_malformed_keys_are_config_errors_without_key_material(text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        Keyring.parse(text, source="env:K")
    for key in (KEY_1, KEY_2):
        assert base64.b64encode(key).decode() not in str(info.value)
        assert base64.b64encode(key).decode()[:8] not in str(info.value)


def test_urlsafe_base64_keys_are_accepted() -> None:
    keyring = Keyring.parse(f"k1:{base64.urlsafe_b64encode(KEY_1).decode()}")
    data = Codec("json", stages=ValueStages(keyring=keyring)).encode(
        SESSION, Session("s", SessionType.AGENT), key="x"
    )
    same = Codec("json", stages=ValueStages(keyring=Keyring([("k1", KEY_1)])))
    assert same.decode(SESSION, data, key="x").session_id == "s"


def test_truncated_encrypted_values_are_decryption_errors() -> None:
    keyring = Keyring([("k" * 32, KEY_1)])
    codec = Codec("json", stages=ValueStages(keyring=keyring))
    data = codec.encode(SESSION, Session("s", SessionType.AGENT), key="x")
    for cut in (len(data) - 1, 4 + 32 + 12 + 15, 4 + 32 + 5, 40):
        with pytest.raises(DecryptionError):
            codec.decode_many(SESSION, [data[:cut]], ["x"])


def test_a_missing_extra_is_a_one_line_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from kvsession.orm import at_rest

    monkeypatch.setitem(sys.modules, "zstandard", None)
    monkeypatch.setattr(at_rest, "_zstd", None)
    with pytest.raises(
        ConfigError,
        match=r"^compression needs the zstandard package: pip install 'kvsession\[compression\]'$",
    ):
        ModelStore(MemoryBackend(), compress="zstd")
    monkeypatch.setitem(sys.modules, "cryptography.hazmat.primitives.ciphers.aead", None)
    with pytest.raises(
        ConfigError,
        match=r"^encryption needs the cryptography package: pip install 'kvsession\[encryption\]'$",
    ):
        Keyring([("k1", KEY_1)])
