"""What a third party writes to run the async conformance kit against its backend's async twin."""

from typing import Any

import pytest

from kvsession.kv import AsyncKeyValueBackend, open_async
from kvsession.testing.conformance import AsyncKeyValueBackendSuite


@pytest.mark.usefixtures("dictstore_installed")
class TestAsyncDictStoreBackend(AsyncKeyValueBackendSuite):
    def make_async_backend(self, **options: Any) -> AsyncKeyValueBackend:
        return open_async("dictstore://", **options)
