"""``ValkeySessionManager``: the reference package's class, with only the import line changed."""

from __future__ import annotations

from typing import Any

import valkey
import valkey.cluster

from kvsession.kv.config import parse_url, resolve_url
from kvsession.strands.manager import KVSessionManager

__all__ = ["ValkeySessionManager"]


class ValkeySessionManager(KVSessionManager):
    """Persist a Strands agent's session in Valkey.

    Example:
        >>> client = valkey.Valkey(host="localhost", port=6379, decode_responses=True)
        >>> sm = ValkeySessionManager(session_id="user-42", client=client)
        >>> agent = Agent(session_manager=sm)

    A client built with ``decode_responses=True`` works: values are still read as bytes. On a
    Valkey Cluster pass a ``valkey.cluster.ValkeyCluster``, or a ``valkey+cluster://`` URL.

    Args:
        session_id: The session to resume, created if it does not exist.
        client: A ``valkey.Valkey`` client you built, or a ``valkey.cluster.ValkeyCluster`` (the
            cluster key scheme is then used: a session's keys share one slot); if omitted, one is
            made from ``url``.
        url: ``valkey://...`` URL used when ``client`` is omitted (default ``$KVSESSION_URL``).
        **options: ``codec``, ``prefix``, ``ttl``, ``touch_on_read``, ``metadata``,
            ``compress``, ``keyring``, as for :class:`KVSessionManager`.
    """

    def __init__(
        self,
        session_id: str,
        client: valkey.Valkey | valkey.cluster.ValkeyCluster | None = None,
        *,
        url: str | None = None,
        **options: Any,
    ) -> None:
        # Imported here, not at module level: kvsession_valkey imports kvsession's modules, so a
        # program that imports kvsession_valkey first must not meet a half-initialised module.
        from kvsession_valkey import ValkeyBackend

        config = parse_url(resolve_url(url) if client is None else "valkey://")
        backend = (
            ValkeyBackend.from_config(config)
            if client is None
            else ValkeyBackend(client=client, config=config)
        )
        super().__init__(session_id, backend=backend, **options)
