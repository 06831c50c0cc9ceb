"""Render ``docs/reliability.md`` from the outcomes the reliability suite recorded.

Run by ``scripts/reliability`` after the suite; by hand:
``python tests/reliability/render.py [--results DIR] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from reliability_report import results_dir  # noqa: E402

HEADER = """# Reliability

What sergeant survives, with numbers. Every row is a scenario of the
reliability suite (`tests/reliability/`), run against real servers and real
processes: the suite injects the faults, then checks its invariants and records
its counts. Regenerate this page with one command:

```sh
scripts/reliability          # runs the suite (tox env `reliability`), then rewrites this page
```

CI runs the same suite (short variants, a few minutes in all); longer soak
variants run by hand with `SERGEANT_TEST_SOAK=1 scripts/reliability`.

"""


def _number(row: dict[str, object]) -> tuple[int, str]:
    match = re.match(r"\s*(\d+)", str(row["scenario"]))
    return (int(match.group(1)) if match else 99, str(row["backend"]))


def _cell(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def render(rows: list[dict[str, object]], conditions: str = "") -> str:
    """The whole page for ``rows`` (outcomes as dicts); ``conditions`` says how the
    machine was loaded during the run, if it was."""
    rows = sorted(rows, key=_number)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        HEADER,
        f"Last run: {stamp}, on {platform.node() or 'this machine'} "
        f"({platform.machine()}, Python {platform.python_version()})"
        + (f"; {conditions}." if conditions else "."),
        "",
        "| scenario | backend | load | faults injected | tasks lost | duplicates | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            "| "
            + " | ".join(
                _cell(row[key])
                for key in ("scenario", "backend", "load", "faults", "lost", "duplicates")
            )
            + f" | **{row['verdict']}** |"
        )
    lines += ["", "## Details", ""]
    for row in rows:
        if row.get("details"):
            lines.append(f"- **{row['scenario']}, {row['backend']}**: {row['details']}")
    passed = sum(1 for row in rows if row["verdict"] == "pass")
    lines += ["", f"{passed} of {len(rows)} scenario runs passed.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=Path, default=results_dir())
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "reliability.md")
    parser.add_argument(
        "--conditions", default="", help="how the machine was loaded, e.g. 'both cores busy'"
    )
    args = parser.parse_args(argv)
    rows = [json.loads(p.read_text()) for p in sorted(args.results.glob("*.json"))]
    if not rows:
        print(f"no outcomes in {args.results}: run the reliability suite first", file=sys.stderr)
        return 1
    args.out.write_text(render(rows, args.conditions))
    print(f"wrote {args.out} ({len(rows)} scenario runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
