"""A plain install parses replies in C (hiredis), works without it, and ``sergeant plugins``
says which parser is in use."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import redis.connection
from packaging.requirements import Requirement
from sergeant_test_support.redis_fixtures import RedisServer

WITHOUT_HIREDIS = textwrap.dedent(
    """
    import contextlib, io, json, sys
    sys.modules["hiredis"] = None  # as on a platform with no hiredis wheel
    import redis.connection
    import sergeant
    from sergeant.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["plugins", "--json"])
    rows = {row["type"]: row for row in json.loads(out.getvalue())}
    connector = sergeant.connect(
        sergeant.config.Connector(type="redis", params={"nodes": [json.loads(sys.argv[1])]})
    )
    queue = "no-hiredis-" + sys.argv[2]
    connector.queue_push_bulk(queue, [b"a", b"b", b"c"])
    batch = connector.queue_reserve(queue, 2, 60)
    acked = connector.queue_ack(queue, [d.receipt for d in batch])
    popped = connector.queue_pop(queue)
    connector.close()
    print(json.dumps({
        "code": code,
        "notes": rows["redis"]["notes"],
        "status": rows["redis"]["status"],
        "parser": redis.connection.DefaultParser.__name__,
        "reserved": [d.item.decode() for d in batch],
        "acked": acked,
        "popped": popped.decode(),
    }))
    """
)


def test_a_plain_install_requires_hiredis_and_redis_py_uses_it() -> None:
    required = [Requirement(line) for line in metadata.requires("sergeant-redis") or []]
    [hiredis] = [r for r in required if r.name == "hiredis"]
    assert hiredis.marker is None, "hiredis is a dependency, not an extra"
    assert hiredis.specifier.contains(metadata.version("hiredis"))
    assert redis.connection.DefaultParser.__name__ == "_HiredisParser"


def test_sergeant_plugins_says_the_c_parser_is_in_use() -> None:
    script = shutil.which("sergeant", path=str(Path(sys.executable).parent))
    assert script, "the sergeant console script is installed with the core distribution"
    done = subprocess.run(
        [script, "plugins", "--json"], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    row = next(r for r in json.loads(done.stdout) if r["type"] == "redis")
    assert row["status"] == "ok"
    assert row["notes"] == [
        f"reply parser: hiredis {metadata.version('hiredis')} (C, _HiredisParser)"
    ]
    table = subprocess.run(
        [script, "plugins"], capture_output=True, text=True, check=False, timeout=120
    ).stdout.splitlines()
    redis_row = next(i for i, line in enumerate(table) if line.startswith("redis "))
    assert table[redis_row + 1].strip() == row["notes"][0]


def test_without_hiredis_the_plugin_works_on_the_python_parser_and_says_so(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_HIREDIS, json.dumps(redis_server.node()), tmp_path.name],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == 0
    assert result["status"] == "ok"
    assert result["parser"] != "_HiredisParser"
    [note] = result["notes"]
    assert note.startswith(f"reply parser: Python ({result['parser']}; hiredis cannot be imported")
    assert result["reserved"] == ["a", "b"]
    assert result["acked"] == 2
    assert result["popped"] == "c"
