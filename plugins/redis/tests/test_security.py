"""Passwords: the right one works, a wrong one fails clearly, none is ever shown."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import traceback
import uuid
from collections.abc import Callable, Iterator

import pytest
import sergeant
from sergeant.connector import Connector
from sergeant.errors import AuthenticationError
from sergeant_test_support.redis_fixtures import RedisServer

Connectors = Callable[..., Connector]
PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("guarded"), password=PASSWORD).start()
    yield server
    server.stop()


def test_right_password_works(guarded: RedisServer, connectors: Connectors) -> None:
    connector = connectors([guarded])
    queue = f"auth-{uuid.uuid4().hex[:8]}"
    assert connector.queue_push(queue, b"x") is True
    assert connector.queue_pop(queue) == b"x"
    assert PASSWORD not in repr(connector)


def test_url_form_with_password_works_and_is_redacted(guarded: RedisServer) -> None:
    config = sergeant.config.Connector(type="redis", params={"nodes": [guarded.url()]})
    assert PASSWORD not in repr(config)
    with sergeant.connect(config) as connector:
        assert PASSWORD not in repr(connector)
        assert connector.key_set(f"k-{uuid.uuid4().hex}", b"v") is True


@pytest.mark.parametrize("password", ["wrong-password-123", None])
def test_wrong_or_missing_password_raises_clearly(
    guarded: RedisServer, connectors: Connectors, password: str | None
) -> None:
    connector = connectors([guarded], password=password)
    for call in (
        lambda: connector.queue_push("q", b"x"),
        lambda: connector.queue_pop("q"),
        lambda: connector.key_get("k"),
    ):
        with pytest.raises(AuthenticationError) as caught:
            call()
        text = "".join(traceback.format_exception(caught.value))
        assert guarded.address in str(caught.value)
        assert "nodes[0].password" in str(caught.value)
        assert PASSWORD not in text
        if password:
            assert password not in text
            assert password not in repr(connector)


def test_pymongo_stays_out(redis_server: RedisServer) -> None:
    """Using the redis backend never imports the mongo driver; tox's redis env lacks it."""
    url = redis_server.url()
    script = (
        "import sys, sergeant\n"
        f"config = sergeant.config.Connector(type='redis', params={{'nodes': [{url!r}]}})\n"
        "with sergeant.connect(config) as c:\n"
        "    c.queue_push('q-pymongo', b'x'); c.queue_pop('q-pymongo')\n"
        "assert 'pymongo' not in sys.modules, 'pymongo was imported'\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    if os.environ.get("TOX_ENV_NAME") == "redis":
        assert importlib.util.find_spec("pymongo") is None
