"""What every fault test checks afterwards: acknowledged appends stored once, indexes and records agreeing."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import cast

import valkey

from kvsession.strands.repository import KVSessionRepository
from tests.faults.writer import message


@dataclass
class WriterReport:
    """What a writer (process) reported: acknowledged ids per session and the failures it saw."""

    acked: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    outcomes: Counter[str] = field(default_factory=Counter)
    done: bool = False

    @classmethod
    def parse(cls, output: str) -> WriterReport:
        """Read a :mod:`tests.faults.writer`'s stdout."""
        report = cls()
        for line in output.splitlines():
            kind, *rest = line.split()
            report.outcomes[kind] += 1
            if kind == "ack":
                report.acked[rest[0]].append(int(rest[1]))
            report.done |= kind == "done"
        return report

    @property
    def total_acked(self) -> int:
        """How many appends were acknowledged."""
        return sum(len(ids) for ids in self.acked.values())


def check_sessions(
    repo: KVSessionRepository,
    client: valkey.Valkey,
    acked: dict[str, list[int]],
    sessions: int,
    *,
    durable: bool = True,
) -> int:
    """Check what is stored against what was acknowledged; return how many messages are stored.

    Always: nothing is half-written — every stored message is intact, and its index and its
    message records agree key for key. With ``durable`` (the server promised it: no crash, or
    ``appendfsync always``): every acknowledged append is stored, once; a session holds at most
    one message more than was acknowledged (the append in flight when the fault hit, applied but
    not answered); ids run 0, 1, 2 …. Without it (``appendfsync everysec``, where Valkey may
    answer before the write reaches the file when fsync is slow) acknowledged appends may be lost.
    """
    stored_total = 0
    for index in range(sessions):
        session_id = f"s{index}"
        stored = repo.list_messages(session_id, "a1")
        ids = [m.message_id for m in stored]
        mine = acked.get(session_id, [])
        if durable:
            assert ids == list(range(len(ids))), f"{session_id}: ids not contiguous: {ids[:5]}…"
            lost = sorted(set(mine) - set(ids))
            assert not lost, f"{session_id}: acknowledged but lost: {lost}"
            assert len(ids) - len(mine) <= 1, f"{session_id}: {len(ids)} stored, {len(mine)} acknowledged"
        for stored_message in stored:
            assert stored_message.message == message(session_id, stored_message.message_id).message
        # The raw keyspace: index members, message records and the owned-keys set agree.
        prefix = f"session:{session_id}:agent:a1:message:"
        members_raw = cast(list[bytes], client.zrange(f"session:{session_id}:agent:a1:messages", 0, -1))
        members = [m.decode() for m in members_raw]
        records = {k.decode() for k in client.scan_iter(match=f"{prefix}*", count=1000)}
        assert sorted(members, key=int) == [str(i) for i in ids]
        assert records == {f"{prefix}{i}" for i in ids}
        owned = {k.decode() for k in cast(set[bytes], client.smembers(f"session:{session_id}:keys"))}
        assert records <= owned
        stored_total += len(ids)
    return stored_total
