"""Durable writes (``wait_replicas``): a write and its ``WAIT``, on one connection, in one round trip.

``WAIT n timeout`` blocks until ``n`` replicas acknowledged every write made *on the same
connection* before it, or the timeout passes, and answers how many did. So the write (the
batch script's ``EVALSHA``) and its ``WAIT`` go down one connection as a non-transactional
pipeline, one round trip: on a standalone server a pipeline of the client's pool; on a cluster
a pipeline of the pool of the node that serves the write's slot (its primary), found from the
write's first key, following ``MOVED`` / ``ASK`` as valkey-py does (at most 16 hops). A failed
attempt is sent again under the client's :class:`~kvsession_valkey.clients.RetryPolicy`;
re-sending a batch that was applied is safe when it carries a write token (it is then
recognised as applied and not written twice). One caveat of that case: the re-sent script
writes nothing, so its ``WAIT`` covers only what this connection wrote, and may count
replicas that have not yet received the earlier attempt's write.

The shells call :func:`send_durable` / :func:`send_durable_async` for a
:class:`~kvsession_valkey.sansio.Command` whose ``wait`` is set; the plan gets back
``(script reply, replicas that confirmed)`` and judges both.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import valkey.asyncio.cluster
import valkey.cluster
from valkey.client import NEVER_DECODE
from valkey.exceptions import AskError, ClusterError, MovedError

from kvsession_valkey.clients import RetryPolicy
from kvsession_valkey.cluster import ClusterClient
from kvsession_valkey.failures import SERVER_ERRORS, is_transient
from kvsession_valkey.sansio import Command, Reply

__all__ = ["send_durable", "send_durable_async"]

_HOPS = 16  # valkey-py's ValkeyClusterRequestTTL: redirections followed per attempt
_UNDECODED = {NEVER_DECODE: True}


def _wait_args(command: Command) -> tuple[str, int, int]:
    assert command.wait is not None  # the shells call this module only for such commands
    replicas, timeout_ms = command.wait
    return ("WAIT", replicas, timeout_ms)


def _first_key(command: Command) -> Any:
    # EVALSHA sha numkeys key ...: the slot of a batch (its keys share one hash tag).
    return command.args[3]


def _settled(script: Reply, confirmed: Reply) -> tuple[Reply, int]:
    """Return the plan's ``(script reply, confirmed replicas)``; a failed script raises its error."""
    if isinstance(script, Exception):
        raise script
    if isinstance(confirmed, Exception):
        raise confirmed
    return script, int(confirmed)


# -- blocking ---------------------------------------------------------------------------------


def send_durable(client: Any, command: Command, policy: RetryPolicy) -> tuple[Reply, int]:
    """Send ``command`` and ``WAIT`` in one round trip; return the script's reply and the count.

    Args:
        client: A ``valkey.Valkey``, a ``valkey.cluster.ValkeyCluster`` or a
            :class:`~kvsession_valkey.cluster.ClusterClient`.
        command: The write, with ``wait`` = ``(replicas, timeout_ms)``.
        policy: Retries of the whole attempt.

    Raises:
        ValkeyError: What the write (or the ``WAIT``) failed with, once the retries are spent.
    """
    failures = 0
    while True:
        try:
            if isinstance(client, ClusterClient):
                return _cluster_attempt(client.get(), command)
            if isinstance(client, valkey.cluster.ValkeyCluster):
                return _cluster_attempt(client, command)
            pipe = client.pipeline(transaction=False)
            pipe.execute_command(*command.args, **_UNDECODED)
            pipe.execute_command(*_wait_args(command))
            script, confirmed = pipe.execute(raise_on_error=False)
            return _settled(script, confirmed)
        except SERVER_ERRORS as error:
            failures += 1
            delay = policy.delay(error, failures)
            if delay is None:
                raise
            time.sleep(delay)


