"""Atomic batches: every op or none, conditions judged against the batch's own earlier ops."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from kvsession.batch import Batch
from kvsession.errors import BackendError, ConflictError
from kvsession.protocol import (
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

if TYPE_CHECKING:
    from tests.conftest import BackendHarness


def _state(backend: KeyValueBackend) -> tuple[list[bytes | None], list[str], set[str]]:
    return backend.get_many(["a", "b", "c"]), backend.index_range("idx"), backend.set_members("set")


def test_empty_batch_does_nothing(kv: BackendHarness) -> None:
    kv.backend.apply([])
    with Batch(kv.backend):
        pass
    assert kv.backend.exists("a") is False


def test_every_kind_of_op_is_applied_in_order(kv: BackendHarness) -> None:
    kv.backend.set("gone", b"x")
    kv.backend.apply(
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
    assert _state(kv.backend) == ([b"2", None, None], ["m1", "m3"], {"y"})
    assert kv.backend.exists("gone") is False
    left = kv.backend.ttl("a")
    assert left is not None and 59 < left <= 60 + 1e-9


def test_batch_builder_applies_on_exit_and_drops_on_error(kv: BackendHarness) -> None:
    with Batch(kv.backend) as batch:
        batch.set("a", b"1", only_if_absent=True).index_add("idx", {"a": 0}).set_add("set", "a")
    assert _state(kv.backend) == ([b"1", None, None], ["a"], {"a"})
    with pytest.raises(RuntimeError), Batch(kv.backend) as batch:
        batch.set("b", b"2")
        raise RuntimeError("abandon")
    assert kv.backend.get("b") is None


@pytest.mark.parametrize(
    ("setup", "failing"),
    [
        pytest.param(ExpireOp("c", 60), SetOp("c", b"x", only_if_absent=True), id="only_if_absent"),
        pytest.param(SetOp("d", b"x"), SetOp("missing", b"x", only_if_present=True), id="only_if_present"),
        # The batch itself deleted "c" before the update: sequentially it is missing by then.
        pytest.param(DeleteOp(("c",)), SetOp("c", b"x", only_if_present=True), id="deleted_in_batch"),
    ],
)
def test_a_condition_failing_in_the_last_op_applies_nothing(
    kv: BackendHarness, setup: WriteOp, failing: SetOp
) -> None:
    kv.backend.set("c", b"existing")
    before = _state(kv.backend)
    ops: list[WriteOp] = [
        SetOp("a", b"1"),
        IndexAddOp("idx", (("m", 1.0),)),
        SetAddOp("set", ("x",)),
        setup,
        failing,
    ]
    with pytest.raises(ConflictError) as caught:
        kv.backend.apply(ops)
    assert caught.value.key == failing.key
    assert failing.key in str(caught.value)
    assert _state(kv.backend) == before
    assert kv.backend.get("c") == b"existing"
    assert kv.backend.ttl("c") is None
    assert kv.backend.exists("d") is False


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
    kv: BackendHarness, wrong: IndexAddOp | IndexRemoveOp | SetAddOp | SetRemoveOp
) -> None:
    kv.backend.set("v", b"value")
    kv.backend.index_add("idx", {"m": 1})
    kv.backend.set_add("set", ["m"])
    with pytest.raises(BackendError) as caught:
        kv.backend.apply([SetOp("a", b"1"), DeleteOp(("b",)), IndexAddOp("new", (("x", 1.0),)), wrong])
    assert not isinstance(caught.value, ConflictError)
    assert caught.value.key == wrong.key
    assert kv.backend.get("a") is None
    assert kv.backend.exists("new") is False
    assert kv.backend.get("v") == b"value"


def test_a_kind_created_earlier_in_the_batch_is_checked(kv: BackendHarness) -> None:
    with pytest.raises(BackendError) as caught:
        kv.backend.apply([SetOp("a", b"1"), SetAddOp("a", ("m",))])
    assert caught.value.key == "a"
    assert kv.backend.exists("a") is False


def test_delete_then_create_in_one_batch(kv: BackendHarness) -> None:
    kv.backend.set("a", b"old")
    kv.backend.index_add("idx", {"old": 1})
    kv.backend.apply(
        [
            DeleteOp(("a", "idx")),
            SetOp("a", b"new", only_if_absent=True),
            SetAddOp("idx", ("now-a-set",)),
        ]
    )
    assert kv.backend.get("a") == b"new"
    assert kv.backend.set_members("idx") == {"now-a-set"}


def test_create_then_update_in_one_batch(kv: BackendHarness) -> None:
    kv.backend.apply([SetOp("a", b"1", only_if_absent=True), SetOp("a", b"2", only_if_present=True)])
    assert kv.backend.get("a") == b"2"


def test_large_batches(kv: BackendHarness) -> None:
    """More members and keys than one Lua ``unpack`` can take: the script sends them in chunks."""
    members = tuple((f"m{i:05d}", float(i)) for i in range(5_000))
    keys = tuple(f"k{i}" for i in range(3_000))
    kv.backend.apply([IndexAddOp("idx", members), *(SetOp(k, b"x") for k in keys[:50])])
    assert kv.backend.index_count("idx") == 5_000
    kv.backend.apply([IndexRemoveOp("idx", tuple(m for m, _ in members[:4_000])), DeleteOp(keys)])
    assert kv.backend.index_range("idx", limit=1) == ["m04000"]
    assert kv.backend.get_many(list(keys[:50])) == [None] * 50


def test_require_is_a_precondition_that_writes_nothing(kv: BackendHarness) -> None:
    kv.backend.set("root", b"r")
    kv.backend.apply([RequireOp("root", present=True), SetOp("a", b"1")])
    assert kv.backend.get("a") == b"1"
    for failing in (RequireOp("root", present=False), RequireOp("nope", present=True)):
        with pytest.raises(ConflictError) as info:
            kv.backend.apply([SetOp("b", b"2"), failing])
        assert info.value.key == failing.key
        assert kv.backend.get("b") is None
    kv.backend.apply([DeleteOp(("root",)), RequireOp("root", present=False), SetOp("c", b"3")])
    assert kv.backend.get("c") == b"3"


def test_delete_group_deletes_the_set_and_every_key_it_names(kv: BackendHarness) -> None:
    kv.backend.set("g:value", b"v")
    kv.backend.index_add("g:index", {"m": 1})
    kv.backend.set_add("g:set", ["x"])
    kv.backend.set("outsider", b"o")
    kv.backend.set_add("group", ["g:value", "g:index", "g:set", "g:never-there"])
    kv.backend.apply([DeleteGroupOp("group"), SetOp("g:value", b"new", only_if_absent=True)])
    assert kv.backend.get("g:value") == b"new"  # judged after the group delete: absent
    assert not any(kv.backend.exists(key) for key in ("g:index", "g:set", "group"))
    assert kv.backend.get("outsider") == b"o"
    kv.backend.apply([DeleteGroupOp("no-such-group")])


def test_delete_group_on_a_key_of_another_kind_applies_nothing(kv: BackendHarness) -> None:
    kv.backend.set("group", b"not a set")
    with pytest.raises(BackendError) as info:
        kv.backend.apply([SetOp("a", b"1"), DeleteGroupOp("group")])
    assert info.value.key == "group"
    assert kv.backend.get("a") is None


def test_a_group_delete_after_another_op_on_its_set_is_refused(kv: BackendHarness) -> None:
    """Members of a set the batch itself changed are not tracked: such a batch is refused whole."""
    kv.backend.set("a", b"1")
    kv.backend.set_add("group", ["a"])
    with pytest.raises(BackendError) as info:
        kv.backend.apply([SetOp("x", b"2"), SetAddOp("group", ("b",)), DeleteGroupOp("group")])
    assert info.value.key == "group"
    assert kv.backend.get("x") is None and kv.backend.get("a") == b"1"


def test_an_add_of_no_members_creates_nothing_in_a_batch(kv: BackendHarness) -> None:
    kv.backend.apply(
        [SetAddOp("empty", ()), IndexAddOp("empty-index", ()), RequireOp("empty", present=False)]
    )
    assert not kv.backend.exists("empty") and not kv.backend.exists("empty-index")


def test_a_failed_require_says_what_was_required(kv: BackendHarness) -> None:
    kv.backend.set("here", b"1")
    with pytest.raises(ConflictError, match="required key is missing"):
        kv.backend.apply([RequireOp("gone", present=True)])
    with pytest.raises(ConflictError, match="required to be absent"):
        kv.backend.apply([RequireOp("here", present=False)])
