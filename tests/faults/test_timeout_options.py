"""Timeouts that would make every call fail are refused when the backend is built (defect 8).

``socket_timeout=0`` used to pass validation; valkey-py then timed out every read at once, so
every call failed with ``BackendUnavailable``. A timeout must be above 0 and at most a day;
backoffs and the health-check interval from 0 to a day. Each bad value is a ``ConfigError``
naming the option, from the URL or from a keyword, on the sync and the async backend.
"""

from __future__ import annotations

from typing import Any

import pytest

import kvsession
import kvsession.kv
from kvsession.kv.errors import ConfigError

BAD = [
    ("socket_timeout", "0"),
    ("socket_timeout", "-1"),
    ("socket_timeout", "nan"),
    ("socket_timeout", "inf"),
    ("socket_connect_timeout", "0"),
    ("socket_connect_timeout", "-0.5"),
    ("pool_timeout", "0"),
    ("retry_backoff_base", "-0.1"),
    ("retry_backoff_cap", "inf"),
    ("health_check_interval", "-1"),
    ("socket_timeout", "86401"),
]


@pytest.mark.parametrize(("option", "value"), BAD)
def test_a_timeout_that_fails_every_call_is_a_config_error(option: str, value: str) -> None:
    url = f"valkey://127.0.0.1:1/0?max_connections=2&{option}={value}"
    with pytest.raises(ConfigError, match=option):
        kvsession.connect(url)
    with pytest.raises(ConfigError, match=option):
        kvsession.kv.open_async(url)
    with pytest.raises(ConfigError, match=option):
        kvsession.connect("valkey://127.0.0.1:1/0?max_connections=2", **{option: float(value)})


@pytest.mark.parametrize(
    "options",
    [{"socket_timeout": 0.001}, {"socket_connect_timeout": 86400}, {"health_check_interval": 0}],
)
def test_small_and_large_valid_timeouts_are_accepted(options: dict[str, Any]) -> None:
    kvsession.connect("valkey://127.0.0.1:1/0", **options).close()


def test_a_short_socket_timeout_still_serves_calls(valkey_url: str) -> None:
    backend = kvsession.connect(f"{valkey_url}?socket_timeout=0.05&socket_connect_timeout=0.05")
    try:
        backend.apply([kvsession.kv.SetOp("k", b"v")])
        assert backend.get("k") == b"v"
    finally:
        backend.close()
