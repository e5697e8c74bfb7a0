"""What a third party writes to run kvsession's conformance kit against its backend."""

from typing import Any

import pytest

from kvsession.kv import KeyValueBackend, connect
from kvsession.testing.conformance import KeyValueBackendSuite


@pytest.mark.usefixtures("dictstore_installed")
class TestDictStoreBackend(KeyValueBackendSuite):
    def make_backend(self, **options: Any) -> KeyValueBackend:
        return connect("dictstore://", **options)
