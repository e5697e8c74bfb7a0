"""Expiry: ttl on set, expire, ttl(); the same test drives a fake clock (memory) or real time."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from kvsession.errors import BackendError, ConflictError
from kvsession.protocol import ExpireOp, RefreshTtlOp, SetAddOp, SetOp

if TYPE_CHECKING:
    from tests.conftest import BackendHarness

TTL = 0.2
PAST_TTL = 0.3


def _within(left: float | None, ttl: float) -> bool:
    """A remaining ttl is positive and at most the ttl set (plus float noise of a fake clock)."""
    return left is not None and 0 < left <= ttl + 1e-9


def test_set_with_ttl_expires(kv: BackendHarness) -> None:
    kv.backend.set("k", b"x", ttl=TTL)
    assert _within(kv.backend.ttl("k"), TTL)
    assert kv.backend.get("k") == b"x"
    kv.advance(PAST_TTL)
    assert kv.backend.get("k") is None
    assert kv.backend.exists("k") is False
    assert kv.backend.get_many(["k"]) == [None]
    with pytest.raises(KeyError):
        kv.backend.ttl("k")


def test_expired_key_counts_as_absent(kv: BackendHarness) -> None:
    kv.backend.set("k", b"old", ttl=TTL)
    kv.advance(PAST_TTL)
    assert kv.backend.set("k", b"x", only_if_present=True) is False
    assert kv.backend.set("k", b"new", only_if_absent=True) is True
    assert kv.backend.get("k") == b"new"


def test_ttl_of_a_key_without_expiry_is_none(kv: BackendHarness) -> None:
    kv.backend.set("k", b"x")
    assert kv.backend.ttl("k") is None


def test_ttl_of_a_missing_key_raises_key_error(kv: BackendHarness) -> None:
    with pytest.raises(KeyError):
        kv.backend.ttl("nope")


def test_set_without_ttl_clears_an_old_expiry(kv: BackendHarness) -> None:
    kv.backend.set("k", b"x", ttl=TTL)
    kv.backend.set("k", b"y")
    assert kv.backend.ttl("k") is None
    kv.advance(PAST_TTL)
    assert kv.backend.get("k") == b"y"


def test_expire_on_a_missing_key_is_false(kv: BackendHarness) -> None:
    assert kv.backend.expire("nope", 10) is False
    assert kv.backend.exists("nope") is False


@pytest.mark.parametrize("kind", ["value", "index", "set"])
def test_expire_works_for_every_kind(kv: BackendHarness, kind: str) -> None:
    if kind == "value":
        kv.backend.set("k", b"x")
    elif kind == "index":
        kv.backend.index_add("k", {"m": 1})
    else:
        kv.backend.set_add("k", ["m"])
    assert kv.backend.expire("k", TTL) is True
    assert _within(kv.backend.ttl("k"), TTL)
    kv.advance(PAST_TTL)
    assert kv.backend.exists("k") is False


def test_expire_extends_a_ttl(kv: BackendHarness) -> None:
    kv.backend.set("k", b"x", ttl=TTL)
    assert kv.backend.expire("k", 60) is True
    kv.advance(PAST_TTL)
    assert kv.backend.get("k") == b"x"
    left = kv.backend.ttl("k")
    assert _within(left, 60) and left is not None and left > 59


def test_batch_ttl_and_expire(kv: BackendHarness) -> None:
    kv.backend.index_add("idx", {"m": 1})
    kv.backend.apply([SetOp("short", b"x", ttl=TTL), SetOp("long", b"y", ttl=60), ExpireOp("idx", TTL)])
    kv.backend.apply([ExpireOp("missing", TTL)])  # ignored, as documented
    kv.advance(PAST_TTL)
    assert kv.backend.get_many(["short", "long"]) == [None, b"y"]
    assert kv.backend.index_count("idx") == 0
    assert kv.backend.exists("missing") is False


def _group(kv: BackendHarness) -> None:
    """A set naming its keys (one of each kind, one missing), as the repository keeps per session."""
    kv.backend.set("v", b"x")
    kv.backend.index_add("idx", {"m": 1})
    kv.backend.set_add("s", ["m"])
    kv.backend.set_add("group", ["v", "idx", "s", "missing"])


def test_refresh_ttl_without_expiry_is_due(kv: BackendHarness) -> None:
    _group(kv)
    kv.backend.apply([RefreshTtlOp("group", TTL, below=TTL / 2)])
    for key in ["v", "idx", "s", "group"]:
        assert _within(kv.backend.ttl(key), TTL), key
    assert kv.backend.exists("missing") is False
    kv.advance(PAST_TTL)
    assert not any(kv.backend.exists(k) for k in ["v", "idx", "s", "group"])


def test_refresh_ttl_runs_only_when_due(kv: BackendHarness) -> None:
    _group(kv)
    kv.backend.expire("group", 60)
    kv.backend.apply([RefreshTtlOp("group", 120, below=30)])  # 60 s left >= 30: not due
    assert kv.backend.ttl("v") is None
    left = kv.backend.ttl("group")
    assert left is not None and 59 < left <= 60 + 1e-9
    kv.backend.apply([RefreshTtlOp("group", 120, below=90)])  # 60 s left < 90: due
    for key in ["v", "idx", "s", "group"]:
        left = kv.backend.ttl(key)
        assert left is not None and 119 < left <= 120 + 1e-9, key


def test_refresh_ttl_of_a_missing_group_does_nothing(kv: BackendHarness) -> None:
    kv.backend.set("v", b"x")
    kv.backend.apply([RefreshTtlOp("nope", TTL, below=TTL), SetOp("after", b"y")])
    assert kv.backend.ttl("v") is None
    assert kv.backend.get("after") == b"y"


def test_refresh_ttl_sees_the_batchs_own_writes(kv: BackendHarness) -> None:
    kv.backend.apply([SetOp("v", b"x"), SetAddOp("group", ("v",)), RefreshTtlOp("group", TTL, below=TTL)])
    assert _within(kv.backend.ttl("v"), TTL)
    assert _within(kv.backend.ttl("group"), TTL)


def test_refresh_ttl_on_a_non_set_applies_nothing(kv: BackendHarness) -> None:
    kv.backend.index_add("idx", {"v": 1})
    with pytest.raises(BackendError) as caught:
        kv.backend.apply([SetOp("first", b"x"), RefreshTtlOp("idx", TTL, below=TTL)])
    assert caught.value.key == "idx"
    assert not isinstance(caught.value, ConflictError)
    assert kv.backend.exists("first") is False