def _cluster_attempt(cluster: valkey.cluster.ValkeyCluster, command: Command) -> tuple[Reply, int]:
    slot = cluster.keyslot(_first_key(command))  # type: ignore[no-untyped-call]
    node = cluster.nodes_manager.get_node_from_slot(slot)  # type: ignore[no-untyped-call]
    asking = False
    for _ in range(_HOPS):
        pipe = cluster.get_valkey_connection(node).pipeline(transaction=False)  # type: ignore[no-untyped-call]
        if asking:
            pipe.execute_command("ASKING")
        pipe.execute_command(*command.args, **_UNDECODED)
        pipe.execute_command(*_wait_args(command))
        try:
            *_, script, confirmed = pipe.execute(raise_on_error=False)
        except SERVER_ERRORS as error:
            _refresh(cluster, error)
            raise
        asking = False
        if isinstance(script, MovedError):
            # valkey-py's own remedy: patch the slot's owner from the redirection, then retry.
            cluster.nodes_manager.update_moved_exception(script)  # type: ignore[no-untyped-call]
            node = cluster.nodes_manager.get_node_from_slot(slot)  # type: ignore[no-untyped-call]
        elif isinstance(script, AskError):
            node = cluster.get_node(host=script.host, port=script.port)  # type: ignore[no-untyped-call]
            if node is None:
                _refresh(cluster, script)
                raise script
            asking = True
        else:
            if isinstance(script, Exception):
                _refresh(cluster, script)
            return _settled(script, confirmed)
    raise ClusterError("TTL exhausted.")


def _refresh(cluster: valkey.cluster.ValkeyCluster, error: BaseException) -> None:
    """After a transient failure, learn the topology again so the next attempt finds the new primary."""
    if not is_transient(error):
        return
    # A refresh that fails now leaves the next attempt to fail (and be judged) on its own.
    with contextlib.suppress(*SERVER_ERRORS):
        cluster.nodes_manager.initialize()  # type: ignore[no-untyped-call]


# -- awaiting ---------------------------------------------------------------------------------


async def send_durable_async(client: Any, command: Command, policy: RetryPolicy) -> tuple[Reply, int]:
    """Await a write and its ``WAIT``: :func:`send_durable`'s async twin.

    ``client``: a ``valkey.asyncio.Valkey`` or ``valkey.asyncio.cluster.ValkeyCluster``.
    """
    failures = 0
    while True:
        try:
            if isinstance(client, valkey.asyncio.cluster.ValkeyCluster):
                return await _async_cluster_attempt(client, command)
            pipe = client.pipeline(transaction=False)
            pipe.execute_command(*command.args, **_UNDECODED)
            pipe.execute_command(*_wait_args(command))
            script, confirmed = await pipe.execute(raise_on_error=False)
            return _settled(script, confirmed)
        except SERVER_ERRORS as error:
            failures += 1
            delay = policy.delay(error, failures)
            if delay is None:
                raise
            await asyncio.sleep(delay)


async def _async_cluster_attempt(
    cluster: valkey.asyncio.cluster.ValkeyCluster, command: Command
) -> tuple[Reply, int]:
    await cluster.initialize()
    node = cluster.get_node_from_key(_first_key(command))
    asking = False
    for _ in range(_HOPS):
        if node is None:
            break
        commands = [valkey.asyncio.cluster.PipelineCommand(0, "ASKING")] if asking else []
        commands += [
            valkey.asyncio.cluster.PipelineCommand(len(commands), *command.args, **_UNDECODED),
            valkey.asyncio.cluster.PipelineCommand(len(commands) + 1, *_wait_args(command)),
        ]
        try:
            await node.execute_pipeline(commands)
        except SERVER_ERRORS as error:
            await _refresh_async(cluster, error)
            raise
        script, confirmed = commands[-2].result, commands[-1].result
        asking = False
        if isinstance(script, MovedError):
            await _refresh_async(cluster, script)
            node = cluster.get_node_from_key(_first_key(command))
        elif isinstance(script, AskError):
            node = cluster.get_node(host=script.host, port=script.port)
            asking = True
        else:
            if isinstance(script, Exception):
                await _refresh_async(cluster, script)
            return _settled(script, confirmed)
    raise ClusterError("TTL exhausted.")


async def _refresh_async(cluster: valkey.asyncio.cluster.ValkeyCluster, error: BaseException) -> None:
    if not is_transient(error):
        return
    with contextlib.suppress(*SERVER_ERRORS):
        await cluster.nodes_manager.initialize()
