"""Library services for looking after a store of Strands sessions; the command line's engine.

Everything here works through :class:`~kvsession.strands.repository.KVSessionRepository` and
the orm (``repo.store``, ``repo.codec``, the models of :mod:`kvsession.strands.models`,
``repo.keys``); where a service needs the backend itself (paging an index, server memory) it
uses ``repo.backend`` through the protocol and the optional abilities of
:mod:`kvsession.kv.capabilities`, each checked once with ``isinstance``. Nothing prints or
imports a terminal library, so the services can run in a job, a notebook or a web handler.

- :mod:`~kvsession.admin.layout`: which keys a session owns and what each holds;
- :mod:`~kvsession.admin.sessions`: listing and summarising sessions, a session's keys;
- :mod:`~kvsession.admin.loader`: writing one session root last (safe to interrupt);
- :mod:`~kvsession.admin.transfer`: the JSON-lines export format, export and import;
- :mod:`~kvsession.admin.directory`: importing a Strands ``FileSessionManager`` directory;
- :mod:`~kvsession.admin.reference`: migrating strands-valkey-session-manager's records;
- :mod:`~kvsession.admin.recode`: rewriting records in another codec, online;
- :mod:`~kvsession.admin.stats`: keys, memory and codec mix;
- :mod:`~kvsession.admin.conditional`: compare-and-set writes, with a fallback.
"""

from kvsession.admin.conditional import ConditionalWriter, compare_and_set
from kvsession.admin.directory import (
    DirEntry,
    DirSession,
    load_directory_session,
    plan_directory,
    read_directory,
)
from kvsession.admin.errors import SourceError
from kvsession.admin.layout import SessionLayout, all_session_ids, message_key_pages, session_layout
from kvsession.admin.loader import SessionWriter
from kvsession.admin.recode import RecodeCounts, Recoder
from kvsession.admin.reference import ReferencePlan, apply_reference_session, plan_reference, raw_client
from kvsession.admin.sessions import (
    KeyRow,
    SessionSummary,
    clear_leftovers,
    iter_sessions,
    key_rows,
    summarize,
)
from kvsession.admin.stats import SessionStats, StatsCollector, StoreStats
from kvsession.admin.times import parse_time
from kvsession.admin.transfer import export_session, import_lines, read_lines, validate_file

__all__ = [
    "ConditionalWriter",
    "DirEntry",
    "DirSession",
    "KeyRow",
    "RecodeCounts",
    "Recoder",
    "ReferencePlan",
    "SessionLayout",
    "SessionStats",
    "SessionSummary",
    "SessionWriter",
    "SourceError",
    "StatsCollector",
    "StoreStats",
    "all_session_ids",
    "apply_reference_session",
    "clear_leftovers",
    "compare_and_set",
    "export_session",
    "import_lines",
    "iter_sessions",
    "key_rows",
    "load_directory_session",
    "message_key_pages",
    "parse_time",
    "plan_directory",
    "plan_reference",
    "raw_client",
    "read_directory",
    "read_lines",
    "session_layout",
    "summarize",
    "validate_file",
]
