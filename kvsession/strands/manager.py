"""``KVSessionManager``: a drop-in Strands session manager over any kvsession backend."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from strands.session.repository_session_manager import RepositorySessionManager
from strands.session.session_repository import SessionRepository
from strands.types.session import SessionAgent, SessionMessage

from kvsession.kv.registry import connect
from kvsession.strands.records import ListedMessage, Session, metadata_of
from kvsession.strands.repository import KVSessionRepository

if TYPE_CHECKING:
    from strands.multiagent.base import MultiAgentBase
    from strands.types.session import Session as StrandsSession
    from typing_extensions import Self

    from kvsession.kv.protocol import KeyValueBackend
    from kvsession.orm import Compression, Keyring

__all__ = ["KVSessionManager", "merge_messages"]

logger = logging.getLogger(__name__)


def merge_messages(
    per_agent: Mapping[str, list[SessionMessage]], limit: int | None, offset: int
) -> list[SessionMessage]:
    """Merge several agents' messages by ``created_at`` (ties by agent id, then message id), then page."""
    merged = sorted(
        (
            (message.created_at, agent, message.message_id, message)
            for agent, messages in per_agent.items()
            for message in messages
        ),
        key=lambda item: item[:3],
    )
    end = None if limit is None else offset + limit
    return [item[3] for item in merged[offset:end]]


