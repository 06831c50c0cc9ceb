"""Sum the JUnit reports of every tox env into one closing line: 'N passed, N failed, N skipped'.

Exits non-zero when no test ran or any failed, so a run that tests nothing is never green.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def main(folder: str) -> int:
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for report in sorted(Path(folder).glob("*.xml")):
        # Our own pytest wrote these reports: not untrusted XML.
        for suite in ET.parse(report).getroot().iter("testsuite"):  # noqa: S314
            counts = {key: int(suite.get(key, 0)) for key in totals}
            for key, value in counts.items():
                totals[key] += value
            passed = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
            bad = counts["failures"] + counts["errors"]
            skipped = counts["skipped"]
            print(f"  {report.stem:<12} {passed:>5} passed {bad:>3} failed {skipped:>3} skipped")
    failed = totals["failures"] + totals["errors"]
    passed = totals["tests"] - failed - totals["skipped"]
    print(f"total: {passed} passed, {failed} failed, {totals['skipped']} skipped")
    return 0 if totals["tests"] and not failed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ".cache/junit"))
