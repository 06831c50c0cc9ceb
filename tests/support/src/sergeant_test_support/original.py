"""Sergeant 0.27.0, the original, installed from PyPI in a venv of its own.

The migration and compatibility suites run scripts under it and under ours and
compare. The venv lives in ``.cache/sergeant-0.27.0`` under the repository root
(``$SERGEANT_REPO_ROOT``) and is built once, on first use, by the ``original``
fixture or by :func:`ensure_original`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

__all__ = ["ORIGINAL_PINS", "OriginalSergeant", "ensure_original", "original"]

ORIGINAL_PINS = ("sergeant==0.27.0",)


def _repo_root() -> Path:
    configured = os.environ.get("SERGEANT_REPO_ROOT")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[4]


class OriginalSergeant:
    """A handle on the venv that holds Sergeant 0.27.0.

    :ivar python: that venv's interpreter.
    """

    def __init__(self, python: Path) -> None:
        self.python = python

    def run(
        self, script: str, *args: str, timeout: float = 120.0, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run ``script`` (Python source) under Sergeant 0.27.0 with ``args`` in ``sys.argv``."""
        result = subprocess.run(
            [str(self.python), "-c", script, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"script under Sergeant 0.27.0 exited {result.returncode}:\n{result.stderr[-4000:]}"
            )
        return result


def ensure_original() -> OriginalSergeant:
    """Build (once) the venv holding Sergeant 0.27.0 and return a handle on it."""
    root = _repo_root() / ".cache" / "sergeant-0.27.0"
    python = root / "bin" / "python"
    marker = root / ".installed"
    wanted = "\n".join(ORIGINAL_PINS) + "\n"
    if not (marker.exists() and marker.read_text() == wanted):
        print(f"creating {root} with {' '.join(ORIGINAL_PINS)} ...", file=sys.stderr, flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(root)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                *ORIGINAL_PINS,
            ],
            check=True,
        )
        marker.write_text(wanted)
    return OriginalSergeant(python)


@pytest.fixture(scope="session")
def original() -> OriginalSergeant:
    """Sergeant 0.27.0 in its own venv (built on first use)."""
    return ensure_original()
