"""Valkey backend for kvsession: ``kvsession.connect("valkey://host:6379/0")``.

Registered for the ``valkey`` and ``valkeys`` (TLS) URL schemes, and for a Valkey Cluster
``valkey+cluster://h1:p1,h2:p2/0`` and ``valkeys+cluster://`` (:mod:`kvsession_valkey.cluster`),
through the ``kvsession.backends`` entry-point group; see ``docs/backends.md``. The async twin,
:class:`AsyncValkeyBackend`, is what ``await kvsession.connect_async("valkey://...")`` returns.
Both send the same commands, built once in :mod:`kvsession_valkey.commands`.
"""

from kvsession_valkey.aio import AsyncValkeyBackend
from kvsession_valkey.backend import DEFAULT_MAX_VALUE_BYTES, ValkeyBackend
from kvsession_valkey.scripts import BATCH_SCRIPT

__all__ = ["BATCH_SCRIPT", "DEFAULT_MAX_VALUE_BYTES", "AsyncValkeyBackend", "ValkeyBackend"]
