"""Write tokens: a batch re-sent after a lost reply is recognised and not applied twice."""

# ruff: noqa: D102 -- each test's name states the rule it checks.

from __future__ import annotations

import pytest

from kvsession.kv.batch import Batch
from kvsession.kv.errors import BackendError, ConflictError
from kvsession.kv.protocol import (
    DeleteGroupOp,
    DeleteOp,
    IndexAddOp,
    RequireOp,
    SetAddOp,
    SetOp,
    WriteOp,
    WriteTokenOp,
)
from kvsession.testing.conformance.harness import BackendTestBase

__all__ = ["WriteTokenTests"]

TTL = 0.2
PAST_TTL = 0.3


def _create(token: bytes, *, ttl: float = 60) -> list[WriteOp]:
    """Return a create as a repository writes one: record, index entry, group entry, token."""
    return [
        RequireOp("root", present=True),
        SetOp("record", b"v1", only_if_absent=True),
        IndexAddOp("idx", (("record", 1.0),)),
        SetAddOp("group", ("record",)),
        WriteTokenOp("writer", token, ttl),
    ]


class WriteTokenTests(BackendTestBase):
    """``WriteTokenOp``: judged first; a batch whose token is already stored is not applied again."""

    def test_a_batch_with_a_token_is_applied_and_then_stores_the_token(self) -> None:
        self.backend.set("root", b"r")
        self.backend.apply(_create(b"t1"))
        assert self.backend.get("record") == b"v1"
        assert self.backend.index_range("idx") == ["record"]
        assert self.backend.get("writer") == b"t1"
        left = self.backend.ttl("writer")
        assert left is not None and 59 < left <= 60 + 1e-9

    def test_re_sending_an_applied_batch_succeeds_and_writes_nothing_again(self) -> None:
        self.backend.set("root", b"r")
        self.backend.apply(_create(b"t1"))
        # Changes made after the first application must survive the re-sent batch.
        self.backend.index_remove("idx", ["record"])
        self.backend.set("record", b"changed since")
        self.backend.apply(_create(b"t1"))  # its create would conflict: judged as applied instead
        assert self.backend.get("record") == b"changed since"
        assert self.backend.index_count("idx") == 0  # the index add is not redone
        assert self.backend.get("writer") == b"t1"

    def test_a_re_sent_delete_is_not_redone_and_its_condition_not_judged(self) -> None:
        self.backend.set("root", b"r")
        self.backend.set("a", b"1")
        self.backend.set_add("group", ["a"])
        delete: list[WriteOp] = [
            RequireOp("root", present=True),
            DeleteGroupOp("group"),
            DeleteOp(("root",)),
            WriteTokenOp("writer", b"t1", 60),
        ]
        self.backend.apply(delete)
        assert not any(self.backend.exists(key) for key in ("root", "a", "group"))
        self.backend.set("a", b"written after the delete")
        self.backend.apply(delete)  # the root is missing: without the token, a conflict
        assert self.backend.get("a") == b"written after the delete"

    def test_another_token_is_judged_as_usual(self) -> None:
        self.backend.set("root", b"r")
        self.backend.apply(_create(b"t1"))
        with pytest.raises(ConflictError) as caught:
            self.backend.apply(_create(b"t2"))
        assert caught.value.key == "record"
        assert self.backend.get("writer") == b"t1"  # a batch not applied stores no token
        self.backend.delete_many(["record"])
        self.backend.apply(_create(b"t2"))
        assert self.backend.get("writer") == b"t2"

    def test_a_batch_without_a_token_is_judged_again(self) -> None:
        self.backend.set("root", b"r")
        ops = [op for op in _create(b"t1") if not isinstance(op, WriteTokenOp)]
        self.backend.apply(ops)
        with pytest.raises(ConflictError) as caught:
            self.backend.apply(ops)
        assert caught.value.key == "record"
        assert self.backend.exists("writer") is False

    def test_a_failed_batch_stores_no_token(self) -> None:
        with pytest.raises(ConflictError) as caught:
            self.backend.apply(_create(b"t1"))  # no root
        assert caught.value.key == "root"
        assert not any(self.backend.exists(key) for key in ("record", "idx", "group", "writer"))

    def test_the_token_expires(self) -> None:
        self.backend.set("root", b"r")
        self.backend.apply(_create(b"t1", ttl=TTL))
        left = self.backend.ttl("writer")
        assert left is not None and 0 < left <= TTL + 1e-9
        self.advance(PAST_TTL)
        assert self.backend.exists("writer") is False
        with pytest.raises(ConflictError):  # too late to be recognised: judged as usual
            self.backend.apply(_create(b"t1", ttl=TTL))

    def test_the_token_may_be_queued_anywhere_and_replaces_an_old_value(self) -> None:
        self.backend.set("writer", b"an older token")
        self.backend.apply([WriteTokenOp("writer", b"t1", 60), SetOp("a", b"1"), SetAddOp("s", ("a",))])
        assert self.backend.get("writer") == b"t1"
        assert self.backend.get("a") == b"1"
        self.backend.set("a", b"2")
        self.backend.apply([SetOp("a", b"1"), WriteTokenOp("writer", b"t1", 60)])
        assert self.backend.get("a") == b"2"

    def test_a_token_key_holding_an_index_or_a_set_applies_nothing(self) -> None:
        self.backend.index_add("idx-token", {"m": 1})
        self.backend.set_add("set-token", ["m"])
        for key in ("idx-token", "set-token"):
            with pytest.raises(BackendError) as caught:
                self.backend.apply([SetOp("a", b"1"), WriteTokenOp(key, b"t1", 60)])
            assert not isinstance(caught.value, ConflictError)
            assert caught.value.key == key
            assert self.backend.exists("a") is False
        assert self.backend.index_count("idx-token") == 1
        assert self.backend.set_members("set-token") == {"m"}

    def test_two_tokens_in_one_batch_are_refused(self) -> None:
        with pytest.raises(BackendError):
            self.backend.apply(
                [SetOp("a", b"1"), WriteTokenOp("w1", b"t1", 60), WriteTokenOp("w2", b"t2", 60)]
            )
        assert not any(self.backend.exists(key) for key in ("a", "w1", "w2"))
        with pytest.raises(ValueError, match="at most one"):
            Batch(self.backend).token("w1", b"t1", ttl=60).token("w2", b"t2", ttl=60)

    def test_the_batch_builder_queues_a_token(self) -> None:
        with Batch(self.backend) as batch:
            batch.set("a", b"1", only_if_absent=True).index_remove("idx", "gone").token("w", b"t", ttl=60)
        assert self.backend.get("w") == b"t"
        with Batch(self.backend) as batch:
            batch.set("a", b"2", only_if_absent=True).token("w", b"t", ttl=60)
        assert self.backend.get("a") == b"1"

    def test_a_large_token_round_trips_byte_for_byte(self) -> None:
        token = bytes(range(256)) * 4
        self.backend.apply([SetOp("a", b"1", only_if_absent=True), WriteTokenOp("w", token, 60)])
        assert self.backend.get("w") == token
        self.backend.apply([SetOp("a", b"1", only_if_absent=True), WriteTokenOp("w", token, 60)])
        with pytest.raises(ConflictError):
            self.backend.apply([SetOp("a", b"1", only_if_absent=True), WriteTokenOp("w", token[:-1], 60)])
