"""docs/coming-from-sergeant.md lists exactly the documented differences.

Every topic of ``differences.py`` is a section of the page and no section is
left without one; every restoring setting appears verbatim; and the page's
counts are those of the scenarios and the table, so adding a behaviour or a
difference without updating the page fails here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from differences import TOPICS, expected_difference
from runner import behaviours, comparisons

ROOT = Path(os.environ.get("SERGEANT_REPO_ROOT", Path(__file__).resolve().parents[2]))
PAGE = ROOT / "docs" / "coming-from-sergeant.md"


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_every_topic_is_a_section_and_every_section_a_topic() -> None:
    differences = _section(PAGE.read_text(), "Differences, by topic")
    headings = re.findall(r"^### (.+)$", differences, flags=re.MULTILINE)
    assert sorted(headings) == sorted(topic.title for topic in TOPICS)


def test_every_restoring_setting_is_on_the_page_in_its_section() -> None:
    text = PAGE.read_text()
    differences = _section(text, "Differences, by topic")
    table = _section(text, "Settings that restore Sergeant's behaviour")
    for topic in TOPICS:
        if topic.restore is None:
            continue
        start = differences.index(f"### {topic.title}\n")
        end = differences.find("\n### ", start + 1)
        assert f"`{topic.restore}`" in differences[start:end], topic.title
        assert f"`{topic.restore}`" in table, topic.title


def test_the_counts_on_the_page_are_the_suites() -> None:
    compared = comparisons()
    different = [pair for pair in compared if expected_difference(pair[0].key, pair[1])]
    restored = [
        pair
        for pair in different
        if (difference := expected_difference(pair[0].key, pair[1])) is not None
        and difference.topic.restore_fields
    ]
    sentence = (
        f"**In numbers:** {len(behaviours())} documented behaviours, compared in"
        f" {len(compared)} runs on local, Redis and two Redis nodes:"
        f" {len(compared) - len(different)} equal, {len(different)} deliberately different"
        f" ({len(TOPICS)} topics, below), {len(restored)} of those restored exactly by the"
        " setting given."
    )
    page = " ".join(PAGE.read_text().split())
    assert sentence in page


def test_the_page_points_at_the_upgrade_path() -> None:
    assert "(upgrading-from-sergeant.md)" in PAGE.read_text()
