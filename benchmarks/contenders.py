"""The five columns of the benchmark: the floor, kvsession in both codecs, and the two published peers.

Every contender gets its own logical database (``SELECT n``) on the one embedded server, so a
contender's keys never sit in another's keyspace (which would slow the SCAN-based peers for
reasons that are not theirs), and the noise keys can be added per contender.

The peers are imported lazily, by name: they live only in the benchmark environment
(``benchmarks/requirements.txt``), never in the project's dependencies. A contender whose package
is missing is reported as ``n/a``.
"""

from __future__ import annotations

import abc
import importlib
from typing import Any, ClassVar, Protocol, cast

import msgspec
import valkey
from strands.models.model import Model
from strands.session.repository_session_manager import RepositorySessionManager
from strands.session.session_repository import SessionRepository
from strands.types.session import Session, SessionAgent, SessionMessage, SessionType

import kvsession
from kvsession import KVSessionRepository, ValkeySessionManager

__all__ = [
    "CONTENDERS",
    "BenchRepository",
    "Contender",
    "FloorRepository",
    "IdleModel",
    "make_contenders",
]

HOST = "127.0.0.1"

_MARKER_KEY = "__bytes_encoded__"
_MARKER_NEEDLE = b'"__bytes_encoded__"'


class BenchRepository(Protocol):
    """The repository calls the workloads make (Strands' ``SessionRepository`` plus ``delete_session``)."""

    def create_session(self, session: Session, **kwargs: Any) -> Any: ...

    def create_agent(self, session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None: ...

    def create_message(
        self, session_id: str, agent_id: str, session_message: SessionMessage, **kwargs: Any
    ) -> None: ...

    def list_messages(
        self, session_id: str, agent_id: str, limit: int | None = None, offset: int = 0, **kwargs: Any
    ) -> list[SessionMessage]: ...

    def delete_session(self, session_id: str, **kwargs: Any) -> None: ...


class IdleModel(Model):
    """A Strands model that is never called: the rebuild benchmark constructs agents, never invokes them."""

    def update_config(self, **model_config: Any) -> None:
        """Accept and ignore configuration."""

    def get_config(self) -> Any:
        """Return an empty configuration."""
        return {}

    def structured_output(self, *args: Any, **kwargs: Any) -> Any:
        """Never called by the benchmark."""
        raise RuntimeError("IdleModel is never invoked")

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        """Never called by the benchmark."""
        raise RuntimeError("IdleModel is never invoked")


# --- the floor -------------------------------------------------------------------------------------


def _mark_bytes(value: Any) -> Any:
    """Return ``value`` with each ``bytes`` replaced by Strands' base64 marker; unchanged parts are shared."""
    if isinstance(value, bytes):
        return {_MARKER_KEY: True, "data": msgspec.to_builtins(value)}
    if isinstance(value, dict):
        out: dict[Any, Any] | None = None
        for key, item in value.items():
            new = _mark_bytes(item)
            if new is not item:
                out = dict(value) if out is None else out
                out[key] = new
        return value if out is None else out
    if isinstance(value, list):
        items: list[Any] | None = None
        for index, item in enumerate(value):
            new = _mark_bytes(item)
            if new is not item:
                items = list(value) if items is None else items
                items[index] = new
        return value if items is None else items
    return value


def _unmark_bytes(value: Any) -> Any:
    """Replace Strands' base64 markers by ``bytes``, in place (``value`` was just decoded)."""
    if isinstance(value, dict):
        if value.get(_MARKER_KEY) is True and len(value) == 2:
            return msgspec.convert(value["data"], bytes)
        for key, item in value.items():
            if isinstance(item, (dict, list)):
                value[key] = _unmark_bytes(item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, (dict, list)):
                value[index] = _unmark_bytes(item)
    return value


class FloorRepository(SessionRepository):
    """The least work any Valkey design can do for each job, written directly on valkey-py.

    Same key layout and the same JSON documents as kvsession's JSON codec (Strands' field names,
    bytes as Strands' base64 marker). Append is one pipelined ``SET`` + ``ZADD`` (no transaction,
    no condition, no session bookkeeping); restore is ``ZRANGE`` + ``MGET`` + ``msgspec.json.decode``
    of each document into a dict, then Strands' ``SessionMessage`` built from it (bytes markers
    decoded only in documents that contain one): the same output type as every contender. Delete
    is ``ZRANGE`` of each agent's index, then one ``DEL`` of every key. The floor remembers in
    process which agents it created (a real design must store that list somewhere: at least as
    much work), and checks nothing (no id validation, no missing-record detection).

    Args:
        client: A client that returns bytes (``decode_responses=False``).
    """

    def __init__(self, client: valkey.Valkey) -> None:
        self._client = client
        self._encode = msgspec.json.Encoder().encode
        self._decode = msgspec.json.Decoder(dict[str, Any]).decode
        self._agents: dict[str, set[str]] = {}

    @staticmethod
    def _session_key(session_id: str) -> str:
        return f"session:{session_id}"

    @staticmethod
    def _agent_key(session_id: str, agent_id: str) -> str:
        return f"session:{session_id}:agent:{agent_id}"

    @staticmethod
    def _message_key(session_id: str, agent_id: str, message_id: int) -> str:
        return f"session:{session_id}:agent:{agent_id}:message:{message_id}"

    @staticmethod
    def _index_key(session_id: str, agent_id: str) -> str:
        return f"session:{session_id}:agent:{agent_id}:messages"

    def _message(self, raw: bytes) -> SessionMessage:
        doc = self._decode(raw)
        if _MARKER_NEEDLE in raw:
            _unmark_bytes(doc)
        return SessionMessage(
            message=doc["message"],
            message_id=doc["message_id"],
            redact_message=doc.get("redact_message"),
            created_at=doc["created_at"],
            updated_at=doc["updated_at"],
        )

    def create_session(self, session: Session, **kwargs: Any) -> Session:
        """``SET`` the session document."""
        self._client.set(self._session_key(session.session_id), self._encode(session))
        return session

    def read_session(self, session_id: str, **kwargs: Any) -> Session | None:
        """``GET`` the session document."""
        raw = cast("bytes | None", self._client.get(self._session_key(session_id)))
        if raw is None:
            return None
        doc = self._decode(raw)
        return Session(
            session_id=doc["session_id"],
            session_type=SessionType(doc["session_type"]),
            created_at=doc["created_at"],
            updated_at=doc["updated_at"],
        )

    def create_agent(self, session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None:
        """``SET`` the agent document."""
        self._agents.setdefault(session_id, set()).add(session_agent.agent_id)
        self.update_agent(session_id, session_agent)

    def read_agent(self, session_id: str, agent_id: str, **kwargs: Any) -> SessionAgent | None:
        """``GET`` the agent document."""
        raw = cast("bytes | None", self._client.get(self._agent_key(session_id, agent_id)))
        if raw is None:
            return None
        doc = self._decode(raw)
        if _MARKER_NEEDLE in raw:
            _unmark_bytes(doc)
        return SessionAgent(
            agent_id=doc["agent_id"],
            state=doc["state"],
            conversation_manager_state=doc["conversation_manager_state"],
            _internal_state=doc.get("_internal_state", {}),
            created_at=doc["created_at"],
            updated_at=doc["updated_at"],
        )

    def update_agent(self, session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None:
        """``SET`` the agent document."""
        key = self._agent_key(session_id, session_agent.agent_id)
        self._client.set(key, self._encode(_mark_bytes(session_agent.__dict__)))

    def create_message(
        self, session_id: str, agent_id: str, session_message: SessionMessage, **kwargs: Any
    ) -> None:
        """One pipelined ``SET`` + ``ZADD`` (one round trip, no transaction)."""
        message_id = session_message.message_id
        doc = self._encode(_mark_bytes(session_message.__dict__))
        pipe = self._client.pipeline(transaction=False)
        pipe.set(self._message_key(session_id, agent_id, message_id), doc)
        pipe.zadd(self._index_key(session_id, agent_id), {str(message_id): message_id})
        pipe.execute()  # type: ignore[no-untyped-call]

    def read_message(
        self, session_id: str, agent_id: str, message_id: int, **kwargs: Any
    ) -> SessionMessage | None:
        """``GET`` one message."""
        raw = cast("bytes | None", self._client.get(self._message_key(session_id, agent_id, message_id)))
        return None if raw is None else self._message(raw)

    def update_message(
        self, session_id: str, agent_id: str, session_message: SessionMessage, **kwargs: Any
    ) -> None:
        """``SET`` one message."""
        key = self._message_key(session_id, agent_id, session_message.message_id)
        self._client.set(key, self._encode(_mark_bytes(session_message.__dict__)))

    def list_messages(
        self, session_id: str, agent_id: str, limit: int | None = None, offset: int = 0, **kwargs: Any
    ) -> list[SessionMessage]:
        """``ZRANGE`` + ``MGET`` + decode: two round trips."""
        stop = -1 if limit is None else offset + limit - 1
        ids = cast("list[bytes]", self._client.zrange(self._index_key(session_id, agent_id), offset, stop))
        if not ids:
            return []
        prefix = f"session:{session_id}:agent:{agent_id}:message:"
        keys = [prefix + message_id.decode() for message_id in ids]
        values = cast("list[bytes | None]", self._client.mget(keys))
        message = self._message
        return [message(raw) for raw in values if raw is not None]

    def delete_session(self, session_id: str, **kwargs: Any) -> None:
        """``ZRANGE`` of each agent's index (one pipelined round trip), then one ``DEL``."""
        agents = sorted(self._agents.pop(session_id, ()))
        pipe = self._client.pipeline(transaction=False)
        for agent_id in agents:
            pipe.zrange(self._index_key(session_id, agent_id), 0, -1)
        ranges: list[list[bytes]] = pipe.execute()  # type: ignore[no-untyped-call]
        keys = [self._session_key(session_id)]
        for agent_id, ids in zip(agents, ranges, strict=True):
            keys += [self._agent_key(session_id, agent_id), self._index_key(session_id, agent_id)]
            keys += [self._message_key(session_id, agent_id, int(message_id)) for message_id in ids]
        self._client.delete(*keys)


# --- contenders ------------------------------------------------------------------------------------


class Contender(abc.ABC):
    """One column: a way of storing sessions, in its own logical database of the shared server.

    Args:
        port: The embedded server's port on 127.0.0.1.
        db: The logical database this contender uses alone.
    """

    key: ClassVar[str]
    title: ClassVar[str]

    def __init__(self, port: int, db: int) -> None:
        self.port = port
        self.db = db
        self.admin = valkey.Valkey(host=HOST, port=port, db=db)

    def flush(self) -> None:
        """Empty this contender's database, synchronously (a lazy free would compete for the CPUs)."""
        self.admin.execute_command("FLUSHDB", "SYNC")  # type: ignore[no-untyped-call]

    def add_noise(self, count: int) -> None:
        """Add ``count`` unrelated string keys (``DEBUG POPULATE``, else pipelined ``SET``)."""
        try:
            self.admin.execute_command("DEBUG", "POPULATE", count, "noise")  # type: ignore[no-untyped-call]
            return
        except valkey.ResponseError:
            pass
        pipe = self.admin.pipeline(transaction=False)
        for number in range(count):
            pipe.set(f"noise:{number}", f"value:{number}")
            if number % 10_000 == 9_999:
                pipe.execute()  # type: ignore[no-untyped-call]
        pipe.execute()  # type: ignore[no-untyped-call]

    @abc.abstractmethod
    def repository(self) -> BenchRepository:
        """Return a repository for the workloads that call it directly."""

    @abc.abstractmethod
    def session_manager(self, session_id: str) -> RepositorySessionManager:
        """Return a new Strands session manager for ``session_id`` (reads or creates the session)."""

    def close(self) -> None:
        """Release connections."""
        self.admin.close()  # type: ignore[no-untyped-call]


class FloorContender(Contender):
    """The floor: :class:`FloorRepository` (and Strands' ``RepositorySessionManager`` over it)."""

    key = "floor"
    title = "floor"

    def __init__(self, port: int, db: int) -> None:
        super().__init__(port, db)
        self._client = valkey.Valkey(host=HOST, port=port, db=db)
        self._repository = FloorRepository(self._client)

    def repository(self) -> BenchRepository:
        """Return the floor repository."""
        return self._repository

    def session_manager(self, session_id: str) -> RepositorySessionManager:
        """Return Strands' ``RepositorySessionManager`` over the floor repository."""
        return RepositorySessionManager(session_id=session_id, session_repository=self._repository)

    def close(self) -> None:
        """Release connections."""
        self._client.close()  # type: ignore[no-untyped-call]
        super().close()


class KVSessionContender(Contender):
    """kvsession: ``KVSessionRepository`` over the valkey backend; ``ValkeySessionManager`` for agents."""

    codec: ClassVar[str]

    def __init__(self, port: int, db: int) -> None:
        super().__init__(port, db)
        self._backend = kvsession.connect(f"valkey://{HOST}:{port}/{db}?codec={self.codec}")
        # The reference package's documented client (decode_responses=True), as a user would pass it.
        self._client = valkey.Valkey(host=HOST, port=port, db=db, decode_responses=True)

    def repository(self) -> BenchRepository:
        """Return a ``KVSessionRepository`` over the backend built by ``kvsession.connect``."""
        return KVSessionRepository(self._backend)

    def session_manager(self, session_id: str) -> RepositorySessionManager:
        """Return a ``ValkeySessionManager`` over the user-style client."""
        return ValkeySessionManager(session_id, client=self._client, codec=self.codec)

    def close(self) -> None:
        """Release connections."""
        self._backend.close()
        self._client.close()  # type: ignore[no-untyped-call]
        super().close()


class KVSessionJson(KVSessionContender):
    """kvsession with the JSON codec (the default)."""

    key = "kvsession-json"
    title = "kvsession-json"
    codec = "json"


class KVSessionMsgpack(KVSessionContender):
    """kvsession with the MessagePack codec."""

    key = "kvsession-msgpack"
    title = "kvsession-msgpack"
    codec = "msgpack"


def _json_as_string_client(port: int, db: int) -> valkey.Valkey:
    """A ``valkey.Valkey`` that sends ``JSON.SET key $ doc`` as ``SET`` and ``JSON.GET key`` as ``GET``.

    Stock Valkey has no JSON module, which the reference package needs. Translating the two
    commands at the client keeps every line of the reference's own code in the measurement; a
    plain ``SET``/``GET`` of the same document is no slower than the module's would be.
    """

    class JsonAsStringValkey(valkey.Valkey):
        def execute_command(self, *args: Any, **options: Any) -> Any:
            if args and args[0] == "JSON.SET" and len(args) == 4 and args[2] == "$":
                return super().execute_command("SET", args[1], args[3], **options)  # type: ignore[no-untyped-call]
            if args and args[0] == "JSON.GET" and len(args) == 2:
                return super().execute_command("GET", args[1], **options)  # type: ignore[no-untyped-call]
            return super().execute_command(*args, **options)  # type: ignore[no-untyped-call]

    return JsonAsStringValkey(host=HOST, port=port, db=db, decode_responses=True)


class ReferenceContender(Contender):
    """``strands-valkey-session-manager`` (the reference), its JSON.SET/JSON.GET sent as SET/GET."""

    key = "reference"
    title = "reference (valkey-session-manager)"

    def __init__(self, port: int, db: int) -> None:
        super().__init__(port, db)
        module = importlib.import_module("strands_valkey_session_manager")
        self._manager_class: Any = module.ValkeySessionManager
        self._client = _json_as_string_client(port, db)

    def repository(self) -> BenchRepository:
        """Return a reference manager (it is its own repository); it creates a small handle session."""
        repository: BenchRepository = self._manager_class("bench-handle", client=self._client)
        return repository

    def session_manager(self, session_id: str) -> RepositorySessionManager:
        """Return the reference manager for ``session_id``."""
        manager: RepositorySessionManager = self._manager_class(session_id, client=self._client)
        return manager

    def close(self) -> None:
        """Release connections."""
        self._client.close()  # type: ignore[no-untyped-call]
        super().close()


class RedisPeerContender(Contender):
    """``strands-redis-session-manager`` on redis-py, default options (no TTL)."""

    key = "strands-redis"
    title = "strands-redis-session-manager"

    def __init__(self, port: int, db: int) -> None:
        super().__init__(port, db)
        module = importlib.import_module("redis_session_manager")
        redis = importlib.import_module("redis")
        self._manager_class: Any = module.RedisSessionManager
        self._client: Any = redis.Redis(host=HOST, port=port, db=db, decode_responses=True)

    def repository(self) -> BenchRepository:
        """Return a peer manager (it is its own repository); it creates a small handle session."""
        repository: BenchRepository = self._manager_class("bench-handle", redis_client=self._client)
        return repository

    def session_manager(self, session_id: str) -> RepositorySessionManager:
        """Return the peer manager for ``session_id``."""
        manager: RepositorySessionManager = self._manager_class(session_id, redis_client=self._client)
        return manager

    def close(self) -> None:
        """Release connections."""
        self._client.close()
        super().close()


CONTENDERS: tuple[type[Contender], ...] = (
    FloorContender,
    KVSessionJson,
    KVSessionMsgpack,
    ReferenceContender,
    RedisPeerContender,
)
"""Column order of the report; the position is also the logical database number."""


def make_contenders(port: int, *, peers: bool = True) -> tuple[list[Contender], dict[str, str]]:
    """Build every contender that can run here.

    Returns:
        The contenders, and for each one that cannot run, its key and the reason.
    """
    ready: list[Contender] = []
    missing: dict[str, str] = {}
    for db, kind in enumerate(CONTENDERS):
        if kind in (ReferenceContender, RedisPeerContender) and not peers:
            missing[kind.key] = "disabled (--no-peers)"
            continue
        try:
            ready.append(kind(port, db))
        except ImportError as exc:
            missing[kind.key] = f"not installed ({exc.name}); run `make bench`"
    return ready, missing
