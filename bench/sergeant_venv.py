"""Build (once) the venv holding Sergeant 0.27.0, the baseline every benchmark compares to.

Usage from a benchmark: ``python = sergeant_venv.ensure()`` returns the path of
that venv's python; run the baseline measurement as a subprocess with it.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".cache" / "bench" / "sergeant-0.27.0"
PINS = ["sergeant==0.27.0"]


def ensure() -> Path:
    """Path to the baseline venv's python, creating and filling the venv if needed."""
    python = VENV / "bin" / "python"
    marker = VENV / ".installed"
    if not marker.exists():
        print(f"creating {VENV} with {' '.join(PINS)} ...", file=sys.stderr, flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PINS], check=True)
        marker.write_text("\n".join(PINS) + "\n")
    return python


if __name__ == "__main__":
    print(ensure())
