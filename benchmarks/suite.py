"""The workloads, each measured on every contender in one run (see ``docs/performance.md``)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import valkey
from strands import Agent
from strands.types.session import Session, SessionAgent, SessionMessage, SessionType

from benchmarks.contenders import BenchRepository, Contender, IdleModel
from benchmarks.harness import Budget, Cell, Run, measure, timed
from benchmarks.memory import restore_memory
from benchmarks.messages import conversation, session_messages

__all__ = ["AGENT_ID", "Settings", "Suite"]

AGENT_ID = "bench-agent"

MEMORY_CONTENDERS = ("floor", "kvsession-json", "kvsession-msgpack")
"""Whose restore of the largest session is traced for peak memory."""


@dataclass(frozen=True)
class Settings:
    """What to measure, and how hard.

    Attributes:
        appends: Messages appended per append run (the latency of each is timed).
        sizes: Session sizes of the plain restore workloads.
        noise_sizes: Session sizes restored again with ``noise_keys`` unrelated keys in the database.
        noise_keys: How many unrelated keys the noisy workloads add.
        delete_size: Messages in the deleted session.
        agent_size: Messages in the session an ``Agent`` is rebuilt from.
        image_size: Messages in the restore-with-images workload.
        image_every: One message in this many carries a 200 KB image.
        budget: Repeats and time limits.
        delete_repeats: Timed runs of the delete workloads (each needs a new session written first).
    """

    appends: int = 200
    sizes: tuple[int, ...] = (10, 100, 1_000, 10_000)
    noise_sizes: tuple[int, ...] = (100, 1_000)
    noise_keys: int = 200_000
    delete_size: int = 1_000
    agent_size: int = 1_000
    image_size: int = 1_000
    image_every: int = 50
    budget: Budget = field(default_factory=Budget)
    delete_repeats: int = 7

    @classmethod
    def quick(cls) -> Settings:
        """Small sizes and few repeats: checks the whole run works in well under a minute."""
        return cls(
            appends=50,
            sizes=(10, 100, 1_000),
            noise_sizes=(100,),
            noise_keys=20_000,
            delete_size=200,
            agent_size=100,
            image_size=100,
            budget=Budget(repeats=3, min_repeats=2, run_seconds=5, cell_seconds=5),
            delete_repeats=3,
        )


@dataclass
class Row:
    """One workload: a table row.

    Attributes:
        key: Stable id of the workload (in the JSON file).
        label: The row's title.
        cells: One cell per contender.
        baseline: For the noise workloads, the same sessions measured just before the noise
            keys were added (so "unchanged" compares two measurements minutes apart at most,
            not two workloads with the rest of the run in between).
    """

    key: str
    label: str
    cells: dict[str, Cell]
    baseline: dict[str, Cell] | None = None


def server_cpu(admin: valkey.Valkey) -> float:
    """CPU seconds the server process has used (user + system, all threads), from ``INFO cpu``."""
    info = cast("dict[str, Any]", admin.info("cpu"))
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def new_session(repository: BenchRepository, session_id: str) -> None:
    repository.create_session(Session(session_id=session_id, session_type=SessionType.AGENT))
    agent = SessionAgent(agent_id=AGENT_ID, state={}, conversation_manager_state={})
    repository.create_agent(session_id, agent)


def write_session(repository: BenchRepository, session_id: str, messages: list[SessionMessage]) -> None:
    """Create a session with one agent and ``messages``, through the contender's own write path."""
    new_session(repository, session_id)
    for message in messages:
        repository.create_message(session_id, AGENT_ID, message)


def _same_messages(got: list[SessionMessage], expected: list[SessionMessage]) -> str | None:
    """Return why ``got`` differs from ``expected`` (ids and message payloads), or ``None``."""
    if len(got) != len(expected):
        return f"returned {len(got)} messages, expected {len(expected)}"
    for have, want in zip(got, expected, strict=True):
        if not isinstance(have, SessionMessage):
            return f"returned a {type(have).__name__}, not a SessionMessage"
        if have.message_id != want.message_id or have.message != want.message:
            return f"message {want.message_id} differs from what was written"
    return None


