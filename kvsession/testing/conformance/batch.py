"""Atomic batches: every op or none, conditions judged against the batch's own earlier ops."""

# ruff: noqa: D102 -- each test's name states the rule it checks.

from __future__ import annotations

import pytest

from kvsession.kv.batch import Batch
from kvsession.kv.errors import BackendError, ConflictError
from kvsession.kv.protocol import (
    DeleteGroupOp,
    DeleteOp,
    ExpireOp,
    IndexAddOp,
    IndexRemoveOp,
    KeyValueBackend,
    RequireOp,
    SetAddOp,
    SetOp,
    SetRemoveOp,
    WriteOp,
)
from kvsession.testing.conformance.harness import BackendTestBase

__all__ = ["BatchTests"]


def _state(backend: KeyValueBackend) -> tuple[list[bytes | None], list[str], set[str]]:
    return backend.get_many(["a", "b", "c"]), backend.index_range("idx"), backend.set_members("set")


class BatchTests(BackendTestBase):
    """Atomic batches: all or nothing, conditions and kinds judged against the batch's own ops."""

    def test_empty_batch_does_nothing(self) -> None:
        self.backend.apply([])
        with Batch(self.backend):
            pass
        assert self.backend.exists("a") is False

    def test_every_kind_of_op_is_applied_in_order(self) -> None:
        self.backend.set("gone", b"x")
        self.backend.apply(
            [
                SetOp("a", b"1"),
                SetOp("a", b"2", only_if_present=True),
                IndexAddOp("idx", (("m1", 1.0), ("m2", 2.0), ("m3", 3.0))),
                IndexRemoveOp("idx", ("m2",)),
                SetAddOp("set", ("x", "y")),
                SetRemoveOp("set", ("x",)),
                DeleteOp(("gone", "never-there")),
                ExpireOp("a", 60),
            ]
        )
        assert _state(self.backend) == ([b"2", None, None], ["m1", "m3"], {"y"})
        assert self.backend.exists("gone") is False
        left = self.backend.ttl("a")
        assert left is not None and 59 < left <= 60 + 1e-9

    def test_batch_builder_applies_on_exit_and_drops_on_error(self) -> None:
        with Batch(self.backend) as batch:
            batch.set("a", b"1", only_if_absent=True).index_add("idx", {"a": 0}).set_add("set", "a")
        assert _state(self.backend) == ([b"1", None, None], ["a"], {"a"})
        with pytest.raises(RuntimeError), Batch(self.backend) as batch:
            batch.set("b", b"2")
            raise RuntimeError("abandon")
        assert self.backend.get("b") is None

    @pytest.mark.parametrize(
        ("setup", "failing"),
        [
            pytest.param(ExpireOp("c", 60), SetOp("c", b"x", only_if_absent=True), id="only_if_absent"),
            pytest.param(
                SetOp("d", b"x"), SetOp("missing", b"x", only_if_present=True), id="only_if_present"
            ),
            # The batch itself deleted "c" before the update: sequentially it is missing by then.
            pytest.param(DeleteOp(("c",)), SetOp("c", b"x", only_if_present=True), id="deleted_in_batch"),
        ],
    )
    def test_a_condition_failing_in_the_last_op_applies_nothing(self, setup: WriteOp, failing: SetOp) -> None:
        self.backend.set("c", b"existing")
        before = _state(self.backend)
        ops: list[WriteOp] = [
            SetOp("a", b"1"),
            IndexAddOp("idx", (("m", 1.0),)),
            SetAddOp("set", ("x",)),
            setup,
            failing,
        ]
        with pytest.raises(ConflictError) as caught:
            self.backend.apply(ops)
        assert caught.value.key == failing.key
        assert failing.key in str(caught.value)
        assert _state(self.backend) == before
        assert self.backend.get("c") == b"existing"
        assert self.backend.ttl("c") is None
        assert self.backend.exists("d") is False

    @pytest.mark.parametrize(
        "wrong",
        [
            pytest.param(IndexAddOp("v", (("m", 1.0),)), id="index_add_on_value"),
            pytest.param(IndexRemoveOp("set", ("m",)), id="index_remove_on_set"),
            pytest.param(SetAddOp("idx", ("m",)), id="set_add_on_index"),
            pytest.param(SetRemoveOp("v", ("m",)), id="set_remove_on_value"),
        ],
    )
    def test_a_wrong_kind_op_applies_nothing(
        self, wrong: IndexAddOp | IndexRemoveOp | SetAddOp | SetRemoveOp
    ) -> None:
        self.backend.set("v", b"value")
        self.backend.index_add("idx", {"m": 1})
        self.backend.set_add("set", ["m"])
        with pytest.raises(BackendError) as caught:
            self.backend.apply([SetOp("a", b"1"), DeleteOp(("b",)), IndexAddOp("new", (("x", 1.0),)), wrong])
        assert not isinstance(caught.value, ConflictError)
        assert caught.value.key == wrong.key
        assert self.backend.get("a") is None
        assert self.backend.exists("new") is False
        assert self.backend.get("v") == b"value"

    def test_a_kind_created_earlier_in_the_batch_is_checked(self) -> None:
        with pytest.raises(BackendError) as caught:
            self.backend.apply([SetOp("a", b"1"), SetAddOp("a", ("m",))])
        assert caught.value.key == "a"
        assert self.backend.exists("a") is False

    def test_delete_then_create_in_one_batch(self) -> None:
        self.backend.set("a", b"old")
        self.backend.index_add("idx", {"old": 1})
        self.backend.apply(
            [
                DeleteOp(("a", "idx")),
                SetOp("a", b"new", only_if_absent=True),
                SetAddOp("idx", ("now-a-set",)),
            ]
        )
        assert self.backend.get("a") == b"new"
        assert self.backend.set_members("idx") == {"now-a-set"}

    def test_create_then_update_in_one_batch(self) -> None:
        self.backend.apply([SetOp("a", b"1", only_if_absent=True), SetOp("a", b"2", only_if_present=True)])
        assert self.backend.get("a") == b"2"

    def test_large_batches(self) -> None:
        """More members and keys than one Lua ``unpack`` can take: the script sends them in chunks."""
        members = tuple((f"m{i:05d}", float(i)) for i in range(5_000))
        keys = tuple(f"k{i}" for i in range(3_000))
        self.backend.apply([IndexAddOp("idx", members), *(SetOp(k, b"x") for k in keys[:50])])
        assert self.backend.index_count("idx") == 5_000
        self.backend.apply([IndexRemoveOp("idx", tuple(m for m, _ in members[:4_000])), DeleteOp(keys)])
        assert self.backend.index_range("idx", limit=1) == ["m04000"]
        assert self.backend.get_many(list(keys[:50])) == [None] * 50

    def test_require_is_a_precondition_that_writes_nothing(self) -> None:
        self.backend.set("root", b"r")
        self.backend.apply([RequireOp("root", present=True), SetOp("a", b"1")])
        assert self.backend.get("a") == b"1"
        for failing in (RequireOp("root", present=False), RequireOp("nope", present=True)):
            with pytest.raises(ConflictError) as info:
                self.backend.apply([SetOp("b", b"2"), failing])
            assert info.value.key == failing.key
            assert self.backend.get("b") is None
        self.backend.apply([DeleteOp(("root",)), RequireOp("root", present=False), SetOp("c", b"3")])
        assert self.backend.get("c") == b"3"

    def test_require_equals_applies_only_over_exactly_those_bytes(self) -> None:
        self.backend.set("fence", b"v1")
        self.backend.index_add("idx", {"m": 1})
        self.backend.apply([RequireOp("fence", True, b"v1"), SetOp("a", b"1")])
        assert self.backend.get("a") == b"1"
        for failing in (
            RequireOp("fence", True, b"v2"),
            RequireOp("fence", True, b"v"),
            RequireOp("fence", True, b""),
            RequireOp("nope", True, b""),
            RequireOp("idx", True, b"m"),
        ):
            with pytest.raises(ConflictError) as info:
                self.backend.apply([SetOp("b", b"2"), failing, SetOp("c", b"3")])
            assert info.value.key == failing.key
            assert self.backend.get_many(["b", "c"]) == [None, None]
        assert self.backend.get("fence") == b"v1"

    def test_require_equals_is_judged_after_the_ops_before_it(self) -> None:
        self.backend.set("fence", b"v1")
        self.backend.apply([SetOp("fence", b"v2"), RequireOp("fence", True, b"v2"), SetOp("a", b"1")])
        assert self.backend.get_many(["fence", "a"]) == [b"v2", b"1"]
        with pytest.raises(ConflictError):
            self.backend.apply([SetOp("fence", b"v3"), RequireOp("fence", True, b"v2")])
        with pytest.raises(ConflictError):
            self.backend.apply([DeleteOp(("fence",)), RequireOp("fence", True, b"v2")])
        assert self.backend.get("fence") == b"v2"
        self.backend.apply([RequireOp("fence", True, b"v2"), SetOp("fence", b"v3")])
        assert self.backend.get("fence") == b"v3"

    def test_require_equals_compares_binary_values_exactly(self) -> None:
        value = bytes(range(256))
        self.backend.set("fence", value)
        self.backend.apply([RequireOp("fence", True, value), SetOp("a", b"1")])
        with pytest.raises(ConflictError):
            self.backend.apply([RequireOp("fence", True, value[:-1] + b"\x00")])
        assert self.backend.get("a") == b"1"

    def test_delete_group_deletes_the_set_and_every_key_it_names(self) -> None:
        self.backend.set("g:value", b"v")
        self.backend.index_add("g:index", {"m": 1})
        self.backend.set_add("g:set", ["x"])
        self.backend.set("outsider", b"o")
        self.backend.set_add("group", ["g:value", "g:index", "g:set", "g:never-there"])
        self.backend.apply([DeleteGroupOp("group"), SetOp("g:value", b"new", only_if_absent=True)])
        assert self.backend.get("g:value") == b"new"  # judged after the group delete: absent
        assert not any(self.backend.exists(key) for key in ("g:index", "g:set", "group"))
        assert self.backend.get("outsider") == b"o"
        self.backend.apply([DeleteGroupOp("no-such-group")])

    def test_delete_group_on_a_key_of_another_kind_applies_nothing(self) -> None:
        self.backend.set("group", b"not a set")
        with pytest.raises(BackendError) as info:
            self.backend.apply([SetOp("a", b"1"), DeleteGroupOp("group")])
        assert info.value.key == "group"
        assert self.backend.get("a") is None

    def test_a_group_delete_after_another_op_on_its_set_is_refused(self) -> None:
        """Members of a set the batch itself changed are not tracked: such a batch is refused whole."""
        self.backend.set("a", b"1")
        self.backend.set_add("group", ["a"])
        with pytest.raises(BackendError) as info:
            self.backend.apply([SetOp("x", b"2"), SetAddOp("group", ("b",)), DeleteGroupOp("group")])
        assert info.value.key == "group"
        assert self.backend.get("x") is None and self.backend.get("a") == b"1"

    def test_an_add_of_no_members_creates_nothing_in_a_batch(self) -> None:
        self.backend.apply(
            [SetAddOp("empty", ()), IndexAddOp("empty-index", ()), RequireOp("empty", present=False)]
        )
        assert not self.backend.exists("empty") and not self.backend.exists("empty-index")

    def test_a_failed_require_says_what_was_required(self) -> None:
        self.backend.set("here", b"1")
        with pytest.raises(ConflictError, match="required key is missing"):
            self.backend.apply([RequireOp("gone", present=True)])
        with pytest.raises(ConflictError, match="required to be absent"):
            self.backend.apply([RequireOp("here", present=False)])
