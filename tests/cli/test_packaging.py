"""The command line is an extra: the library (``kvsession.admin`` included) runs without click and rich."""

from __future__ import annotations

import subprocess
import sys

import pytest


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("module", ["kvsession", "kvsession.strands", "kvsession.admin"])
def test_library_imports_neither_click_nor_rich(module: str) -> None:
    result = run_python(
        f"import sys, importlib; importlib.import_module({module!r}); import kvsession; "
        "kvsession.KVSessionRepository; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'click', 'rich'}))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "[]\n"


@pytest.mark.parametrize(("blocked", "named"), [(["click", "rich"], "click and rich"), (["rich"], "rich")])
def test_without_the_cli_extra_the_command_says_what_to_install(blocked: list[str], named: str) -> None:
    # A module set to None in sys.modules cannot be found or imported, as if not installed.
    block = "".join(f"sys.modules[{name!r}] = None; " for name in blocked)
    result = run_python(f"import sys; {block}from kvsession.cli import main; main(prog_name='kvsession')")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == f"error: the kvsession command line needs {named}: pip install 'kvsession[cli]'\n"
