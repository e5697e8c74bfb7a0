"""Write tokens: recognising a retry of our own write.

A batch whose reply is lost may have been applied; re-sent (by the backend's own retry, or by a
caller retrying the call), a create would meet its own record and a delete would miss its own
root. So every batch whose conditions its own writes would defeat (a create: only-if-absent; a
session delete: required present, then deleted) carries a
:class:`~kvsession.kv.protocol.WriteTokenOp`: a token unique to the batch, stored when the batch
applies under a key of this writer's own, :data:`WRITER`. A re-sent batch finds its token there
and is taken as applied; nothing is compared byte for byte, so an identical record created by
another call (or another writer) is a conflict like any other.

A writer is one repository *and thread*: a concurrent writer never replaces our token between
our applied batch and its retry (the async repository's tasks on one loop share one writer, so
there the last token per session is the last task's). The token key lives in the session's
slot (its hash tag), is not one of the session's ``:keys`` (tools listing a session never see
it; a session delete leaves it, so a re-sent delete still finds its token) and expires after
:data:`WRITE_TOKEN_TTL`.

When a batch fails with its outcome unknown (the backend was unreachable, or any error other
than a failed condition), the repository remembers its token and what it creates or deletes
(bounded, per repository). The same create (or session delete) made again *from the same
thread* — a caller retrying, perhaps with a record it rebuilt — reuses that token: if the first
attempt landed the call succeeds (the first record is kept), else it is applied as usual. The
limits: a write of the same thread to the same session in between stores a newer token, and
after :data:`WRITE_TOKEN_TTL` the token is gone; in both cases the retry is judged as a new
write (a create of a record that landed raises the usual exists error, nothing is overwritten).
A recognised retry reports the write that landed, even if another writer has deleted it since
(as it would have, had the reply arrived).
"""

from __future__ import annotations

import itertools
import logging
import secrets
import threading
from collections.abc import Sequence
from typing import Literal

from kvsession.kv.batch import Batch
from kvsession.kv.protocol import DeleteOp, RequireOp, SetOp, WriteOp, WriteTokenOp
from kvsession.orm import KeyTemplate
from kvsession.orm.keys import BoundTemplate
from kvsession.strands.bounded_cache import _BoundedCache

__all__ = ["WRITER", "WRITE_TOKEN_TTL", "Claim", "WriteTokens"]

logger = logging.getLogger(__name__)

WRITER = KeyTemplate("session:{session_id}:writer:{writer_id}", hash_tag="session_id")
"""Where one writer (a repository, in one thread) keeps the token of its last create or delete
in a session: beside the session layout (:mod:`kvsession.strands.models`), in its slot, but not
in its ``:keys`` group."""

WRITE_TOKEN_TTL = 300.0
"""Seconds a write token is kept, so how long after a write its retry is still recognised.

A backend's own retries re-send within a minute (valkey: ``retries=3`` with backoff capped at
1 s and 5 s timeouts, under 45 s), and a caller retrying after an outage or a failover does
so within minutes; each token key is about a hundred bytes, one per session and writer thread
active in the last five minutes."""

Claim = tuple[Literal["create", "delete", "update"], str]
"""What a batch does that a retry of it would trip over: creates a key, deletes a required one,
or rewrites a key it required to hold given bytes."""

_Written = tuple[WriteTokenOp, frozenset[Claim]]
"""The write token a batch carries, and what the batch claims (see :func:`_claims`)."""


class _Writer(threading.local):
    """The calling thread as a writer of one repository: its id, token counter and last key.

    Each thread gets a random id of its own the first time it writes (a thread id could be
    reused by a later thread), and counts its tokens without a lock.
    """

    def __init__(self) -> None:
        self.id = secrets.token_hex(8)
        self.tokens = itertools.count(1)
        self.session_id: str | None = None
        self.key = ""


def _claims(ops: Sequence[WriteOp]) -> frozenset[Claim]:
    """Return what in ``ops`` a re-sent copy of the applied batch would fail on (empty: none).

    A key created only if absent (or required absent, then written), a key required present,
    then deleted, and a key required to hold given bytes, then rewritten (optimistic
    concurrency). Other updates (only-if-present writes) and deletes without a condition
    re-apply harmlessly and carry no token.
    """
    claims: list[Claim] = []
    required: dict[str, bool] = {}
    compared: set[str] = set()
    for op in ops:  # exact type tests: this runs on every append
        if type(op) is SetOp:
            if op.only_if_absent or required.get(op.key) is False:
                claims.append(("create", op.key))
            elif op.key in compared:
                claims.append(("update", op.key))
        elif type(op) is RequireOp:
            required[op.key] = op.present
            if op.equals is not None:
                compared.add(op.key)
        elif type(op) is DeleteOp:
            claims.extend(("delete", key) for key in op.keys if required.get(key))
    return frozenset(claims)


class WriteTokens:
    """The write-token part of :class:`~kvsession.strands.writes.SessionCore` (a mixin).

    Its state is set up by ``SessionCore.__init__``: the calling thread as a writer, the
    template of its token key, and the writes whose outcome is unknown, by what they claim.
    """

    _lock: threading.Lock
    _writer: _Writer
    _writer_template: BoundTemplate
    _unsure: _BoundedCache[Claim, _Written]
    write_token_ttl: float

    def token_key(self, session_id: str) -> str:
        """Return the key of the calling thread's write token in a session (see the module docstring)."""
        writer = self._writer
        if writer.session_id != session_id:  # appends come in runs: keep the last key
            writer.key = self._writer_template(session_id=session_id, writer_id=writer.id)
            writer.session_id = session_id
        return writer.key

    def _queue_write_token(self, batch: Batch, session_id: str) -> _Written | None:
        """Queue a write token on a batch that a re-sent copy of itself would trip over.

        The token of an earlier attempt whose outcome is unknown is reused when this batch
        claims exactly what that one did, from the same thread (see the module docstring).
        """
        claims = _claims(batch.ops)
        if not claims:
            return None
        key = self.token_key(session_id)
        token: WriteTokenOp | None = None
        if self._unsure:
            with self._lock:
                earlier = self._unsure.get(next(iter(claims)))
            if earlier is not None and earlier[0].key == key and earlier[1] == claims:
                token = earlier[0]
                logger.debug("key=<%s> | reusing the token of an attempt whose outcome is unknown", key)
        if token is None:
            token = WriteTokenOp(key, b"%x" % next(self._writer.tokens), self.write_token_ttl)
        batch.ops.append(token)  # what Batch.token() queues, without its check: none is queued
        return token, claims

    def _remember_unsure(self, written: _Written | None) -> None:
        """Remember a batch whose outcome is unknown, so that the same write made again reuses its token."""
        if written is None:
            return
        with self._lock:
            for claim in written[1]:
                self._unsure.put(claim, written)

    def _forget_unsure(self, written: _Written | None) -> None:
        """Forget what a batch whose outcome is now known claimed (if it was remembered)."""
        if written is None or not self._unsure:  # the usual case: nothing unsure, no lock
            return
        with self._lock:
            for claim in written[1]:
                if self._unsure.get(claim) == written:
                    del self._unsure[claim]
