"""Install the example third-party distribution ``kvsession-dictstore`` for these tests.

``pip install`` would put the package on ``sys.path`` and write a ``*.dist-info`` directory whose
``entry_points.txt`` declares the scheme; ``importlib.metadata`` (and so ``kvsession.kv.connect``)
finds the backend through that file alone. This fixture does the same without pip: it writes the
dist-info to a temporary directory and puts it, and this directory (the package), on ``sys.path``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).parent

# What `[project.entry-points."kvsession.backends"]` in the distribution's pyproject.toml becomes.
ENTRY_POINTS = "[kvsession.backends]\ndictstore = kvsession_dictstore:DictStoreBackend\n"


@pytest.fixture(scope="module")
def dictstore_installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """``kvsession-dictstore`` installed for a test module: ``dictstore://`` URLs connect."""
    site = tmp_path_factory.mktemp("site-packages")
    dist_info = site / "kvsession_dictstore-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: kvsession-dictstore\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(ENTRY_POINTS)
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(HERE))
        patch.syspath_prepend(str(site))
        yield
    sys.modules.pop("kvsession_dictstore", None)
