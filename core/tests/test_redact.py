"""What ``sergeant.redaction`` hides before anything is shown.

The whole userinfo of anything URL-shaped (to the LAST ``@``, whatever a
password holds unencoded; also when ``://`` is mistyped or missing) and the
value under any secret-looking name (misspellings included), recursing into
containers. Hosts, ports, paths and ordinary names stay readable. The CLI and
``Connector``'s repr use it: they are checked here too, with no backend
installed (the plugins' own params are tested with each plugin).
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sergeant.config
from sergeant.redaction import REDACTED, SECRET_KEYS, is_secret_key, redact, redact_text
from sergeant_test_support.secret_names import SECRET_LOOKING_KEYS

SECRET = "QzjXkvW7pRt"
SPECIALS = ["/", "#", "@", "?", ":", "%", " ", "[", "]", "\\", "&", "=", ";", "'", '"', "@@"]
TEMPLATES = [
    "redis://:{pw}@localhost:6379/0",
    "redis://user:{pw}@localhost/0",
    "rediss://{pw}@localhost:6380",
    "mongodb://user:{pw}@a:1,b:2/db?replicaSet=rs",
    "mongodb+srv://user:{pw}@cluster.example.org/",
    "REDIS://:{pw}@localhost",
    "redis:/:{pw}@localhost",
    "redis:{pw}@localhost",
    "redis//:{pw}@localhost",
    "redis: //:{pw}@localhost",
    "redis:\\\\:{pw}@localhost",
    "//user:{pw}@localhost",
    "user:{pw}@localhost",
    ":{pw}@localhost",
    "nodes: ['redis://:{pw}@localhost']",
    "connect to redis://:{pw}@h1 failed, then redis://:{pw}@h2",
]


def passwords() -> list[str]:
    """The secret with characters a url must encode before, inside and after it."""
    made = [f"Ab{one}{SECRET}{two}x" for one, two in itertools.product(SPECIALS, ["", "@", "/"])]
    made += [f"{SECRET[:6]}{one}{SECRET[6:]}" for one in SPECIALS]
    return made


def shows_secret(text: str) -> bool:
    lowered = text.lower()
    return any(part.lower() in lowered for part in (SECRET, SECRET[:6], SECRET[6:]))


@pytest.mark.parametrize("template", TEMPLATES)
def test_no_password_survives_in_any_url_form(template: str) -> None:
    for password in passwords():
        text = template.format(pw=password)
        shown = redact_text(text)
        assert not shows_secret(shown), (text, shown)
        assert REDACTED in shown
        assert redact_text(shown) == shown  # idempotent: showing twice hides nothing more


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("redis://user:hunter2@h:1/0", "redis://***@h:1/0"),
        ("redis://:p@ss/w#rd@h:1/0", "redis://***@h:1/0"),
        ("mongodb://u:p@a:1,b:2/db?x=1", "mongodb://***@a:1,b:2/db?x=1"),
        ("redis:/:pw@h", "redis:/***@h"),
        ("redis:pw@h", "redis:***@h"),
        ("//:pw@h:1", "//***@h:1"),
        (":pw@h", "***@h"),
    ],
)
def test_the_whole_userinfo_goes_and_the_host_stays(text: str, shown: str) -> None:
    assert redact_text(text) == shown


@pytest.mark.parametrize(
    "text",
    [
        "redis://localhost:6379/0",
        "mongodb://a:1,b:2/db?replicaSet=rs",
        "/var/lib/sergeant/q.sqlite3",
        "C:/data/q.sqlite3",
        "localhost:6379",
        "queue orders@eu",
        "no url here",
        "",
    ],
)
def test_text_without_userinfo_is_left_alone(text: str) -> None:
    assert redact_text(text) == text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "mongodb://db:27017/?tls=true&tlsCertificateKeyFilePassword=KEYPW1",
            "mongodb://db:27017/?tls=true&tlsCertificateKeyFilePassword=***",
        ),
        (
            "mongodb://db/?authMechanism=MONGODB-AWS&authMechanismProperties="
            "SERVICE_NAME:x,AWS_SESSION_TOKEN:TOKEN2",
            "mongodb://db/?authMechanism=MONGODB-AWS&authMechanismProperties=***",
        ),
        ("redis://h:6379/0?password=PW3&ssl=true", "redis://h:6379/0?password=***&ssl=true"),
        ("mongodb://db/?replicaSet=rs0&w=majority", "mongodb://db/?replicaSet=rs0&w=majority"),
    ],
)
def test_secret_query_parameters_are_hidden_and_others_kept(text: str, shown: str) -> None:
    assert redact_text(text) == shown
    config = sergeant.config.Connector(type="some-plugin", params={"nodes": [{"uri": text}]})
    for secret in ("KEYPW1", "TOKEN2", "PW3"):
        assert secret not in repr(config)


@pytest.mark.parametrize(
    "key",
    [
        *sorted(SECRET_KEYS),
        *SECRET_LOOKING_KEYS,
    ],
)
def test_secret_looking_names(key: str) -> None:
    assert is_secret_key(key)
    assert redact({key: SECRET}) == {key: REDACTED}
    assert redact({key: 12345}) == {key: REDACTED}  # not only strings


@pytest.mark.parametrize(
    "key",
    [
        "host",
        "port",
        "database",
        "username",
        "file_path",
        "name",
        "nodes",
        "url",
        "uri",
        "auth_source",
        "socket_timeout",
        "replica_set",
        "ssl",
    ],
)
def test_ordinary_names_stay_readable(key: str) -> None:
    assert not is_secret_key(key)
    assert redact({key: "value"}) == {key: "value"}


def test_containers_are_walked_and_keep_their_types() -> None:
    params = {
        "nodes": [
            {"host": "h", "password": SECRET, "port": 1},
            f"redis://:{SECRET}@h:2/0",
            ("tuple", {"api_token": SECRET}),
        ],
        f"redis://:{SECRET}@h": "a url as a key",
        "options": {"nested": {"db_pw": SECRET, "timeout": 5}},
        "password": None,  # nothing to hide
    }
    shown = redact(params)
    assert not shows_secret(repr(shown))
    assert shown["nodes"][0] == {"host": "h", "password": REDACTED, "port": 1}
    assert shown["nodes"][1] == "redis://***@h:2/0"
    assert isinstance(shown["nodes"][2], tuple)
    assert shown["options"]["nested"] == {"db_pw": REDACTED, "timeout": 5}
    assert shown["redis://***@h"] == "a url as a key"
    assert shown["password"] is None
    assert params["nodes"][0]["password"] == SECRET  # a copy: the params are untouched


def test_connector_repr_hides_secrets_of_any_type() -> None:
    """No plugin is installed here: params are kept as given, and only the repr shows them."""
    for kind in ("redis", "mongo", "some-plugin"):
        config = sergeant.config.Connector(
            type=kind,
            params={
                "nodes": [f"redis:/:{SECRET}@h", {"host": "h", "pasword": SECRET}],
                "uri": f"mongodb://u:{SECRET[:6]}/{SECRET[6:]}@h",
                "api_token": SECRET,
            },
        )
        assert not shows_secret(repr(config)), repr(config)
        assert not shows_secret(str(config))


def _cli(*args: str, env: dict[str, str] | None = None) -> str:
    script = shutil.which("sergeant", path=str(Path(sys.executable).parent))
    assert script, "the sergeant console script is installed with the core distribution"
    done = subprocess.run(
        [script, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
        timeout=120,
    )
    assert done.returncode != 0
    return done.stdout + done.stderr


@pytest.mark.parametrize(
    "spec",
    [
        f"redis:/:Ab/{SECRET}@localhost:6379",
        f"redis//:{SECRET}@localhost",
        f"mongodb:/user:{SECRET}#x@localhost",
        f"user:{SECRET[:6]}?{SECRET[6:]}@localhost",
    ],
)
def test_cli_errors_about_a_connector_spec_hide_it(spec: str) -> None:
    assert not shows_secret(shown := _cli("stats", "q", "--connector", spec)), shown
    env = {"SERGEANT_CONNECTOR": spec}
    assert not shows_secret(shown := _cli("stats", "q", env=env)), shown
