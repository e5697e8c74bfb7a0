"""``ValkeyBackend``: the :class:`~kvsession.kv.protocol.KeyValueBackend` over valkey-py.

Every method is one command, so one round trip; :meth:`ValkeyBackend.apply` is one
``EVALSHA`` of the batch script in :mod:`kvsession_valkey.scripts`.
"""

from __future__ import annotations

import builtins
import hashlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Annotated, Any, Literal, TypeVar

import msgspec
import valkey
from valkey.backoff import ExponentialBackoff
from valkey.client import NEVER_DECODE
from valkey.connection import SSLConnection
from valkey.exceptions import NoScriptError, ResponseError, ValkeyError
from valkey.retry import Retry

from kvsession.kv.config import BackendConfig, convert_options, parse_url, resolve_url
from kvsession.kv.errors import BackendError, BackendUnavailable, ConflictError, ValueTooLargeError
from kvsession.kv.protocol import (
    DeleteGroupOp,
    RefreshTtlOp,
    RequireOp,
    SetAddOp,
    SetRemoveOp,
    WriteOp,
    WriteTokenOp,
)
from kvsession_valkey.scripts import (
    BATCH_SCRIPT,
    COMPARE_AND_SET_SCRIPT,
    encode_batch,
    encode_score,
    ttl_to_ms,
)

__all__ = ["DEFAULT_MAX_VALUE_BYTES", "ValkeyBackend"]

logger = logging.getLogger(__name__)

DEFAULT_MAX_VALUE_BYTES = 512 * 1024 * 1024
"""Valkey's default ``proto-max-bulk-len``: larger values would be refused by the server."""

_TLS_SCHEMES = frozenset({"valkeys"})

_UNDECODED = {NEVER_DECODE: True}

_SCRIPT_SHAS = {
    script: hashlib.sha1(script.encode()).hexdigest() for script in (BATCH_SCRIPT, COMPARE_AND_SET_SCRIPT)
}

_B = TypeVar("_B", bound="ValkeyBackend")

Reply = Any
"""A decoded RESP reply; its shape depends on the command (and on RESP2 vs RESP3)."""

PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]
NonNegativeFloat = Annotated[float, msgspec.Meta(ge=0)]


