"""Find a backend class by URL scheme through the ``kvsession.backends`` entry-point group.

A distribution adds a backend by declaring, in its ``pyproject.toml``::

    [project.entry-points."kvsession.backends"]
    myscheme = "my_package:MyBackend"

``MyBackend`` implements :class:`~kvsession.kv.protocol.KeyValueBackend` and a
``from_config(config: BackendConfig) -> MyBackend`` classmethod. Core needs no edit. A backend
with an async twin (:class:`~kvsession.kv.aio.AsyncKeyValueBackend`) also has a
``from_config_async(config)`` classmethod, which :func:`connect_async` calls.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points
from typing import Any, Protocol

from kvsession.kv.aio import AsyncKeyValueBackend
from kvsession.kv.config import BackendConfig, parse_url, resolve_url
from kvsession.kv.errors import ConfigError
from kvsession.kv.protocol import KeyValueBackend

__all__ = [
    "ENTRY_POINT_GROUP",
    "BackendFactory",
    "available_schemes",
    "backend_class",
    "connect",
    "connect_async",
    "open_async",
]

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "kvsession.backends"


class BackendFactory(Protocol):
    """What a registered entry point must load: a class that builds a backend from a config."""

    def from_config(self, config: BackendConfig) -> KeyValueBackend:
        """Create a connected backend for ``config``."""
        ...


def _builtin() -> dict[str, str]:
    # The memory backend is part of core; registering it here too keeps `memory://` working
    # when core runs from a source tree without installed metadata.
    return {"memory": "kvsession.kv.memory:MemoryBackend"}


def available_schemes() -> list[str]:
    """Return every URL scheme a backend is registered for, sorted."""
    names = set(_builtin())
    names.update(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
    return sorted(names)


def backend_class(scheme: str) -> BackendFactory:
    """Load the backend class registered for ``scheme``.

    Raises:
        ConfigError: No backend is registered for ``scheme``; the message lists those that are.
    """
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == scheme:
            loaded: BackendFactory = ep.load()
            return loaded
    target = _builtin().get(scheme)
    if target is None:
        raise ConfigError(
            f"scheme=<{scheme}> | no kvsession backend for this scheme; "
            f"available: {', '.join(available_schemes())}"
        )
    module_name, _, attr = target.partition(":")
    module = __import__(module_name, fromlist=[attr])
    builtin: BackendFactory = getattr(module, attr)
    return builtin


def connect(url: str | None = None, **overrides: Any) -> KeyValueBackend:
    """Connect to the backend named by ``url`` (default ``$KVSESSION_URL``).

    Args:
        url: e.g. ``valkey://127.0.0.1:6379/0?codec=msgpack``, ``memory://``, ``fakeredis://``.
        **overrides: Options that win over the URL's query.

    Returns:
        A ready backend. Its ``config`` attribute holds the parsed :class:`BackendConfig`.

    Raises:
        ConfigError: Unknown scheme or option, or a bad option value.
    """
    config = parse_url(resolve_url(url), **overrides)
    factory = backend_class(config.scheme)
    logger.debug("scheme=<%s>, url=<%s> | connecting", config.scheme, config.redacted())
    return factory.from_config(config)


def open_async(url: str | None = None, **overrides: Any) -> AsyncKeyValueBackend:
    """Create the async backend named by ``url`` without awaiting anything (see :func:`connect_async`).

    For code that builds its store outside a running loop (a constructor); connections are
    opened on first use, on the loop that uses them.

    Raises:
        ConfigError: Unknown scheme or option, a bad option value, or a backend with no async twin.
    """
    config = parse_url(resolve_url(url), **overrides)
    factory = backend_class(config.scheme)
    opener = getattr(factory, "from_config_async", None)
    if opener is None:
        raise ConfigError(f"scheme=<{config.scheme}> | this backend has no async twin (from_config_async)")
    logger.debug("scheme=<%s>, url=<%s> | opening async backend", config.scheme, config.redacted())
    backend: AsyncKeyValueBackend = opener(config)
    return backend


async def connect_async(url: str | None = None, **overrides: Any) -> AsyncKeyValueBackend:
    """Connect to the async backend named by ``url`` (default ``$KVSESSION_URL``).

    The same URLs and options as :func:`connect`: ``memory://``, ``fakeredis://name``,
    ``valkey://host:port/0?codec=msgpack`` ... Use the backend from the loop that created it.

    Example:
        >>> backend = await kvsession.connect_async("valkey://127.0.0.1:6379/0")

    Raises:
        ConfigError: Unknown scheme or option, a bad option value, or a backend with no async twin.
    """
    return open_async(url, **overrides)
