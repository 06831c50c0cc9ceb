"""Careless output and input of ``sergeant push``: stdout on a full disk ends in
one line, and ``--file`` reads a line at most ``push.MAX_LINE`` characters long:
a file with no newline (``/dev/zero``, a binary dump) is refused in one line
instead of being read into memory whole (a MemoryError traceback, or the OOM killer)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sergeant.cli import main, push


def test_a_line_past_the_bound_is_refused_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(push, "MAX_LINE", 1000, raising=False)
    lines = tmp_path / "tasks.jsonl"
    lines.write_text('{"n": 1}\n' + "\0" * 5000)
    spec = f"local:{tmp_path / 'queue.sqlite3'}"
    assert main(["push", "q", "--file", str(lines), "--connector", spec]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{lines} line 2" in err
    assert "is over 1,000 characters" in err
    assert "\\x00" in err, "the value shown is escaped"
    lines.write_text('{"n": 1}\n{"n": "%s"}\n' % ("x" * 900))
    assert main(["push", "q", "--file", str(lines), "--connector", spec, "--json"]) == 0
    assert '"pushed": 2' in capsys.readouterr().out


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("args", [["push", "q"], ["stats"], ["stats", "--json"]])
def test_output_on_a_full_disk_is_a_one_line_error(tmp_path: Path, args: list[str]) -> None:
    """``sergeant push q > out.txt`` on a full disk: the tasks are pushed, then the
    summary cannot be written; that used to end in a traceback."""
    spec = f"local:{tmp_path / 'queue.sqlite3'}"
    # stdout block-buffered, as in a redirect: the write fails only when flushed
    env = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "-m", "sergeant", *args, "--connector", spec],
            env=env,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert result.stderr == "sergeant: error: [Errno 28] No space left on device\n"
    assert result.returncode == 1
