"""Values: get / get_many / set (conditions, races, sizes, unicode) / delete_many / exists / kinds."""

# ruff: noqa: D102 -- each test's name states the rule it checks.

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import pytest

from kvsession.kv.errors import BackendError, ConflictError, ValueTooLargeError
from kvsession.kv.protocol import IndexAddOp, SetOp
from kvsession.testing.conformance.harness import BackendTestBase

__all__ = ["ValuesTests"]

ALL_BYTES = bytes(range(256))


def _race(threads: int, attempt: Callable[[int], bool]) -> list[int]:
    """Run ``attempt(i)`` in ``threads`` threads released together; return who succeeded."""
    barrier = threading.Barrier(threads)
    winners: list[int] = []
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            if attempt(i):
                winners.append(i)
        except BaseException as exc:  # surfaced below; a thread must not die silently
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert not errors, errors
    return winners


class ValuesTests(BackendTestBase):
    """Values: byte-exact storage, conditional writes, sizes, unicode keys, kinds, races."""

    def test_get_missing_is_none(self) -> None:
        assert self.backend.get("nope") is None

    @pytest.mark.parametrize("value", [b"", b"plain", ALL_BYTES, b"\x80\xde\xdf\x00\xff" * 10])
    def test_set_then_get_is_byte_exact(self, value: bytes) -> None:
        assert self.backend.set("k", value) is True
        assert self.backend.get("k") == value

    def test_set_overwrites(self) -> None:
        self.backend.set("k", b"one")
        self.backend.set("k", b"two")
        assert self.backend.get("k") == b"two"

    def test_get_many_keeps_order_and_reports_missing(self) -> None:
        self.backend.set("a", b"1")
        self.backend.set("c", b"3")
        assert self.backend.get_many(["c", "missing", "a", "c"]) == [b"3", None, b"1", b"3"]
        assert self.backend.get_many([]) == []

    def test_get_many_reads_other_kinds_as_missing(self) -> None:
        self.backend.index_add("idx", {"m": 1})
        self.backend.set_add("set", ["m"])
        self.backend.set("v", b"x")
        assert self.backend.get_many(["idx", "v", "set"]) == [None, b"x", None]

    def test_only_if_absent_creates_once(self) -> None:
        assert self.backend.set("k", b"first", only_if_absent=True) is True
        assert self.backend.set("k", b"second", only_if_absent=True) is False
        assert self.backend.get("k") == b"first"

    def test_only_if_absent_sees_keys_of_every_kind(self) -> None:
        self.backend.index_add("idx", {"m": 1})
        assert self.backend.set("idx", b"x", only_if_absent=True) is False
        assert self.backend.index_count("idx") == 1

    def test_only_if_present_updates_only_existing(self) -> None:
        assert self.backend.set("k", b"x", only_if_present=True) is False
        assert self.backend.get("k") is None
        self.backend.set("k", b"old")
        assert self.backend.set("k", b"new", only_if_present=True) is True
        assert self.backend.get("k") == b"new"

    def test_both_conditions_never_write(self) -> None:
        assert self.backend.set("k", b"x", only_if_absent=True, only_if_present=True) is False
        self.backend.set("k", b"old")
        assert self.backend.set("k", b"x", only_if_absent=True, only_if_present=True) is False
        assert self.backend.get("k") == b"old"

    def test_delete_many_counts_existing_keys_of_every_kind(self) -> None:
        self.backend.set("v", b"x")
        self.backend.index_add("idx", {"m": 1})
        self.backend.set_add("set", ["m"])
        assert self.backend.delete_many(["v", "idx", "set", "missing"]) == 3
        assert not any(self.backend.exists(k) for k in ["v", "idx", "set"])
        assert self.backend.delete_many([]) == 0

    def test_exists_for_every_kind(self) -> None:
        assert self.backend.exists("v") is False
        self.backend.set("v", b"")
        self.backend.index_add("idx", {"m": 1})
        self.backend.set_add("set", ["m"])
        assert [self.backend.exists(k) for k in ["v", "idx", "set"]] == [True, True, True]

    @pytest.mark.parametrize("key", ["session:😀:agent:中文", "ключ", "k e y", "a\tb", "{tag}:x"])
    def test_unicode_keys(self, key: str) -> None:
        self.backend.set(key, "värde 😀 中文".encode())
        assert self.backend.get(key) == "värde 😀 中文".encode()
        assert self.backend.get_many([key]) == ["värde 😀 中文".encode()]
        assert self.backend.delete_many([key]) == 1

    def test_ten_megabyte_value_round_trips(self) -> None:
        value = os.urandom(10 * 1024 * 1024)
        self.backend.set("big", value)
        assert self.backend.get("big") == value
        self.backend.apply([SetOp("big2", value)])
        assert self.backend.get_many(["big", "big2"]) == [value, value]

    def test_value_too_large_is_refused_before_writing(self) -> None:
        small = self.another(max_value_bytes=8)
        with pytest.raises(ValueTooLargeError) as caught:
            small.set("k", b"123456789")
        assert (caught.value.key, caught.value.size, caught.value.limit) == ("k", 9, 8)
        assert small.set("k", b"12345678") is True
        with pytest.raises(ValueTooLargeError):
            small.apply([SetOp("first", b"ok"), SetOp("second", b"x" * 9)])
        assert small.get("first") is None

    @pytest.mark.parametrize(
        "call",
        [
            pytest.param(lambda b: b.get("idx"), id="get"),
            pytest.param(lambda b: b.set_add("idx", ["m"]), id="set_add"),
            pytest.param(lambda b: b.set_members("idx"), id="set_members"),
            pytest.param(lambda b: b.set_remove("idx", ["m"]), id="set_remove"),
        ],
    )
    def test_wrong_kind_on_an_index_names_the_key(self, call: Callable[..., object]) -> None:
        self.backend.index_add("idx", {"m": 1})
        with pytest.raises(BackendError) as caught:
            call(self.backend)
        assert caught.value.key == "idx"
        assert "idx" in str(caught.value)
        assert not isinstance(caught.value, ConflictError)

    @pytest.mark.parametrize(
        "call",
        [
            pytest.param(lambda b: b.index_add("v", {"m": 1}), id="index_add"),
            pytest.param(lambda b: b.index_range("v"), id="index_range"),
            pytest.param(lambda b: b.index_range_by_prefix("v", "m"), id="index_range_by_prefix"),
            pytest.param(lambda b: b.index_score("v", "m"), id="index_score"),
            pytest.param(lambda b: b.index_remove("v", ["m"]), id="index_remove"),
            pytest.param(lambda b: b.index_count("v"), id="index_count"),
            pytest.param(lambda b: b.set_add("v", ["m"]), id="set_add"),
        ],
    )
    def test_wrong_kind_on_a_value_names_the_key(self, call: Callable[..., object]) -> None:
        self.backend.set("v", b"x")
        with pytest.raises(BackendError) as caught:
            call(self.backend)
        assert caught.value.key == "v"
        assert self.backend.get("v") == b"x"

    @pytest.mark.parametrize("round_", range(3))
    def test_only_if_absent_race_on_set_has_one_winner(self, round_: int) -> None:
        backend, key = self.backend, f"race:{round_}"
        winners = _race(8, lambda i: backend.set(key, str(i).encode(), only_if_absent=True))
        assert len(winners) == 1
        assert backend.get(key) == str(winners[0]).encode()

    @pytest.mark.parametrize("round_", range(3))
    def test_only_if_absent_race_on_apply_has_one_winner(self, round_: int) -> None:
        backend, key = self.backend, f"race:{round_}"

        def create(i: int) -> bool:
            try:
                backend.apply(
                    [SetOp(key, str(i).encode(), only_if_absent=True), IndexAddOp("who", ((str(i), i),))]
                )
            except ConflictError as exc:
                assert exc.key == key
                return False
            return True

        winners = _race(8, create)
        assert len(winners) == 1
        assert backend.get(key) == str(winners[0]).encode()
        # The losers' index writes were part of their batches, so none of them happened.
        assert backend.index_range("who") == [str(winners[0])]