class ValkeyBackend:
    """A :class:`~kvsession.kv.protocol.KeyValueBackend` stored in Valkey (or Redis OSS).

    Values are strings, ordered indexes sorted sets, set indexes sets. Every method is one
    round trip; :meth:`apply` runs one server-side Lua script that checks the whole batch
    before writing any of it, so a batch is all-or-nothing even when an op fails.

    Args:
        client: A ``valkey.Valkey`` client you built (any pool, ``decode_responses`` either
            way). ``None`` builds one from ``url`` / ``config``.
        url: ``valkey://[user:pass@]host:port/db?option=value`` (``valkeys://`` for TLS);
            ignored when ``config`` is given.
        config: An already parsed URL (what :func:`kvsession.connect` passes).
        options: Backend options; default: parsed from the URL's query.
        own_client: Whether :meth:`close` disconnects the client's connection pool. Default:
            ``True`` for a client the backend built, ``False`` for one you passed (you may
            share it with other code; close it yourself).

    Example:
        >>> client = valkey.Valkey(host="localhost", port=6379, decode_responses=True)
        >>> backend = ValkeyBackend(client)
        >>> backend = ValkeyBackend(url="valkey://localhost:6379/0?socket_timeout=2")
    """

    class Options(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
        """Query options of ``valkey://`` and ``valkeys://`` URLs.

        Attributes:
            max_connections: Size limit of the connection pool (``None``: unbounded).
            socket_timeout: Seconds to wait for a reply before the call fails.
            socket_connect_timeout: Seconds to wait for a TCP connection.
            retries: How many times a command is retried after a connection error or
                timeout (with exponential backoff). A retried write may already have been
                applied by the failed attempt: a batch with a write token
                (:class:`~kvsession.kv.protocol.WriteTokenOp`, as the repository's creates and
                deletes carry) is then recognised as applied; without one, a retried
                only-if-absent write reports a conflict with itself.
            retry_backoff_base: First backoff in seconds; it doubles up to the cap.
            retry_backoff_cap: Longest backoff in seconds.
            health_check_interval: Seconds of idleness after which a pooled connection is
                checked with PING before use (0: never).
            client_name: Name shown by ``CLIENT LIST``.
            max_value_bytes: Largest value accepted; larger ones raise ``ValueTooLargeError``
                before anything is sent.
            ssl_ca_certs: CA bundle path to verify the server (``valkeys://``).
            ssl_certfile: Client certificate path (``valkeys://``).
            ssl_keyfile: Client key path (``valkeys://``).
            ssl_cert_reqs: Whether the server certificate is verified (``valkeys://``).
            ssl_check_hostname: Whether the certificate must match the host (``valkeys://``).
        """

        max_connections: PositiveInt | None = None
        socket_timeout: NonNegativeFloat | None = 5.0
        socket_connect_timeout: NonNegativeFloat | None = 5.0
        retries: NonNegativeInt = 3
        retry_backoff_base: NonNegativeFloat = 0.02
        retry_backoff_cap: NonNegativeFloat = 1.0
        health_check_interval: NonNegativeFloat = 0
        client_name: str | None = None
        max_value_bytes: PositiveInt = DEFAULT_MAX_VALUE_BYTES
        ssl_ca_certs: str | None = None
        ssl_certfile: str | None = None
        ssl_keyfile: str | None = None
        ssl_cert_reqs: Literal["required", "optional", "none"] = "required"
        ssl_check_hostname: bool = False

    def __init__(
        self,
        client: valkey.Valkey | None = None,
        *,
        url: str | None = None,
        config: BackendConfig | None = None,
        options: ValkeyBackend.Options | None = None,
        own_client: bool | None = None,
    ) -> None:
        if config is None:
            config = _describe(client) if client is not None and url is None else parse_url(resolve_url(url))
        if options is None:
            options = convert_options(config.backend_options, ValkeyBackend.Options, url=config.redacted())
        self.config = config
        # Where commands really go, for error messages: a client you pass wins over the URL.
        self._where = _describe(client).url if client is not None and not config.host else config.redacted()
        self._max_value_bytes = options.max_value_bytes
        self._owns_client = client is None if own_client is None else own_client
        self._client = client if client is not None else _build_client(config, options)
        self._closed = False

    @classmethod
    def from_config(cls: type[_B], config: BackendConfig) -> _B:
        """Create a backend from a parsed ``valkey://`` / ``valkeys://`` URL (no I/O yet).

        Raises:
            ConfigError: An unknown option or a bad option value; the message lists the valid ones.
        """
        return cls(config=config)

    @property
    def client(self) -> valkey.Valkey:
        """The valkey-py client commands go through (for diagnostics; prefer the backend's methods)."""
        return self._client

    # -- plumbing -------------------------------------------------------------------------------

    @contextmanager
    def _errors(self, key: str | None, count: int = 1) -> Iterator[None]:
        """Translate valkey-py exceptions into kvsession's, naming the key (or the URL)."""
        try:
            yield
        except ValkeyError as exc:
            raise self._translated(exc, key, count) from exc

    def _translated(self, exc: ValkeyError, key: str | None, count: int) -> Exception:
        """Map a valkey-py error to kvsession's (``NoScriptError`` passes: apply() answers it)."""
        if isinstance(exc, NoScriptError):
            return exc
        more = f" (and {count - 1} more keys)" if count > 1 else ""
        if isinstance(exc, valkey.ConnectionError | valkey.TimeoutError):
            logger.debug("key=<%s>, url=<%s> | backend unavailable: %s", key, self._where, exc)
            return BackendUnavailable(f"cannot reach {self._where}{more}: {exc}", key=key)
        if isinstance(exc, ResponseError):
            text = str(exc)
            if text.startswith("WRONGTYPE"):
                return BackendError(f"holds another kind of data{more}: {text}", key=key)
            return BackendError(f"{self._where} refused the command{more}: {text}", key=key)
        return BackendError(f"{self._where}{more}: {exc}", key=key)

    def _command(self, key: str | None, *args: str | bytes | int | float, count: int = 1) -> Reply:
        """Send one command and return its reply, values left as bytes whatever the client's decoding.

        ``NEVER_DECODE`` is valkey-py's own switch (its ``DUMP`` uses it) for reading one reply
        undecoded: a client built with ``decode_responses=True`` thus still returns values
        byte for byte, on the same pool, with no second client to configure.
        """
        if self._closed:
            raise BackendUnavailable(f"the backend for {self._where} is closed", key=key)
        # A plain try, not the _errors() context manager: this is every command's path.
        try:
            return self._client.execute_command(*args, **_UNDECODED)  # type: ignore[no-untyped-call]
        except ValkeyError as exc:
            error = self._translated(exc, key, count)
            if error is exc:
                raise
            raise error from exc

    def _check_kind(self, key: str, cardinality_command: str) -> int:
        """Answer an add / remove of no members: 0, but still refuse a key of another kind.

        Valkey refuses ZADD / SREM ... without members, so a cheap read of the same kind
        (ZCARD / SCARD) raises WRONGTYPE exactly when the real command would.
        """
        self._command(key, cardinality_command, key)
        return 0

    def _check_size(self, key: str, value: bytes) -> None:
        if len(value) > self._max_value_bytes:
            raise ValueTooLargeError(key, len(value), self._max_value_bytes)

    def _value(self, key: str, reply: Reply) -> bytes | None:
        if reply is None or isinstance(reply, bytes):
            return reply
        # Only reachable if a client library decoded despite NEVER_DECODE: refuse rather than
        # hand back (or re-encode) text that may no longer be the stored bytes.
        raise BackendError(f"expected bytes from the server, got {type(reply).__name__}", key=key)

    def _members(self, key: str, reply: Reply) -> list[str]:
        try:
            return [m.decode() if isinstance(m, bytes) else str(m) for m in reply or ()]
        except UnicodeDecodeError as exc:
            raise BackendError(f"an index member is not UTF-8: {exc}", key=key) from exc

    # -- values ---------------------------------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        """See :meth:`KeyValueBackend.get` (``GET``)."""
        return self._value(key, self._command(key, "GET", key))

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """See :meth:`KeyValueBackend.get_many` (one ``MGET``; keys of another kind read as missing)."""
        if not keys:
            return []
        replies = self._command(keys[0], "MGET", *keys, count=len(keys))
        return [self._value(key, reply) for key, reply in zip(keys, replies, strict=True)]

    def set(
        self,
        key: str,
        value: bytes,
        *,
        only_if_absent: bool = False,
        only_if_present: bool = False,
        ttl: float | None = None,
    ) -> bool:
        """See :meth:`KeyValueBackend.set` (``SET`` with ``NX`` / ``XX`` / ``PX``)."""
        self._check_size(key, value)
        if only_if_absent and only_if_present:
            return False  # no key is both absent and present; Valkey would refuse NX with XX
        args: list[str | bytes | int] = ["SET", key, bytes(value)]
        if only_if_absent:
            args.append("NX")
        elif only_if_present:
            args.append("XX")
        if ttl is not None:
            args += ["PX", ttl_to_ms(ttl, key=key, minimum=1)]
        return bool(self._command(key, *args))

    def delete_many(self, keys: Sequence[str]) -> int:
        """See :meth:`KeyValueBackend.delete_many` (one ``DEL``)."""
        if not keys:
            return 0
        return int(self._command(keys[0], "DEL", *keys, count=len(keys)))

    def exists(self, key: str) -> bool:
        """See :meth:`KeyValueBackend.exists` (``EXISTS``)."""
        return int(self._command(key, "EXISTS", key)) > 0

    # -- ordered index --------------------------------------------------------------------------

    def index_add(self, key: str, members: Mapping[str, float]) -> int:
        """See :meth:`KeyValueBackend.index_add` (``ZADD``)."""
        if not members:
            return self._check_kind(key, "ZCARD")
        args: list[str] = []
        for member, score in members.items():
            args += [encode_score(score, key=key), member]
        return int(self._command(key, "ZADD", key, *args))

    def index_range(
        self, key: str, *, offset: int = 0, limit: int | None = None, reverse: bool = False
    ) -> list[str]:
        """See :meth:`KeyValueBackend.index_range` (``ZRANGE`` by rank, ``REV`` when reversed).

        Raises:
            ValueError: ``offset`` or ``limit`` is negative.
        """
        return self._members(key, self._zrange(key, offset, limit, reverse))

    def index_range_with_scores(
        self, key: str, *, offset: int = 0, limit: int | None = None, reverse: bool = False
    ) -> list[tuple[str, float]]:
        """See :meth:`KeyValueBackend.index_range_with_scores` (``ZRANGE ... WITHSCORES``).

        Raises:
            ValueError: ``offset`` or ``limit`` is negative.
        """
        items = list(self._zrange(key, offset, limit, reverse, "WITHSCORES") or ())
        # RESP2 answers a flat [member, score, ...]; RESP3 answers [[member, score], ...].
        pairs = (
            items if items and isinstance(items[0], list) else list(zip(items[::2], items[1::2], strict=True))
        )
        members = self._members(key, [member for member, _ in pairs])
        return [(member, float(score)) for member, (_, score) in zip(members, pairs, strict=True)]

    def _zrange(self, key: str, offset: int, limit: int | None, reverse: bool, *extra: str) -> Reply:
        """One ``ZRANGE`` by rank; a window of 0 still checks the key's kind, as memory does."""
        _check_window(offset, limit)
        if limit == 0:
            self._check_kind(key, "ZCARD")
            return []
        stop = -1 if limit is None else offset + limit - 1
        args: list[str | int] = ["ZRANGE", key, offset, stop]
        if reverse:
            args.append("REV")
        return self._command(key, *args, *extra)

    def index_range_by_prefix(
        self, key: str, prefix: str, *, offset: int = 0, limit: int | None = None
    ) -> list[str]:
        r"""See :meth:`KeyValueBackend.index_range_by_prefix` (``ZRANGEBYLEX ... LIMIT``).

        The range is ``[prefix`` (inclusive) to ``(prefix + b"\xff"`` (exclusive), in bytes:
        byte 0xFF never occurs in UTF-8, so every member starting with the prefix's UTF-8
        bytes sorts below the bound, and every member that does not start with it sorts
        outside the range, whatever characters (emoji, CJK ...) follow.

        Raises:
            ValueError: ``offset`` or ``limit`` is negative.
        """
        _check_window(offset, limit)
        if limit == 0:
            self._check_kind(key, "ZCARD")
            return []
        raw = prefix.encode()
        low, high = (b"[" + raw, b"(" + raw + b"\xff") if raw else (b"-", b"+")
        count = -1 if limit is None else limit
        return self._members(key, self._command(key, "ZRANGEBYLEX", key, low, high, "LIMIT", offset, count))

    def index_score(self, key: str, member: str) -> float | None:
        """See :meth:`KeyValueBackend.index_score` (``ZSCORE``)."""
        reply = self._command(key, "ZSCORE", key, member)
        return None if reply is None else float(reply)

    def index_remove(self, key: str, members: Sequence[str]) -> int:
        """See :meth:`KeyValueBackend.index_remove` (``ZREM``)."""
        if not members:
            return self._check_kind(key, "ZCARD")
        return int(self._command(key, "ZREM", key, *members))

    def index_count(self, key: str) -> int:
        """See :meth:`KeyValueBackend.index_count` (``ZCARD``)."""
        return int(self._command(key, "ZCARD", key))

    # -- set index ------------------------------------------------------------------------------

    def set_add(self, key: str, members: Sequence[str]) -> int:
        """See :meth:`KeyValueBackend.set_add` (``SADD``)."""
        if not members:
            return self._check_kind(key, "SCARD")
        return int(self._command(key, "SADD", key, *members))

    def set_members(self, key: str) -> builtins.set[str]:
        """See :meth:`KeyValueBackend.set_members` (``SMEMBERS``)."""
        return set(self._members(key, self._command(key, "SMEMBERS", key)))

    def set_remove(self, key: str, members: Sequence[str]) -> int:
        """See :meth:`KeyValueBackend.set_remove` (``SREM``)."""
        if not members:
            return self._check_kind(key, "SCARD")
        return int(self._command(key, "SREM", key, *members))

    # -- expiry ---------------------------------------------------------------------------------

    def expire(self, key: str, ttl: float) -> bool:
        """See :meth:`KeyValueBackend.expire` (``PEXPIRE``; a ttl of 0 or less deletes the key)."""
        return bool(self._command(key, "PEXPIRE", key, ttl_to_ms(ttl, key=key, minimum=0)))

    def ttl(self, key: str) -> float | None:
        """See :meth:`KeyValueBackend.ttl` (``PTTL``: -2 is a missing key, -1 no expiry)."""
        millis = int(self._command(key, "PTTL", key))
        if millis == -2:
            raise KeyError(key)
        return None if millis == -1 else millis / 1000

    # -- atomic batch ---------------------------------------------------------------------------

    def apply(self, ops: Sequence[WriteOp]) -> None:
        """See :meth:`KeyValueBackend.apply`: one ``EVALSHA`` of the batch script.

        The script checks every condition and key kind before its first write and reports
        the first failing op; nothing is written then. If the server does not have the
        script cached yet (first use, restart, ``SCRIPT FLUSH``) the call falls back to one
        ``EVAL``, which also caches it: one extra round trip, once.

        A batch re-sent by the client's own retry (``retries``) after a lost reply may have
        been applied already: with a :class:`~kvsession.kv.protocol.WriteTokenOp` the script
        recognises that and returns success without applying it twice; without one, its
        conditions are judged again (a create then meets its own record).

        Raises:
            ValueTooLargeError: A value exceeds ``max_value_bytes``; nothing was sent.
            ConflictError: An only-if-absent / only-if-present condition failed.
            BackendError: A key holds another kind, or an argument Valkey would refuse.
            BackendUnavailable: The server cannot be reached.
        """
        if not ops:
            return
        keys, args = encode_batch(ops, max_value_bytes=self._max_value_bytes)
        # Errors name the batch's first record key, not the write token's key encoded before it.
        first = keys[1] if args[0] == "token" and len(keys) > 1 else keys[0]
        logger.debug("key=<%s>, ops=<%d>, keys=<%d> | applying batch", first, len(ops), len(keys))
        reply = self._run_script(BATCH_SCRIPT, keys, args, name=first)
        if isinstance(reply, list):
            self._raise_rejection(ops, reply)
        elif reply == 1:
            logger.debug("key=<%s> | batch carries the token of an applied batch; not applied again", first)

    def _run_script(
        self, script: str, keys: Sequence[str], args: Sequence[str | bytes], *, name: str | None = None
    ) -> Reply:
        """``EVALSHA`` one of our scripts; if the server has not cached it yet, ``EVAL`` it once.

        ``name``: the key errors name (default: the first key).
        """
        first = name if name is not None else (keys[0] if keys else None)
        try:
            return self._command(
                first, "EVALSHA", _SCRIPT_SHAS[script], len(keys), *keys, *args, count=len(keys)
            )
        except NoScriptError:
            logger.debug("key=<%s> | script not cached on the server, sending it", first)
            return self._command(first, "EVAL", script, len(keys), *keys, *args, count=len(keys))

    def _raise_rejection(self, ops: Sequence[WriteOp], reply: list[Any]) -> None:
        reason, number, detail = (_text(part) for part in reply)
        token = next((op for op in ops if type(op) is WriteTokenOp), None)
        if token is not None and int(number) == 0:
            logger.debug("key=<%s>, reason=<%s> | batch rejected, nothing applied", token.key, reason)
            raise BackendError(f"holds a {detail}, not a value; batch not applied", key=token.key)
        op = [op for op in ops if type(op) is not WriteTokenOp][int(number) - 1]
        key = op.members_key if isinstance(op, RefreshTtlOp | DeleteGroupOp) else getattr(op, "key", None)
        logger.debug("key=<%s>, reason=<%s> | batch rejected, nothing applied", key, reason)
        if isinstance(op, RequireOp):
            wording = "required key is missing" if op.present else "key required to be absent exists"
            raise ConflictError(f"{wording}; batch not applied", key=key)
        if reason == "absent":
            raise ConflictError("only-if-absent: key exists; batch not applied", key=key)
        if reason == "present":
            raise ConflictError("only-if-present: key is missing; batch not applied", key=key)
        if reason == "order":
            raise BackendError(
                "a group delete must come before any other op on its set in a batch; batch not applied",
                key=key,
            )
        wanted = "set" if isinstance(op, SetAddOp | SetRemoveOp | RefreshTtlOp | DeleteGroupOp) else "index"
        raise BackendError(f"holds a {detail}, not a {wanted}; batch not applied", key=key)

    # -- Valkey-only extras, for tools (the command line) ---------------------------------------

    def memory_usage(self, keys: Sequence[str]) -> list[int | None]:
        """Return the bytes each key takes on the server (``MEMORY USAGE``), in one round trip.

        ``None`` for a missing key.

        Raises:
            BackendError: The server does not answer ``MEMORY USAGE`` (fakeredis does not).
        """
        if not keys:
            return []
        if self._closed:
            raise BackendUnavailable(f"the backend for {self._where} is closed", key=keys[0])
        pipe = self._client.pipeline(transaction=False)
        for key in keys:
            pipe.execute_command("MEMORY", "USAGE", key)  # type: ignore[no-untyped-call]
        with self._errors(keys[0], len(keys)):
            replies = pipe.execute()  # type: ignore[no-untyped-call]
        return [None if reply is None else int(reply) for reply in replies]

    def compare_and_set(self, changes: Sequence[tuple[str, bytes, bytes]]) -> int:
        """Replace values that still hold what was read, keeping their ttl; one atomic round trip.

        Args:
            changes: ``(key, value read, new value)`` triples.

        Returns:
            How many values were replaced (the others changed or vanished meanwhile).
        """
        if not changes:
            return 0
        for key, _, new in changes:
            self._check_size(key, new)
        args: list[str | bytes] = []
        for _, old, new in changes:
            args += [old, new]
        return int(self._run_script(COMPARE_AND_SET_SCRIPT, [key for key, _, _ in changes], args))

    # -- lifecycle ------------------------------------------------------------------------------

    def close(self) -> None:
        """Release connections; the backend raises ``BackendUnavailable`` afterwards.

        Disconnects the connection pool when the backend owns the client (see ``own_client``);
        a client you passed in is left open for you to close.
        """
        if self._closed:
            return
        self._closed = True
        if self._owns_client:
            self._client.close()  # type: ignore[no-untyped-call]
            self._client.connection_pool.disconnect()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self._where!r})"


