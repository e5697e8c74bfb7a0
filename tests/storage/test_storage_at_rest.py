"""ValkeyStorage values compressed and encrypted at rest, as the orm's records are (docs/security.md).

Storage values are arbitrary bytes, so the stage header's first byte (0xC1) is framed: a value
starting with it that went through no stage is stored behind a header naming no stage. Runs on
``[memory]``, ``[fakeredis]`` and ``[valkey]``.
"""

from __future__ import annotations

import pytest

from kvsession.kv.errors import DecryptionError
from kvsession.orm import Compression, Keyring
from kvsession.storage import ValkeyStorage, ValkeyStorageError
from tests.storage.conftest import StorageHarness, run

SECRET = b'{"messages": [{"text": "my card number is 4111 1111 1111 1111"}]}'
BIG = b'{"tool_result": "' + b"shipment tracking update " * 400 + b'"}'


def _raw(storage: ValkeyStorage, key: str) -> bytes:
    data = run(storage.backend.get(storage.layout.value_key(key)))
    assert data is not None
    return data


@pytest.mark.parametrize(
    "options",
    [
        {"compress": "zstd"},
        {"keyring": Keyring([("k1", Keyring.generate_key())])},
        {"compress": Compression(threshold=64), "keyring": Keyring([("k1", Keyring.generate_key())])},
    ],
    ids=["zstd", "aes-gcm", "both"],
)
def test_values_round_trip_through_the_stages(store: StorageHarness, options: dict[str, object]) -> None:
    storage = store.storage(**options)
    for key, value in (("session/s1/a.json", SECRET), ("session/s1/big.json", BIG), ("session/s1/e", b"")):
        run(storage.write(key, value))
        assert run(storage.read(key)) == value
    if "keyring" in options:
        assert b"4111" not in _raw(storage, "session/s1/a.json")
    assert len(_raw(storage, "session/s1/big.json")) < len(BIG) / 4 or "compress" not in options
    assert run(storage.list("session/s1/")) == ["session/s1/a.json", "session/s1/big.json", "session/s1/e"]
    assert [r.key for r in run(storage.search("card number"))] == ["session/s1/a.json"]


def test_a_value_starting_like_a_stage_header_round_trips_with_and_without_stages(
    store: StorageHarness,
) -> None:
    tricky = b"\xc1\x01\x02not a header"
    plain, compressed = store.storage(), store.storage(compress="zstd")
    run(plain.write("session/s1/x", tricky))
    run(compressed.write("session/s1/y", tricky))
    for storage in (plain, compressed):
        assert run(storage.read("session/s1/x")) == tricky
        assert run(storage.read("session/s1/y")) == tricky


def test_turning_stages_on_or_off_keeps_old_values_readable(store: StorageHarness) -> None:
    keyring = Keyring([("k1", Keyring.generate_key())])
    run(store.storage().write("session/s1/old", SECRET))
    run(store.storage(compress="zstd").write("session/s1/zipped", BIG))
    run(store.storage(keyring=keyring).write("session/s1/sealed", SECRET))
    reader = store.storage(keyring=keyring)
    assert run(reader.read("session/s1/old")) == SECRET
    assert run(reader.read("session/s1/zipped")) == BIG
    assert run(store.storage().read("session/s1/zipped")) == BIG


def test_a_missing_or_wrong_key_is_a_typed_error_naming_the_key_id(store: StorageHarness) -> None:
    run(store.storage(keyring=Keyring([("k1", Keyring.generate_key())])).write("session/s1/a", SECRET))
    for reader in (store.storage(), store.storage(keyring=Keyring([("k1", Keyring.generate_key())]))):
        with pytest.raises(ValkeyStorageError, match="Failed to read 'session/s1/a'") as info:
            run(reader.read("session/s1/a"))
        assert isinstance(info.value.__cause__, DecryptionError)
        assert "k1" in str(info.value.__cause__)
