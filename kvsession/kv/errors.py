"""The base of kvsession's one exception tree: errors of the generic key-value layer.

Every error carries the key or id at fault, so a log line is enough to find the record. Nothing
here imports Strands: the Strands-facing leaves (``SessionException`` subclasses) live in
:mod:`kvsession.strands.errors`.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "BackendUnavailable",
    "CodecError",
    "ConfigError",
    "ConflictError",
    "CorruptDataError",
    "DecryptionError",
    "InvalidIdError",
    "KVSessionError",
    "NotFoundError",
    "OutOfMemoryError",
    "RecordExistsError",
    "ReplicationTimeoutError",
    "ValueTooLargeError",
]


class KVSessionError(Exception):
    """Base class of every error raised by kvsession."""


class ConfigError(KVSessionError, ValueError):
    """A connection URL or option is invalid (unknown scheme, unknown option, bad value)."""


class InvalidIdError(KVSessionError, ValueError):
    """A session or agent id cannot be used in a key.

    Attributes:
        kind: What the id names (``"session_id"``, ``"agent_id"`` ...).
        value: The rejected id.
    """

    def __init__(self, kind: str, value: object, reason: str) -> None:
        self.kind = kind
        self.value = value
        super().__init__(f"{kind}=<{value!r}> | invalid id: {reason}")


class BackendError(KVSessionError):
    """The backend refused an operation.

    Attributes:
        key: The key the failed operation touched, when one is known.
    """

    def __init__(self, message: str, *, key: str | None = None) -> None:
        self.key = key
        prefix = f"key=<{key}> | " if key is not None else ""
        super().__init__(f"{prefix}{message}")


class BackendUnavailable(BackendError):  # noqa: N818 -- the name STYLE.md gives this leaf
    """The backend cannot be reached (connection refused, lost, or timed out)."""


class ValueTooLargeError(BackendError):
    """A value exceeds the backend's configured maximum size; nothing was written.

    Attributes:
        size: Size of the rejected value in bytes.
        limit: The configured maximum in bytes.
    """

    def __init__(self, key: str, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"value of {size} bytes exceeds the limit of {limit} bytes", key=key)


class OutOfMemoryError(BackendError):
    """The server is at its memory limit and evicts nothing (``maxmemory-policy noeviction``).

    The whole batch (or command) was refused before anything was written; a batch that only
    deletes still runs. Free memory (delete sessions, set a ttl) or raise ``maxmemory``.

    Attributes:
        key: The first key of the refused batch or command.
    """


class ReplicationTimeoutError(BackendError):
    """A write was applied on the primary, but fewer replicas than asked confirmed it in time.

    Raised only when durability is asked for (the Valkey backend's ``wait_replicas`` option).
    The write is NOT undone: it is on the primary and reads see it; what is not known is
    whether it would survive the primary's loss. Retrying the same batch is safe when it
    carries a write token (it is recognised as applied).

    Attributes:
        key: The first key of the write.
        wanted: How many replicas were asked to confirm.
        confirmed: How many did within the timeout.
        timeout_ms: The timeout, in milliseconds.
    """

    def __init__(self, *, key: str | None, wanted: int, confirmed: int, timeout_ms: int) -> None:
        self.wanted = wanted
        self.confirmed = confirmed
        self.timeout_ms = timeout_ms
        super().__init__(
            f"the write WAS applied on the primary, but only {confirmed} of {wanted} replicas "
            f"confirmed it within {timeout_ms} ms",
            key=key,
        )


class ConflictError(BackendError):
    """A conditional write found the key in the wrong state; the whole batch was not applied.

    Attributes:
        key: The key whose only-if-absent / only-if-present condition failed.
    """


class CodecError(KVSessionError):
    """Stored bytes cannot be decoded (or a value cannot be encoded).

    Attributes:
        key: The key the bytes were read from, when known.
    """

    def __init__(self, message: str, *, key: str | None = None) -> None:
        self.key = key
        prefix = f"key=<{key}> | " if key is not None else ""
        super().__init__(f"{prefix}{message}")


class CorruptDataError(CodecError):
    """What is stored at a key is not what kvsession writes there; nothing is returned in its place.

    Another kind of data where a record belongs (a hash, a set ...), a record whose own id is
    not the one its key names, or an index member that is not an id. Found by a read; the
    data is left as it is (inspect it with ``kvsession inspect``, then delete or rewrite it).

    Attributes:
        key: The key at fault.
    """


class DecryptionError(CodecError):
    """An encrypted value cannot be decrypted; nothing is returned in its place.

    Its key id is not in the keyring (or no keyring is configured), the key under that id is
    not the one it was written with, or the value was altered or copied from another key (the
    key name is bound to it).

    Attributes:
        key: The key the value was read from.
        key_id: The key id its header names.
    """

    def __init__(self, message: str, *, key: str | None, key_id: str) -> None:
        self.key_id = key_id
        super().__init__(message, key=key)


class RecordExistsError(ConflictError):
    """A create found the record already there (a second writer); nothing was written."""


class NotFoundError(KVSessionError):
    """An update or delete named a record that does not exist; nothing was written.

    Attributes:
        key: The key of the missing record.
    """

    def __init__(self, message: str, *, key: str) -> None:
        self.key = key
        super().__init__(f"key=<{key}> | {message}")
