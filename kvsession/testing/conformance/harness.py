"""The base every conformance test class derives from: the backend under test, and time.

A test class of the kit reaches the backend as ``self.backend`` and lets time pass with
``self.advance(seconds)``. Both come from :class:`BackendTestBase`, whose one required override,
:meth:`~BackendTestBase.make_backend`, is all a backend author writes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from kvsession.kv.protocol import KeyValueBackend

__all__ = ["BackendTestBase", "FakeClock"]

# Guards the lazy creation of ``backend``: a test may first touch it from several threads.
_CREATE = threading.RLock()


class FakeClock:
    """A clock that moves only when told to.

    Inject it into a backend that takes a clock (``MemoryBackend(clock=...)``) and override
    :meth:`BackendTestBase.advance` to call :meth:`advance`, so expiry tests take no real time.

    Args:
        start: The time the clock shows first, in seconds.

    Attributes:
        now: The time the clock shows, in seconds.
    """

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        """Return the time the clock shows."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward."""
        self.now += seconds


class BackendTestBase:
    """Gives a conformance test its backend; subclass it through the kit's test classes.

    Pytest makes a new instance of the class for every test. The first use of :attr:`backend`
    in a test calls :meth:`make_backend`; every backend made during a test is closed after it.

    Override:
        make_backend: Required. Return a new, empty backend.
        advance: Optional. Let time pass for the backend (default: :func:`time.sleep`).

    A backend that needs a pytest fixture (a server, a temporary directory) gets it from an
    autouse fixture declared in the subclass, which stores what it needs on ``self``: fixtures
    run before the test body, and so before :meth:`make_backend` is first called.
    """

    def make_backend(self, **options: Any) -> KeyValueBackend:
        """Return a new backend, empty, that the calling test may use alone.

        Called once per test for :attr:`backend`, and again by tests that need a second backend
        with other options (then, before the test wrote anything). Two backends made in one test
        may share their data or not; the kit assumes neither.

        Args:
            **options: Backend options, as a ``connect(url, **options)`` keyword would take
                them. The kit passes ``max_value_bytes`` (the largest value ``set`` accepts).

        Returns:
            The backend to test. The kit closes it after the test.
        """
        raise NotImplementedError(f"{type(self).__name__} must override make_backend()")

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass for the backend under test.

        The default sleeps. A backend with an injectable clock can move a :class:`FakeClock`
        instead, so the expiry tests run instantly.
        """
        time.sleep(seconds)

    @property
    def backend(self) -> KeyValueBackend:
        """The backend under test, made by :meth:`make_backend` on first use in a test."""
        with _CREATE:
            made: KeyValueBackend | None = self.__dict__.get("_kit_backend")
            if made is None:
                made = self.another()
                self.__dict__["_kit_backend"] = made
            return made

    def another(self, **options: Any) -> KeyValueBackend:
        """Make one more backend with these options, closed after the test like :attr:`backend`."""
        made = self.make_backend(**options)
        opened: list[KeyValueBackend] = self.__dict__.setdefault("_kit_opened", [])
        opened.append(made)
        return made

    @pytest.fixture(autouse=True)
    def _kit_close_backends(self) -> Iterator[None]:
        """Close, after each test, every backend the test made."""
        yield
        opened: list[KeyValueBackend] = self.__dict__.pop("_kit_opened", [])
        self.__dict__.pop("_kit_backend", None)
        for made in reversed(opened):
            made.close()
