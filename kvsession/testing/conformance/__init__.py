"""The backend conformance kit: the tests every :class:`~kvsession.kv.KeyValueBackend` must pass.

The tests are pytest test classes. A backend author subclasses :class:`KeyValueBackendSuite`
in a test module of their own and overrides one method that builds an empty backend::

    from typing import Any

    from kvsession.kv import KeyValueBackend, connect
    from kvsession.testing.conformance import KeyValueBackendSuite


    class TestMyBackend(KeyValueBackendSuite):
        def make_backend(self, **options: Any) -> KeyValueBackend:
            return connect("myscheme://", **options)

Every test below then runs against that backend. An async backend
(:class:`~kvsession.kv.aio.AsyncKeyValueBackend`) subclasses :class:`AsyncKeyValueBackendSuite`
instead and overrides ``make_async_backend``, which returns the async backend: the kit wraps it
in a :class:`~kvsession.testing.BlockingBackend`, so the very same test bodies run, plus the
async-only tests of :class:`AsyncOnlyTests`::

    class TestMyAsyncBackend(AsyncKeyValueBackendSuite):
        def make_async_backend(self, **options: Any) -> AsyncKeyValueBackend:
            return open_async("myscheme://", **options)
 Optional overrides: :meth:`~BackendTestBase.advance`
(let time pass; the default sleeps, a backend with an injectable clock moves a
:class:`FakeClock` instead) and the :class:`ModelTests` knobs. A subset runs by subclassing the
topic classes instead (e.g. ``class TestMine(ValuesTests, BatchTests)``).

Topics:

- :class:`ValuesTests` (:mod:`.values`): byte-exact values, conditional writes, sizes, unicode
  keys, kinds, concurrent creates;
- :class:`IndexTests` (:mod:`.indexes`): ordered and set indexes, ranges by position and prefix;
- :class:`BatchTests` (:mod:`.batch`): atomic batches, every write op, all or nothing;
- :class:`ExpiryTests` (:mod:`.expiry`): ttls, ``expire``, the group ttl refresh;
- :class:`WriteTokenTests` (:mod:`.tokens`): write tokens, which make a re-sent batch safe;
- :class:`ModelTests` (:mod:`.model`): random call sequences compared with the memory backend;
- :class:`AsyncOnlyTests` (:mod:`.aio`): async backends only: cancelled batches, many tasks on
  one loop, typed errors when awaited, fresh event loops.

The kit imports only :mod:`kvsession.kv` and pytest. None of its class names starts with
``Test``, so pytest collects only your subclasses.
"""

import pytest

# Assertions in the kit's modules get pytest's detailed failure messages, as a test module's do.
pytest.register_assert_rewrite(
    *(
        f"kvsession.testing.conformance.{name}"
        for name in ("aio", "batch", "expiry", "indexes", "model", "tokens", "values")
    )
)

from kvsession.testing.conformance.aio import AsyncBackendTestBase, AsyncOnlyTests  # noqa: E402
from kvsession.testing.conformance.batch import BatchTests  # noqa: E402
from kvsession.testing.conformance.expiry import ExpiryTests  # noqa: E402
from kvsession.testing.conformance.harness import BackendTestBase, FakeClock  # noqa: E402
from kvsession.testing.conformance.indexes import IndexTests  # noqa: E402
from kvsession.testing.conformance.model import ModelTests  # noqa: E402
from kvsession.testing.conformance.tokens import WriteTokenTests  # noqa: E402
from kvsession.testing.conformance.values import ValuesTests  # noqa: E402

__all__ = [
    "AsyncBackendTestBase",
    "AsyncKeyValueBackendSuite",
    "AsyncOnlyTests",
    "BackendTestBase",
    "BatchTests",
    "ExpiryTests",
    "FakeClock",
    "IndexTests",
    "KeyValueBackendSuite",
    "ModelTests",
    "ValuesTests",
    "WriteTokenTests",
]


class KeyValueBackendSuite(ValuesTests, IndexTests, BatchTests, WriteTokenTests, ExpiryTests, ModelTests):
    """Every conformance test: subclass it as ``Test...`` and override ``make_backend``.

    See the module documentation for the ten lines it takes, and
    :class:`~kvsession.testing.conformance.harness.BackendTestBase` for what the overrides mean.
    """


class AsyncKeyValueBackendSuite(AsyncOnlyTests, KeyValueBackendSuite):
    """Every conformance test, on an async backend: subclass it, override ``make_async_backend``.

    ``make_async_backend`` returns the :class:`~kvsession.kv.aio.AsyncKeyValueBackend`; the kit drives
    it through a :class:`~kvsession.testing.BlockingBackend` for the shared test bodies (see
    :class:`~kvsession.testing.conformance.aio.AsyncBackendTestBase` for the optional overrides).
    """
