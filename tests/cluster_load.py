"""Append load from threads, for fault tests and benchmarks: what every call did, and when.

Each thread appends to its share of the sessions until stopped (or for at most a minute). A call
either succeeds (its message id is *acknowledged*), or raises a typed retryable error
(``BackendUnavailable``, ``ReplicationTimeoutError``: counted, and the same message is sent
again, which its write token makes safe), or raises anything else: an *untyped* error, which is
what fault tests look for.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from strands.types.session import SessionMessage

from kvsession.kv.errors import BackendUnavailable, ReplicationTimeoutError
from kvsession.strands.repository import KVSessionRepository


def text_message(i: int) -> SessionMessage:
    """A one-line user message with id ``i``."""
    return SessionMessage.from_message({"role": "user", "content": [{"text": f"m{i}"}]}, i)


@dataclass
class Load:
    """Appends to sessions from threads until stopped; what each call did."""

    repo: KVSessionRepository
    session_ids: list[str]
    acked: dict[str, list[int]] = field(default_factory=dict)
    retryable: int = 0
    untyped: list[BaseException] = field(default_factory=list)
    last_ok: dict[str, float] = field(default_factory=dict)
    first_ok_after: dict[str, float] = field(default_factory=dict)
    mark: float | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, threads: int = 2, extra: Callable[[str], None] | None = None) -> Load:
        for sid in self.session_ids:
            self.acked[sid] = []
        for n in range(threads):
            mine = self.session_ids[n::threads]
            thread = threading.Thread(target=self._run, args=(mine, extra), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _run(self, session_ids: list[str], extra: Callable[[str], None] | None) -> None:
        deadline = time.monotonic() + 60  # stops by itself even if the test forgets
        while not self._stop.is_set() and time.monotonic() < deadline:
            for sid in session_ids:
                next_id = len(self.acked[sid])
                try:
                    self.repo.create_message(sid, "a", text_message(next_id))
                except (BackendUnavailable, ReplicationTimeoutError):
                    with self._lock:
                        self.retryable += 1
                    time.sleep(0.01)
                    continue  # the same message again: its write token makes that safe
                except BaseException as exc:  # every other error is the finding
                    with self._lock:
                        self.untyped.append(exc)
                    continue
                now = time.monotonic()
                with self._lock:
                    self.acked[sid].append(next_id)
                    self.last_ok[sid] = now
                    if self.mark is not None and sid not in self.first_ok_after:
                        self.first_ok_after[sid] = now
                if extra is not None:
                    self._call(extra, sid)

    def _call(self, extra: Callable[[str], None], sid: str) -> None:
        try:
            extra(sid)
        except (BackendUnavailable, ReplicationTimeoutError):
            with self._lock:
                self.retryable += 1
        except BaseException as exc:  # every other error is the finding
            with self._lock:
                self.untyped.append(exc)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
