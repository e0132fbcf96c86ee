"""The type hints of evidex and the built-in plugins check cleanly with mypy ([tool.mypy] in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def test_mypy_is_clean(tmp_path):
    # The project's own config from the checkout (files, overrides); a fresh cache keeps the
    # checkout clean and the result independent of earlier runs.
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", str(tmp_path / "mypy-cache")],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, f"mypy exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
