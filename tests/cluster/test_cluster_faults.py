"""Failover, slot migration and replica lag on real clusters built by each test (bounded, loopback).

Each test starts its own cluster (~2.5 s) and stops it in ``finally``. Writers run in threads
for a fixed time; every call either succeeds or raises a typed, retryable ``BackendUnavailable``
(counted); anything else is an *untyped* error and fails the test. Afterwards every session is
checked whole: its index lists exactly its records, every key its group names exists, and every
acknowledged append is stored.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from strands.types.session import SessionType

import kvsession
from kvsession.kv.errors import BackendUnavailable
from kvsession.orm.slots import key_slot
from kvsession.strands.records import Session
from kvsession.strands.repository import KVSessionRepository
from tests.cluster_load import Load, kill_a_primary_under_load, seed_sessions, text_message
from tests.clusters import Cluster, Node, start_cluster

# Long enough a budget to ride out a failover (retries=10: 5.26 s of backoff in all).
PATIENT = "retries=10&socket_timeout=1&socket_connect_timeout=0.5"


def _ids_in_slot(slot: int, count: int, prefix: str = "m") -> list[str]:
    found: list[str] = []
    candidate = 0
    while len(found) < count:
        sid = f"{prefix}{candidate}"
        if key_slot(f"session:{{{sid}}}") == slot:
            found.append(sid)
        candidate += 1
    return found


def _check_whole(repo: KVSessionRepository, load: Load) -> None:
    """Every session's index equals its records, its group's keys exist, and nothing acked is lost."""
    backend = repo.backend
    for sid in load.session_ids:
        stored = repo.list_messages(sid, "a")
        ids = [m.message_id for m in stored]
        assert ids == list(range(len(ids))), f"{sid}: holes in {ids}"
        assert set(load.acked[sid]) <= set(ids), f"{sid}: acknowledged appends lost"
        members = repo.session_keys(sid)
        values = backend.get_many([k for k in members if ":message:" in k or k.endswith(":agent:a")])
        assert all(v is not None for v in values), f"{sid}: the group names a missing key"
        assert len([k for k in members if ":message:" in k]) == len(ids)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    started = start_cluster(primaries=3, replicas=1)
    try:
        yield started
    finally:
        started.stop()


def test_a_killed_primary_loses_no_acknowledged_append_with_wait() -> None:
    # Two replicas per primary: once one is promoted, the new primary still has a replica to
    # confirm writes (with one, every write after the failover would time out waiting).
    with start_cluster(primaries=3, replicas=2) as cluster:
        query = "retries=10&socket_timeout=2&socket_connect_timeout=0.5&wait_replicas=1&wait_timeout_ms=500"
        failover = kill_a_primary_under_load(cluster, query)
        assert failover.load.untyped == []
        assert failover.lost == 0
        assert failover.gap < 5.0
        assert sum(len(acked) for acked in failover.load.acked.values()) > 100
        fresh = KVSessionRepository(kvsession.connect(cluster.url(query=PATIENT)))
        _check_whole(fresh, failover.load)
        fresh.backend.close()


@pytest.mark.parametrize("how", ["manual", "atomic"])
def test_slot_migration_under_load_is_all_or_nothing(cluster: Cluster, how: str) -> None:
    """Appends and forced ttl refreshes of 4 sessions of one slot while the slot moves."""
    repo = KVSessionRepository(kvsession.connect(cluster.url(query=PATIENT)), ttl=3600)
    slot = key_slot(f"session:{{{how}-0}}")
    session_ids = _ids_in_slot(slot, 4, prefix=how)
    seed_sessions(repo, session_ids)
    target = next(node for node in cluster.primaries if node is not cluster.primary_for_slot(slot))

    def touch_session(sid: str) -> None:  # the group refresh of a ttl'd session, forced
        session = repo.read_session(sid)
        assert session is not None
        repo.update_session(session)

    load = Load(repo, session_ids).start(extra=touch_session)
    try:
        time.sleep(0.5)
        if how == "atomic":
            cluster.migrate_slot_atomic(slot, target)
        else:
            cluster.begin_manual_migration(slot, target)
            while cluster.move_keys(slot, target, count=3):
                time.sleep(0.05)  # keys split between the nodes for a while, under load
            cluster.finish_manual_migration(slot, target)
        time.sleep(0.5)
    finally:
        load.stop()
    assert load.untyped == []
    assert cluster.primary_for_slot(slot) is target
    _check_whole(repo, load)
    repo.backend.close()


def _keys_in_slot(cluster: Cluster, slot: int) -> int:
    return sum(int(node.command("CLUSTER", "COUNTKEYSINSLOT", slot)) for node in cluster.primaries)


def test_a_delete_or_refresh_on_a_half_moved_session_changes_nothing(cluster: Cluster) -> None:
    repo = KVSessionRepository(kvsession.connect(cluster.url(query="retries=2")), ttl=3600)
    (sid,) = _ids_in_slot(key_slot("session:{half}"), 1, prefix="half")
    seed_sessions(repo, [sid])
    for i in range(20):
        repo.create_message(sid, "a", text_message(i))
    slot = key_slot(repo.keys.session(sid))
    source = cluster.primary_for_slot(slot)
    target = next(node for node in cluster.primaries if node is not source)
    before = _keys_in_slot(cluster, slot)
    root_ttl = int(source.command("PTTL", repo.keys.session(sid)))
    cluster.begin_manual_migration(slot, target)
    assert cluster.move_keys(slot, target, count=5) == 5
    with pytest.raises(BackendUnavailable) as deleting:
        repo.delete_session(sid)
    assert deleting.value.key is not None and sid in deleting.value.key
    session = Session(session_id=sid, session_type=SessionType.AGENT)
    with pytest.raises(BackendUnavailable):
        repo.update_session(session)
    assert _keys_in_slot(cluster, slot) == before  # nothing deleted on either node
    cluster.finish_manual_migration(slot, target)
    assert len(repo.list_messages(sid, "a")) == 20
    assert int(target.command("PTTL", repo.keys.session(sid))) <= root_ttl  # not re-expired alone
    repo.delete_session(sid)
    assert repo.read_session(sid) is None
    assert repo.list_sessions() == []
    leftovers = [k for k in target.command("CLUSTER", "GETKEYSINSLOT", slot, 100) if ":writer:" not in k]
    assert leftovers == []
    repo.backend.close()


def test_replica_reads_never_tear_a_restore(cluster: Cluster) -> None:
    writer = KVSessionRepository(kvsession.connect(cluster.url()))
    reader = KVSessionRepository(kvsession.connect(cluster.url(query="read_from_replicas=true")))
    sid = "replica-read"
    seed_sessions(writer, [sid])
    for i in range(10):
        writer.create_message(sid, "a", text_message(i))
    primary: Node = cluster.primary_for_slot(key_slot(writer.keys.session(sid)))
    (replica,) = cluster.replicas_of(primary)
    cluster.wait_replica_caught_up(replica)
    with cluster.lagging_replica(replica):
        for i in range(10, 30):
            writer.create_message(sid, "a", text_message(i))
            restored = [m.message_id for m in reader.list_messages(sid, "a")]
            assert restored == list(range(len(restored)))  # whole, possibly behind
            assert 10 <= len(restored) <= i + 1
    assert len(reader.list_messages(sid, "a")) == 30
    writer.backend.close()
    reader.backend.close()
