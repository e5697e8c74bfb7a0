"""``ValkeyCommands``: every backend operation as a plan, built and parsed once, with no I/O.

Each operation builds its command(s), hands them to its shell with ``yield`` and parses the
reply: the sync ``ValkeyBackend`` (:mod:`kvsession_valkey.backend`) and the async
``AsyncValkeyBackend`` (:mod:`kvsession_valkey.aio`) only send (:mod:`kvsession_valkey.sansio`).
What an operation means lives here alone: the size checks, the window checks, the ``EVALSHA`` →
``EVAL`` fallback, reading a batch's rejection, and turning valkey-py's errors into kvsession's
(a lost connection → ``BackendUnavailable``, ``WRONGTYPE`` → ``BackendError`` naming the key).
"""

from __future__ import annotations

import builtins
import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal, NamedTuple, TypeVar

import msgspec
import valkey
from valkey.backoff import AbstractBackoff, ExponentialBackoff, NoBackoff
from valkey.exceptions import (
    AuthenticationError,
    MaxConnectionsError,
    NoScriptError,
    ResponseError,
    ValkeyError,
)

from kvsession.kv.config import BackendConfig, convert_options, parse_url, resolve_url
from kvsession.kv.errors import (
    BackendError,
    BackendUnavailable,
    ConflictError,
    OutOfMemoryError,
    ValueTooLargeError,
)
from kvsession.kv.protocol import (
    DeleteGroupOp,
    RefreshTtlOp,
    RequireOp,
    SetAddOp,
    SetRemoveOp,
    WriteOp,
    WriteTokenOp,
)
from kvsession_valkey.sansio import Command, Plan, Reply, operation
from kvsession_valkey.scripts import (
    BATCH_SCRIPT,
    COMPARE_AND_SET_SCRIPT,
    encode_batch,
    encode_score,
    ttl_to_ms,
)

__all__ = [
    "DEFAULT_MAX_VALUE_BYTES",
    "ClientKind",
    "RetryPolicy",
    "ValkeyCommands",
    "build_client",
    "describe",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_VALUE_BYTES = 512 * 1024 * 1024
"""Valkey's default ``proto-max-bulk-len``: larger values would be refused by the server."""

TLS_SCHEMES = frozenset({"valkeys"})

_SCRIPT_SHAS = {
    script: hashlib.sha1(script.encode()).hexdigest() for script in (BATCH_SCRIPT, COMPARE_AND_SET_SCRIPT)
}

_C = TypeVar("_C", bound="ValkeyCommands")

PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]
NonNegativeFloat = Annotated[float, msgspec.Meta(ge=0)]
MAX_SECONDS = 86_400.0
"""Longest timeout, backoff or interval accepted (a day); ``inf`` would fail every call."""
Seconds = Annotated[float, msgspec.Meta(gt=0, le=MAX_SECONDS)]
"""A timeout: 0 or less would fail every call at once (valkey-py treats 0 as "time out now")."""
NonNegativeSeconds = Annotated[float, msgspec.Meta(ge=0, le=MAX_SECONDS)]


