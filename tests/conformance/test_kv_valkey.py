"""Valkey-backend specifics: URL options, TLS, credentials, pool behaviour, batch encoding.

Not part of the shared conformance tests because they are about how ``ValkeyBackend`` builds
and uses its valkey-py client, which the other backends do not have.
"""

from __future__ import annotations

import socket
from typing import cast

import pytest
import valkey
from valkey.connection import SSLConnection

from kvsession.kv.errors import BackendUnavailable, ConfigError
from kvsession.kv.protocol import (
    DeleteOp,
    ExpireOp,
    IndexAddOp,
    IndexRemoveOp,
    KeyValueBackend,
    SetAddOp,
    SetOp,
    SetRemoveOp,
)
from kvsession_fakeredis import FakeRedisBackend
from kvsession_valkey import ValkeyBackend
from kvsession_valkey.scripts import encode_batch


def test_url_options_reach_the_pool() -> None:
    backend = ValkeyBackend(
        url="valkey://alice:s3cret@127.0.0.1:6390/3?max_connections=7&socket_timeout=1.5"
        "&socket_connect_timeout=0.25&retries=2&health_check_interval=30&client_name=kv&codec=msgpack"
    )
    pool = backend.client.connection_pool  # type: ignore[union-attr]
    params = pool.connection_kwargs
    assert (params["host"], params["port"], params["db"]) == ("127.0.0.1", 6390, 3)
    assert (params["username"], params["password"]) == ("alice", "s3cret")
    assert (params["socket_timeout"], params["socket_connect_timeout"]) == (1.5, 0.25)
    assert (params["health_check_interval"], params["client_name"]) == (30, "kv")
    assert backend.client.retry_policy.retries == 2  # type: ignore[union-attr]
    assert pool.max_connections == 7
    assert backend.config.store.codec == "msgpack"
    assert "s3cret" not in repr(backend)
    backend.close()


