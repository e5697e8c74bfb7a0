"""Timing: interleaved repeats, medians, time budgets."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Budget", "Cell", "Run", "format_seconds", "measure", "timed"]

Run = Callable[[], float]
"""Does one measurement (its own untimed setup included) and returns the timed seconds."""


@dataclass
class Cell:
    """The measurements of one contender on one workload.

    Attributes:
        samples: Timed seconds, one per run (the warm-up run excluded).
        skipped: Why the contender was not measured (time budget), if it was not.
        requested: Timed runs asked for.
        planned: Runs planned after the warm-up (fewer than requested when one run is slow).
        warmup: Seconds of the untimed warm-up run.
        extra: Raw data beyond ``samples`` (e.g. every append's latency).
    """

    samples: list[float] = field(default_factory=list)
    skipped: str | None = None
    requested: int = 0
    planned: int = 0
    warmup: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float | None:
        """Median of ``samples``, or ``None`` if there are none."""
        return statistics.median(self.samples) if self.samples else None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict with every raw value."""
        return {
            "median_s": self.median,
            "samples_s": self.samples,
            "runs": len(self.samples),
            "requested_runs": self.requested,
            "planned_runs": self.planned,
            "warmup_s": self.warmup,
            "skipped": self.skipped,
            **self.extra,
        }


@dataclass(frozen=True)
class Budget:
    """How long measurements may take.

    Attributes:
        repeats: Timed runs per cell when runs are fast.
        min_repeats: Fewest timed runs for a slow cell.
        run_seconds: A contender whose warm-up run takes longer is skipped for that workload.
        cell_seconds: Timed runs are cut to fit about this many seconds per cell.
    """

    repeats: int = 11
    min_repeats: int = 3
    run_seconds: float = 10.0
    cell_seconds: float = 15.0

    def runs_for(self, warmup: float) -> int:
        """How many timed runs fit the budget, given the warm-up run's time."""
        if warmup <= 0 or warmup * self.repeats <= self.cell_seconds:
            return self.repeats
        return max(self.min_repeats, min(self.repeats, int(self.cell_seconds / warmup)))


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    """Run ``call`` once; return (seconds, result).

    No forced garbage collection first: a ``gc.collect()`` just before a short call leaves the
    caches cold and the server asleep, which tripled a 10-message restore in trials, for every
    column alike. The collector stays enabled, so a collection a call triggers is part of its cost.
    """
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def measure(runs: dict[str, Run], budget: Budget, *, repeats: int | None = None) -> dict[str, Cell]:
    """Measure every contender's run, interleaved: run 1 of each, then run 2 of each, ...

    Interleaving spreads the drift of a shared, noisy machine over all columns alike, so the
    ratios taken in one run stay fair. Each contender first does one untimed warm-up run;
    if it exceeds ``budget.run_seconds`` the contender is skipped for this workload.

    Args:
        runs: One ``Run`` per contender key.
        budget: Time limits.
        repeats: Overrides ``budget.repeats`` for this workload.

    Returns:
        A cell per contender key.
    """
    if repeats is not None:
        budget = Budget(repeats, budget.min_repeats, budget.run_seconds, budget.cell_seconds)
    cells: dict[str, Cell] = {}
    for key, run in runs.items():
        warmup = run()
        cell = Cell(warmup=warmup, requested=budget.repeats)
        if warmup > budget.run_seconds:
            cell.skipped = f"skipped (>{budget.run_seconds:g}s)"
        else:
            cell.planned = budget.runs_for(warmup)
        cells[key] = cell
    for index in range(max((cell.planned for cell in cells.values()), default=0)):
        for key, run in runs.items():
            if index < cells[key].planned:
                cells[key].samples.append(run())
    return cells


def format_seconds(seconds: float) -> str:
    """Render a duration with three significant digits and a unit (µs, ms, s)."""
    if seconds < 1e-3:
        value, unit = seconds * 1e6, "µs"
    elif seconds < 1:
        value, unit = seconds * 1e3, "ms"
    else:
        value, unit = seconds, "s"
    digits = 0 if value >= 100 else 1 if value >= 10 else 2
    return f"{value:.{digits}f} {unit}"
