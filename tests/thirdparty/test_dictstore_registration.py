"""The example distribution is found by scheme through its entry point, as an installed one is."""

from __future__ import annotations

import pytest

from kvsession.kv import ConfigError, available_schemes, connect


@pytest.mark.usefixtures("dictstore_installed")
def test_the_scheme_comes_from_the_distribution_metadata() -> None:
    assert "dictstore" in available_schemes()
    backend = connect("dictstore://?max_value_bytes=4&codec=msgpack")
    assert type(backend).__name__ == "DictStoreBackend"
    assert type(backend).__module__ == "kvsession_dictstore"
    assert (backend.config.scheme, backend.config.store.codec) == ("dictstore", "msgpack")
    with pytest.raises(ConfigError, match=r"unknown option 'bogus'.*max_value_bytes"):
        connect("dictstore://?bogus=1")


@pytest.mark.usefixtures("dictstore_installed")
def test_a_name_shares_a_store_and_stores_do_not_see_each_other() -> None:
    first, second, other = (
        connect("dictstore://shared"),
        connect("dictstore://shared"),
        connect("dictstore://"),
    )
    first.set("k", b"v")
    first.set_add("group", ["k"])
    assert second.get("k") == b"v"
    assert second.set_members("group") == {"k"}
    assert other.get("k") is None
    second.delete_many(["k", "group"])
    for backend in (first, second, other):
        backend.close()