def test_valkeys_scheme_uses_tls() -> None:
    backend = ValkeyBackend(url="valkeys://127.0.0.1:6390/0?ssl_cert_reqs=none&ssl_ca_certs=/tmp/ca.pem")
    pool = backend.client.connection_pool  # type: ignore[union-attr]
    assert pool.connection_class is SSLConnection
    assert pool.connection_kwargs["ssl_cert_reqs"] == "none"
    assert pool.connection_kwargs["ssl_ca_certs"] == "/tmp/ca.pem"
    assert (
        ValkeyBackend(url="valkey://127.0.0.1:6390/0").client.connection_pool.connection_class  # type: ignore[union-attr]
        is not SSLConnection
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("bogus=1", "unknown option 'bogus'"),
        ("retries=-1", "invalid option"),
        ("max_value_bytes=zero", "invalid option"),
        ("ssl_cert_reqs=sometimes", "invalid option"),
    ],
)
def test_bad_options_are_config_errors(query: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        ValkeyBackend(url=f"valkey://127.0.0.1:6390/0?{query}")
    if "unknown" in message:
        for valid in ["max_connections", "socket_timeout", "retries", "max_value_bytes", "codec"]:
            assert valid in str(caught.value)


def test_unavailable_error_hides_the_password() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = ValkeyBackend(
        url=f"valkey://alice:s3cret@127.0.0.1:{port}/0?retries=0&socket_connect_timeout=0.5"
    )
    with pytest.raises(BackendUnavailable) as caught:
        backend.get("k")
    assert "s3cret" not in str(caught.value)
    assert f"127.0.0.1:{port}" in str(caught.value)


def test_a_connection_killed_by_the_server_is_replaced(valkey_url: str, valkey_client: valkey.Valkey) -> None:
    backend = ValkeyBackend(url=valkey_url)
    backend.set("k", b"v")
    own_id = cast(int, backend.client.client_id())  # the single pooled connection this test uses
    valkey_client.client_kill_filter(_id=str(own_id))
    assert backend.get("k") == b"v"
    backend.close()


def test_owned_client_is_disconnected_by_close(valkey_url: str) -> None:
    backend = ValkeyBackend(url=valkey_url)
    backend.set("k", b"v")
    pool = backend.client.connection_pool  # type: ignore[union-attr]
    assert pool._created_connections == 1
    backend.close()
    assert all(conn._sock is None for conn in pool._available_connections)


def test_user_client_config_describes_where_it_points(valkey_url: str) -> None:
    client = valkey.Valkey.from_url(valkey_url.replace("valkey://", "redis://"))
    backend = ValkeyBackend(client)
    assert backend.config.url == valkey_url
    assert backend.config.scheme == "valkey"
    backend.set("k", b"v")
    backend.close()
    assert client.get("k") == b"v"  # close() leaves a client you passed in open
    client.close()  # type: ignore[no-untyped-call]


def test_batch_encoding_passes_every_key_in_keys() -> None:
    """Valkey Cluster routes a script by its KEYS: every key an op touches must be there."""
    keys, args = encode_batch(
        [
            SetOp("{s}:a", b"v", only_if_absent=True, ttl=0.0001),
            DeleteOp(("{s}:b", "{s}:c")),
            IndexAddOp("{s}:i", (("m", 1.5),)),
            IndexRemoveOp("{s}:i", ("m",)),
            SetAddOp("{s}:s", ("x", "y")),
            SetRemoveOp("{s}:s", ("x",)),
            ExpireOp("{s}:a", 2.5),
        ]
    )
    assert keys == ["{s}:a", "{s}:b", "{s}:c", "{s}:i", "{s}:i", "{s}:s", "{s}:s", "{s}:a"]
    assert not any(isinstance(arg, str) and arg.startswith("{s}") for arg in args)
    # ttl rounds up to whole milliseconds, at least 1 for a SET (PX 0 is an error).
    assert args[:4] == ["set", "10", "1", b"v"]
    assert args[-2:] == ["pexpire", "2500"]


def test_backends_satisfy_the_protocol() -> None:
    # Assignments are checked by mypy (structural typing), isinstance at run time.
    valkey_backend: KeyValueBackend = ValkeyBackend(url="valkey://127.0.0.1:6390/0")
    fake_backend: KeyValueBackend = FakeRedisBackend()
    assert isinstance(valkey_backend, KeyValueBackend)
    assert isinstance(fake_backend, KeyValueBackend)


def test_memory_usage_and_compare_and_set_on_a_real_server(valkey_url: str) -> None:
    """The tool-only extras (``kvsession stats`` / ``recode``), on the real server."""
    backend = ValkeyBackend(url=valkey_url)
    backend.set("a", b"x" * 1000, ttl=60)
    backend.set("b", b"old")
    sizes = backend.memory_usage(["a", "b", "missing"])
    assert sizes[0] is not None and sizes[0] >= 1000
    assert sizes[1] is not None and sizes[2] is None
    assert backend.compare_and_set([("a", b"x" * 1000, b"new-a"), ("b", b"stale", b"new-b")]) == 1
    assert backend.get("a") == b"new-a" and backend.get("b") == b"old"
    ttl_left = backend.ttl("a")
    assert ttl_left is not None and ttl_left > 50  # KEEPTTL
    backend.close()


def test_compare_and_set_skips_a_key_that_changed_kind(valkey_url: str) -> None:
    backend = ValkeyBackend(url=valkey_url)
    backend.set("a", b"old-a")
    backend.set_add("b", ["now a set"])
    backend.set("c", b"old-c")
    changes = [("a", b"old-a", b"new-a"), ("b", b"old-b", b"new-b"), ("c", b"old-c", b"new-c")]
    assert backend.compare_and_set(changes) == 2
    assert (backend.get("a"), backend.get("c")) == (b"new-a", b"new-c")
    assert backend.set_members("b") == {"now a set"}
    backend.close()
