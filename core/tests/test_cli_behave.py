"""The CLI and config behaviours users of Sergeant expect, in the core env (no backend).

Proves: ``sergeant --version`` names sergeant's version and each installed
connector plugin's without importing any plugin; a bare ``--connector NAME``
(and ``$SERGEANT_CONNECTOR=NAME``) is that type with its default params, never a
url, and a url of a backend that is not installed says what to install;
counted nouns read ``1 task`` / ``2 tasks``; ``sergeant.config.Connector()``
is the local type with no params; and a plugin's ``sergeant.connector_params``
entry point makes a wrong param fail when the config is built, importing only
the check, while a type whose plugin is absent (or whose check cannot be
imported) still builds and is judged by ``sergeant.connect``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Mapping
from pathlib import Path

import pytest
import sergeant
from conftest import CONNECTOR_SOURCE, MakeDist
from sergeant.cli import build_parser
from sergeant.cli._connector_option import connector_from_args
from sergeant.cli._words import counted
from sergeant.config import Connector, WorkerConfig
from sergeant.errors import ConfigError, UnknownConnectorTypeError
from sergeant.plugins import PluginPolicy
from sergeant.registry import Registry


def run_cli(*args: str, site: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The installed ``sergeant`` console script, seeing ``site``'s distributions."""
    environ = dict(os.environ)
    environ.pop("SERGEANT_CONNECTOR", None)
    if site is not None:
        environ["PYTHONPATH"] = os.pathsep.join([str(site), str(Path(__file__).parent)])
    script = shutil.which("sergeant", path=str(Path(sys.executable).parent))
    assert script, "the sergeant console script is installed with the core distribution"
    return subprocess.run(
        [script, *args], capture_output=True, text=True, env=environ, timeout=60, check=False
    )


# sergeant --version -------------------------------------------------------------


def test_version_names_sergeant_and_says_no_plugin_is_installed() -> None:
    result = run_cli("--version")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"sergeant {sergeant.__version__}"
    assert lines[1:] == ["  no connector plugin installed (pip install sergeant-local)"]


def test_version_lists_each_plugin_without_importing_it(
    make_dist: MakeDist, site: Path, tmp_path: Path
) -> None:
    imported = tmp_path / "imported"
    source = f"open({str(imported)!r}, 'w').close()\n" + CONNECTOR_SOURCE
    make_dist("acme-queue", "1.2.0", type_name="acme", source=source)
    make_dist("zeta-queue", "0.3", type_name="zeta", source=source)
    result = run_cli("--version", site=site)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == ["  acme: acme-queue 1.2.0", "  zeta: zeta-queue 0.3"]
    assert not imported.exists()


def test_version_comes_before_any_command() -> None:
    assert run_cli("--version", "stats").returncode == 0
    assert "--version" in run_cli("--help").stdout


# --connector NAME ---------------------------------------------------------------


def parsed_connector(*argv: str) -> Connector:
    return connector_from_args(build_parser().parse_args(["stats", "q", *argv]))


@pytest.mark.parametrize("name", ["local", "redis", "mongo", "acme"])
def test_a_bare_connector_name_is_that_type_with_default_params(name: str) -> None:
    assert parsed_connector("--connector", name) == Connector(type=name, params={})


@pytest.mark.parametrize("name", ["redis", "mongo"])
def test_a_bare_name_in_the_environment_means_the_same(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERGEANT_CONNECTOR", name)
    assert parsed_connector() == Connector(type=name, params={})


@pytest.mark.parametrize(
    ("spec", "package"),
    [
        ("redis://127.0.0.1:6379/0", "sergeant-redis"),
        ("REDIS://h:1", "sergeant-redis"),
        ("rediss://:secret@h:1", "sergeant-redis"),
        ("mongodb://h:27017", "sergeant-mongo"),
        ("mongodb+srv://u:secret@cluster.example.org/", "sergeant-mongo"),
        ("local:/tmp/q.sqlite3", "sergeant-local"),
    ],
)
def test_a_url_of_a_backend_not_installed_says_what_to_install(spec: str, package: str) -> None:
    """Plugins read urls (tests/e2e/test_connector_urls.py, with them installed); with
    none installed, a url of a type sergeant ships says what to install, as connecting
    to that type does."""
    kind = package.removeprefix("sergeant-")
    expected = f"connector type {kind!r} is not installed: pip install {package}"
    with pytest.raises(UnknownConnectorTypeError) as caught:
        connector_from_args(
            build_parser().parse_args(["stats", "q", "--connector", spec]),
            registry=Registry(PluginPolicy()),
        )
    assert str(caught.value) == expected
    result = run_cli("stats", "q", "--connector", spec)
    assert result.returncode == 2
    assert result.stderr.strip() == f"sergeant: error: {expected}"


def test_the_cli_resolves_a_bare_name_to_its_type() -> None:
    result = run_cli("stats", "q", "--connector", "redis")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "sergeant: error: connector type 'redis' is not installed: pip install sergeant-redis"
    )