class ValkeyCommands:
    """The operations of the Valkey backends, as plans; a shell (sync or async) sends them.

    Every operation is one command, so one round trip, except ``apply`` and
    ``compare_and_set`` on a server that has not cached their script yet (one ``EVAL`` more).
    """

    class Options(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
        """Query options of ``valkey://`` and ``valkeys://`` URLs (sync and async backends alike).

        Timeouts must be more than 0 and at most a day (:data:`MAX_SECONDS`), backoffs and
        ``health_check_interval`` from 0 to a day; anything else is a ``ConfigError`` naming the
        option (a timeout of 0 would make every call fail).

        Attributes:
            max_connections: Size limit of the connection pool (``None``: unbounded). The async
                backend keeps one pool per event loop, each of this size.
            pool_timeout: With ``max_connections``: seconds a command waits for a free
                connection (a ``BlockingConnectionPool``) instead of failing at once.
            socket_timeout: Seconds to wait for a reply before the call fails.
            socket_connect_timeout: Seconds to wait for a TCP connection.
            retries: How many times a command is sent again after a connection error or
                timeout (with exponential backoff), wherever it happened: on a dead pooled
                connection, while connecting, in the connection's handshake, or waiting for the
                reply. The waits add up to :meth:`RetryPolicy.budget` (0.02 + 0.04 + 0.08 s =
                0.14 s for the default 3; 0.02 … 1.0 s, 5.26 s in all, for 10). A retried
                write may already have been applied by the failed attempt: a batch with a write token
                (:class:`~kvsession.kv.protocol.WriteTokenOp`, as the repository's creates and
                deletes carry) is then recognised as applied; without one, a retried
                only-if-absent write reports a conflict with itself.
            retry_backoff_base: First backoff in seconds; it doubles up to the cap.
            retry_backoff_cap: Longest backoff in seconds.
            health_check_interval: Seconds of idleness after which a pooled connection is
                checked with PING before use (0: never). Not needed to survive a dead pooled
                connection: that attempt is retried like any other.
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
        pool_timeout: Seconds | None = None
        socket_timeout: Seconds | None = 5.0
        socket_connect_timeout: Seconds | None = 5.0
        retries: NonNegativeInt = 3
        retry_backoff_base: NonNegativeSeconds = 0.02
        retry_backoff_cap: NonNegativeSeconds = 1.0
        health_check_interval: NonNegativeSeconds = 0
        client_name: str | None = None
        max_value_bytes: PositiveInt = DEFAULT_MAX_VALUE_BYTES
        ssl_ca_certs: str | None = None
        ssl_certfile: str | None = None
        ssl_keyfile: str | None = None
        ssl_cert_reqs: Literal["required", "optional", "none"] = "required"
        ssl_check_hostname: bool = False

    config: BackendConfig
    _where: str
    _max_value_bytes: int
    _closed: bool

    def __init__(self, *, config: BackendConfig | None = None) -> None:
        """Every shell takes (at least) ``config=``, the parsed URL: see :meth:`from_config`."""
        raise NotImplementedError(
            f"{type(self).__name__} is not a shell: use ValkeyBackend or AsyncValkeyBackend"
        )

    @classmethod
    def from_config(cls: type[_C], config: BackendConfig) -> _C:
        """Create a backend from a parsed ``valkey://`` / ``valkeys://`` URL (no I/O yet).

        Raises:
            ConfigError: An unknown option or a bad option value; the message lists the valid ones.
        """
        return cls(config=config)

    def _configure(
        self,
        described: BackendConfig | None,
        url: str | None,
        config: BackendConfig | None,
        options: ValkeyCommands.Options | None,
    ) -> ValkeyCommands.Options:
        """Settle the config and options a shell was given; return the options.

        ``described``: where a client the user passed points (:func:`describe`), or ``None``.
        """
        if config is None:
            config = described if described is not None and url is None else parse_url(resolve_url(url))
        if options is None:
            options = convert_options(config.backend_options, ValkeyCommands.Options, url=config.redacted())
        self.config = config
        # Where commands really go, for error messages: a client you pass wins over the URL.
        self._where = described.url if described is not None and not config.host else config.redacted()
        self._max_value_bytes = options.max_value_bytes
        self._closed = False
        return options

    # -- errors ---------------------------------------------------------------------------------

    def _translated(self, exc: ValkeyError, command: Command) -> BaseException:
        """Map a valkey-py error to kvsession's error naming the key; the shell throws it into the plan.

        A ``NoScriptError`` is passed as it is: the plan that sent ``EVALSHA`` answers it.
        """
        if isinstance(exc, NoScriptError):
            return exc
        key, count = command.key, command.key_count
        more = f" (and {count - 1} more keys)" if count > 1 else ""
        error: BackendError
        if isinstance(exc, valkey.ConnectionError | valkey.TimeoutError):
            logger.debug("key=<%s>, url=<%s> | backend unavailable: %s", key, self._where, exc)
            error = BackendUnavailable(f"cannot reach {self._where}{more}: {exc}", key=key)
        elif isinstance(exc, ResponseError):
            text = str(exc)
            if text.startswith("WRONGTYPE"):
                error = BackendError(f"holds another kind of data{more}: {text}", key=key)
            elif isinstance(exc, valkey.exceptions.OutOfMemoryError) or text.startswith("OOM"):
                error = OutOfMemoryError(
                    f"{self._where} is out of memory, nothing written{more}: {text}", key=key
                )
            else:
                error = BackendError(f"{self._where} refused the command{more}: {text}", key=key)
        else:
            error = BackendError(f"{self._where}{more}: {exc}", key=key)
        error.__cause__ = exc
        return error

    def _closed_error(self, command: Command) -> BackendUnavailable:
        return BackendUnavailable(f"the backend for {self._where} is closed", key=command.key)

    # -- plumbing -------------------------------------------------------------------------------

    def _check_kind(self, key: str, cardinality_command: str) -> Plan[int]:
        """Answer an add / remove of no members: 0, but still refuse a key of another kind.

        Valkey refuses ZADD / SREM ... without members, so a cheap read of the same kind
        (ZCARD / SCARD) raises WRONGTYPE exactly when the real command would.
        """
        yield Command(key, (cardinality_command, key))
        return 0

    def _change_members(
        self, command: str, cardinality_command: str, key: str, members: Sequence[str]
    ) -> Plan[int]:
        """Add or remove ``members`` (``SADD`` / ``SREM`` / ``ZREM``); return how many changed."""
        if not members:
            return (yield from self._check_kind(key, cardinality_command))
        return int((yield Command(key, (command, key, *members))))

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

    @operation
    def get(self, key: str) -> Plan[bytes | None]:
        """See :meth:`KeyValueBackend.get` (``GET``)."""
        return self._value(key, (yield Command(key, ("GET", key))))

    @operation
    def get_many(self, keys: Sequence[str]) -> Plan[list[bytes | None]]:
        """See :meth:`KeyValueBackend.get_many` (one ``MGET``; keys of another kind read as missing)."""
        if not keys:
            return []
        replies = yield Command(keys[0], ("MGET", *keys), len(keys))
        return [self._value(key, reply) for key, reply in zip(keys, replies, strict=True)]

    @operation
    def set(
        self,
        key: str,
        value: bytes,
        *,
        only_if_absent: bool = False,
        only_if_present: bool = False,
        ttl: float | None = None,
    ) -> Plan[bool]:
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
        return bool((yield Command(key, tuple(args))))

    @operation
    def delete_many(self, keys: Sequence[str]) -> Plan[int]:
        """See :meth:`KeyValueBackend.delete_many` (one ``DEL``)."""
        if not keys:
            return 0
        return int((yield Command(keys[0], ("DEL", *keys), len(keys))))

    @operation
    def exists(self, key: str) -> Plan[bool]:
        """See :meth:`KeyValueBackend.exists` (``EXISTS``)."""
        return int((yield Command(key, ("EXISTS", key)))) > 0

    # -- ordered index --------------------------------------------------------------------------

    @operation
    def index_add(self, key: str, members: Mapping[str, float]) -> Plan[int]:
        """See :meth:`KeyValueBackend.index_add` (``ZADD``)."""
        if not members:
            return (yield from self._check_kind(key, "ZCARD"))
        args: list[str] = []
        for member, score in members.items():
            args += [encode_score(score, key=key), member]
        return int((yield Command(key, ("ZADD", key, *args))))

    @operation
    def index_range(
        self, key: str, *, offset: int = 0, limit: int | None = None, reverse: bool = False
    ) -> Plan[list[str]]:
        """See :meth:`KeyValueBackend.index_range` (``ZRANGE`` by rank, ``REV`` when reversed).

        Raises:
            ValueError: ``offset`` or ``limit`` is negative.
        """
        return self._members(key, (yield from self._zrange(key, offset, limit, reverse)))

    @operation
    def index_range_with_scores(
        self, key: str, *, offset: int = 0, limit: int | None = None, reverse: bool = False
    ) -> Plan[list[tuple[str, float]]]:
        """See :meth:`KeyValueBackend.index_range_with_scores` (``ZRANGE ... WITHSCORES``).

        Raises:
            ValueError: ``offset`` or ``limit`` is negative.
        """
        items = list((yield from self._zrange(key, offset, limit, reverse, "WITHSCORES")) or ())
        # RESP2 answers a flat [member, score, ...]; RESP3 answers [[member, score], ...].
        pairs = (
            items if items and isinstance(items[0], list) else list(zip(items[::2], items[1::2], strict=True))
        )
        members = self._members(key, [member for member, _ in pairs])
        return [(member, float(score)) for member, (_, score) in zip(members, pairs, strict=True)]

    def _zrange(self, key: str, offset: int, limit: int | None, reverse: bool, *extra: str) -> Plan[Reply]:
        """One ``ZRANGE`` by rank; a window of 0 still checks the key's kind, as memory does."""
        _check_window(offset, limit)
        if limit == 0:
            yield from self._check_kind(key, "ZCARD")
            return []
        stop = -1 if limit is None else offset + limit - 1
        args: tuple[str | int, ...] = (
            ("ZRANGE", key, offset, stop, "REV") if reverse else ("ZRANGE", key, offset, stop)
        )
        return (yield Command(key, (*args, *extra)))

    @operation
    def index_range_by_prefix(
        self, key: str, prefix: str, *, offset: int = 0, limit: int | None = None
    ) -> Plan[list[str]]:
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
            yield from self._check_kind(key, "ZCARD")
            return []
        raw = prefix.encode()
        low, high = (b"[" + raw, b"(" + raw + b"\xff") if raw else (b"-", b"+")
        count = -1 if limit is None else limit
        reply = yield Command(key, ("ZRANGEBYLEX", key, low, high, "LIMIT", offset, count))
        return self._members(key, reply)

    @operation
    def index_score(self, key: str, member: str) -> Plan[float | None]:
        """See :meth:`KeyValueBackend.index_score` (``ZSCORE``)."""
        reply = yield Command(key, ("ZSCORE", key, member))
        return None if reply is None else float(reply)

    @operation
    def index_remove(self, key: str, members: Sequence[str]) -> Plan[int]:
        """See :meth:`KeyValueBackend.index_remove` (``ZREM``)."""
        return (yield from self._change_members("ZREM", "ZCARD", key, members))

    @operation
    def index_count(self, key: str) -> Plan[int]:
        """See :meth:`KeyValueBackend.index_count` (``ZCARD``)."""
        return int((yield Command(key, ("ZCARD", key))))

    # -- set index ------------------------------------------------------------------------------

    @operation
    def set_add(self, key: str, members: Sequence[str]) -> Plan[int]:
        """See :meth:`KeyValueBackend.set_add` (``SADD``)."""
        return (yield from self._change_members("SADD", "SCARD", key, members))

    @operation
    def set_members(self, key: str) -> Plan[builtins.set[str]]:
        """See :meth:`KeyValueBackend.set_members` (``SMEMBERS``)."""
        return set(self._members(key, (yield Command(key, ("SMEMBERS", key)))))

    @operation
    def set_remove(self, key: str, members: Sequence[str]) -> Plan[int]:
        """See :meth:`KeyValueBackend.set_remove` (``SREM``)."""
        return (yield from self._change_members("SREM", "SCARD", key, members))

    # -- expiry ---------------------------------------------------------------------------------

    @operation
    def expire(self, key: str, ttl: float) -> Plan[bool]:
        """See :meth:`KeyValueBackend.expire` (``PEXPIRE``; a ttl of 0 or less deletes the key)."""
        return bool((yield Command(key, ("PEXPIRE", key, ttl_to_ms(ttl, key=key, minimum=0)))))

    @operation
    def ttl(self, key: str) -> Plan[float | None]:
        """See :meth:`KeyValueBackend.ttl` (``PTTL``: -2 is a missing key, -1 no expiry)."""
        millis = int((yield Command(key, ("PTTL", key))))
        if millis == -2:
            raise KeyError(key)
        return None if millis == -1 else millis / 1000

    # -- atomic batch ---------------------------------------------------------------------------

    @operation
    def apply(self, ops: Sequence[WriteOp]) -> Plan[None]:
        """See :meth:`KeyValueBackend.apply`: one ``EVALSHA`` of the batch script.

        The script checks every condition and key kind before its first write and reports
        the first failing op; nothing is written then. If the server does not have the
        script cached yet (first use, restart, ``SCRIPT FLUSH``) the call falls back to one
        ``EVAL``, which also caches it: one extra round trip, once.

        A batch re-sent by the client's own retry (``retries``) after a lost reply may have
        been applied already: with a :class:`~kvsession.kv.protocol.WriteTokenOp` the script
        recognises that and returns success without applying it twice; without one, its
        conditions are judged again (a create then meets its own record).

        On the async backend a cancelled ``apply`` leaves the batch applied or not, never in
        part: the script runs whole on the server, and valkey-py drops a connection whose
        command was interrupted.

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
        command = _evalsha(BATCH_SCRIPT, keys, args, name=first)
        try:
            reply = yield command
        except NoScriptError:
            reply = yield _eval_instead(BATCH_SCRIPT, command)
        if isinstance(reply, list):
            self._raise_rejection(ops, reply)
        elif reply == 1:
            logger.debug("key=<%s> | batch carries the token of an applied batch; not applied again", first)

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
            if op.equals is not None:
                wording = "key does not hold the required value"
            else:
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

    # -- Valkey-only extras, for tools ----------------------------------------------------------

    @operation
    def compare_and_set(self, changes: Sequence[tuple[str, bytes, bytes]]) -> Plan[int]:
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
        command = _evalsha(COMPARE_AND_SET_SCRIPT, [key for key, _, _ in changes], args)
        try:
            return int((yield command))
        except NoScriptError:
            return int((yield _eval_instead(COMPARE_AND_SET_SCRIPT, command)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self._where!r})"


def _evalsha(
    script: str, keys: Sequence[str], args: Sequence[str | bytes], *, name: str | None = None
) -> Command:
    """``EVALSHA`` of one of our scripts (``name``: the key errors name; default: the first key).

    The plan that sends it catches ``NoScriptError`` (a server that has not cached the script
    yet: first use, restart, ``SCRIPT FLUSH``) and sends :func:`_eval_instead`, once.
    """
    first = name if name is not None else (keys[0] if keys else None)
    return Command(first, ("EVALSHA", _SCRIPT_SHAS[script], len(keys), *keys, *args), len(keys))


def _eval_instead(script: str, evalsha: Command) -> Command:
    """Return the ``EVAL`` that sends (and caches) ``script`` in place of a missed ``EVALSHA``."""
    logger.debug("key=<%s> | script not cached on the server, sending it", evalsha.key)
    return evalsha._replace(args=("EVAL", script, *evalsha.args[2:]))


def _text(part: Reply) -> str:
    return part.decode() if isinstance(part, bytes) else str(part)


def _check_window(offset: int, limit: int | None) -> None:
    if offset < 0 or (limit is not None and limit < 0):
        raise ValueError(f"offset and limit must not be negative, got offset={offset}, limit={limit}")


class RetryPolicy:
    """Whether a command that did not reach the server is sent again, and after how long.

    The shells' clients (``_RetryingValkey`` in :mod:`kvsession_valkey.backend` and
    :mod:`kvsession_valkey.aio`) run every attempt of a command as one unit: taking a pooled
    connection, (re)connecting with its handshake (``HELLO`` / ``AUTH`` / ``SELECT`` /
    ``CLIENT SETNAME``), sending and reading the reply. valkey-py's own ``Retry`` covers only
    part of that: it retries a command on a connection it already holds, but not the connect
    and handshake that ``get_connection`` does before (a dead pooled connection found there,
    a refused connect during an outage, a lost handshake reply all failed at once). Here the
    connections retry nothing themselves (``Retry(NoBackoff(), 0)``), so the budget is one:
    at most ``retries`` more attempts, with the backoffs in between.

    Attributes:
        retries: How many times a command is sent again after a connection error or timeout.
    """

    def __init__(self, retries: int, backoff: AbstractBackoff) -> None:
        self.retries = retries
        self._backoff = backoff

    def budget(self) -> float:
        """Return the seconds spent waiting between attempts when every attempt fails."""
        return sum(self._backoff.compute(failures - 1) for failures in range(1, self.retries + 1))

    def delay(self, error: BaseException, failures: int) -> float | None:
        """Seconds to wait before sending again after the ``failures``-th failed attempt, or ``None``.

        ``None`` (give up, raise ``error``) once ``retries`` is spent, and for anything but a
        lost connection or a timeout (a server still loading its data after a restart counts
        as one: ``BusyLoadingError``). Also ``None`` for two errors valkey-py files under
        connection errors that waiting does not cure: refused credentials, and an exhausted
        connection pool (not the server failing; ``pool_timeout`` already says how long to wait).
        """
        if failures > self.retries or not isinstance(error, valkey.ConnectionError | valkey.TimeoutError):
            return None
        if isinstance(error, AuthenticationError | MaxConnectionsError) or str(error).startswith(
            _POOL_EXHAUSTED
        ):
            return None
        delay = self._backoff.compute(failures - 1)  # base, 2 * base, ... up to the cap
        logger.debug(
            "failures=<%d>, delay=<%.3f> | connection lost, sending again: %s", failures, delay, error
        )
        return delay


# What valkey-py's pools raise (as ConnectionError) when no connection may be opened or taken.
_POOL_EXHAUSTED = ("Too many connections", "No connection available")


class ClientKind(NamedTuple):
    """The valkey-py classes a shell builds its client from: ``valkey`` or ``valkey.asyncio``'s.

    ``client`` takes ``connection_pool=`` and ``retry_policy=`` (a :class:`RetryPolicy`).
    """

    client: Callable[..., Any]
    pool: Callable[..., Any]
    blocking_pool: Callable[..., Any]
    retry: Callable[..., Any]
    connection: type[Any]
    tls_connection: type[Any]


def build_client(kind: ClientKind, config: BackendConfig, options: ValkeyCommands.Options) -> Any:
    """Build a pooled client of ``kind`` for ``config``; no connection is opened until the first command.

    Retries are the client's (:class:`RetryPolicy`), around each whole attempt; the pool's
    connections try once.
    """
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
        # One attempt per connect and per command: RetryPolicy retries the whole attempt.
        "retry": kind.retry(NoBackoff(), 0),
        "retry_on_error": [],
    }
    if config.scheme not in TLS_SCHEMES:
        kwargs["connection_class"] = kind.connection
    else:
        kwargs.update(
            connection_class=kind.tls_connection,
            ssl_ca_certs=options.ssl_ca_certs,
            ssl_certfile=options.ssl_certfile,
            ssl_keyfile=options.ssl_keyfile,
            ssl_cert_reqs=options.ssl_cert_reqs,
            ssl_check_hostname=options.ssl_check_hostname,
        )
    if options.pool_timeout is not None and options.max_connections is not None:
        pool = kind.blocking_pool(timeout=options.pool_timeout, **kwargs)
    else:
        pool = kind.pool(**kwargs)
    policy = RetryPolicy(
        options.retries, ExponentialBackoff(cap=options.retry_backoff_cap, base=options.retry_backoff_base)
    )
    return kind.client(connection_pool=pool, retry_policy=policy)


def describe(kind: ClientKind, client: Any) -> BackendConfig:
    """Describe where a user-built client points, for error messages (never with the password)."""
    params = client.connection_pool.connection_kwargs
    path = params.get("path")
    db = int(params.get("db") or 0)
    if path:
        return BackendConfig(url=f"unix://{path}?db={db}", scheme="unix", db=db)
    scheme = (
        "valkeys" if issubclass(client.connection_pool.connection_class, kind.tls_connection) else "valkey"
    )
    host, port = params.get("host", "localhost"), params.get("port", 6379)
    return BackendConfig(url=f"{scheme}://{host}:{port}/{db}", scheme=scheme, host=host, port=port, db=db)
