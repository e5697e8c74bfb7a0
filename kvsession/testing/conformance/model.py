"""Model-based: random sequences of calls give the same answers as the memory backend.

The memory backend is the reference implementation of the protocol: the backend under test must
agree with it call for call (return values, error types and the keys errors name), including
atomic batches mixing every write op, and end in the same state. The sequences come from a
seeded :class:`random.Random`, so a failure names a run that replays identically.
"""

# ruff: noqa: D102 -- each test's name states the rule it checks.

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from kvsession.kv.errors import BackendError
from kvsession.kv.memory import MemoryBackend
from kvsession.kv.protocol import (
    DeleteGroupOp,
    DeleteOp,
    ExpireOp,
    IndexAddOp,
    IndexRemoveOp,
    KeyValueBackend,
    RefreshTtlOp,
    RequireOp,
    SetAddOp,
    SetOp,
    SetRemoveOp,
    WriteOp,
    WriteTokenOp,
)
from kvsession.testing.conformance.harness import BackendTestBase

__all__ = ["Call", "ModelTests", "random_call"]

KEYS = ["a", "b", "c", "😀"]
MEMBERS = ["m1", "m2", "ü", "中文", "a", "b"]  # "a", "b" name keys too: group ops reach them
SCORES = [0.0, 1.0, 1.0, 2.5, -1.0]
LONG_TTL = 1000.0  # never expires during a run
# A lexical index: every member at score 0, as index_range_by_prefix requires.
LEX = "lex"
LEX_MEMBERS = ["a", "ab", "abc", "b", "a😀", "😀", "😀x", "中", "中文"]
PREFIXES = ["", "a", "ab", "b", "😀", "中", "z"]


@dataclass(frozen=True)
class Call:
    """One backend method call, replayable on any backend.

    Attributes:
        method: The protocol method's name.
        args: Positional arguments.
        kwargs: Keyword arguments.
    """

    method: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __call__(self, backend: KeyValueBackend) -> object:
        return getattr(backend, self.method)(*self.args, **self.kwargs)

    def __str__(self) -> str:
        shown = [repr(arg) for arg in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.method}({', '.join(shown)})"


def _some(rng: random.Random, choices: list[str], low: int, high: int) -> list[str]:
    return [rng.choice(choices) for _ in range(rng.randint(low, high))]


def _scored(rng: random.Random) -> dict[str, float]:
    return {rng.choice(MEMBERS): rng.choice(SCORES) for _ in range(rng.randint(1, 4))}


def _ttl(rng: random.Random) -> float | None:
    return rng.choice([None, LONG_TTL])


def _limit(rng: random.Random, high: int) -> int | None:
    return rng.choice([None, rng.randint(0, high)])


def _write_op(rng: random.Random) -> WriteOp:
    key = rng.choice(KEYS)
    builders: list[Callable[[], WriteOp]] = [
        lambda: SetOp(
            key,
            rng.randbytes(rng.randint(0, 8)),
            only_if_absent=rng.random() < 0.5,
            only_if_present=rng.random() < 0.5,
            ttl=_ttl(rng),
        ),
        lambda: DeleteOp(tuple(_some(rng, KEYS, 1, 3))),
        # Add ops always carry members: see docs/backends.md on empty adds.
        lambda: IndexAddOp(key, tuple(_scored(rng).items())),
        lambda: IndexRemoveOp(key, tuple(_some(rng, MEMBERS, 0, 3))),
        lambda: SetAddOp(key, tuple(_some(rng, MEMBERS, 1, 3))),
        lambda: SetRemoveOp(key, tuple(_some(rng, MEMBERS, 0, 3))),
        lambda: ExpireOp(key, LONG_TTL),
        # Refresh the group a set names: due when below exceeds the time left (or no expiry).
        lambda: RefreshTtlOp(key, LONG_TTL, rng.choice([500.0, 2000.0])),
        lambda: RequireOp(key, rng.random() < 0.5),
        # Required bytes: random values are short, so b"" and one byte often match.
        lambda: RequireOp(key, True, rng.randbytes(rng.randint(0, 1))),
        # A group delete of a set whose members ("a", "b") name keys.
        lambda: DeleteGroupOp(key),
        # Two tokens only, so that a batch often finds its token already stored.
        lambda: WriteTokenOp(key, rng.choice([b"t1", b"t2"]), LONG_TTL),
    ]
    return rng.choice(builders)()


