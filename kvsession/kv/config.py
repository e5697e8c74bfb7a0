"""Configuration: one URL plus keyword overrides, validated with msgspec.

``valkey://[user:pass@]host:port/db?codec=msgpack&ttl=3600&prefix=app`` — the scheme picks the
backend (see :mod:`kvsession.kv.registry`), the query carries options. Options the store layer
understands (:class:`StoreOptions`) are shared by every backend; each backend declares its own
extra options as a msgspec ``Struct`` in ``Backend.Options``. An unknown option is an error that
lists the valid ones, never silently ignored.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

import msgspec

from kvsession.kv.errors import ConfigError

__all__ = [
    "CLUSTER_SUFFIX",
    "ENV_URL",
    "BackendConfig",
    "StoreOptions",
    "convert_options",
    "parse_url",
    "redact_url",
    "resolve_url",
]

ENV_URL = "KVSESSION_URL"
"""Environment variable read when no URL is given."""

DEFAULT_URL = "valkey://127.0.0.1:6379/0"

CLUSTER_SUFFIX = "+cluster"
"""A scheme ending so names a cluster: several seed hosts, database 0, the cluster key scheme."""

_ENV_NAME = re.compile(r"env:[A-Za-z_][A-Za-z0-9_]*")

OptionsT = TypeVar("OptionsT", bound=msgspec.Struct)


class StoreOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Options of the session store, valid with every backend.

    Attributes:
        codec: ``json`` (default, readable in valkey-cli) or ``msgpack`` (smaller, faster).
        ttl: Seconds of inactivity after which a session and all its keys expire; ``None`` keeps them.
        touch_on_read: Whether reads also keep a session with a ``ttl`` alive.
        prefix: Namespace put in front of every key (``prefix:session:...``).
        key_scheme: ``standalone`` or ``cluster`` (session id wrapped as a hash tag).
        compress: ``none`` (default) or ``zstd``: compress values of ``compress_threshold``
            bytes or more. Compressed values read back whatever this says.
        compress_threshold: Smallest encoded value, in bytes, that is compressed (default 1024).
        encrypt: ``env:NAME``: encrypt every value with the keys in the environment variable
            ``NAME`` (``key_id:base64key[,...]``, newest last). The URL names keys, never holds them.
    """

    codec: Literal["json", "msgpack"] = "json"
    ttl: float | None = None
    touch_on_read: bool = False
    prefix: str = ""
    key_scheme: Literal["standalone", "cluster"] = "standalone"
    compress: Literal["none", "zstd"] = "none"
    compress_threshold: int = 1024
    encrypt: str | None = None

    def __post_init__(self) -> None:
        if self.ttl is not None and not (math.isfinite(self.ttl) and self.ttl > 0):
            raise ValueError("ttl must be a finite number of seconds above 0")
        if self.compress_threshold < 0:
            raise ValueError("compress_threshold must be 0 or more bytes")
        if self.encrypt is not None and not _ENV_NAME.fullmatch(self.encrypt):
            # Never quote the value: someone may have pasted a key here.
            raise ValueError("encrypt must be env:NAME, the environment variable that holds the keys")


STORE_OPTION_NAMES: frozenset[str] = frozenset(StoreOptions.__struct_fields__)


@dataclass(frozen=True)
class BackendConfig:
    """A parsed connection URL: where to connect and with which options.

    Attributes:
        url: The URL as given (password included; never log it, use :meth:`redacted`).
        scheme: The URL scheme, which names the backend.
        host: Host name, or ``None`` when the URL has none (``memory://``).
        port: Port, or ``None``.
        db: Database number from the path (``/0``), or ``None``.
        name: The URL's host part for backends without a network (``fakeredis://shared``).
        username: User name, or ``None``.
        password: Password, or ``None``.
        store: Options of the session store.
        backend_options: Query options that belong to the backend, still as strings.
        seeds: Every ``(host, port)`` of a URL that lists several, such as a cluster's seed
            nodes (``valkey+cluster://h1:7000,h2:7001/0``), in the order given; ``host`` and
            ``port`` are the first of them. Empty for a URL with one host or none. A port
            left out is ``None`` (the backend's default).
    """

    url: str
    scheme: str
    host: str | None = None
    port: int | None = None
    db: int | None = None
    name: str = ""
    username: str | None = None
    password: str | None = None
    store: StoreOptions = field(default_factory=StoreOptions)
    backend_options: Mapping[str, Any] = field(default_factory=dict)
    seeds: tuple[tuple[str, int | None], ...] = ()

    @property
    def is_cluster(self) -> bool:
        """Whether the scheme names a cluster (``<backend>+cluster``, e.g. ``valkey+cluster``)."""
        return self.scheme.endswith(CLUSTER_SUFFIX)

    def redacted(self) -> str:
        """Return the URL with the password replaced by ``***``, for logs and errors."""
        return redact_url(self.url)

    def __repr__(self) -> str:
        # Written out rather than generated: the generated repr would print ``url`` and
        # ``password`` as they are, and a repr ends up in logs, tracebacks and ``vars(backend)``.
        password = None if self.password is None else "***"
        return (
            f"BackendConfig(url={self.redacted()!r}, scheme={self.scheme!r}, host={self.host!r}, "
            f"port={self.port!r}, db={self.db!r}, name={self.name!r}, username={self.username!r}, "
            f"password={password!r}, store={self.store!r}, backend_options={dict(self.backend_options)!r}, "
            f"seeds={self.seeds!r})"
        )


