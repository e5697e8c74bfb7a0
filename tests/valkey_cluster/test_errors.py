"""Every cluster failure valkey-py can raise comes out as a typed kvsession error naming the key.

Transient states (``CLUSTERDOWN``, ``MASTERDOWN``, ``TRYAGAIN``, "TTL exhausted", an uncovered
slot, a refresh that found no node) are retried within ``retries`` and then raised as
``BackendUnavailable``; the rest (``CROSSSLOT``, a script's "non local key", anything else) is a
``BackendError`` at once. Real servers provoke ``CLUSTERDOWN`` (a cluster missing slots),
``TRYAGAIN`` (a slot half migrated) and "non local key" (a group naming a key of another node).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from valkey.exceptions import (
    AskError,
    AuthenticationError,
    ClusterCrossSlotError,
    ClusterDownError,
    ClusterError,
    ConnectionError,
    MasterDownError,
    MovedError,
    ResponseError,
    SlotNotCoveredError,
    TryAgainError,
    ValkeyClusterException,
)

import kvsession
from kvsession.kv.errors import BackendError, BackendUnavailable
from kvsession.kv.protocol import DeleteGroupOp, SetAddOp, SetOp
from kvsession_valkey import ValkeyBackend
from kvsession_valkey.failures import is_transient
from kvsession_valkey.sansio import Command
from tests.clusters import Cluster, start_cluster

TRANSIENT: list[Exception] = [  # valkey-py's error classes are untyped
    ClusterDownError("CLUSTERDOWN The cluster is down"),  # type: ignore[no-untyped-call]
    MasterDownError("MASTERDOWN Link with MASTER is down"),  # type: ignore[no-untyped-call]
    TryAgainError("TRYAGAIN Multiple keys request during rehashing"),  # type: ignore[no-untyped-call]
    ClusterError("TTL exhausted."),
    MovedError("3999 127.0.0.1:7001"),  # type: ignore[no-untyped-call]
    AskError("3999 127.0.0.1:7001"),  # type: ignore[no-untyped-call]
    SlotNotCoveredError('Slot "3999" is not covered by the cluster.'),
    ValkeyClusterException("Valkey Cluster cannot be connected. Please provide at least one reachable node"),
    ValkeyClusterException(
        "All slots are not covered after query all startup_nodes. 8000 of 16384 covered..."
    ),
    ConnectionError("Error 111 connecting to 127.0.0.1:7001. Connection refused."),
]
FINAL = [
    ClusterCrossSlotError("CROSSSLOT Keys in request don't hash to the same slot"),
    ValkeyClusterException("MGET - all keys must map to the same key slot"),
    ResponseError("Attempted to access a non local key in a cluster node script"),
    ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
]


@pytest.fixture
def offline() -> Iterator[ValkeyBackend]:
    backend = kvsession.connect("valkey+cluster://127.0.0.1:1,127.0.0.1:2/0")
    assert isinstance(backend, ValkeyBackend)
    yield backend
    backend.close()


@pytest.mark.parametrize("error", TRANSIENT, ids=lambda e: f"{type(e).__name__}:{str(e)[:20]}")
def test_transient_cluster_states_are_retried_then_unavailable(
    offline: ValkeyBackend, error: Exception
) -> None:
    assert is_transient(error)
    translated = offline._translated(error, Command("{s}k", ("GET", "{s}k")))
    assert isinstance(translated, BackendUnavailable)
    assert translated.key == "{s}k"
    assert translated.__cause__ is error


@pytest.mark.parametrize("error", FINAL, ids=lambda e: f"{type(e).__name__}:{str(e)[:20]}")
def test_final_errors_are_backend_errors(offline: ValkeyBackend, error: Exception) -> None:
    assert not is_transient(error)
    translated = offline._translated(error, Command("{s}k", ("MGET", "{s}k", "{t}k"), 2))
    assert type(translated) is BackendError
    assert translated.key == "{s}k"


def test_a_refused_password_is_unavailable_but_not_retried(offline: ValkeyBackend) -> None:
    wrapped = ValkeyClusterException("Valkey Cluster cannot be connected. Please provide ...")
    wrapped.__cause__ = AuthenticationError("invalid username-password pair")
    for error in (AuthenticationError("invalid username-password pair"), wrapped):
        assert not is_transient(error)
        assert isinstance(offline._translated(error, Command("{s}k", ("GET", "{s}k"))), BackendUnavailable)


# -- real servers -----------------------------------------------------------------------------


@pytest.fixture
def half_covered() -> Iterator[Cluster]:
    """A one-primary cluster that has given up half its slots: CLUSTERDOWN for every key."""
    with start_cluster(primaries=1, replicas=0) as started:
        started.primaries[0].command("CLUSTER", "DELSLOTSRANGE", 0, 8191)
        deadline = time.monotonic() + 10
        while "cluster_state:fail" not in started.primaries[0].command("CLUSTER", "INFO"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        yield started


def test_clusterdown_is_retried_within_the_budget_then_unavailable(half_covered: Cluster) -> None:
    backend = kvsession.connect(half_covered.url(query="retries=2&retry_backoff_base=0.02"))
    # A slot the node still owns: the whole cluster is down anyway (cluster-require-full-coverage).
    key = next(f"{{s{i}}}k" for i in range(1000) if half_covered.key_slot(f"{{s{i}}}k") >= 8192)
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match="not serving this key") as caught:
        backend.get(key)
    took = time.monotonic() - started
    assert caught.value.key == key
    assert isinstance(caught.value.__cause__, ClusterDownError)
    # 3 attempts, each valkey-py's 0.25 s sleep and a refresh, plus backoffs 0.02 + 0.04 s.
    assert 0.75 + 0.06 <= took < 3.0, took
    backend.close()


def test_tryagain_during_a_migration_then_success(cluster: Cluster, cluster_url: str) -> None:
    backend = kvsession.connect(cluster_url + "?retries=1&retry_backoff_base=0.01")
    keys = [f"{{mig}}k{i}" for i in range(4)]
    for key in keys:
        backend.set(key, b"v")
    slot = cluster.key_slot(keys[0])
    source = cluster.primary_for_slot(slot)
    target = next(node for node in cluster.primaries if node is not source)
    cluster.begin_manual_migration(slot, target)
    try:
        assert cluster.move_keys(slot, target, count=2) == 2  # the slot's keys now live on two nodes
        started = time.monotonic()
        with pytest.raises(BackendUnavailable) as caught:
            backend.get_many(keys)  # TRYAGAIN: a multi-key read of a slot split between nodes
        took = time.monotonic() - started
        assert caught.value.key == keys[0]
        assert isinstance(caught.value.__cause__, TryAgainError | ClusterError)
        assert took < 3.0, took  # 2 attempts of at most 16 tries (0.4 s of sleeps) each
    finally:
        cluster.finish_manual_migration(slot, target)
    assert backend.get_many(keys) == [b"v"] * 4  # MOVED followed by valkey-py after the move
    backend.close()


def test_a_group_naming_a_key_of_another_node_is_a_final_error(cluster: Cluster, cluster_url: str) -> None:
    backend = kvsession.connect(cluster_url)
    stray = next(
        f"{{o{i}}}x"
        for i in range(100)
        if cluster.primary_for_slot(cluster.key_slot(f"{{o{i}}}x"))
        is not cluster.primary_for_slot(cluster.key_slot("{g}set"))
    )
    backend.apply([SetOp(stray, b"1")])
    backend.apply([SetAddOp("{g}set", (stray,))])
    started = time.monotonic()
    with pytest.raises(BackendError, match="key of another node") as caught:
        backend.apply([DeleteGroupOp("{g}set")])
    assert time.monotonic() - started < 0.5  # not retried
    assert not isinstance(caught.value, BackendUnavailable)
    assert caught.value.key == "{g}set"
    assert backend.get(stray) == b"1" and backend.set_members("{g}set") == {stray}  # nothing written
    backend.close()
