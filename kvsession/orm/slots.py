"""Valkey Cluster slots, computed client-side: which slot a key lives in, and a tag for each slot.

A cluster routes a key by the CRC16 (XMODEM) of its *hash tag* (the text between the first
``{`` and the next ``}``, when not empty) or of the whole key, modulo 16384. A key space that
must keep an entry *next to* a record it does not name (the per-slot buckets of the sessions
index: :mod:`kvsession.strands.models`) needs the reverse: a short tag that lands in a given
slot. :func:`slot_tag` answers it from a table found once per process by trying short
lowercase hexadecimal strings in order (about 315,000 CRCs, ~0.15 s, only in the cluster key
space); the table is deterministic, so every process and version agrees on each slot's tag.
"""

from __future__ import annotations

import binascii
import functools

__all__ = ["SLOTS", "key_slot", "slot_of_tag", "slot_tag"]

SLOTS = 16384
"""How many hash slots a Valkey Cluster has."""


def slot_of_tag(tag: str) -> int:
    """Return the slot of a hash tag's text (what ``{tag}`` in a key routes by)."""
    return binascii.crc_hqx(tag.encode(), 0) % SLOTS


def key_slot(key: str) -> int:
    """Return the slot Valkey Cluster stores ``key`` in (``CLUSTER KEYSLOT``)."""
    start = key.find("{")
    if start != -1:
        end = key.find("}", start + 1)
        if end > start + 1:
            return slot_of_tag(key[start + 1 : end])
    return slot_of_tag(key)


@functools.cache
def _tags() -> tuple[str, ...]:
    found: list[str | None] = [None] * SLOTS
    missing = SLOTS
    candidate = 0
    while missing:
        tag = format(candidate, "x")
        slot = slot_of_tag(tag)
        if found[slot] is None:
            found[slot] = tag
            missing -= 1
        candidate += 1
    return tuple(tag for tag in found if tag is not None)


def slot_tag(slot: int) -> str:
    """Return the shortest lowercase hex text whose hash tag routes to ``slot`` (first in order).

    Raises:
        ValueError: ``slot`` is not in ``0 .. 16383``.
    """
    if not 0 <= slot < SLOTS:
        raise ValueError(f"slot=<{slot}> | a slot is from 0 to {SLOTS - 1}")
    return _tags()[slot]