class KVSessionManager(RepositorySessionManager, SessionRepository):
    """Persist a Strands agent's session in any kvsession backend.

    It is both the session manager Strands drives through hooks and the repository, so the
    reference API (``create_session``, ``list_messages()`` ...) is callable on it directly.

    Example:
        >>> sm = KVSessionManager("user-42", backend=kvsession.connect("memory://"))
        >>> agent = Agent(session_manager=sm)

    Args:
        session_id: The session to resume, created if it does not exist.
        backend: A connected backend; default ``kvsession.connect(url)``.
        url: Used when ``backend`` is not given (default ``$KVSESSION_URL``).
        metadata: Stored on the session record when this manager creates the session.
        codec: ``"json"`` or ``"msgpack"``; overrides the URL's ``codec``.
        prefix: Key namespace; overrides the URL's ``prefix``.
        ttl: Idle expiry, in seconds or as a ``timedelta``; overrides the URL's ``ttl``.
        touch_on_read: Whether reads keep a session with a ttl alive.
        cluster: Use the cluster key scheme (session id as a hash tag); overrides ``key_scheme``.
        compress: ``"zstd"``, ``"none"`` or a ``Compression``; overrides the URL's ``compress``.
        keyring: A :class:`~kvsession.orm.Keyring` to encrypt every value with; overrides the
            URL's ``encrypt``.
        lease: Hold the session's lease for this long after each write (seconds or a
            ``timedelta``): taken before the session is read, renewed by every write, given
            back by :meth:`close` (or a ``with`` block), lost if this worker stops writing for
            that long. While held, no other leasing worker writes the session (docs/keys.md,
            "Two workers on one session"). ``None`` (default): no lease.
        lease_wait: Seconds to wait for a lease another worker holds before raising
            :class:`~kvsession.strands.errors.SessionBusyError` (default 0: fail at once).
        **kwargs: Passed to Strands' ``RepositorySessionManager``.

    A manager that connected by itself (no ``backend`` given) owns that connection: release it
    with :meth:`close` or a ``with`` block. With many managers per process (one per request),
    connect once and pass the same ``backend`` to each: its connection pool is thread-safe.
    """

    def __init__(
        self,
        session_id: str,
        *,
        backend: KeyValueBackend | None = None,
        url: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        codec: str | None = None,
        prefix: str | None = None,
        ttl: float | timedelta | None = None,
        touch_on_read: bool | None = None,
        cluster: bool | None = None,
        compress: Compression | Literal["none", "zstd"] | None = None,
        keyring: Keyring | None = None,
        lease: float | timedelta | None = None,
        lease_wait: float = 0.0,
        **kwargs: Any,
    ) -> None:
        self._owns_backend = backend is None
        self.repository = KVSessionRepository(
            backend if backend is not None else connect(url),
            codec=codec,
            prefix=prefix,
            cluster=cluster,
            ttl=ttl,
            touch_on_read=touch_on_read,
            compress=compress,
            keyring=keyring,
        )
        self._initial_metadata = dict(metadata or {})
        self._created_session: StrandsSession | None = None
        self._lease_session: str | None = None
        try:
            if lease is not None:
                # Before the session is read: the agent restores what the previous holder wrote.
                self.repository.acquire_lease(session_id, lease, wait=lease_wait)
                self._lease_session = session_id
            super().__init__(session_id=session_id, session_repository=self, **kwargs)
        except BaseException:
            self.close()  # the lease, and a connection this manager opened
            raise
        if self._created_session is not None:
            # Strands assigns ``self.session`` to the plain Session it passed to create_session,
            # after that call returns; hold the record actually stored (with its metadata).
            self.session = self._created_session

    @classmethod
    def from_url(cls, session_id: str, url: str | None = None, **options: Any) -> KVSessionManager:
        """Create a manager for ``url`` (``memory://``, ``valkey://host:port/0?codec=msgpack`` ...)."""
        return cls(session_id, url=url, **options)

    def close(self) -> None:
        """Release the session lease if held; close the backend if this manager connected it.

        A backend you passed stays open.
        """
        session_id, self._lease_session = self._lease_session, None
        try:
            if session_id is not None:
                self.repository.release_lease(session_id)
        finally:
            if self._owns_backend:
                self.repository.backend.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def backend(self) -> KeyValueBackend:
        """The backend this manager stores into."""
        return self.repository.backend

    @property
    def metadata(self) -> dict[str, Any]:
        """The session's metadata dict (as read or created by this manager)."""
        return metadata_of(self.session)

    def update_metadata(self, metadata: Mapping[str, Any]) -> None:
        """Replace the session's metadata and store it (one round trip)."""
        session = Session.from_strands(self.session, dict(metadata))
        self.repository.update_session(session)
        self.session = session

    # -- SessionRepository, delegated (defaults to this manager's session) ----------------------

    def create_session(self, session: StrandsSession, **kwargs: Any) -> StrandsSession:
        """Create a session (see :meth:`KVSessionRepository.create_session`).

        This manager's own session gets the ``metadata`` the manager was built with, if any
        (it is then stored and returned as a kvsession :class:`Session`).
        """
        record = session
        if self._initial_metadata and session.session_id == self.session_id and not metadata_of(session):
            record = Session.from_strands(session, dict(self._initial_metadata))
        created = self.repository.create_session(record, **kwargs)
        if session.session_id == self.session_id:
            self._created_session = created
        return created

    def read_session(self, session_id: str | None = None, **kwargs: Any) -> StrandsSession | None:
        """Read a session (default: this manager's)."""
        return self.repository.read_session(self.session_id if session_id is None else session_id, **kwargs)

    def delete_session(self, session_id: str | None = None, **kwargs: Any) -> None:
        """Delete a session and every key it owns (default: this manager's)."""
        self.repository.delete_session(self.session_id if session_id is None else session_id, **kwargs)

    def create_agent(self, session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None:
        """Create an agent record."""
        self.repository.create_agent(session_id, session_agent, **kwargs)

    def read_agent(self, session_id: str, agent_id: str, **kwargs: Any) -> SessionAgent | None:
        """Read an agent record."""
        return self.repository.read_agent(session_id, agent_id, **kwargs)

    def update_agent(self, session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None:
        """Update an agent record, keeping ``created_at``."""
        self.repository.update_agent(session_id, session_agent, **kwargs)

    def create_message(
        self, session_id: str, agent_id: str, session_message: SessionMessage, **kwargs: Any
    ) -> None:
        """Append a message (one round trip)."""
        self.repository.create_message(session_id, agent_id, session_message, **kwargs)

    def read_message(
        self, session_id: str, agent_id: str, message_id: int, **kwargs: Any
    ) -> SessionMessage | None:
        """Read one message."""
        return self.repository.read_message(session_id, agent_id, message_id, **kwargs)

    def update_message(
        self, session_id: str, agent_id: str, session_message: SessionMessage, **kwargs: Any
    ) -> None:
        """Update a message (e.g. a redaction)."""
        self.repository.update_message(session_id, agent_id, session_message, **kwargs)

    def list_messages(
        self,
        session_id: str | None = None,
        agent_id: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        **kwargs: Any,
    ) -> list[SessionMessage]:
        """List messages in order.

        With no arguments: every message of this manager's session. With ``agent_id=None`` and
        several agents, the agents' messages are merged by ``created_at`` (ties by agent id,
        then message id) before ``offset``/``limit`` apply.

        Returns:
            :class:`~kvsession.strands.records.ListedMessage` objects: Strands
            ``SessionMessage`` records that also read like their message (``msg["role"]``,
            ``msg.content``), as the reference package's documentation uses them.
        """
        return ListedMessage.adopt(self._list_messages(session_id, agent_id, limit, offset, **kwargs))

    def _list_messages(
        self, session_id: str | None, agent_id: str | None, limit: int | None, offset: int, **kwargs: Any
    ) -> list[SessionMessage]:
        session_id = self.session_id if session_id is None else session_id
        if agent_id is not None:
            return self.repository.list_messages(session_id, agent_id, limit=limit, offset=offset, **kwargs)
        agents = self.repository.list_agents(session_id)
        if len(agents) == 1:
            return self.repository.list_messages(session_id, agents[0], limit=limit, offset=offset, **kwargs)
        per_agent = {agent: self.repository.list_messages(session_id, agent) for agent in agents}
        return merge_messages(per_agent, limit, offset)

    def create_multi_agent(self, session_id: str, multi_agent: MultiAgentBase, **kwargs: Any) -> None:
        """Store a multi-agent orchestrator's state."""
        self.repository.create_multi_agent(session_id, multi_agent, **kwargs)

    def read_multi_agent(self, session_id: str, multi_agent_id: str, **kwargs: Any) -> dict[str, Any] | None:
        """Read a multi-agent orchestrator's state."""
        return self.repository.read_multi_agent(session_id, multi_agent_id, **kwargs)

    def update_multi_agent(self, session_id: str, multi_agent: MultiAgentBase, **kwargs: Any) -> None:
        """Update a multi-agent orchestrator's state."""
        self.repository.update_multi_agent(session_id, multi_agent, **kwargs)
