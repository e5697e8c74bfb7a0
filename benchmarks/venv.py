"""Create or update the benchmark environment: ``python -m benchmarks.venv [DIR]`` (default ``.venv-bench``).

``make bench`` runs this first. The environment is separate from ``.venv`` because the two
published peers are benchmark-only dependencies, and ``strands-redis-session-manager`` requires
Python >= 3.12 while the project supports 3.10+. The interpreter is ``$BENCH_PYTHON``, else the
oldest 3.12+ among ``python3.12`` / ``python3.13`` on ``PATH`` and pyenv's versions. If there is
none, the current interpreter is used with ``pip install --ignore-requires-python`` (the peer's
code runs on 3.11), and a warning says so.

What gets installed is ``benchmarks/requirements.txt``. Nothing is done when neither that file,
the project's ``pyproject.toml`` files nor the chosen interpreter changed since the last run.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = Path("benchmarks/requirements.txt")
INPUTS = (REQUIREMENTS, Path("pyproject.toml"), Path("backends/valkey/pyproject.toml"))
MINIMUM = (3, 12)


def _version(python: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    major, minor = out.split()
    return int(major), int(minor)


def find_python() -> tuple[str, bool]:
    """Return an interpreter for the environment, and whether it meets the peers' Python >= 3.12.

    ``$BENCH_PYTHON`` wins; otherwise the oldest 3.12+ found (3.12 is what the figures in
    ``docs/performance.md`` were measured with).
    """
    if os.environ.get("BENCH_PYTHON"):
        python = os.environ["BENCH_PYTHON"]
        version = _version(python)
        return python, version is not None and version >= MINIMUM
    candidates = [path for path in map(shutil.which, ("python3.12", "python3.13")) if path]
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/3.1[2-9]*/bin/python3"))
    usable: list[tuple[tuple[int, int], str]] = []
    for python in candidates:
        version = _version(python)
        if version is not None and version >= MINIMUM:
            usable.append((version, python))
    if usable:
        return min(usable)[1], True
    return sys.executable, False


def _fingerprint(python: str) -> str:
    digest = hashlib.sha256(python.encode())
    for path in INPUTS:
        digest.update((ROOT / path).read_bytes())
    return digest.hexdigest()


def ensure(directory: Path) -> Path:
    """Create or update the environment in ``directory``; return its interpreter."""
    directory = directory if directory.is_absolute() else ROOT / directory
    python, recent = find_python()
    venv_python = directory / "bin" / "python"
    stamp = directory / ".bench-installed"
    fingerprint = _fingerprint(python)
    if venv_python.exists() and stamp.exists() and stamp.read_text(encoding="utf-8") == fingerprint:
        print(f"{directory.name}: up to date", file=sys.stderr)
        return venv_python
    if not recent:
        print(
            f"{directory.name}: no Python >= 3.12 found (set BENCH_PYTHON); using {sys.version.split()[0]} "
            "with --ignore-requires-python for strands-redis-session-manager",
            file=sys.stderr,
        )
    print(f"{directory.name}: installing {REQUIREMENTS} with {python}", file=sys.stderr)
    subprocess.run([python, "-m", "venv", "--clear", str(directory)], check=True)
    # A self-ignoring directory: git skips it without an entry in the project's .gitignore.
    (directory / ".gitignore").write_text("*\n", encoding="utf-8")
    pip = [str(venv_python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True, cwd=ROOT)
    extra = [] if recent else ["--ignore-requires-python"]
    subprocess.run([*pip, *extra, "-r", str(REQUIREMENTS)], check=True, cwd=ROOT)
    stamp.write_text(fingerprint, encoding="utf-8")
    return venv_python


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m benchmarks.venv [DIR]``."""
    args = sys.argv[1:] if argv is None else argv
    ensure(Path(args[0] if args else ".venv-bench"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
