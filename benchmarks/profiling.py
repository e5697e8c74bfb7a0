"""Where the time of a restore and of an Agent rebuild goes: kvsession, Strands, valkey-py, msgspec.

Two profilers, for two questions:

- ``cProfile`` (deterministic) gives the split by layer. Each function's own time goes to the
  layer of the file it is in; time in the standard library and in C built-ins goes to whoever
  called it (split in proportion to the calls' time), except msgspec's C functions (``msgspec``)
  and the socket calls that wait for the server (``socket wait``). cProfile's overhead inflates
  code that makes many small Python calls, so read the split as proportions, and the benchmark
  table for absolute times.
- ``pyinstrument`` (sampling, low overhead; installed in ``.venv-bench`` only) writes a call tree
  per profile to ``benchmarks/results/`` for reading by a person.
"""

from __future__ import annotations

import cProfile
import importlib
import pstats
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["LAYERS", "Profile", "profile_call"]

LAYERS = ("kvsession", "floor", "strands", "valkey-py", "msgspec", "socket wait", "other")
"""The layers time is attributed to, in report order."""

FuncKey = tuple[str, int, str]

_SOCKET_WAITS = ("recv", "sendall", "send'", "poll", "select", "connect")


def _layer_of(func: FuncKey) -> str | None:
    """The layer a function belongs to by its file, or ``None`` when its callers decide."""
    filename, _, name = func
    if filename == "~":
        if "msgspec" in name:
            return "msgspec"
        if "_socket" in name or "select" in name or any(wait in name for wait in _SOCKET_WAITS):
            return "socket wait"
        return None
    path = filename.replace("\\", "/")
    if "/kvsession/" in path or "/kvsession_valkey/" in path:
        return "kvsession"
    if "/benchmarks/" in path:
        return "floor"
    if "/strands/" in path:
        return "strands"
    if "/site-packages/valkey/" in path or "/site-packages/redis/" in path:
        return "valkey-py"
    return None


class Profile:
    """A cProfile run's time split by layer, and its heaviest functions.

    Attributes:
        name: What was profiled.
        iterations: How many calls the profile covers.
        seconds: Wall time per call while profiled (inflated by the profiler).
        layers: Seconds per call by layer.
        top: The functions with the most own time (seconds per call), with their layer.
        tree: pyinstrument's text tree, when pyinstrument is installed.
    """

    def __init__(self, name: str, iterations: int, seconds: float, stats: pstats.Stats) -> None:
        self.name = name
        self.iterations = iterations
        self.seconds = seconds
        raw: dict[FuncKey, tuple[int, int, float, float, dict[FuncKey, tuple[int, int, float, float]]]]
        raw = stats.stats  # type: ignore[attr-defined]
        self.layers = self._split(raw)
        self.top = self._top(raw)
        self.tree: str | None = None

    def _split(self, raw: dict[FuncKey, Any]) -> dict[str, float]:
        shares: dict[FuncKey, dict[str, float]] = {}

        def share_of(func: FuncKey, path: frozenset[FuncKey]) -> dict[str, float]:
            if func in shares:
                return shares[func]
            layer = _layer_of(func)
            if layer is not None:
                result = {layer: 1.0}
            else:
                callers: dict[FuncKey, tuple[int, int, float, float]] = raw[func][4] if func in raw else {}
                weights = {caller: edge[2] or edge[3] or edge[1] for caller, edge in callers.items()}
                total = sum(weights.values())
                result = {}
                if not total:
                    result = {"other": 1.0}
                for caller, weight in weights.items():
                    if not total:
                        break
                    part = {"other": 1.0} if caller in path else share_of(caller, path | {func})
                    for name, value in part.items():
                        result[name] = result.get(name, 0.0) + value * weight / total
            shares[func] = result
            return result

        layers = dict.fromkeys(LAYERS, 0.0)
        for func, entry in raw.items():
            own = entry[2]
            for name, value in share_of(func, frozenset()).items():
                layers[name] += own * value / self.iterations
        return layers

    def _top(self, raw: dict[FuncKey, Any], count: int = 12) -> list[dict[str, Any]]:
        heaviest = sorted(raw.items(), key=lambda item: item[1][2], reverse=True)[:count]
        return [
            {
                "function": f"{Path(func[0]).name}:{func[1]}({func[2]})" if func[0] != "~" else func[2],
                "layer": _layer_of(func) or "(callers)",
                "own_s": entry[2] / self.iterations,
                "calls": entry[1] / self.iterations,
            }
            for func, entry in heaviest
        ]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "iterations": self.iterations,
            "seconds_per_call_profiled": self.seconds,
            "layers_s": self.layers,
            "top_functions": self.top,
        }

    def markdown(self) -> str:
        """The layer split as one markdown table row: ``| name | ms | layer % ... |``."""
        total = sum(self.layers.values()) or 1.0
        cells = " | ".join(f"{100 * self.layers[name] / total:.0f} %" for name in LAYERS)
        return f"| {self.name} | {self.seconds * 1e3:.1f} ms | {cells} |"


def profile_call(
    name: str, call: Callable[[], Any], iterations: int, tree_path: Path | None = None
) -> Profile:
    """Profile ``iterations`` calls of ``call`` with cProfile, then (if available) with pyinstrument.

    Args:
        name: Label of the profile.
        call: What to profile; called ``2 * iterations + 1`` times in all (one warm-up).
        iterations: Calls per profiler.
        tree_path: Where to write pyinstrument's text tree.

    Returns:
        The profile; ``tree`` is set when pyinstrument ran.
    """
    call()
    profiler = cProfile.Profile()
    start = time.perf_counter()
    for _ in range(iterations):
        profiler.enable()
        call()
        profiler.disable()
    seconds = (time.perf_counter() - start) / iterations
    profile = Profile(name, iterations, seconds, pstats.Stats(profiler))
    try:
        pyinstrument: Any = importlib.import_module("pyinstrument")
    except ImportError:
        return profile
    sampler = pyinstrument.Profiler(interval=0.0002)
    sampler.start()
    for _ in range(iterations):
        call()
    sampler.stop()
    profile.tree = sampler.output_text(unicode=True, color=False, show_all=False)
    if tree_path is not None:
        tree_path.write_text(f"# {name}: {iterations} calls\n\n{profile.tree}", encoding="utf-8")
    return profile
