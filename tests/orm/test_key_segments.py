"""Ids in keys: every id Strands accepts maps to one key segment, reversibly and unambiguously."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kvsession.kv.errors import InvalidIdError
from kvsession.orm import KeySpace, KeyTemplate, id_from_segment, key_segment, validate_id

SESSION = KeyTemplate("session:{session_id}", hash_tag="session_id")
AGENT = KeyTemplate("session:{session_id}:agent:{agent_id}", hash_tag="session_id")
MESSAGE = KeyTemplate("session:{session_id}:agent:{agent_id}:message:{message_id:int}", hash_tag="session_id")

# Text as Strands hands it over: any code point but lone surrogates (not UTF-8), of any length we take.
ids = st.text(st.characters(codec="utf-8"), max_size=40)


def _was_valid(text: str) -> bool:
    """The rule ids had to follow before escaping existed (kvsession 0.1)."""
    return (
        bool(text)
        and re.search(r"[:{}\s\x00-\x1f\x7f]", text) is None
        and all(char.isascii() or unicodedata.category(char)[0] not in "CZ" for char in text)
    )


plain_ids = st.text(st.characters(codec="utf-8"), min_size=1, max_size=40).filter(_was_valid)


def _hash_tag(key: str) -> str | None:
    """The part of ``key`` Valkey Cluster hashes, by its rule (first ``{`` to the next ``}``)."""
    start = key.find("{")
    end = key.find("}", start + 1)
    if start < 0 or end < 0 or end == start + 1:
        return None
    return key[start + 1 : end]


@pytest.mark.parametrize(
    ("session_id", "segment"),
    [
        ("user-42", "user-42"),
        ("tenant:user-42", "tenant{3auser-42"),
        ("user 42", "user{2042"),
        ("a{b}", "a{7bb{7d"),
        ("", "{"),
        ("café", "café"),
        ("zw\u200b", "zw{e2{80{8b"),
        ("nl\n", "nl{0a"),
    ],
)
def test_examples(session_id: str, segment: str) -> None:
    assert key_segment(session_id) == segment
    assert id_from_segment(segment) == session_id
    assert KeySpace().bind(SESSION)(session_id=session_id) == f"session:{segment}"


@given(ids)
def test_every_id_round_trips(value: str) -> None:
    segment = key_segment(validate_id("session_id", value))
    assert ":" not in segment and "}" not in segment and segment
    assert id_from_segment(segment) == value


@given(plain_ids)
def test_ids_valid_before_escaping_keep_their_keys(value: str) -> None:
    assert key_segment(value) == value


@given(ids, ids)
def test_different_ids_never_share_a_key(first: str, second: str) -> None:
    if first != second:
        assert key_segment(first) != key_segment(second)


@given(ids, ids, st.integers(min_value=0, max_value=10**6))
def test_cluster_keys_of_a_session_share_its_whole_id_as_hash_tag(
    session_id: str, agent_id: str, mid: int
) -> None:
    space = KeySpace(prefix="app", cluster=True)
    keys = [
        space.bind(SESSION)(session_id=session_id),
        space.bind(AGENT)(session_id=session_id, agent_id=agent_id),
        space.bind(MESSAGE)(session_id=session_id, agent_id=agent_id, message_id=mid),
    ]
    assert {_hash_tag(key) for key in keys} == {key_segment(session_id)}


def test_a_session_id_never_reads_as_another_sessions_agent() -> None:
    space = KeySpace()
    root = space.bind(SESSION)(session_id="a:agent:b")
    agent = space.bind(AGENT)(session_id="a", agent_id="b")
    assert root != agent


@pytest.mark.parametrize("bad", [42, None, "x" * 257, "lone\ud800"])
def test_what_cannot_be_an_id(bad: object) -> None:
    with pytest.raises(InvalidIdError):
        validate_id("session_id", bad)


@pytest.mark.parametrize("segment", ["a{", "a{4", "a{zz", "a{61", "{ff", "a{3A"])
def test_segments_kvsession_never_writes_are_refused(segment: str) -> None:
    with pytest.raises(InvalidIdError):
        id_from_segment(segment)
