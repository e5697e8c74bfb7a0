"""Test utilities that ship with kvsession.

- :class:`CountingBackend` / :class:`AsyncCountingBackend`: count round trips through any backend.
- :class:`BlockingBackend`: the sync face of an async backend (each call awaited on a private loop).
- The backend conformance kit (:mod:`kvsession.testing.conformance`): the tests every backend
  must pass. A third-party backend runs it by subclassing one class and overriding one method;
  see ``docs/backends.md``.
"""

from kvsession.testing.blocking import BlockingBackend
from kvsession.testing.counting import AsyncCountingBackend, CountingBackend

__all__ = ["AsyncCountingBackend", "BlockingBackend", "CountingBackend"]
