"""The CLI's connector urls, read by the installed local, redis and mongo plugins.

Every spelling the CLI took before plugins read urls gives the same config
(``redis://`` and ``rediss://`` in any case, ``mongodb://`` and ``mongodb+srv://``,
``local:PATH``, ``TYPE:`` as the bare type), and the ones it refused are still
refused, now naming the forms the installed plugins read with the password
hidden. A url then works end to end: push and stats through ``local:PATH``,
a real redis-server's ``redis://`` url and a mongo server's ``mongodb://`` url.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from sergeant.cli import build_parser, main
from sergeant.cli._connector_option import connector_from_args
from sergeant.config import Connector
from sergeant.errors import ConfigError
from sergeant_test_support.mongo_fixtures import MongoServer
from sergeant_test_support.redis_fixtures import RedisServer

PASSWORD = "hunter2QzjX"


def parsed(spec: str) -> Connector:
    return connector_from_args(build_parser().parse_args(["stats", "q", "--connector", spec]))


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            "redis://127.0.0.1:6379/0",
            Connector(type="redis", params={"nodes": ["redis://127.0.0.1:6379/0"]}),
        ),
        ("REDIS://h:1", Connector(type="redis", params={"nodes": ["REDIS://h:1"]})),
        ("rediss://h:1/2", Connector(type="redis", params={"nodes": ["rediss://h:1/2"]})),
        (
            "mongodb://h:27017",
            Connector(type="mongo", params={"nodes": [{"uri": "mongodb://h:27017"}]}),
        ),
        (
            "mongodb+srv://cluster.example.org/db",
            Connector(
                type="mongo", params={"nodes": [{"uri": "mongodb+srv://cluster.example.org/db"}]}
            ),
        ),
        ("local:/tmp/q.sqlite3", Connector(type="local", params={"file_path": "/tmp/q.sqlite3"})),
        ("local:relative.db", Connector(type="local", params={"file_path": "relative.db"})),
        ("local:", Connector(type="local", params={})),
        ("redis:", Connector(type="redis", params={})),
    ],
)
def test_urls_and_local_paths_still_parse_as_before(spec: str, expected: Connector) -> None:
    assert parsed(spec) == expected


@pytest.mark.parametrize(
    ("spec", "shown", "reader"),
    [
        (f"redis:/:{PASSWORD}@localhost", "'redis:/***@localhost'", "reads redis: urls as"),
        (f"mongodb:/u:{PASSWORD}@h", "'mongodb:/***@h'", "reads mongodb: urls as"),
        ("LOCAL:/tmp/q.sqlite3", "'LOCAL:/tmp/q.sqlite3'", "reads local: urls as local:PATH"),
        (f"nosuch://u:{PASSWORD}@h", "'nosuch://***@h'", "no installed plugin reads nosuch: urls"),
        (f"user:{PASSWORD}@h", "'user:***@h'", "no installed plugin reads user: urls"),
    ],
)
def test_what_was_refused_is_refused_naming_the_forms(spec: str, shown: str, reader: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parsed(spec)
    message = str(caught.value)
    assert message.startswith(f"invalid --connector: {shown}; ")
    assert reader in message
    assert PASSWORD not in message
    for form in ("local:PATH", "redis://", "rediss://", "mongodb://", "mongodb+srv://"):
        assert form in message, message


def pushed_then_counted(spec: str, capsys: pytest.CaptureFixture[str]) -> int:
    queue = f"urls-{uuid.uuid4().hex[:8]}"
    assert main(["push", queue, "--kwargs", '{"n": 1}', "--count", "2", "--connector", spec]) == 0
    capsys.readouterr()
    assert main(["stats", queue, "--json", "--connector", spec]) == 0
    ready: int = json.loads(capsys.readouterr().out)[queue]["ready"]
    return ready


def test_a_local_path_works_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file_path = tmp_path / "queue.sqlite3"
    assert pushed_then_counted(f"local:{file_path}", capsys) == 2
    assert file_path.exists()


def test_a_redis_url_works_end_to_end(
    redis_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert pushed_then_counted(redis_server.url(), capsys) == 2


def test_a_mongodb_url_works_end_to_end(
    mongo_server: MongoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = mongo_server.uri or f"mongodb://{mongo_server.host}:{mongo_server.port}"
    assert pushed_then_counted(uri, capsys) == 2
