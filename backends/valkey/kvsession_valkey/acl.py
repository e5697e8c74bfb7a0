"""The least privilege a kvsession deployment needs on Valkey: key patterns and commands.

One list, used by the docs (docs/security.md shows :func:`acl_setuser` verbatim) and by the
tests that run every API and CLI path as a user restricted to it, standalone and on a cluster.
The commands are grouped by who sends them; the batch script's own commands must be granted
too, since Valkey checks a script's ``redis.call`` against the caller's ACL.
"""

from __future__ import annotations

__all__ = ["COMMANDS", "acl_rules", "acl_setuser", "key_patterns"]

COMMANDS: dict[str, tuple[str, ...]] = {
    "reads": (
        "get",
        "mget",
        "exists",
        "zrange",
        "zrangebylex",
        "zscore",
        "zcard",
        "smembers",
        "scard",
        "pttl",
    ),
    "writes outside scripts": ("set", "del", "zadd", "zrem", "sadd", "srem", "pexpire"),
    "scripts (EVAL once per server, when the script is not cached yet)": ("evalsha", "eval"),
    "inside the scripts": ("type", "touch", "setrange"),
    "on connect (valkey-py)": ("client|setname", "client|setinfo"),
    "with a db other than 0": ("select",),
    "with health_check_interval": ("ping",),
    "with wait_replicas": ("wait",),
    "cluster clients (topology, replica reads)": (
        "cluster|slots",
        "cluster|shards",
        "cluster|nodes",
        "readonly",
        "command",
    ),
    "kvsession stats": ("memory|usage",),
}
"""Every command kvsession sends (or its scripts call), by who needs it.

``AUTH`` and ``HELLO`` need no grant (every user may run them). Probed by dropping each command
in turn and running the whole workload (tests/acl): the unconditional groups are all needed.
"""


def key_patterns(prefix: str = "", *, storage_prefix: str | None = None) -> list[str]:
    """Return the ACL key patterns of a store: ``~app:*`` with a prefix, else the default layout's.

    Without a prefix: the sessions' keys (``session:...``), the sessions index and its cluster
    buckets (``sessions``, ``sessions:{tag}``, ``sessions:buckets:{shard}``). ``storage_prefix``: also
    the keys of a :class:`~kvsession.storage.ValkeyStorage` with that ``prefix``
    (``strands`` by default there).
    """
    patterns = [f"~{prefix}:*"] if prefix else ["~session:*", "~sessions", "~sessions:*"]
    if storage_prefix is not None:
        patterns.append(f"~{storage_prefix}:*")
    return patterns


def acl_rules(prefix: str = "", *, storage_prefix: str | None = None) -> list[str]:
    """Return the ``ACL SETUSER`` rules (after the user name and password) of a store's user."""
    commands = [f"+{command}" for group in COMMANDS.values() for command in group]
    patterns = key_patterns(prefix, storage_prefix=storage_prefix)
    return ["resetkeys", "resetchannels", *patterns, "-@all", *commands]


def acl_setuser(user: str = "kvsession", prefix: str = "", *, storage_prefix: str | None = None) -> str:
    """Return the ``ACL SETUSER`` line for ``user`` (password left as ``>…``), for docs and tools."""
    rules = acl_rules(prefix, storage_prefix=storage_prefix)
    return " ".join(["ACL SETUSER", user, "on", ">…", *rules])
