"""A primary killed under the backend: ``retries`` carries calls across the failover, or they fail typed.

Its own cluster (a killed node changes it for good). With ``retries=10`` (5.26 s of backoff)
the calls made right after the kill wait for the replica's promotion (~2 s with the harness's
``cluster-node-timeout 1000``) and succeed on it; with ``retries=0`` the same call is a
``BackendUnavailable`` naming the key, at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

import kvsession
from kvsession.kv.errors import BackendUnavailable
from kvsession.kv.protocol import IndexAddOp, SetOp
from tests.clusters import Cluster, start_cluster


@pytest.fixture
def doomed() -> Iterator[Cluster]:
    with start_cluster(primaries=3, replicas=1) as started:
        yield started


def test_calls_ride_out_a_failover_within_the_retries(doomed: Cluster) -> None:
    patient = kvsession.connect(doomed.url(query="retries=10&socket_connect_timeout=0.5&socket_timeout=1"))
    hasty = kvsession.connect(doomed.url(query="retries=0&socket_connect_timeout=0.5&socket_timeout=1"))
    patient.apply([SetOp("{f}m0", b"v0"), IndexAddOp("{f}idx", (("m0", 0.0),))])
    assert hasty.get("{f}m0") == b"v0"
    victim = doomed.primary_for_slot(doomed.key_slot("{f}idx"))
    doomed.kill_primary(victim)
    with pytest.raises(BackendUnavailable) as caught:
        hasty.get("{f}m0")
    assert caught.value.key == "{f}m0"
    started = time.monotonic()
    patient.apply([SetOp("{f}m1", b"v1"), IndexAddOp("{f}idx", (("m1", 1.0),))])
    took = time.monotonic() - started
    assert took < 8, took
    assert patient.index_range("{f}idx") == ["m0", "m1"]
    assert patient.get_many(["{f}m0", "{f}m1"]) == [b"v0", b"v1"]

    async def main() -> None:
        backend = await kvsession.connect_async(doomed.url(query="retries=10"))
        assert await backend.index_range("{f}idx") == ["m0", "m1"]
        await backend.aclose()

    asyncio.run(main())
    patient.close()
    hasty.close()
