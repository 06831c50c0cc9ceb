"""Every example runs to completion and prints what it promises (Sergeant's
documented API, rewritten: producers, consumers, supervisor, handlers)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[2] / "examples"

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
