"""Expiry: ttl on set, expire, ttl(), group refresh; time passes through ``self.advance``."""

# ruff: noqa: D102 -- each test's name states the rule it checks.

from __future__ import annotations

import pytest

from kvsession.kv.errors import BackendError, ConflictError
from kvsession.kv.protocol import ExpireOp, RefreshTtlOp, SetAddOp, SetOp
from kvsession.testing.conformance.harness import BackendTestBase

__all__ = ["ExpiryTests"]

TTL = 0.2
PAST_TTL = 0.3


def _within(left: float | None, ttl: float) -> bool:
    """Tell whether a remaining ttl is positive and at most ``ttl`` (plus a fake clock's float noise)."""
    return left is not None and 0 < left <= ttl + 1e-9


class ExpiryTests(BackendTestBase):
    """Expiry: ttls on set, expire and in batches, and the group ttl refresh."""

    def test_set_with_ttl_expires(self) -> None:
        self.backend.set("k", b"x", ttl=TTL)
        assert _within(self.backend.ttl("k"), TTL)
        assert self.backend.get("k") == b"x"
        self.advance(PAST_TTL)
        assert self.backend.get("k") is None
        assert self.backend.exists("k") is False
        assert self.backend.get_many(["k"]) == [None]
        with pytest.raises(KeyError):
            self.backend.ttl("k")

    def test_expired_key_counts_as_absent(self) -> None:
        self.backend.set("k", b"old", ttl=TTL)
        self.advance(PAST_TTL)
        assert self.backend.set("k", b"x", only_if_present=True) is False
        assert self.backend.set("k", b"new", only_if_absent=True) is True
        assert self.backend.get("k") == b"new"

    def test_ttl_of_a_key_without_expiry_is_none(self) -> None:
        self.backend.set("k", b"x")
        assert self.backend.ttl("k") is None

    def test_ttl_of_a_missing_key_raises_key_error(self) -> None:
        with pytest.raises(KeyError):
            self.backend.ttl("nope")

    def test_set_without_ttl_clears_an_old_expiry(self) -> None:
        self.backend.set("k", b"x", ttl=TTL)
        self.backend.set("k", b"y")
        assert self.backend.ttl("k") is None
        self.advance(PAST_TTL)
        assert self.backend.get("k") == b"y"

    def test_expire_on_a_missing_key_is_false(self) -> None:
        assert self.backend.expire("nope", 10) is False
        assert self.backend.exists("nope") is False

    @pytest.mark.parametrize("kind", ["value", "index", "set"])
    def test_expire_works_for_every_kind(self, kind: str) -> None:
        if kind == "value":
            self.backend.set("k", b"x")
        elif kind == "index":
            self.backend.index_add("k", {"m": 1})
        else:
            self.backend.set_add("k", ["m"])
        assert self.backend.expire("k", TTL) is True
        assert _within(self.backend.ttl("k"), TTL)
        self.advance(PAST_TTL)
        assert self.backend.exists("k") is False

    def test_expire_extends_a_ttl(self) -> None:
        self.backend.set("k", b"x", ttl=TTL)
        assert self.backend.expire("k", 60) is True
        self.advance(PAST_TTL)
        assert self.backend.get("k") == b"x"
        left = self.backend.ttl("k")
        assert _within(left, 60) and left is not None and left > 59

    def test_batch_ttl_and_expire(self) -> None:
        self.backend.index_add("idx", {"m": 1})
        self.backend.apply([SetOp("short", b"x", ttl=TTL), SetOp("long", b"y", ttl=60), ExpireOp("idx", TTL)])
        self.backend.apply([ExpireOp("missing", TTL)])  # ignored, as documented
        self.advance(PAST_TTL)
        assert self.backend.get_many(["short", "long"]) == [None, b"y"]
        assert self.backend.index_count("idx") == 0
        assert self.backend.exists("missing") is False

    def _group(self) -> None:
        """Store a set naming its keys (one of each kind, one missing), as a session's group is kept."""
        self.backend.set("v", b"x")
        self.backend.index_add("idx", {"m": 1})
        self.backend.set_add("s", ["m"])
        self.backend.set_add("group", ["v", "idx", "s", "missing"])

    def test_refresh_ttl_without_expiry_is_due(self) -> None:
        self._group()
        self.backend.apply([RefreshTtlOp("group", TTL, below=TTL / 2)])
        for key in ["v", "idx", "s", "group"]:
            assert _within(self.backend.ttl(key), TTL), key
        assert self.backend.exists("missing") is False
        self.advance(PAST_TTL)
        assert not any(self.backend.exists(k) for k in ["v", "idx", "s", "group"])

    def test_refresh_ttl_runs_only_when_due(self) -> None:
        self._group()
        self.backend.expire("group", 60)
        self.backend.apply([RefreshTtlOp("group", 120, below=30)])  # 60 s left >= 30: not due
        assert self.backend.ttl("v") is None
        left = self.backend.ttl("group")
        assert left is not None and 59 < left <= 60 + 1e-9
        self.backend.apply([RefreshTtlOp("group", 120, below=90)])  # 60 s left < 90: due
        for key in ["v", "idx", "s", "group"]:
            left = self.backend.ttl(key)
            assert left is not None and 119 < left <= 120 + 1e-9, key

    def test_refresh_ttl_of_a_missing_group_does_nothing(self) -> None:
        self.backend.set("v", b"x")
        self.backend.apply([RefreshTtlOp("nope", TTL, below=TTL), SetOp("after", b"y")])
        assert self.backend.ttl("v") is None
        assert self.backend.get("after") == b"y"

    def test_refresh_ttl_sees_the_batchs_own_writes(self) -> None:
        self.backend.apply(
            [SetOp("v", b"x"), SetAddOp("group", ("v",)), RefreshTtlOp("group", TTL, below=TTL)]
        )
        assert _within(self.backend.ttl("v"), TTL)
        assert _within(self.backend.ttl("group"), TTL)

    def test_refresh_ttl_on_a_non_set_applies_nothing(self) -> None:
        self.backend.index_add("idx", {"v": 1})
        with pytest.raises(BackendError) as caught:
            self.backend.apply([SetOp("first", b"x"), RefreshTtlOp("idx", TTL, below=TTL)])
        assert caught.value.key == "idx"
        assert not isinstance(caught.value, ConflictError)
        assert self.backend.exists("first") is False
