"""Errors of the admin services: a source that cannot be imported or migrated.

They are :class:`~kvsession.kv.errors.KVSessionError` leaves, so a caller that handles
kvsession's errors handles these too; the command line prints each as one line.
"""

from __future__ import annotations

from kvsession.kv.errors import KVSessionError

__all__ = ["SourceError"]


class SourceError(KVSessionError):
    """A source of sessions (an export file, a Strands directory) cannot be used as it is.

    The message says where (``FILE:LINE``, a path) and what is wrong; nothing of the session
    concerned is visible in the store.
    """
