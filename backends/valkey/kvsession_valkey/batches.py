"""``BatchPlans``: the atomic writes of the Valkey backends as plans (``apply``, ``compare_and_set``).

Each is one ``EVALSHA`` of a server-side Lua script (:mod:`kvsession_valkey.scripts`), falling
back once to ``EVAL`` on a server that has not cached it; with ``wait_replicas`` the write
carries its ``WAIT`` (:mod:`kvsession_valkey.durability`). :class:`~kvsession_valkey.commands.ValkeyCommands`
inherits them; a shell sends them like every other plan.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from valkey.exceptions import NoScriptError

from kvsession.kv.errors import BackendError, ConflictError, ReplicationTimeoutError, ValueTooLargeError
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
from kvsession_valkey.scripts import BATCH_SCRIPT, COMPARE_AND_SET_SCRIPT, encode_batch

__all__ = ["BatchPlans"]

logger = logging.getLogger(__name__)

_SCRIPT_SHAS = {
    script: hashlib.sha1(script.encode()).hexdigest() for script in (BATCH_SCRIPT, COMPARE_AND_SET_SCRIPT)
}


class BatchPlans:
    """The batch script and the compare-and-set script, as plans.

    Needs ``_max_value_bytes`` (largest value accepted) and ``_wait`` (``(replicas, timeout_ms)``
    of ``wait_replicas``, or ``None``), which :meth:`ValkeyCommands._configure` sets.
    """

    _max_value_bytes: int
    _wait: tuple[int, int] | None

    def _check_size(self, key: str, value: bytes) -> None:
        if len(value) > self._max_value_bytes:
            raise ValueTooLargeError(key, len(value), self._max_value_bytes)

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
        command = _evalsha(BATCH_SCRIPT, keys, args, name=first)._replace(wait=self._wait)
        try:
            reply = yield command
        except NoScriptError:
            reply = yield _eval_instead(BATCH_SCRIPT, command)
        reply, confirmed = self._waited(command, reply)
        if isinstance(reply, list):
            self._raise_rejection(ops, reply)
        elif reply == 1:
            logger.debug("key=<%s> | batch carries the token of an applied batch; not applied again", first)
        self._check_confirmed(first, confirmed)

    def _waited(self, command: Command, reply: Reply) -> tuple[Reply, int | None]:
        """Split a durable write's reply into the script's and the replicas' (``None``: no ``WAIT``)."""
        if command.wait is None:
            return reply, None
        script, confirmed = reply
        return script, int(confirmed)

    def _check_confirmed(self, key: str | None, confirmed: int | None) -> None:
        if confirmed is None or self._wait is None or confirmed >= self._wait[0]:
            return
        wanted, timeout_ms = self._wait
        logger.debug(
            "key=<%s>, wanted=<%d>, confirmed=<%d> | write applied, replicas did not all confirm",
            key,
            wanted,
            confirmed,
        )
        raise ReplicationTimeoutError(key=key, wanted=wanted, confirmed=confirmed, timeout_ms=timeout_ms)

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
        command = _evalsha(COMPARE_AND_SET_SCRIPT, [key for key, _, _ in changes], args)._replace(
            wait=self._wait
        )
        try:
            reply = yield command
        except NoScriptError:
            reply = yield _eval_instead(COMPARE_AND_SET_SCRIPT, command)
        replaced, confirmed = self._waited(command, reply)
        if replaced:
            self._check_confirmed(command.key, confirmed)
        return int(replaced)


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
