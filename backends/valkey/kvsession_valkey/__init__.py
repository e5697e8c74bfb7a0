"""Valkey backend for kvsession: ``kvsession.connect("valkey://host:6379/0")``.

Registered for the ``valkey`` and ``valkeys`` (TLS) URL schemes through the
``kvsession.backends`` entry-point group; see ``docs/backends.md``.
"""

from kvsession_valkey.backend import DEFAULT_MAX_VALUE_BYTES, ValkeyBackend
from kvsession_valkey.scripts import BATCH_SCRIPT

__all__ = ["BATCH_SCRIPT", "DEFAULT_MAX_VALUE_BYTES", "ValkeyBackend"]
