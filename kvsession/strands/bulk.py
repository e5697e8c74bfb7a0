"""Bulk writes, for tools (``kvsession import``, ``migrate``): records stored as given.

The ``put_*`` methods store records *as given* (timestamps kept) with every index the
``create_*`` methods maintain, many records per atomic batch. They never clear leftovers, and
only :meth:`BulkWrites.put_session` adds the session to the sessions index, so a tool writes a
session's agents, messages and multi-agent states first and its root last: until the root exists
the session does not exist (the restore rule), so a half-done import stays invisible and is
redone from scratch by the next run. ``replace=True`` overwrites whatever the key holds, of any
kind, in the same atomic step (used to rewrite another package's records in place); otherwise an
existing record fails the whole batch.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from strands.types.session import Session as StrandsSession
from strands.types.session import SessionAgent, SessionMessage

from kvsession.orm.store_base import WriteMode
from kvsession.strands.errors import SessionExistsError
from kvsession.strands.models import AGENT, MESSAGE, MULTI_AGENT, SESSION
from kvsession.strands.records import Session
from kvsession.strands.writes import SessionWrites

__all__ = ["BulkWrites"]


def _epoch(iso: str) -> float:
    """Seconds since the epoch of an ISO-8601 time (naive means UTC); now if it cannot be parsed."""
    try:
        moment = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return time.time()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _mode(replace: bool) -> WriteMode:
    return "replace" if replace else "create"


class BulkWrites(SessionWrites):
    """The ``put_*`` methods of the repository (see the module docstring)."""

    def put_session(self, session: StrandsSession, *, replace: bool = False) -> None:
        """Write a session record as given; its ``updated_at`` becomes the sessions-index score.

        Unlike ``create_session`` it neither clears leftover keys nor moves ``updated_at``.
        Write the root last (see the module docstring). With a ttl, the whole session is
        re-expired together with the root, so the root does not outlive its records.

        Args:
            session: The record (a kvsession ``Session`` keeps its ``metadata``).
            replace: Overwrite an existing value under the root key instead of failing.

        Raises:
            SessionExistsError: ``replace`` is false and the root exists; nothing was written.
        """
        root = self._root(session.session_id)
        session_id = session.session_id
        record = session if isinstance(session, Session) else Session.from_strands(session)
        batch = self.store.batch()
        # The root gets a fresh expiry: re-expire the whole group with it, due or not.
        self.store.write(batch, SESSION, [(record, {})], mode=_mode(replace), force_refresh=True)
        # A session put in place of another is another incarnation: a worker still holding the
        # one it replaced must not write into it (its writes require the old incarnation).
        batch.delete(self.incarnation_key(session_id))
        self._run(
            self._plan_commit(
                batch,
                session_id,
                lambda key: SessionExistsError(session_id, root) if key == root else None,
                now=_epoch(session.updated_at),
                register=True,
            )
        )

    def put_agents(self, session_id: str, agents: Sequence[SessionAgent], *, replace: bool = False) -> None:
        """Write agent records as given, with the agents index, in one atomic batch.

        Raises:
            SessionRecordExistsError: ``replace`` is false and one of the agents exists;
                nothing was written.
        """
        self._root(session_id)
        if not agents:
            return
        batch = self.store.batch()
        keys = self.store.write(
            batch, AGENT, [(agent, {"session_id": session_id}) for agent in agents], mode=_mode(replace)
        )
        names = {
            key: f"session_id=<{session_id}>, agent_id=<{agent.agent_id}>"
            for key, agent in zip(keys, agents, strict=True)
        }
        self._run(self._plan_commit(batch, session_id, self._exists(names, "agent"), updated=False))
        for agent in agents:
            self._remember_agent(session_id, agent.agent_id, agent.created_at)

    def put_messages(
        self, session_id: str, agent_id: str, messages: Sequence[SessionMessage], *, replace: bool = False
    ) -> None:
        """Write many message records as given, with the message index, in one atomic batch.

        Raises:
            MessageExistsError: ``replace`` is false and one of the messages exists; nothing
                was written.
        """
        self._root(session_id)
        fields = {"session_id": session_id, "agent_id": agent_id}
        self.store.key(AGENT, **fields)  # validates agent_id even for an empty list
        if not messages:
            return
        batch = self.store.batch()
        keys = self.store.write(
            batch, MESSAGE, [(message, fields) for message in messages], mode=_mode(replace)
        )
        ids = {key: message.message_id for key, message in zip(keys, messages, strict=True)}
        self._run(
            self._plan_commit(
                batch, session_id, self._message_exists(session_id, agent_id, ids), updated=False
            )
        )

    def put_multi_agent_state(
        self, session_id: str, multi_agent_id: str, state: dict[str, Any], *, replace: bool = False
    ) -> None:
        """Write a multi-agent state dict as given, with the multi-agents index.

        Raises:
            SessionRecordExistsError: ``replace`` is false and the state exists; nothing was written.
        """
        self._root(session_id)
        batch = self.store.batch()
        fields = {"session_id": session_id, "multi_agent_id": multi_agent_id}
        [key] = self.store.write(batch, MULTI_AGENT, [(state, fields)], mode=_mode(replace))
        names = {key: f"session_id=<{session_id}>, multi_agent_id=<{multi_agent_id}>"}
        self._run(
            self._plan_commit(batch, session_id, self._exists(names, "multi-agent state"), updated=False)
        )
