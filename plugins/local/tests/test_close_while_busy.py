"""Closing a connector while another thread is in the middle of a call is safe.

Closing an SQLite connection while another thread runs a statement on it
crashes CPython's sqlite3 module (a segfault, the whole process gone). The
lock freed by a garbage-collected ``Lock`` runs on a background thread, so a
plain ``connector.close()`` could meet it mid-statement. The race is run many
times in a child process: before the fix it died with SIGSEGV within a few
hundred rounds.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

CHILD = textwrap.dedent(
    """
    import os, sys, threading
    import sergeant
    from sergeant.errors import StorageError

    folder = sys.argv[1]
    for i in range(300):
        params = {"file_path": os.path.join(folder, f"{i % 5}.db")}
        connector = sergeant.connect(sergeant.config.Connector(type="local", params=params))
        started = threading.Event()

        def hammer():
            started.set()
            try:
                while True:
                    connector.key_set("k", b"v" * 100)
                    connector.queue_push("q", b"x")
                    connector.queue_pop("q")
            except StorageError:
                pass  # closed: what every later call must say

        thread = threading.Thread(target=hammer)
        thread.start()
        started.wait()
        connector.close()
        thread.join(60)
        assert not thread.is_alive()
    print("survived")
    """
)


def test_close_from_another_thread_waits_for_the_running_statement(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert result.stdout.strip() == "survived"
