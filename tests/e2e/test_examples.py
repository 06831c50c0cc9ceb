"""Every example runs to completion and prints what it promises (Sergeant's
documented API, rewritten: producers, consumers, supervisor, handlers), and the
README's crawler ends on its own, run as a script and under the supervisor."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples"

EXPECTED = {
    "single_consumer.py": "left in the queue: 0",
    "several_consumers.py": "no more workers to supervise",
    "timeout.py": "a 30s task timed out after 1s",
    "max_retries.py": "dead letter: max_retries (3) exceeded",
    "threads.py": "32 tasks in",
    "delayed_tasks.py": "in two seconds: ran",
    "locks.py": "lock still held: False",
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs(name: str, tmp_path: Path) -> None:
    env = dict(os.environ, SERGEANT_EXAMPLES_DB=str(tmp_path / "examples.sqlite3"))
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert EXPECTED[name] in result.stdout + result.stderr


def test_demo_pushes_and_two_processes_consume_everything(tmp_path: Path) -> None:
    env = dict(os.environ, SERGEANT_DEMO_DB=str(tmp_path / "demo.sqlite3"))
    pushed = subprocess.run(
        [sys.executable, str(EXAMPLES / "demo.py"), "2000"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "pushed 2000 tasks" in pushed.stdout
    result = subprocess.run(
        [sys.executable, "-m", "sergeant", "worker", "demo.py:DemoWorker", "-c", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=EXAMPLES,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # 499, 999, 1499 fail once then succeed; 1999 fails 3 times: 2 retries, then dead
    assert "summary: 2005 tasks" in result.stdout
    assert "done 1999  failed 6  retried 5  dead 1" in result.stdout


def readme_crawler(file_path: Path) -> str:
    """The README's main worker example, verbatim but for its SQLite file."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    (source,) = [block for block in blocks if "class Crawler(" in block]
    assert source.count('"/tmp/q.sqlite3"') == 1
    return source.replace('"/tmp/q.sqlite3"', repr(str(file_path)))


def test_readme_crawler_ends_after_its_ten_tasks(tmp_path: Path) -> None:
    script = tmp_path / "crawler.py"
    script.write_text(readme_crawler(tmp_path / "q.sqlite3"))
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "crawled 10 urls, stopped: True" in result.stdout


def test_readme_crawler_under_the_supervisor_ends_with_its_summary(tmp_path: Path) -> None:
    database = tmp_path / "q.sqlite3"
    (tmp_path / "crawler.py").write_text(readme_crawler(database))
    sergeant_cli = [sys.executable, "-m", "sergeant"]
    pushed = subprocess.run(
        [
            *sergeant_cli,
            *("push", "crawl", "--kwargs", '{"url": "https://example.com"}', "--count", "10"),
            *("--connector", f"local:{database}"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "pushed 10 tasks to 'crawl'" in pushed.stdout
    result = subprocess.run(
        [*sergeant_cli, "worker", "crawler:Crawler", "--concurrency", "4"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "summary: 10 tasks" in result.stdout
