"""Fixtures for tests against a real Valkey Cluster (the machinery lives in ``tests/clusters.py``).

Session scope, started only when a test asks:
    ``valkey_cluster`` (in tests/conftest.py, shared with the repository suite): 3 primaries,
    1 replica each, plaintext. Shared: do not kill, pause or migrate on it; build your own with
    :func:`tests.clusters.start_cluster` for that.
    ``tls_material``: CA, server and client certificates, and an unrelated CA.
    ``tls_valkey``: a standalone server behind a TLS proxy (``.port``, ``.material``).
    ``tls_cluster``: 3 primaries, 1 replica each, every node behind a TLS proxy that also lets the
    replicas' plaintext through; the cluster announces the TLS ports.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.clusters import Cluster, TlsServer, start_cluster, start_tls_server
from tests.tlsproxy import TlsMaterial, make_tls_material


@pytest.fixture(scope="session")
def tls_material(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    """Certificates for the TLS tests (paths to PEM files)."""
    return make_tls_material(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def tls_valkey(tls_material: TlsMaterial) -> Iterator[TlsServer]:
    """A standalone valkey-server reachable only through TLS on ``.port``."""
    server, proxy = start_tls_server(tls_material)
    tls_server = TlsServer(server=server, proxy=proxy, material=tls_material)
    try:
        yield tls_server
    finally:
        tls_server.stop()


@pytest.fixture(scope="session")
def tls_cluster(tls_material: TlsMaterial) -> Iterator[Cluster]:
    """A shared 3-primary, 3-replica cluster whose announced ports speak TLS."""
    with start_cluster(primaries=3, replicas=1, tls=tls_material) as cluster:
        yield cluster
