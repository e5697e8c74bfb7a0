"""fakeredis backend for kvsession: Valkey semantics in-process, no server.

``FakeRedisBackend`` is :class:`kvsession_valkey.ValkeyBackend` over ``fakeredis.FakeValkey``:
the very same code (commands, the Lua batch script, error mapping) runs against fakeredis'
in-process server, so tests that use it exercise the production code path.

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

from kvsession.kv.config import BackendConfig, convert_options, parse_url
from kvsession_valkey import DEFAULT_MAX_VALUE_BYTES, ValkeyBackend
from kvsession_valkey.backend import PositiveInt

__all__ = ["FakeRedisBackend", "drop_shared_server", "shared_server"]

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

    class Options(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
        """Query options of ``fakeredis://`` URLs.

        Attributes:
            max_value_bytes: Largest value accepted; larger ones raise ``ValueTooLargeError``.
        """

        max_value_bytes: PositiveInt = DEFAULT_MAX_VALUE_BYTES

    # fakeredis has no MEMORY USAGE: withdraw the inherited ability, so that
    # ``isinstance(backend, kvsession.kv.capabilities.MemoryUsage)`` is false here.
    memory_usage = None  # type: ignore[assignment]

    def __init__(
        self,
        server: fakeredis.FakeServer | None = None,
        *,
        client: valkey.Valkey | None = None,
        config: BackendConfig | None = None,
        options: FakeRedisBackend.Options | None = None,
    ) -> None:
        if config is None:
            config = parse_url("fakeredis://")
        if options is None:
            options = convert_options(config.backend_options, FakeRedisBackend.Options, url=config.redacted())
        owns_client = client is None
        if client is None:
            if server is None:
                server = shared_server(config.name) if config.name else _new_server()
            client = fakeredis.FakeValkey(server=server)
        self.server: fakeredis.FakeServer | None = server
        super().__init__(
            client,
            config=config,
            options=ValkeyBackend.Options(max_value_bytes=options.max_value_bytes),
            own_client=owns_client,
        )
        self._where = config.redacted()  # "fakeredis://NAME" says more than the fake client's host
