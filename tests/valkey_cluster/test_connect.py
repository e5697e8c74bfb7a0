"""The Valkey backend on a real 3-primary, 3-replica cluster: by URL and by a client you built.

Sync and async; every URL option reaches the cluster client; values stay bytes whatever the
client decodes; the repository and ``ValkeySessionManager`` pick the cluster key scheme.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import valkey
import valkey.asyncio.cluster
import valkey.cluster
from strands.types.session import SessionAgent, SessionMessage

import kvsession
from kvsession.kv.errors import BackendError, BackendUnavailable
from kvsession.kv.protocol import IndexAddOp, SetAddOp, SetOp
from kvsession.strands.valkey import ValkeySessionManager
from kvsession_valkey import AsyncValkeyBackend, ValkeyBackend
from kvsession_valkey.cluster import ClusterClient
from tests.clusters import Cluster, start_cluster
from tests.tlsproxy import TlsMaterial, make_tls_material

BINARY = bytes(range(256))  # not UTF-8: must come back byte for byte


def _connect(url: str) -> ValkeyBackend:
    backend = kvsession.connect(url)
    assert isinstance(backend, ValkeyBackend)
    return backend


def _exercise(backend: ValkeyBackend) -> None:
    backend.apply(
        [
            SetOp("{s1}rec", BINARY, only_if_absent=True),
            IndexAddOp("{s1}idx", (("m1", 1.0), ("m2", 2.0))),
            SetAddOp("{s1}set", ("{s1}rec",)),
        ]
    )
    assert backend.get("{s1}rec") == BINARY
    assert backend.get_many(["{s1}rec", "{s1}none"]) == [BINARY, None]
    assert backend.index_range("{s1}idx") == ["m1", "m2"]
    assert backend.set_members("{s1}set") == {"{s1}rec"}
    assert backend.delete_many(["{s1}rec", "{s1}idx"]) == 2


def test_connect_by_url(cluster_url: str) -> None:
    backend = _connect(cluster_url)
    assert isinstance(backend, ValkeyBackend)
    assert backend.config.store.key_scheme == "cluster"
    _exercise(backend)
    backend.close()


def test_user_built_cluster_client_decoding_text_still_gives_bytes(
    cluster: Cluster, cluster_url: str
) -> None:
    client = cluster.cluster_client(decode_responses=True)
    backend = ValkeyBackend(client)
    # describe() of a cluster client: no connection_pool; the cluster key scheme is implied.
    assert backend.config.scheme == "valkey+cluster"
    assert backend.config.store.key_scheme == "cluster"
    assert len(backend.config.seeds) == 6
    _exercise(backend)
    backend.close()
    assert client.ping() is True  # a client you passed is left open
    client.close()  # type: ignore[no-untyped-call]


def test_keys_of_several_slots_in_one_call_name_the_stray_key(cluster_url: str) -> None:
    backend = _connect(cluster_url)
    with pytest.raises(BackendError, match=r"key <'\{b\}x'> is in another slot") as caught:
        backend.get_many(["{a}x", "{b}x"])
    assert caught.value.key == "{a}x" and not isinstance(caught.value, BackendUnavailable)
    with pytest.raises(BackendError, match="another slot"):
        backend.apply([SetOp("{a}x", b"1"), SetOp("{b}x", b"2")])
    assert backend.get("{a}x") is None
    backend.close()


def test_memory_usage_of_keys_on_every_node(cluster: Cluster, cluster_url: str) -> None:
    backend = _connect(cluster_url)
    keys = [f"{{s{i}}}k" for i in range(12)]
    assert len({cluster.primary_for_slot(cluster.key_slot(key)).node_id for key in keys}) == 3
    for key in keys:
        backend.set(key, b"x" * 100)
    sizes = backend.memory_usage([*keys, "{s0}missing"])
    assert all(size is not None and size >= 100 for size in sizes[:-1])
    assert sizes[-1] is None
    backend.close()


def test_session_manager_with_a_cluster_client(cluster: Cluster, cluster_url: str) -> None:
    client = cluster.cluster_client(decode_responses=True)
    manager = ValkeySessionManager(session_id="u-42", client=client)
    repo = manager.repository
    repo.create_agent("u-42", SessionAgent(agent_id="a", state={}, conversation_manager_state={}))
    for i in range(3):
        message = SessionMessage.from_message({"role": "user", "content": [{"text": f"m{i}"}]}, i)
        repo.create_message("u-42", "a", message)
    assert [m.message_id for m in repo.list_messages("u-42", "a")] == [0, 1, 2]
    assert all("{u-42}" in key for key in repo.session_keys("u-42"))
    client.close()  # type: ignore[no-untyped-call]


def test_options_reach_every_node(cluster: Cluster, cluster_url: str) -> None:
    for node in cluster.live_nodes:
        node.command("ACL", "SETUSER", "kvtest", "on", ">s3cret", "~*", "&*", "+@all")
    query = "client_name=kvs-opts&max_connections=7&socket_timeout=3&socket_connect_timeout=2&retries=5"
    url = cluster_url.replace("://", "://kvtest:s3cret@") + "?" + query
    backend = _connect(url)
    try:
        _exercise(backend)
        assert isinstance(backend._client, ClusterClient)
        assert backend._client.retry_policy.retries == 5
        client = backend.client
        assert isinstance(client, valkey.cluster.ValkeyCluster)
        assert client.cluster_error_retry_attempts == 0  # our RetryPolicy is the one loop
        for node in client.get_nodes():  # type: ignore[no-untyped-call]
            pool = node.valkey_connection.connection_pool
            assert pool.max_connections == 7
            assert pool.connection_kwargs["socket_timeout"] == 3
            assert pool.connection_kwargs["socket_connect_timeout"] == 2
            assert pool.connection_kwargs["client_name"] == "kvs-opts"
        named = [
            line
            for node in cluster.primaries
            for line in node.command("CLIENT", "LIST").splitlines()
            if "name=kvs-opts" in line
        ]
        assert named and all("user=kvtest" in line for line in named)
    finally:
        backend.close()
        for node in cluster.live_nodes:
            node.command("ACL", "DELUSER", "kvtest")


def test_wrong_password_is_a_typed_error_naming_the_key(cluster: Cluster, cluster_url: str) -> None:
    url = cluster_url.replace("://", "://nobody:wrong@") + "?retries=1"
    backend = _connect(url)
    with pytest.raises(BackendError) as caught:
        backend.get("{s}k")
    assert caught.value.key == "{s}k"
    assert "wrong" not in str(caught.value)
    backend.close()


def test_unreachable_cluster_is_unavailable_after_the_retries() -> None:
    backend = _connect(
        "valkey+cluster://127.0.0.1:1,127.0.0.1:2/0?retries=2&retry_backoff_base=0.01&socket_connect_timeout=0.2"
    )
    with pytest.raises(BackendUnavailable, match="cannot reach") as caught:
        backend.get("{s}k")
    assert caught.value.key == "{s}k"
    backend.close()


# -- async ------------------------------------------------------------------------------------


async def _exercise_async(backend: AsyncValkeyBackend) -> None:
    await backend.apply([SetOp("{s2}rec", BINARY), IndexAddOp("{s2}idx", (("m", 1.0),))])
    assert await backend.get("{s2}rec") == BINARY
    assert await backend.get_many(["{s2}rec", "{s2}x"]) == [BINARY, None]
    assert await backend.index_range("{s2}idx") == ["m"]


def test_async_connect_by_url_on_fresh_loops(cluster_url: str) -> None:
    backend = kvsession.kv.open_async(cluster_url + "?read_from_replicas=true")
    assert isinstance(backend, AsyncValkeyBackend)
    assert backend.config.store.key_scheme == "cluster"
    asyncio.run(_exercise_async(backend))
    asyncio.run(_exercise_async(backend))  # another loop: another client, same data

    async def close() -> None:
        await backend.aclose()

    asyncio.run(close())


def test_async_user_built_cluster_client(cluster: Cluster, cluster_url: str) -> None:
    async def main() -> None:
        seed = cluster.primaries[0]
        client = valkey.asyncio.cluster.ValkeyCluster(host=seed.host, port=seed.port, decode_responses=True)
        backend = AsyncValkeyBackend(client, own_client=True)
        assert backend.config.store.key_scheme == "cluster"
        await _exercise_async(backend)
        await backend.aclose()

    asyncio.run(main())


# -- TLS --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, TlsMaterial]]:
    material = make_tls_material(Path(tmp_path_factory.mktemp("tls")))
    with start_cluster(primaries=3, replicas=1, tls=material) as started:
        yield started, material


def test_tls_cluster_url_with_every_tls_option(tls: tuple[Cluster, TlsMaterial]) -> None:
    cluster, material = tls
    query = (
        f"ssl_ca_certs={material.ca_cert}&ssl_certfile={material.client_cert}&ssl_keyfile={material.client_key}"
        "&ssl_cert_reqs=required&ssl_check_hostname=true"
    )
    backend = _connect(cluster.url("valkeys+cluster", query.replace("127.0.0.1", "localhost")))
    _exercise(backend)
    backend.close()
    untrusted = _connect(cluster.url("valkeys+cluster", f"ssl_ca_certs={material.other_ca_cert}&retries=0"))
    with pytest.raises(BackendError) as caught:
        untrusted.get("{s}k")
    assert caught.value.key == "{s}k"
    untrusted.close()

    async def main() -> None:
        backend = await kvsession.connect_async(
            cluster.url("valkeys+cluster", f"ssl_ca_certs={material.ca_cert}")
        )
        await _exercise_async(backend)  # type: ignore[arg-type]
        await backend.aclose()

    asyncio.run(main())


def test_a_cluster_client_overrides_the_default_key_scheme_but_not_a_written_one(cluster: Cluster) -> None:
    client = cluster.cluster_client()
    backend = ValkeyBackend(client, url="valkey://127.0.0.1:1/0?codec=msgpack")
    assert backend.config.store.key_scheme == "cluster"
    assert backend.config.store.codec == "msgpack"  # the rest of the URL's store options stay
    with pytest.raises(kvsession.kv.errors.ConfigError, match="'key_scheme' must be 'cluster'"):
        ValkeyBackend(client, url="valkey://127.0.0.1:1/0?key_scheme=standalone")
    client.close()  # type: ignore[no-untyped-call]


def test_a_user_built_tls_cluster_client_is_described_as_tls(tls: tuple[Cluster, TlsMaterial]) -> None:
    cluster, _ = tls
    client = cluster.cluster_client()
    backend = ValkeyBackend(client)
    assert backend.config.scheme == "valkeys+cluster"
    assert repr(backend).startswith("ValkeyBackend(url='valkeys+cluster://")
    _exercise(backend)
    client.close()  # type: ignore[no-untyped-call]