# "scheme://name:" starts a user and password. The password runs to the LAST "@" of the whole URL,
# not only of the authority: a password holding a raw "/", "?" or "#" ends the authority early for
# urlsplit, and the rest of it would be read as path, query or fragment (and quoted in errors).
_USER_AND_COLON = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@?#]*:")


# An encrypt= value that is not a plain env:NAME: possibly a key pasted into the URL.
_PASTED_KEY = re.compile(r"([?&]encrypt=)(?!env:[A-Za-z_][A-Za-z0-9_]*(?:[&#]|$))[^&#]*")


def _password_span(url: str) -> tuple[int, int] | None:
    """Return where the password may be in ``url`` (start, end), or ``None`` if it has none."""
    start = _USER_AND_COLON.match(url)
    if start is None:
        return None
    end = url.rfind("@")
    return (start.end(), end) if end >= start.end() else None


def redact_url(url: str) -> str:
    """Return ``url`` with any password (``scheme://user:PASSWORD@host``) replaced by ``***``.

    Works on the text as written (percent-encoded or not), so it is safe to call on a URL that
    failed to parse. Everything from ``user:`` to the last ``@`` is hidden, so a password with
    a raw ``/``, ``?`` or ``#`` is hidden whole too (at worst, more than the password is). An
    ``encrypt=`` value other than ``env:NAME`` (a key pasted where its variable's name belongs)
    is hidden too.
    """
    span = _password_span(url)
    if span is not None:
        url = f"{url[: span[0]]}***{url[span[1] :]}"
    return _PASTED_KEY.sub(r"\1***", url)


def resolve_url(url: str | None) -> str:
    """Return ``url``, else ``$KVSESSION_URL``, else the local default Valkey URL."""
    return url or os.environ.get(ENV_URL) or DEFAULT_URL


def parse_url(url: str, **overrides: Any) -> BackendConfig:
    """Parse a connection URL; keyword ``overrides`` win over query options.

    Args:
        url: ``scheme://[user:pass@]host[:port][/db][?option=value&...]``.
        **overrides: Options as keywords (typed values allowed, e.g. ``ttl=timedelta(hours=1)``).

    Raises:
        ConfigError: The URL is malformed or a store option has a bad value.
    """
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is not None and _password_span(url) is not None and "@" not in parts.netloc:
        # The "@" urlsplit did not see as ending the user info: a password with a raw "/", "?"
        # or "#" (its tail would be read as path, options or fragment), or an "@" in an option.
        raise ConfigError(
            f"url=<{shown}> | malformed URL: percent-encode '/', '?' and '#' in a password "
            "(%2F, %3F, %23) and '@' in an option value (%40)"
        )
    seeds: tuple[tuple[str, int | None], ...] = ()
    if parts is not None and "," in parts.netloc.rpartition("@")[2]:
        seeds = _seeds(parts, shown)
        user, at, _ = parts.netloc.rpartition("@")
        # The first seed stands for the URL's host and port, for code that reads only those.
        first = seeds[0][0] if seeds[0][1] is None else f"{_bracketed(seeds[0][0])}:{seeds[0][1]}"
        parts = parts._replace(netloc=f"{user}{at}{first}")
    port = _port(parts)
    if parts is None or port is False:
        # Raised outside the except block, so that not even ``__context__`` keeps urlsplit's
        # error: its message may quote part of the password.
        raise ConfigError(f"url=<{shown}> | malformed URL (is the port a number from 1 to 65535?)")
    if not parts.scheme:
        raise ConfigError(f"url=<{shown}> | missing scheme, e.g. valkey://127.0.0.1:6379/0 or memory://")
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    options: dict[str, Any] = dict(pairs)
    if len(options) != len(pairs):
        twice = sorted(name for name, count in Counter(name for name, _ in pairs).items() if count > 1)
        raise ConfigError(f"url=<{shown}> | option {', '.join(map(repr, twice))} given more than once")
    options.update(_normalise(overrides))
    store_raw = {k: v for k, v in options.items() if k in STORE_OPTION_NAMES}
    backend_raw = {k: v for k, v in options.items() if k not in STORE_OPTION_NAMES}
    db_text = parts.path.lstrip("/")
    if db_text and not db_text.isdigit():
        raise ConfigError(f"url=<{shown}> | the path must be a database number, got {db_text!r}")
    scheme = parts.scheme.lower()
    if scheme.endswith(CLUSTER_SUFFIX):
        _check_cluster(store_raw, db_text, shown)
        store_raw.setdefault("key_scheme", "cluster")
    elif seeds:
        raise ConfigError(
            f"url=<{shown}> | several hosts are only valid in a cluster URL ({scheme}{CLUSTER_SUFFIX}://...)"
        )
    store = convert_options(store_raw, StoreOptions, url=shown)
    return BackendConfig(
        url=url,
        scheme=scheme,
        host=parts.hostname,
        port=port if isinstance(port, int) else None,
        db=int(db_text) if db_text else None,
        name=parts.hostname or "",
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        store=store,
        backend_options=backend_raw,
        seeds=seeds,
    )


