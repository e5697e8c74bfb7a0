"""The conformance kit loads only kvsession.kv and pytest: a third party needs nothing else."""

from __future__ import annotations

import subprocess
import sys

import pytest

import kvsession.testing.conformance as kit


def test_the_kit_imports_no_client_library_nor_strands() -> None:
    code = (
        "import sys, kvsession.testing.conformance\n"
        "print(' '.join(sorted({name.partition('.')[0] for name in sys.modules})))"
    )
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        ).stdout.split()
    )
    assert {"kvsession", "pytest"} <= loaded
    assert not loaded & {
        "strands",
        "valkey",
        "fakeredis",
        "hypothesis",
        "kvsession_valkey",
        "kvsession_fakeredis",
    }


def test_pytest_collects_no_class_of_the_kit_itself() -> None:
    for name in kit.__all__:
        assert not name.startswith("Test"), name


def test_a_suite_without_make_backend_says_what_to_override() -> None:
    class Incomplete(kit.KeyValueBackendSuite):
        pass

    with pytest.raises(NotImplementedError, match="Incomplete must override make_backend"):
        _ = Incomplete().backend


def test_an_async_suite_without_make_async_backend_says_what_to_override() -> None:
    class Incomplete(kit.AsyncKeyValueBackendSuite):
        pass

    with pytest.raises(NotImplementedError, match="Incomplete must override make_async_backend"):
        _ = Incomplete().backend
