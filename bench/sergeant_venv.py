"""Build (once) the venv holding Sergeant 0.27.0, the baseline every benchmark compares to.

Usage from a benchmark: ``python = sergeant_venv.ensure()`` returns the path of
that venv's python; run the baseline measurement as a subprocess with it. It is
Sergeant's plain install (``pip install sergeant==0.27.0``, whatever that brings:
redis-py 4.6 and hiredis among its dependencies); :func:`freeze` lists it, so a
report can say exactly what the baseline ran with.
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


def freeze() -> list[str]:
    """``name==version`` of every distribution in the baseline venv."""
    done = subprocess.run(
        [str(ensure()), "-m", "pip", "freeze", "--all"],
        capture_output=True,
        text=True,
        check=True,
    )
    return [line for line in done.stdout.splitlines() if line and "==" in line]


if __name__ == "__main__":
    print(ensure())
    print("\n".join(freeze()))