class Suite:
    """Runs every workload on every contender and keeps the cells.

    Args:
        contenders: The columns that can run.
        settings: What to measure.
        log: Progress lines (to stderr).
    """

    def __init__(self, contenders: list[Contender], settings: Settings, log: Callable[[str], None]) -> None:
        self.contenders = contenders
        self.settings = settings
        self.log = log
        self.rows: list[Row] = []
        self.memory: dict[str, dict[str, Any]] = {}
        self.problems: list[str] = []

    # -- plumbing -------------------------------------------------------------------------------

    def _record(self, key: str, label: str, cells: dict[str, Cell], started: float) -> Row:
        row = Row(key, label, cells)
        self.rows.append(row)
        summary = ", ".join(
            f"{name}={cell.skipped or f'{(cell.median or 0) * 1e3:.3f}ms'}" for name, cell in cells.items()
        )
        self.log(f"  {label}: {summary} [{time.perf_counter() - started:.0f}s]")
        return row

    def _check(self, row_label: str, contender: Contender, problem: str | None) -> None:
        if problem is not None:
            message = f"{contender.key} on '{row_label}': {problem}"
            self.problems.append(message)
            self.log(f"  WARNING {message}")

    def _fresh(self, noise: int) -> None:
        for contender in self.contenders:
            contender.flush()
            if noise:
                contender.add_noise(noise)

    # -- workloads ------------------------------------------------------------------------------

    def append(self) -> Row:
        """Latency of each ``create_message`` into a new session; a run's figure is the median of them."""
        started = time.perf_counter()
        count = self.settings.appends
        label = f"append (median per message, {count} appends)"
        self.log(label)
        self._fresh(0)
        messages = session_messages(count)
        runs: dict[str, Run] = {}
        latencies: dict[str, list[list[float]]] = {}
        server: dict[str, list[float]] = {}
        for contender in self.contenders:
            runs[contender.key] = self._append_run(
                contender.admin, contender.repository(), contender.key, messages, latencies, server
            )
        cells = measure(runs, self.settings.budget)
        for key, cell in cells.items():
            # The warm-up run's figures are dropped, as its time is.
            cell.extra["append_latencies_s"] = latencies[key][1:]
            cell.extra["server_cpu_s_per_append"] = server[key][1:]
        return self._record("append", label, cells, started)

    @staticmethod
    def _append_run(
        admin: valkey.Valkey,
        repository: BenchRepository,
        key: str,
        messages: list[SessionMessage],
        latencies: dict[str, list[list[float]]],
        server_cpu_per_append: dict[str, list[float]],
    ) -> Run:
        runs: list[list[float]] = latencies.setdefault(key, [])
        server: list[float] = server_cpu_per_append.setdefault(key, [])

        def run() -> float:
            session_id = f"append-{len(runs)}"
            new_session(repository, session_id)
            clock = time.perf_counter
            each: list[float] = []
            cpu_before = server_cpu(admin)
            for message in messages:
                start = clock()
                repository.create_message(session_id, AGENT_ID, message)
                each.append(clock() - start)
            server.append((server_cpu(admin) - cpu_before) / len(messages))
            runs.append(each)
            return statistics.median(each)

        return run

    def restore(self, size: int, *, noise: int = 0, image_every: int | None = None) -> Row:
        """``list_messages`` of a whole ``size``-message session."""
        started = time.perf_counter()
        key = f"restore-{size}" + (f"-noise-{noise}" if noise else "") + ("-images" if image_every else "")
        label = f"restore {size:,} messages"
        if noise:
            label += f", {noise // 1000}k other keys in DB"
        if image_every:
            label += f", 200 KB image every {image_every}"
        self.log(label)
        self._fresh(0)
        messages = session_messages(size, image_every=image_every)
        runs: dict[str, Run] = {}
        repositories: dict[str, BenchRepository] = {}
        for contender in self.contenders:
            repository = contender.repository()
            write_session(repository, "restore", messages)
            restored = repository.list_messages("restore", AGENT_ID)
            self._check(label, contender, _same_messages(restored, messages))
            repositories[contender.key] = repository
            runs[contender.key] = self._restore_run(repository)
        baseline = None
        if noise:
            baseline = measure(runs, self.settings.budget)
            for contender in self.contenders:
                contender.add_noise(noise)
        cells = measure(runs, self.settings.budget)
        row = self._record(key, label, cells, started)
        row.baseline = baseline
        if size == max(self.settings.sizes) and not noise and not image_every:
            self._measure_memory(repositories)
        return row

    @staticmethod
    def _restore_run(repository: BenchRepository) -> Run:
        def run() -> float:
            seconds, _ = timed(lambda: repository.list_messages("restore", AGENT_ID))
            return seconds

        return run

    @staticmethod
    def _restore_call(repository: BenchRepository) -> Callable[[], list[SessionMessage]]:
        return lambda: repository.list_messages("restore", AGENT_ID)

    def _measure_memory(self, repositories: dict[str, BenchRepository]) -> None:
        for contender in self.contenders:
            if contender.key not in MEMORY_CONTENDERS:
                continue
            repository = repositories[contender.key]
            # floor and kvsession share the key layout: the message index, then the records.
            prefix = f"session:restore:agent:{AGENT_ID}:"
            ids = cast("list[bytes]", contender.admin.zrange(prefix + "messages", 0, -1))
            values = cast(
                "list[bytes | None]", contender.admin.mget([f"{prefix}message:{i.decode()}" for i in ids])
            )
            raw_bytes = sum(len(value) for value in values if value is not None)
            result = restore_memory(self._restore_call(repository), raw_bytes)
            self.memory[contender.key] = result
            self.log(
                f"  memory {contender.key}: peak {result['peak_bytes'] / 2**20:.1f} MiB, "
                f"decoded {result['decoded_bytes'] / 2**20:.1f} MiB, raw {raw_bytes / 2**20:.1f} MiB"
            )

    def delete(self, *, noise: int = 0) -> Row:
        """``delete_session`` of a ``delete_size``-message session (written anew before each run)."""
        started = time.perf_counter()
        size = self.settings.delete_size
        key = f"delete-{size}" + (f"-noise-{noise}" if noise else "")
        label = f"delete a {size:,}-message session"
        if noise:
            label += f", {noise // 1000}k other keys in DB"
        self.log(label)
        self._fresh(noise)
        messages = session_messages(size)
        runs: dict[str, Run] = {}
        for contender in self.contenders:
            runs[contender.key] = self._delete_run(contender, contender.repository(), messages, label)
        cells = measure(runs, self.settings.budget, repeats=self.settings.delete_repeats)
        return self._record(key, label, cells, started)

    def _delete_run(
        self, contender: Contender, repository: BenchRepository, messages: list[SessionMessage], label: str
    ) -> Run:
        counter = [0]

        def run() -> float:
            counter[0] += 1
            session_id = f"delete-{counter[0]}"
            before = int(cast(int, contender.admin.dbsize()))
            write_session(repository, session_id, messages)
            seconds, _ = timed(lambda: repository.delete_session(session_id))
            if counter[0] == 1:
                left = int(cast(int, contender.admin.dbsize())) - before
                # kvsession's write token of the delete itself outlives it by design (docs/keys.md,
                # "Retries and write tokens"): a key without data, expiring within 300 s.
                left -= len(cast(list[bytes], contender.admin.keys(f"*{session_id}:writer:*")))
                if left > 0:
                    self._check(label, contender, f"{left} keys of the deleted session left behind")
            return seconds

        return run

    def agent(self) -> Row:
        """A new session manager and ``strands.Agent`` restored from an ``agent_size``-message session."""
        started = time.perf_counter()
        size = self.settings.agent_size
        label = f"Agent rebuild from {size:,} messages"
        self.log(label)
        self._fresh(0)
        runs: dict[str, Run] = {}
        for contender in self.contenders:
            Agent(
                model=IdleModel(),
                agent_id=AGENT_ID,
                messages=conversation(size),
                session_manager=contender.session_manager("agent"),
                callback_handler=None,
            )
            runs[contender.key] = self._agent_run(contender, size, label)
        cells = measure(runs, self.settings.budget)
        return self._record("agent", label, cells, started)

    def _agent_run(self, contender: Contender, size: int, label: str) -> Run:
        model = IdleModel()
        checked = [False]

        def build() -> Agent:
            return Agent(
                model=model,
                agent_id=AGENT_ID,
                session_manager=contender.session_manager("agent"),
                callback_handler=None,
            )

        def run() -> float:
            seconds, agent = timed(build)
            if not checked[0]:
                checked[0] = True
                if len(agent.messages) != size:
                    problem = f"agent has {len(agent.messages)} messages, expected {size}"
                    self._check(label, contender, problem)
            return seconds

        return run

    def run_all(self) -> None:
        """Every workload, in the report's row order."""
        settings = self.settings
        self.append()
        for size in settings.sizes:
            self.restore(size)
        for size in settings.noise_sizes:
            self.restore(size, noise=settings.noise_keys)
        self.delete()
        self.delete(noise=settings.noise_keys)
        self.agent()
        self.restore(settings.image_size, image_every=settings.image_every)
        for contender in self.contenders:
            contender.flush()