# counted nouns ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "noun", "plural", "text"),
    [
        (1, "task", None, "1 task"),
        (0, "task", None, "0 tasks"),
        (2, "task", None, "2 tasks"),
        (1, "dead letter", None, "1 dead letter"),
        (10_000, "dead letter", None, "10000 dead letters"),
        (3, "entry", "entries", "3 entries"),
        (1, "entry", "entries", "1 entry"),
    ],
)
def test_counted_nouns(number: int, noun: str, plural: str | None, text: str) -> None:
    assert counted(number, noun, plural) == text


# Connector() defaults and construction-time validation -----------------------------------


def test_connector_with_no_arguments_is_local_with_no_params() -> None:
    config = Connector()
    assert config == Connector(type="local", params={})
    assert hash(config) == hash(Connector(type="local", params={}))
    assert config.type == "local"
    assert isinstance(config.params, Mapping)
    assert dict(config.params) == {}
    assert WorkerConfig(name="q").connector == config
    assert Connector(type="redis").params == {}


CHECK_SOURCE = """
from sergeant.errors import ConfigError

ACCEPTED = ("colour", "size")

def check_params(params):
    for name in params:
        if name not in ACCEPTED:
            raise ConfigError(
                f"connector {TYPE!r} params[{name!r}]", "unknown param", "accepted: colour, size"
            )
    if not isinstance(params.get("size", 1), int):
        raise ConfigError(f"connector {TYPE!r} params['size']", params["size"], "expected an int")
"""


def install_checked_plugin(site: Path, *, check_source: str = CHECK_SOURCE) -> tuple[str, str, str]:
    """A distribution naming a connector and its params check; returns (type, plugin, check)."""
    tag = uuid.uuid4().hex[:10]
    type_name, plugin, check = f"checked{tag}", f"plug_{tag}", f"plug_{tag}_params"
    (site / f"{plugin}.py").write_text(
        textwrap.dedent(CONNECTOR_SOURCE.format(type_name=type_name))
    )
    (site / f"{check}.py").write_text(f"TYPE = {type_name!r}\n" + check_source)
    info = site / f"checked_{tag}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: checked-{tag}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[sergeant.connectors]\n{type_name} = {plugin}\n\n"
        f"[sergeant.connector_params]\n{type_name} = {check}:check_params\n"
    )
    return type_name, plugin, check


def test_a_wrong_param_fails_when_the_config_is_built(site: Path) -> None:
    type_name, plugin, check = install_checked_plugin(site)
    with pytest.raises(ConfigError, match=r"params\['colr'\]: 'unknown param'"):
        Connector(type=type_name, params={"colr": "red"})
    with pytest.raises(ConfigError, match=r"params\['size'\]: 'big'; expected an int"):
        Connector(type=type_name, params={"size": "big"})
    assert check in sys.modules  # the light check ran ...
    assert plugin not in sys.modules  # ... without importing the connector


def test_right_params_build_and_connect(site: Path) -> None:
    type_name, plugin, _ = install_checked_plugin(site)
    config = Connector(type=type_name, params={"colour": "red", "size": 2})
    assert plugin not in sys.modules
    live = sergeant.connect(config, registry=Registry(PluginPolicy()))
    assert live.params == {"colour": "red", "size": 2}  # type: ignore[attr-defined]


def test_the_registry_checks_params_with_the_same_entry_point(site: Path) -> None:
    type_name, plugin, _ = install_checked_plugin(site)
    registry = Registry(PluginPolicy())
    assert registry.check_params(type_name, {"colour": "blue"}) is True
    with pytest.raises(ConfigError, match="unknown param"):
        registry.check_params(type_name, {"shape": "round"})
    assert registry.check_params(f"absent{uuid.uuid4().hex[:6]}", {"shape": "round"}) is False
    assert plugin not in sys.modules


def test_a_type_without_its_plugin_builds_and_connect_judges_it() -> None:
    type_name = f"absent{uuid.uuid4().hex[:8]}"
    config = Connector(type=type_name, params={"anything": [1, 2]})
    assert config.params == {"anything": [1, 2]}
    with pytest.raises(UnknownConnectorTypeError):
        sergeant.connect(config)


def test_a_check_that_cannot_be_imported_leaves_validation_to_the_connector(site: Path) -> None:
    type_name, _, _ = install_checked_plugin(site, check_source="import nowhere_to_be_found\n")
    assert Connector(type=type_name, params={"colr": "red"}).params == {"colr": "red"}