def _text(part: Reply) -> str:
    return part.decode() if isinstance(part, bytes) else str(part)


def _check_window(offset: int, limit: int | None) -> None:
    if offset < 0 or (limit is not None and limit < 0):
        raise ValueError(f"offset and limit must not be negative, got offset={offset}, limit={limit}")


def _build_client(config: BackendConfig, options: ValkeyBackend.Options) -> valkey.Valkey:
    """Build a pooled client for ``config``; no connection is opened until the first command."""
    kwargs: dict[str, Any] = {
        "host": config.host or "127.0.0.1",
        "port": config.port or 6379,
        "db": config.db or 0,
        "username": config.username,
        "password": config.password,
        "max_connections": options.max_connections,
        "socket_timeout": options.socket_timeout,
        "socket_connect_timeout": options.socket_connect_timeout,
        "health_check_interval": options.health_check_interval,
        "client_name": options.client_name,
        "retry": Retry(
            ExponentialBackoff(cap=options.retry_backoff_cap, base=options.retry_backoff_base),
            options.retries,
        ),
        # valkey-py retries a command only for the error types listed here (the Retry alone
        # covers connecting); without them a dropped pooled connection fails the first call.
        "retry_on_error": [valkey.ConnectionError, valkey.TimeoutError] if options.retries else [],
    }
    if config.scheme in _TLS_SCHEMES:
        kwargs.update(
            connection_class=SSLConnection,
            ssl_ca_certs=options.ssl_ca_certs,
            ssl_certfile=options.ssl_certfile,
            ssl_keyfile=options.ssl_keyfile,
            ssl_cert_reqs=options.ssl_cert_reqs,
            ssl_check_hostname=options.ssl_check_hostname,
        )
    pool = valkey.ConnectionPool(**kwargs)
    return valkey.Valkey(connection_pool=pool)


def _describe(client: valkey.Valkey) -> BackendConfig:
    """Describe where a user-built client points, for error messages (never with the password)."""
    params = client.connection_pool.connection_kwargs
    path = params.get("path")
    db = int(params.get("db") or 0)
    if path:
        return BackendConfig(url=f"unix://{path}?db={db}", scheme="unix", db=db)
    tls = issubclass(client.connection_pool.connection_class, SSLConnection)
    scheme = "valkeys" if tls else "valkey"
    host, port = params.get("host", "localhost"), params.get("port", 6379)
    return BackendConfig(url=f"{scheme}://{host}:{port}/{db}", scheme=scheme, host=host, port=port, db=db)
