"""Scenario 14: secrets in malformed connector urls and params never shown.

Passwords holding characters a url must percent-encode (``/ # @ ? : %`` and
more, before, inside or after the secret), written unencoded in redis urls and
mongo uris; urls whose ``://`` is mistyped (``redis:/``, ``redis:``,
``redis//``, ``redis: //``) or missing (``user:password@host``); and secrets
under misspelt or unusual keys that look like a secret's (``pasword``,
``api_token``, ``db_pw``...). Each goes through every place a user writes it:
``sergeant.config.Connector`` (its ``ConfigError`` text and repr, and its repr
when it is accepted), the connector classes themselves (construction, and the
error of a first call that cannot connect), ``sergeant.connect`` of a type
whose plugin is not installed, and the CLI (``sergeant stats --connector``,
``$SERGEANT_CONNECTOR``, a JSON spec).

Before the fixes the password showed in full in ``ConfigError``,
``repr(Connector)`` and CLI errors; urllib's own message quoted it ("Port could
not be cast to integer value as '...'"); an unencoded ``@`` left
``redis://:***@SECRET@...``; a mistyped ``redis:/`` was no url at all to the
redaction, and neither was ``db_pw`` a secret's name.

A case leaks when the secret, or either half of it, appears (in any case) in
what the user sees. Of the 13,880 cases, the redaction before the faults fix
showed 4,894; the recovered fix 2,931 (mistyped ``://``, a host-less url with
no ``@``, keys like ``db_pw``, a mongo uri whose password holds ``/`` that
pymongo reads as a host and looks up); now 0. Out of scope, as no rule can
tell them from a host or a port: a value with no ``@`` after the secret that
still parses (``host:secret``).

Verdict: 0 leaks.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sergeant
from reliability_report import Outcome, record
from sergeant.errors import SergeantError
from sergeant_mongo import MongoConnector
from sergeant_redis.connector import RedisConnector
from sergeant_test_support.secret_names import SECRET_LOOKING_KEYS

#: The secret; no English word or param name contains it or either half.
MARK = "QzjXkvW7pRt"
HALVES = (MARK[:6], MARK[6:])
SPECIALS = ["/", "#", "@", "?", ":", "%", " ", "[", "]", "%zz", "\\", "&", "=", ";", "'", '"']
#: Nothing listens there: calls that connect fail at once, and no one's data is touched.
CLOSED = "127.0.0.1:1"


def passwords() -> Iterator[str]:
    """Passwords with one or two characters a url must encode, around or inside the secret."""
    for one, two in itertools.product(SPECIALS, ["", "@", "/", "#"]):
        yield f"Ab{one}{MARK}{two}x"
    for one in SPECIALS:
        yield f"{HALVES[0]}{one}{HALVES[1]}"


def redis_urls(password: str) -> list[str]:
    """Redis urls with ``password`` unencoded, with ``://`` right, mistyped or missing."""
    return [
        f"redis://:{password}@{CLOSED}/0",
        f"redis://user:{password}@{CLOSED}/0",
        f"rediss://{password}@{CLOSED}",
        f"redis://user:{password}@localhost:port/0",
        f"redis://:{password}@[::1/0",
        f"REDIS://:{password}@{CLOSED}/0",
        f"redis:/:{password}@{CLOSED}/0",
        f"redis:{password}@{CLOSED}",
        f"redis//:{password}@{CLOSED}",
        f"redis: //user:{password}@{CLOSED}",
        f"redis:\\\\:{password}@{CLOSED}",
        f"//:{password}@{CLOSED}",
        f"user:{password}@{CLOSED}",
        f":{password}@{CLOSED}",
    ]


def mongo_uris(password: str) -> list[str]:
    """Mongo uris with ``password`` unencoded."""
    return [
        f"mongodb://user:{password}@{CLOSED}/?replicaSet=rs",
        f"mongodb://user:{password}@localhost:notaport",
        f"mongodb://{password}@{CLOSED}",
        f"mongodb+srv://user:{password}@cluster.invalid/db",
        f"mongodb:/user:{password}@{CLOSED}",
        f"mongodb://user:{password}@{CLOSED},127.0.0.1:2/?authSource=admin",
    ]


