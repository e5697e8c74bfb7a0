"""Test utilities that ship with kvsession.

- :class:`CountingBackend`: counts round trips through any backend.
- The backend conformance kit (:mod:`kvsession.testing.conformance`): the tests every backend
  must pass. A third-party backend runs it by subclassing one class and overriding one method;
  see ``docs/backends.md``.
"""

from kvsession.testing.counting import CountingBackend

__all__ = ["CountingBackend"]
