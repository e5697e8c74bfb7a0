"""The ``kvsession`` command line: run an embedded server, inspect, move and maintain sessions.

Only the command line lives here: click commands, rich output and connection options. The work
is done by the library services of :mod:`kvsession.admin`. One module per command family:
:mod:`~kvsession.cli.serve`, :mod:`~kvsession.cli.inspect` (``sessions``, ``show``, ``rm``),
:mod:`~kvsession.cli.transfer` (``export``, ``import``), :mod:`~kvsession.cli.migrate`,
:mod:`~kvsession.cli.recode`, :mod:`~kvsession.cli.stats`; the group is in
:mod:`~kvsession.cli.app`. See ``docs/cli.md``.

click and rich come with the ``cli`` extra (``pip install 'kvsession[cli]'``). Without them
``main`` prints one line saying so and exits with status 1.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any, NoReturn

__all__ = ["INSTALL_HINT", "main"]

INSTALL_HINT = "pip install 'kvsession[cli]'"
"""How to install what the command line needs."""

_MISSING = [name for name in ("click", "rich") if importlib.util.find_spec(name) is None]

if TYPE_CHECKING or not _MISSING:
    from kvsession.cli.app import main
else:

    def main(*args: Any, **kwargs: Any) -> NoReturn:
        """Say that the command line's dependencies are missing, and exit with status 1."""
        import sys

        sys.stderr.write(
            f"error: the kvsession command line needs {' and '.join(_MISSING)}: {INSTALL_HINT}\n"
        )
        raise SystemExit(1)