def misspelt(password: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(type, params)`` with ``password`` under a secret-looking key, in every position."""
    for key in SECRET_LOOKING_KEYS:
        yield "redis", {"nodes": [{"host": "localhost", key: password}]}
        yield "redis", {"nodes": [{"host": "localhost"}], key: password}
        yield "mongo", {"nodes": [{"host": "localhost", key: password}]}
        yield "mongo", {"nodes": [{"host": "localhost"}], key: password}
        yield "local", {"file_path": "/tmp/x.sqlite3", key: password}
        # a plugin not installed here: params are kept as given, only the repr shows them
        yield "not-installed", {key: password, "options": {"nested": {key: password}}}


def _shown(make: Callable[[], Any]) -> list[str]:
    """What a user sees of ``make()``: its repr and text, or the error's text and repr."""
    try:
        made = make()
    except (SergeantError, TypeError, ValueError) as exc:
        return [str(exc), repr(exc)]
    return [repr(made), str(made)]


def _used(make: Callable[[], sergeant.Connector], call: Callable[[Any], Any]) -> list[str]:
    """What a user sees building a connector and making a first call (or failing to)."""
    try:
        connector = make()
    except (SergeantError, TypeError, ValueError) as exc:
        return [str(exc), repr(exc)]
    try:
        shown = [repr(connector)]
        try:
            call(connector)
        except SergeantError as exc:
            shown += [str(exc), repr(exc)]
        return shown
    finally:
        connector.close()


def _connect_not_installed(params: dict[str, Any]) -> list[str]:
    config = sergeant.config.Connector(type="not-installed", params=params)
    shown = [repr(config), str(config)]
    try:
        sergeant.connect(config)
    except SergeantError as exc:
        shown += [str(exc), repr(exc)]
    return shown


def _cli(argv: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "sergeant", *argv],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
        cwd=cwd,
    )
    return done.stdout + done.stderr


def _leaks(texts: list[str]) -> bool:
    lowered = [text.lower() for text in texts]
    return any(part.lower() in text for text in lowered for part in (MARK, *HALVES))


def test_no_secret_is_ever_shown(tmp_path: Path) -> None:
    cases: dict[str, int] = {}
    leaks: list[str] = []

    def check(surface: str, where: str, texts: list[str]) -> None:
        cases[surface] = cases.get(surface, 0) + 1
        if _leaks(texts):
            leaks.append(f"{surface} {where}: {texts[0][:200]}")

    def config(kind: str, params: dict[str, Any]) -> Callable[[], Any]:
        return lambda: sergeant.config.Connector(type=kind, params=params)

    every = list(passwords())
    for number, password in enumerate(every):
        for url in redis_urls(password):
            for params in ({"nodes": [url]}, {"nodes": [{"url": url}]}, {"nodes": [{"host": url}]}):
                check("Connector(type='redis')", repr(params), _shown(config("redis", params)))
            check(
                "RedisConnector",
                url,
                _used(
                    lambda u=url: RedisConnector(nodes=[{"url": u, "socket_connect_timeout": 1.0}]),
                    lambda c: c.queue_push("q", b"x"),
                ),
            )
        for uri in mongo_uris(password):
            for params in ({"nodes": [{"uri": uri}]}, {"nodes": [{"host": uri}]}):
                check("Connector(type='mongo')", repr(params), _shown(config("mongo", params)))
            if number % 4 == 0:  # a refused connection costs the connect timeout
                check(
                    "MongoConnector",
                    uri,
                    _used(
                        lambda u=uri: MongoConnector(nodes=[{"uri": u}], connect_timeout=0.3),
                        lambda c: c.queue_push("q", b"x"),
                    ),
                )
        for kind, params in misspelt(password):
            if kind == "not-installed":
                check("connect(not installed)", repr(params), _connect_not_installed(params))
            else:
                check(f"Connector(type={kind!r}) key", repr(params), _shown(config(kind, params)))
    for password in every[::5]:
        specs = [
            redis_urls(password)[0],
            redis_urls(password)[3],
            redis_urls(password)[6],
            mongo_uris(password)[1],
        ]
        for spec in specs:
            check("--connector", spec, [_cli(["stats", "q", "--connector", spec], {}, tmp_path)])
            env = {"SERGEANT_CONNECTOR": spec}
            check("$SERGEANT_CONNECTOR", spec, [_cli(["stats", "q"], env, tmp_path)])
        for spec in (
            json.dumps({"type": "redis", "params": {"nodes": [redis_urls(password)[7]]}}),
            json.dumps({"type": "redis", "params": {"nodes": [{"host": "h", "db_pw": password}]}}),
        ):
            check(
                "--connector JSON", spec, [_cli(["stats", "q", "--connector", spec], {}, tmp_path)]
            )
    total = sum(cases.values())
    cli_runs = sum(
        cases.get(s, 0) for s in ("--connector", "$SERGEANT_CONNECTOR", "--connector JSON")
    )
    record(
        Outcome(
            scenario="14. secrets in malformed urls",
            backend="core, redis, mongo params and the CLI",
            load=f"{total:,} cases: {len(every)} passwords with characters a url must encode, "
            f"in {len(redis_urls(''))} redis url forms, {len(mongo_uris(''))} mongo uri forms "
            f"and under {len(SECRET_LOOKING_KEYS)} secret-looking keys; {cli_runs} CLI runs",
            faults="unencoded / # @ ? : % and others in passwords; mistyped or missing '://'; "
            "keys like 'pasword', 'db_pw'",
            lost=None,
            duplicates=None,
            verdict="pass" if not leaks else "fail",
            details=f"Secrets shown: {len(leaks)} of {total:,} cases"
            + (f", e.g. {leaks[0]}" if leaks else "")
            + "; cases per surface: "
            + ", ".join(f"{surface} {count:,}" for surface, count in sorted(cases.items()))
            + ".",
            figures={"cases": total, "leaks": len(leaks), "cli_runs": cli_runs},
        )
    )
    assert not leaks, f"{len(leaks)} leaks: {leaks[:10]}"
