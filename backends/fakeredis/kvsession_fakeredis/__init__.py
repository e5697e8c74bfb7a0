"""fakeredis backend for kvsession: Valkey semantics in-process, no server.

``FakeRedisBackend`` is :class:`kvsession_valkey.ValkeyBackend` over ``fakeredis.FakeValkey``,
and its async twin ``AsyncFakeRedisBackend`` is :class:`kvsession_valkey.AsyncValkeyBackend` over
``fakeredis.FakeAsyncValkey``: the very same code (commands, the Lua batch script, error
mapping) runs against fakeredis' in-process server, so tests that use them exercise the
production code path. A sync and an async backend of the same ``fakeredis://NAME`` see the same
data; the async one opens one fake client per event loop, as the real one does.

URLs:

- ``fakeredis://`` — a fresh private server for each backend.
- ``fakeredis://NAME`` — the in-process server called ``NAME``, created on first use and
  shared by every backend connected with the same name in this process (for example a
  session manager and a test that inspects what it stored). It lives until
  :func:`drop_shared_server` or the end of the process.
"""

from __future__ import annotations

import threading

import fakeredis
import msgspec
import valkey
import valkey.asyncio

from kvsession.kv.config import BackendConfig, convert_options, parse_url
from kvsession_valkey import DEFAULT_MAX_VALUE_BYTES, AsyncValkeyBackend, ValkeyBackend
from kvsession_valkey.commands import PositiveInt

__all__ = ["AsyncFakeRedisBackend", "FakeRedisBackend", "drop_shared_server", "shared_server"]

_shared: dict[str, fakeredis.FakeServer] = {}
_shared_lock = threading.Lock()


def shared_server(name: str) -> fakeredis.FakeServer:
    """Return the in-process server called ``name`` (what ``fakeredis://NAME`` connects to)."""
    with _shared_lock:
        server = _shared.get(name)
        if server is None:
            server = _shared[name] = _new_server()
        return server


def drop_shared_server(name: str) -> bool:
    """Forget the shared server ``name``; return whether it existed. Open backends keep it."""
    with _shared_lock:
        return _shared.pop(name, None) is not None


def _new_server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer(server_type="valkey")


class FakeRedisOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Query options of ``fakeredis://`` URLs.

    Attributes:
        max_value_bytes: Largest value accepted; larger ones raise ``ValueTooLargeError``.
    """

    max_value_bytes: PositiveInt = DEFAULT_MAX_VALUE_BYTES


def _settle(
    config: BackendConfig | None, options: FakeRedisOptions | None, server: fakeredis.FakeServer | None
) -> tuple[BackendConfig, ValkeyBackend.Options, fakeredis.FakeServer]:
    """Return the config, the Valkey options and the fake server of a ``fakeredis://`` backend."""
    if config is None:
        config = parse_url("fakeredis://")
    if options is None:
        options = convert_options(config.backend_options, FakeRedisOptions, url=config.redacted())
    if server is None:
        server = shared_server(config.name) if config.name else _new_server()
    return config, ValkeyBackend.Options(max_value_bytes=options.max_value_bytes), server


class FakeRedisBackend(ValkeyBackend):
    """A :class:`~kvsession_valkey.ValkeyBackend` whose server is fakeredis, in this process.

    Args:
        server: The fake server to use; default: from ``config`` (``fakeredis://NAME`` shares
            a named one) or a fresh private one.
        client: A ``fakeredis.FakeValkey`` you built (e.g. with ``decode_responses=True``);
            overrides ``server``.
        config: The parsed URL (what :func:`kvsession.connect` passes).
        options: Backend options; default: parsed from the URL's query.
    """

    Options = FakeRedisOptions  # type: ignore[assignment]

    # fakeredis has no MEMORY USAGE: withdraw the inherited ability, so that
    # ``isinstance(backend, kvsession.kv.capabilities.MemoryUsage)`` is false here.
    memory_usage = None  # type: ignore[assignment]

    def __init__(
        self,
        server: fakeredis.FakeServer | None = None,
        *,
        client: valkey.Valkey | None = None,
        config: BackendConfig | None = None,
        options: FakeRedisOptions | None = None,
    ) -> None:
        config, valkey_options, self.server = _settle(config, options, server)
        owns_client = client is None
        super().__init__(
            client if client is not None else fakeredis.FakeValkey(server=self.server),
            config=config,
            options=valkey_options,
            own_client=owns_client,
        )
        self._where = config.redacted()  # "fakeredis://NAME" says more than the fake client's host

    @classmethod
    def from_config_async(cls, config: BackendConfig) -> AsyncFakeRedisBackend:
        """Create the async twin for the same URL: the same named server, the same data."""
        return AsyncFakeRedisBackend(config=config)


class AsyncFakeRedisBackend(AsyncValkeyBackend):
    """A :class:`~kvsession_valkey.AsyncValkeyBackend` whose server is fakeredis, in this process.

    One ``fakeredis.FakeAsyncValkey`` per event loop, all on the same fake server (fakeredis'
    async clients are bound to their loop, like valkey-py's).

    Args:
        server: The fake server to use; default: from ``config`` (``fakeredis://NAME`` shares
            a named one, with sync backends too) or a fresh private one.
        client: A ``fakeredis.FakeAsyncValkey`` you built, used from its own loop only;
            overrides ``server``.
        config: The parsed URL (what :func:`kvsession.connect_async` passes).
        options: Backend options; default: parsed from the URL's query.
    """

    Options = FakeRedisOptions  # type: ignore[assignment]

    def __init__(
        self,
        server: fakeredis.FakeServer | None = None,
        *,
        client: valkey.asyncio.Valkey | None = None,
        config: BackendConfig | None = None,
        options: FakeRedisOptions | None = None,
    ) -> None:
        config, valkey_options, self.server = _settle(config, options, server)
        fake_server = self.server

        def fake_client() -> valkey.asyncio.Valkey:
            made: valkey.asyncio.Valkey = fakeredis.FakeAsyncValkey(server=fake_server)
            return made

        super().__init__(
            client,
            client_factory=None if client is not None else fake_client,
            config=config,
            options=valkey_options,
        )
        self._where = config.redacted()
