"""Ordered indexes (sorted sets) and set indexes: order, ranges, prefixes, scores, removal."""

# ruff: noqa: D102 -- each test's name states the rule it checks.

from __future__ import annotations

import pytest

from kvsession.kv.protocol import KeyValueBackend
from kvsession.testing.conformance.harness import BackendTestBase

__all__ = ["IndexTests"]

# The order of the members ``_ranked`` adds: by score, ties broken by member.
ORDER = ["neg", "z", "half", "a", "b", "c", "big"]

# Members of one lexical index (every score 0): prefixes, emoji, CJK, the last code point.
PREFIXED = [
    "a",
    "ab",
    "abc",
    "abd",
    "a😀",
    "a中文",
    "a\u00ff",
    "b",
    "😀",
    "😀x",
    "😀y",
    "中",
    "中文",
    "中文字",
    "\U0010ffff",
]


class IndexTests(BackendTestBase):
    """Ordered and set indexes: ranking, ranges by position and prefix, exact scores, removal."""

    def _ranked(self) -> KeyValueBackend:
        """Fill ``idx`` with the members of :data:`ORDER`; return the backend."""
        # Ties at score 1 are broken by member; negative, fractional and huge scores sort numerically.
        self.backend.index_add(
            "idx", {"b": 1, "a": 1, "c": 1, "neg": -2.5, "half": 0.5, "big": 1e300, "z": 0}
        )
        return self.backend

    def _lexical(self) -> KeyValueBackend:
        """Fill ``lex`` with :data:`PREFIXED`, all at score 0; return the backend."""
        self.backend.index_add("lex", dict.fromkeys(PREFIXED, 0.0))
        return self.backend

    def test_missing_index_is_empty(self) -> None:
        assert self.backend.index_range("nope") == []
        assert self.backend.index_range_with_scores("nope") == []
        assert self.backend.index_range_by_prefix("nope", "a") == []
        assert self.backend.index_count("nope") == 0
        assert self.backend.index_score("nope", "m") is None
        assert self.backend.index_remove("nope", ["m"]) == 0

    def test_range_orders_by_score_then_member(self) -> None:
        assert self._ranked().index_range("idx") == ORDER

    def test_range_reverse(self) -> None:
        assert self._ranked().index_range("idx", reverse=True) == ORDER[::-1]

    @pytest.mark.parametrize(
        ("offset", "limit"),
        [(0, None), (0, 3), (2, 3), (5, None), (5, 10), (7, None), (9, 2), (3, 0), (0, 0)],
    )
    @pytest.mark.parametrize("reverse", [False, True])
    def test_range_offset_and_limit(self, offset: int, limit: int | None, reverse: bool) -> None:
        backend = self._ranked()
        expected = (ORDER[::-1] if reverse else ORDER)[offset : None if limit is None else offset + limit]
        assert backend.index_range("idx", offset=offset, limit=limit, reverse=reverse) == expected
        with_scores = backend.index_range_with_scores("idx", offset=offset, limit=limit, reverse=reverse)
        assert [member for member, _ in with_scores] == expected
        assert all(backend.index_score("idx", member) == score for member, score in with_scores)

    def test_add_counts_new_members_and_moves_existing(self) -> None:
        assert self.backend.index_add("idx", {"a": 1, "b": 2}) == 2
        assert self.backend.index_add("idx", {"a": 3, "c": 0}) == 1
        assert self.backend.index_range("idx") == ["c", "b", "a"]
        assert self.backend.index_score("idx", "a") == 3
        assert self.backend.index_add("idx", {}) == 0

    @pytest.mark.parametrize("score", [0.1, -0.0, 1 / 3, 2**53 + 0.0, 1e-300, float("inf"), float("-inf")])
    def test_scores_round_trip_exactly(self, score: float) -> None:
        self.backend.index_add("idx", {"m": score})
        assert self.backend.index_score("idx", "m") == score
        assert self.backend.index_score("idx", "other") is None

    def test_remove_and_count(self) -> None:
        backend = self._ranked()
        assert backend.index_count("idx") == len(ORDER)
        assert backend.index_remove("idx", ["a", "missing", "big"]) == 2
        assert backend.index_count("idx") == len(ORDER) - 2
        assert backend.index_remove("idx", []) == 0

    def test_removing_every_member_removes_the_key(self) -> None:
        self.backend.index_add("idx", {"a": 1})
        self.backend.index_remove("idx", ["a"])
        assert self.backend.exists("idx") is False
        assert self.backend.set("idx", b"now a value", only_if_absent=True) is True

    @pytest.mark.parametrize(
        "prefix", ["a", "ab", "abc", "abz", "😀", "中", "中文", "b", "", "\U0010ffff", "zzz"]
    )
    def test_range_by_prefix_is_lexicographic(self, prefix: str) -> None:
        expected = sorted(m for m in PREFIXED if m.startswith(prefix))
        assert self._lexical().index_range_by_prefix("lex", prefix) == expected

    @pytest.mark.parametrize(("offset", "limit"), [(0, 2), (1, 2), (2, None), (4, 10), (10, None), (0, 0)])
    def test_range_by_prefix_offset_and_limit(self, offset: int, limit: int | None) -> None:
        matching = sorted(m for m in PREFIXED if m.startswith("a"))
        expected = matching[offset : None if limit is None else offset + limit]
        assert self._lexical().index_range_by_prefix("lex", "a", offset=offset, limit=limit) == expected

    def test_unicode_members(self) -> None:
        members = {"😀": 3.0, "中文": 1.0, "ünï": 2.0}
        self.backend.index_add("idx", members)
        assert self.backend.index_range("idx") == ["中文", "ünï", "😀"]
        assert self.backend.index_score("idx", "😀") == 3.0
        self.backend.set_add("set", list(members))
        assert self.backend.set_members("set") == set(members)

    def test_set_index(self) -> None:
        assert self.backend.set_members("s") == set()
        assert self.backend.set_add("s", ["a", "b"]) == 2
        assert self.backend.set_add("s", ["b", "c"]) == 1
        assert self.backend.set_members("s") == {"a", "b", "c"}
        assert self.backend.set_remove("s", ["a", "missing"]) == 1
        assert self.backend.set_members("s") == {"b", "c"}
        assert self.backend.set_add("s", []) == 0
        assert self.backend.set_remove("s", []) == 0

    def test_removing_every_set_member_removes_the_key(self) -> None:
        self.backend.set_add("s", ["a"])
        assert self.backend.set_remove("s", ["a"]) == 1
        assert self.backend.exists("s") is False
