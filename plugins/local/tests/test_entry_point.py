"""``type='local'`` is found through the entry point and pulls in no other backend's driver."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import sergeant

SCRIPT = """
import json, sys
import sergeant
config = sergeant.config.Connector(type='local', params={'file_path': sys.argv[1]})
with sergeant.connect(config) as queue:
    queue.queue_push('emails', b'hello')
    popped = queue.queue_pop('emails')
print(json.dumps({
    'class': type(queue).__module__ + '.' + type(queue).__qualname__,
    'popped': popped.decode(),
    'drivers': sorted(m for m in ('redis', 'pymongo', 'bson') if m in sys.modules),
}))
"""


def test_connect_resolves_local_without_importing_other_drivers(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "db.sqlite3")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(done.stdout) == {
        "class": "sergeant_local.connector.LocalConnector",
        "popped": "hello",
        "drivers": [],
    }


def test_registry_lists_the_distribution() -> None:
    rows = [row for row in sergeant.registry.Registry().discover() if row.type == "local"]
    assert [(r.distribution, r.module, r.status) for r in rows] == [
        ("sergeant-local", "sergeant_local.plugin", "ok")
    ]
