"""A writer process for the fault tests: appends messages with the sync repository, for a while.

``python -m tests.faults.writer URL SESSIONS SECONDS`` appends to agent ``a1`` of sessions
``s0`` … ``s{SESSIONS-1}`` (created beforehand) in turn, one message at a time, and reports every
outcome on stdout, one line each: ``ack SID MID`` once ``create_message`` returned (the append is
acknowledged), ``unavailable SID MID`` when it raised ``BackendUnavailable`` (the writer then calls
again with the same message, as an application would), ``exists SID MID`` for a
``MessageExistsError``. It stops after ``SECONDS`` and prints ``done``.
"""

from __future__ import annotations

import sys
import time

from strands.types.session import SessionMessage

import kvsession
from kvsession.kv.errors import BackendUnavailable
from kvsession.strands.errors import MessageExistsError
from kvsession.strands.repository import KVSessionRepository


def message(session_id: str, message_id: int) -> SessionMessage:
    """The message the writer appends as ``message_id`` of ``session_id`` (tests rebuild it to compare)."""
    text = f"{session_id}/{message_id}"
    return SessionMessage.from_message({"role": "user", "content": [{"text": text}]}, message_id)


def main(url: str, sessions: int, seconds: float) -> None:
    """Append until ``seconds`` have passed, reporting each outcome."""
    repo = KVSessionRepository(kvsession.connect(url))
    next_id = [0] * sessions
    turn = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        index = turn % sessions
        session_id, message_id = f"s{index}", next_id[index]
        try:
            repo.create_message(session_id, "a1", message(session_id, message_id))
        except BackendUnavailable:
            print(f"unavailable {session_id} {message_id}", flush=True)
            time.sleep(0.05)
            continue  # the same message again
        except MessageExistsError:
            print(f"exists {session_id} {message_id}", flush=True)
        else:
            print(f"ack {session_id} {message_id}", flush=True)
        next_id[index] += 1
        turn += 1
    print("done", flush=True)
    repo.backend.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