def _seeds(parts: SplitResult, shown: str) -> tuple[tuple[str, int | None], ...]:
    """Return the ``(host, port)`` of every comma-separated host of ``parts``' netloc.

    Raises:
        ConfigError: An empty host, or a port that is not a number from 1 to 65535.
    """
    seeds: list[tuple[str, int | None]] = []
    for item in parts.netloc.rpartition("@")[2].split(","):
        seed = urlsplit(f"//{item}")
        port = _port(seed)
        if not item or not seed.hostname or port is False:
            raise ConfigError(
                f"url=<{shown}> | bad seed host {item!r}: write host:port pairs separated by commas, "
                "each port a number from 1 to 65535"
            )
        seeds.append((seed.hostname, port))
    return tuple(seeds)


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _check_cluster(store_raw: Mapping[str, Any], db_text: str, shown: str) -> None:
    """Refuse what a cluster URL cannot mean: a database other than 0, the standalone key scheme."""
    if db_text and int(db_text) != 0:
        raise ConfigError(f"url=<{shown}> | a cluster has only database 0, got /{db_text}")
    if str(store_raw.get("key_scheme", "cluster")) != "cluster":
        # Every batch of a session must stay in one slot: only the cluster key scheme does that.
        raise ConfigError(
            f"url=<{shown}> | option 'key_scheme' must be 'cluster' (or left out) with a cluster URL, "
            f"got {store_raw['key_scheme']!r}"
        )


def _port(parts: SplitResult | None) -> int | Literal[False] | None:
    """Return the URL's port, ``None`` if it has none, ``False`` if it is invalid."""
    if parts is None:
        return False
    try:
        port = parts.port
    except ValueError:
        return False
    # Port 0 is no server's port: refused rather than left for a client to replace with 6379.
    return False if port == 0 else port


def convert_options(raw: Mapping[str, Any], options_type: type[OptionsT], *, url: str) -> OptionsT:
    """Validate ``raw`` options (strings from a query, or typed keywords) into ``options_type``.

    Raises:
        ConfigError: naming the bad option and listing the valid ones.
    """
    url = redact_url(url)
    valid = sorted(set(options_type.__struct_fields__) | STORE_OPTION_NAMES)
    for name in raw:
        if name not in valid:
            raise ConfigError(f"url=<{url}> | unknown option {name!r}; valid options: {', '.join(valid)}")
    try:
        return msgspec.convert(dict(raw), options_type, strict=False)
    except (msgspec.ValidationError, ValueError) as exc:
        raise ConfigError(f"url=<{url}> | invalid option: {exc}") from exc


def _normalise(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Turn friendly keyword types into the plain values the option structs hold."""
    normalised: dict[str, Any] = {}
    for name, value in overrides.items():
        if hasattr(value, "total_seconds"):
            value = value.total_seconds()
        normalised[name] = value
    return normalised
