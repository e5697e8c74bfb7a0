"""Which valkey-py errors are passing states worth retrying, which are final, and what they become.

Shared by the retry policy (:class:`~kvsession_valkey.clients.RetryPolicy`), which sends a
transient failure again, and by the error mapping
(:meth:`~kvsession_valkey.commands.ValkeyCommands._translated`), which turns what is left into
``BackendUnavailable`` (transient: try again later) or ``BackendError`` (final).

Transient on any server: a lost connection, a timeout, a server still loading its data.
Transient on a cluster (a failover, a resharding or a partition under way):

- ``CLUSTERDOWN`` (``ClusterDownError``) and ``MASTERDOWN`` (``MasterDownError``);
- ``TRYAGAIN`` (``TryAgainError``: a multi-key command during a slot's migration);
- ``ClusterError`` ("TTL exhausted": valkey-py followed 16 ``MOVED`` / ``ASK`` redirections
  without reaching the key's node), and a ``MOVED`` / ``ASK`` that escaped valkey-py;
- ``SlotNotCoveredError`` and the ``ValkeyClusterException`` s of a topology refresh that
  failed: no seed reachable, slots not covered, nodes disagreeing, no primary.

Final: ``CROSSSLOT`` (server) and valkey-py's "all keys must map to the same key slot"
(client), a script's "non local key" (a key the batch reads at run time lives on another node:
keys of one batch must share a hash tag; retrying would fail the same way), ``WRONGTYPE``,
refused credentials, an exhausted pool, and every other error.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import valkey
from valkey.crc import key_slot
from valkey.exceptions import (
    AskError,
    AuthenticationError,
    ClusterError,
    MaxConnectionsError,
    NoScriptError,
    ResponseError,
    SlotNotCoveredError,
    TryAgainError,
    ValkeyClusterException,
    ValkeyError,
)

from kvsession.kv.errors import BackendError, BackendUnavailable, OutOfMemoryError
from kvsession_valkey.sansio import Command

logger = logging.getLogger(__name__)

__all__ = ["POOL_EXHAUSTED", "SERVER_ERRORS", "is_cluster_error", "is_transient", "translate"]

SERVER_ERRORS: tuple[type[Exception], ...] = (ValkeyError, ValkeyClusterException)
"""What a shell catches from valkey-py: ``ValkeyClusterException`` is not a ``ValkeyError``."""

# What valkey-py's pools raise (as ConnectionError) when no connection may be opened or taken.
POOL_EXHAUSTED = ("Too many connections", "No connection available")

# valkey-py's ValkeyClusterException messages of a topology refresh that failed for now.
_REFRESH_FAILED = ("cannot be connected", "not covered", "could not agree", "No primary nodes")


def is_cluster_error(error: BaseException) -> bool:
    """Whether ``error`` is one of the transient states only a cluster has (see the module)."""
    if isinstance(error, ClusterError | TryAgainError | AskError | SlotNotCoveredError):
        # ClusterError covers ClusterDownError, MasterDownError and "TTL exhausted"; AskError
        # covers MovedError.
        return True
    if isinstance(error.__cause__, AuthenticationError):
        return False  # "cannot be connected" because every node refused the credentials
    return isinstance(error, ValkeyClusterException) and any(part in str(error) for part in _REFRESH_FAILED)


def is_transient(error: BaseException) -> bool:
    """Whether sending the same command again later may succeed (see the module)."""
    if is_cluster_error(error):
        return True
    if not isinstance(error, valkey.ConnectionError | valkey.TimeoutError):
        return False
    # Filed under connection errors by valkey-py, but waiting cures none of them: refused
    # credentials, an exhausted pool (``pool_timeout`` already says how long to wait), and a
    # server certificate that does not verify (a wrong CA or host name).
    text = str(error)
    return not (
        isinstance(error, AuthenticationError | MaxConnectionsError)
        or text.startswith(POOL_EXHAUSTED)
        or "CERTIFICATE_VERIFY_FAILED" in text
    )


def translate(exc: Exception, command: Command, where: str) -> BaseException:
    """Map a valkey-py error to kvsession's error naming the command's key (``where``: the URL shown).

    A ``NoScriptError`` is passed as it is: the plan that sent ``EVALSHA`` answers it.
    Transient failures (a lost connection, a cluster's ``CLUSTERDOWN`` / ``TRYAGAIN`` ...)
    that outlived the retries, refused credentials and an exhausted pool are
    ``BackendUnavailable``; everything else is a ``BackendError`` (``OutOfMemoryError`` for
    ``OOM``).
    """
    if isinstance(exc, NoScriptError):
        return exc
    key, count = command.key, command.key_count
    more = f" (and {count - 1} more keys)" if count > 1 else ""
    text = str(exc) or type(exc).__name__  # TryAgainError has no text
    error: BackendError
    if is_transient(exc) or _unreachable(exc):
        logger.debug("key=<%s>, url=<%s> | backend unavailable: %r", key, where, exc)
        serving = is_cluster_error(exc) and "cannot be connected" not in text
        what = "the cluster is not serving this key for now" if serving else "cannot reach"
        error = BackendUnavailable(f"{what} ({where}){more}: {text}", key=key)
    elif text.startswith("CROSSSLOT") or "same key slot" in text or "same slot" in text:
        error = BackendError(_cross_slot_message(command, where, text), key=key)
    elif isinstance(exc, ValkeyClusterException):
        error = BackendError(f"{where}{more}: {text}", key=key)
    elif isinstance(exc, ResponseError):
        if text.startswith("WRONGTYPE"):
            error = BackendError(f"holds another kind of data{more}: {text}", key=key)
        elif isinstance(exc, valkey.exceptions.OutOfMemoryError) or text.startswith("OOM"):
            error = OutOfMemoryError(f"{where} is out of memory, nothing written{more}: {text}", key=key)
        elif "non local key" in text:
            # Not retried: a key the script read at run time (a group's member) lives on
            # another node, so it does not share the batch's hash tag; it would fail again.
            error = BackendError(
                f"{where}: the batch touched a key of another node; every key of a batch "
                f"must share one hash tag (the cluster key scheme){more}: {text}",
                key=key,
            )
        else:
            error = BackendError(f"{where} refused the command{more}: {text}", key=key)
    else:
        error = BackendError(f"{where}{more}: {text}", key=key)
    error.__cause__ = exc
    return error


def _command_keys(command: Command) -> Sequence[Any]:
    args = command.args
    if str(args[0]).upper() in ("EVALSHA", "EVAL"):
        return args[3 : 3 + int(args[2])]
    return args[1 : 1 + command.key_count]


def _cross_slot_message(command: Command, where: str, text: str) -> str:
    """Say which key left the first key's slot (commands of one call must stay in one slot)."""
    keys = _command_keys(command)
    slots = [key_slot(k if isinstance(k, bytes) else str(k).encode()) for k in keys]
    stray = next((key for key, slot in zip(keys, slots, strict=True) if slot != slots[0]), None)
    detail = f"key <{stray!r}> is in another slot than key <{keys[0]!r}>; " if stray is not None else ""
    return (
        f"{where}: {detail}one call may only touch keys of one cluster slot (give them one hash "
        f"tag: the cluster key scheme does, per session): {text}"
    )


def _unreachable(exc: Exception) -> bool:
    """Whether the server could not be reached for a reason retrying does not cure.

    Refused credentials and an exhausted pool: not retried, but still ``BackendUnavailable``
    (valkey-py files them under connection errors; a cluster wraps them as "cannot be connected").
    """
    return isinstance(exc, valkey.ConnectionError | valkey.TimeoutError) or isinstance(
        exc.__cause__, valkey.ConnectionError
    )
