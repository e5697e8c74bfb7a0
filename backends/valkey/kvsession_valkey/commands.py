"""``ValkeyCommands``: every backend operation as a plan, built and parsed once, with no I/O.

Each operation builds its command(s), hands them to its shell with ``yield`` and parses the
reply: the sync ``ValkeyBackend`` (:mod:`kvsession_valkey.backend`) and the async
``AsyncValkeyBackend`` (:mod:`kvsession_valkey.aio`) only send (:mod:`kvsession_valkey.sansio`).
What an operation means lives here alone: the size checks, the window checks, and which
valkey-py error becomes which kvsession error (:func:`kvsession_valkey.failures.translate`: a
lost connection → ``BackendUnavailable``, ``WRONGTYPE`` → ``BackendError`` naming the key). The
atomic writes (``apply``, ``compare_and_set``: the ``EVALSHA`` → ``EVAL`` fallback, reading a
batch's rejection, ``WAIT``) are :class:`~kvsession_valkey.batches.BatchPlans`, inherited here.
Building clients, retrying and options live in :mod:`~kvsession_valkey.clients`,
:mod:`~kvsession_valkey.cluster` and :mod:`~kvsession_valkey.options` (re-exported here).
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Mapping, Sequence
from typing import TypeAlias, TypeVar

from kvsession.kv.config import BackendConfig, convert_options, parse_url, resolve_url
from kvsession.kv.errors import BackendError, BackendUnavailable
from kvsession_valkey import options as _options
from kvsession_valkey.batches import BatchPlans

# Re-exported: these lived here before clients.py and options.py split them out.
from kvsession_valkey.clients import (
    TLS_SCHEMES,
    ClientKind,
    RetryPolicy,
    build_client,
    describe,
    with_cluster_key_scheme,
)
from kvsession_valkey.failures import translate
from kvsession_valkey.options import (
    DEFAULT_MAX_VALUE_BYTES,
    MAX_SECONDS,
    NonNegativeFloat,
    NonNegativeInt,
    NonNegativeSeconds,
    Options,
    PositiveInt,
    Seconds,
    check_cluster_options,
)
from kvsession_valkey.sansio import Command, Plan, Reply, operation
from kvsession_valkey.scripts import (
    encode_score,
    ttl_to_ms,
)

__all__ = [
    "DEFAULT_MAX_VALUE_BYTES",
    "MAX_SECONDS",
    "TLS_SCHEMES",
    "ClientKind",
    "NonNegativeFloat",
    "NonNegativeInt",
    "NonNegativeSeconds",
    "PositiveInt",
    "RetryPolicy",
    "Seconds",
    "ValkeyCommands",
    "build_client",
    "describe",
]

logger = logging.getLogger(__name__)


_C = TypeVar("_C", bound="ValkeyCommands")


class ValkeyCommands(BatchPlans):
    """The operations of the Valkey backends, as plans; a shell (sync or async) sends them.

    Every operation is one command, so one round trip, except ``apply`` and
    ``compare_and_set`` on a server that has not cached their script yet (one ``EVAL`` more).
    """

    Options: TypeAlias = _options.Options
    """The URL's query options: :class:`kvsession_valkey.options.Options`."""

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
        """Create a backend from a parsed ``valkey://`` / ``valkeys://`` / ``+cluster`` URL (no I/O yet).

        Raises:
            ConfigError: An unknown option or a bad option value; the message lists the valid ones.
        """
        return cls(config=config)

    def _configure(
        self,
        described: BackendConfig | None,
        url: str | None,
        config: BackendConfig | None,
        options: Options | None,
    ) -> Options:
        """Settle the config and options a shell was given; return the options.

        ``described``: where a client the user passed points (:func:`describe`), or ``None``.
        A cluster client implies the cluster key scheme, whatever ``config`` says by default
        (a ``ValkeySessionManager`` passes a plain ``valkey://`` config with its client).

        Raises:
            ConfigError: A bad option, an option the server kind cannot honour, or
                ``key_scheme=standalone`` written in the URL of a cluster client.
        """
        if config is None:
            config = described if described is not None and url is None else parse_url(resolve_url(url))
        if described is not None and described.is_cluster and config.store.key_scheme != "cluster":
            config = with_cluster_key_scheme(config)
        if options is None:
            options = convert_options(config.backend_options, Options, url=config.redacted())
        cluster = described.is_cluster if described is not None else config.is_cluster
        check_cluster_options(options, cluster=cluster, url=config.redacted())
        self.config = config
        # Where commands really go, for error messages: a client you pass wins over the URL.
        self._where = described.url if described is not None and not config.host else config.redacted()
        self._max_value_bytes = options.max_value_bytes
        self._wait = (options.wait_replicas, options.wait_timeout_ms) if options.wait_replicas else None
        self._closed = False
        return options

    # -- errors ---------------------------------------------------------------------------------

    def _translated(self, exc: Exception, command: Command) -> BaseException:
        """Map a valkey-py error to kvsession's error naming the key; the shell throws it into the plan.

        A ``NoScriptError`` is passed as it is: the plan that sent ``EVALSHA`` answers it.
        Transient failures (:mod:`kvsession_valkey.failures`: a lost connection, a cluster's
        ``CLUSTERDOWN`` / ``TRYAGAIN`` ...) that outlived the retries are ``BackendUnavailable``.
        """
        return translate(exc, command, self._where)

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

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self._where!r})"


def _check_window(offset: int, limit: int | None) -> None:
    if offset < 0 or (limit is not None and limit < 0):
        raise ValueError(f"offset and limit must not be negative, got offset={offset}, limit={limit}")
