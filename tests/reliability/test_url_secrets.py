"""Scenario 14: secrets in malformed connector urls and params never shown.

Passwords holding characters a url must percent-encode (``/ # @ ? : %`` and
more), written unencoded in redis and mongo urls, in every place a user writes
them: ``sergeant.config.Connector`` params, the connector class itself, and the
CLI's ``--connector`` and ``$SERGEANT_CONNECTOR``; plus misspelt keys that look
like secrets (``pasword``, ``api_token``...). Before the fix the password showed
in full in ``ConfigError``, ``repr(Connector)`` and CLI errors; urllib's own
message quoted it ("Port could not be cast to integer value as 'TOPSECRET'");
an unencoded ``@`` left ``redis://:***@TOPSECRET@...``.

Verdict: the secret marker appears in no error text, repr or CLI output.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import sergeant
from reliability_report import Outcome, record
from sergeant.errors import SergeantError
from sergeant_redis.connector import RedisConnector

MARK = "TOPSECRET"
SPECIALS = ["/", "#", "@", "?", ":", "%", " ", "[", "]", "%zz", "\\", "&", "=", ";"]


def passwords() -> Iterator[str]:
    """Passwords around the marker with one or two characters a url must encode."""
    for one, two in itertools.product(SPECIALS, ["", "@", "/", "#"]):
        yield f"Ab{one}{MARK}{two}x"


def redis_urls(password: str) -> list[str]:
    return [
        f"redis://:{password}@localhost:6379/0",
        f"redis://user:{password}@localhost/0",
        f"rediss://{password}@localhost:6380",
        f"redis://user:{password}@localhost:port/0",
        f"redis://:{password}@[::1/0",
    ]


def mongo_uris(password: str) -> list[str]:
    return [
        f"mongodb://user:{password}@localhost:27017/?replicaSet=rs",
        f"mongodb://user:{password}@localhost:notaport",
        f"mongodb://{password}@localhost",
    ]


def misspelt(password: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("redis", {"nodes": [{"host": "localhost", "pasword": password}]}),
        ("redis", {"nodes": [{"host": "localhost", "port": 6379, "api_token": password}]}),
        ("redis", {"nodes": [{"host": "localhost"}], "secret_key": password}),
        ("mongo", {"nodes": [{"host": "localhost", "pwd": password}]}),
        ("local", {"file_path": "/tmp/x.sqlite3", "passphrase": password}),
    ]


def _shown(make: Callable[[], Any]) -> list[str]:
    """What a user sees of ``make()``: its repr, or the error's text and repr."""
    try:
        made = make()
    except (SergeantError, TypeError, ValueError) as exc:
        return [str(exc), repr(exc)]
    return [repr(made), str(made)]


def _cli(argv: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "sergeant", *argv],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )
    return done.stdout + done.stderr


def test_no_secret_is_ever_shown() -> None:
    cases = 0
    leaks: list[str] = []

    def check(where: str, texts: list[str]) -> None:
        nonlocal cases
        cases += 1
        if any(MARK.lower() in text.lower() for text in texts):
            leaks.append(f"{where}: {texts[0][:200]}")

    for password in passwords():
        for url in redis_urls(password):
            params = {"nodes": [url]}
            check(f"config {url!r}", _shown(lambda p=params: sergeant.config.Connector("redis", p)))
            check(f"class {url!r}", _shown(lambda p=params: RedisConnector(**p)))
            check(f"node url {url!r}", _shown(lambda u=url: RedisConnector(nodes=[{"url": u}])))
        for uri in mongo_uris(password):
            params = {"nodes": [{"uri": uri}]}
            check(f"config {uri!r}", _shown(lambda p=params: sergeant.config.Connector("mongo", p)))
        for kind, params in misspelt(password):
            check(
                f"{kind} params",
                _shown(lambda k=kind, p=params: sergeant.config.Connector(k, p)),
            )
    cli_runs = 0
    for password in list(passwords())[::6]:
        for url in [redis_urls(password)[0], redis_urls(password)[3], mongo_uris(password)[1]]:
            check(f"--connector {url!r}", [_cli(["stats", "q", "--connector", url], {})])
            check(
                f"$SERGEANT_CONNECTOR {url!r}", [_cli(["stats", "q"], {"SERGEANT_CONNECTOR": url})]
            )
            spec = json.dumps({"type": "redis", "params": {"nodes": [url]}})
            check(f"--connector JSON {url!r}", [_cli(["stats", "q", "--connector", spec], {})])
            cli_runs += 3
    record(
        Outcome(
            scenario="14. secrets in malformed urls",
            backend="core, redis, mongo params and the CLI",
            load=f"{cases:,} cases: {len(list(passwords()))} passwords with characters a url "
            f"must encode, in redis urls, mongo uris and misspelt secret-like keys; "
            f"{cli_runs} CLI runs",
            faults="unencoded / # @ ? : % and others in passwords; keys like 'pasword'",
            lost=None,
            duplicates=None,
            verdict="pass" if not leaks else "fail",
            details=f"Secrets shown: {len(leaks)}" + (f", e.g. {leaks[0]}" if leaks else "."),
            figures={"cases": cases, "leaks": len(leaks)},
        )
    )
    assert not leaks, leaks[:10]