def random_call(rng: random.Random) -> Call:
    """Draw one call of the protocol (reads, writes and batches) over a few keys."""
    key = rng.choice(KEYS)
    builders: list[Callable[[], Call]] = [
        lambda: Call(
            "set",
            (key, rng.randbytes(rng.randint(0, 8))),
            {"only_if_absent": rng.random() < 0.5, "only_if_present": rng.random() < 0.5, "ttl": _ttl(rng)},
        ),
        lambda: Call("delete_many", (_some(rng, KEYS, 0, 3),)),
        lambda: Call("index_add", (key, _scored(rng))),
        lambda: Call("index_remove", (key, _some(rng, MEMBERS, 0, 3))),
        lambda: Call("set_add", (key, _some(rng, MEMBERS, 1, 3))),
        lambda: Call("set_remove", (key, _some(rng, MEMBERS, 0, 3))),
        lambda: Call("expire", (key, LONG_TTL)),
        lambda: Call("apply", ([_write_op(rng) for _ in range(rng.randint(1, 6))],)),
        lambda: Call("get", (key,)),
        lambda: Call("get_many", (_some(rng, KEYS, 0, 4),)),
        lambda: Call("exists", (key,)),
        lambda: Call(
            "index_range",
            (key,),
            {"offset": rng.randint(0, 4), "limit": _limit(rng, 4), "reverse": rng.random() < 0.5},
        ),
        lambda: Call("index_score", (key, rng.choice(MEMBERS))),
        lambda: Call("index_count", (key,)),
        lambda: Call("set_members", (key,)),
        lambda: Call("index_add", (LEX, dict.fromkeys(_some(rng, LEX_MEMBERS, 1, 5), 0.0))),
        lambda: Call("index_remove", (LEX, _some(rng, LEX_MEMBERS, 0, 3))),
        lambda: Call(
            "index_range_by_prefix",
            (LEX, rng.choice(PREFIXES)),
            {"offset": rng.randint(0, 3), "limit": _limit(rng, 3)},
        ),
    ]
    return rng.choice(builders)()


def _outcome(call: Call, backend: KeyValueBackend) -> object:
    """Return what a caller can observe: the result, or the error's type and key."""
    try:
        return call(backend)
    except BackendError as exc:
        return (type(exc).__name__, exc.key)


def _snapshot(backend: KeyValueBackend) -> list[object]:
    state: list[object] = []
    for key in [*KEYS, LEX]:
        for read in ("get", "index_range", "set_members", "exists"):
            state.append(_outcome(Call(read, (key,)), backend))
        try:
            state.append(backend.ttl(key) is None)
        except KeyError:
            state.append("missing")
    return state


def _report(run: int, played: list[str], what: str) -> str:
    calls = "\n  ".join(played)
    return f"run {run}: {what} from the memory backend's after these calls:\n  {calls}"


class ModelTests(BackendTestBase):
    """Random call sequences, compared call for call with the memory backend.

    Attributes:
        model_runs: How many sequences one test plays.
        model_steps: The longest sequence.
        model_seed: Seed of the sequences; change it to explore others.
    """

    model_runs: ClassVar[int] = 150
    model_steps: ClassVar[int] = 25
    model_seed: ClassVar[int] = 20_240_611

    def test_agrees_with_the_memory_backend(self) -> None:
        backend = self.backend
        rng = random.Random(self.model_seed)
        for run in range(self.model_runs):
            backend.delete_many([*KEYS, LEX])  # every run starts empty
            reference = MemoryBackend()
            played: list[str] = []
            for _ in range(rng.randint(1, self.model_steps)):
                call = random_call(rng)
                played.append(str(call))
                expected = _outcome(call, reference)
                assert _outcome(call, backend) == expected, _report(run, played, "answers differ")
            assert _snapshot(backend) == _snapshot(reference), _report(run, played, "states differ")
