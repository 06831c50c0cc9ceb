"""The registry: entry-point discovery, lazy loading, every error message, pins and allow-list."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sergeant
from conftest import MakeDist
from sergeant.errors import (
    ConfigError,
    ConnectorNotInstalledError,
    DuplicateConnectorTypeError,
    PluginLoadError,
    PluginPinError,
    UnknownConnectorTypeError,
)
from sergeant.plugins import PluginPolicy
from sergeant.registry import Registry


def test_resolves_a_type_through_its_entry_point(make_dist: MakeDist) -> None:
    module = make_dist("acme-queue", "1.2.0", type_name="acme")
    cls = Registry().resolve("acme")
    assert cls.type_name == "acme"
    assert cls.__module__ == "minimal_connector"
    assert module in sys.modules


def test_connect_builds_with_params_and_fires_created_hook(make_dist: MakeDist, site: Path) -> None:
    make_dist("acme-queue", "1.2.0", type_name="acme")
    (site / "plug_observer.py").write_text(
        "import sergeant\nseen = []\n"
        "@sergeant.hookimpl\n"
        "def sergeant_connector_created(connector, config):\n"
        "    seen.append((connector, config))\n"
    )
    registry = Registry(PluginPolicy(modules=["plug_observer"]))
    config = sergeant.config.Connector(type="acme", params={"answer": 42})
    connector = sergeant.connect(config, registry=registry)
    assert connector.params == {"answer": 42}  # type: ignore[attr-defined]
    assert sys.modules["plug_observer"].seen == [(connector, config)]


def test_only_the_requested_plugin_is_imported(make_dist: MakeDist) -> None:
    wanted = make_dist("acme-queue", "1.0", type_name="acme")
    other = make_dist("other-queue", "1.0", type_name="other")
    Registry().resolve("acme")
    assert wanted in sys.modules
    assert other not in sys.modules


def test_known_type_not_installed_gives_the_install_hint() -> None:
    with pytest.raises(ConnectorNotInstalledError) as caught:
        Registry().resolve("mongo")
    assert str(caught.value) == (
        "connector type 'mongo' is not installed: pip install sergeant-mongo"
    )


def test_unknown_type_suggests_and_lists_installed(make_dist: MakeDist) -> None:
    make_dist("acme-queue", "1.0", type_name="acme")
    with pytest.raises(UnknownConnectorTypeError) as caught:
        Registry().resolve("acmee")
    message = str(caught.value)
    assert "unknown connector type 'acmee'" in message
    assert "Did you mean 'acme'?" in message
    assert "Installed types: acme" in message


def test_unknown_type_suggests_known_types_too() -> None:
    with pytest.raises(UnknownConnectorTypeError, match=r"Did you mean 'redis'"):
        Registry().resolve("rediss")


def test_plugin_import_failure_names_distribution_version_and_module(make_dist: MakeDist) -> None:
    module = make_dist(
        "broken-queue", "3.1.4", type_name="broken", source="raise RuntimeError('kaboom')\n"
    )
    with pytest.raises(PluginLoadError) as caught:
        Registry().resolve("broken")
    message = str(caught.value)
    assert "broken-queue 3.1.4" in message
    assert repr(module) in message
    assert "RuntimeError: kaboom" in message
    assert isinstance(caught.value.__cause__, RuntimeError)


def test_plugin_registering_nothing_is_reported(make_dist: MakeDist) -> None:
    make_dist("lazy-queue", "1.0", type_name="lazy", source="x = 1\n")
    with pytest.raises(PluginLoadError, match=r"lazy-queue 1.0 did not register .* 'lazy'"):
        Registry().resolve("lazy")


def test_plugin_registering_a_non_connector_is_reported(make_dist: MakeDist) -> None:
    source = (
        "import sergeant\n"
        "@sergeant.hookimpl\n"
        "def sergeant_register_connectors(registry):\n"
        "    registry.add_connector(dict)\n"
    )
    make_dist("odd-queue", "1.0", type_name="odd", source=source)
    with pytest.raises(PluginLoadError, match=r"odd-queue 1.0 registered .*not a"):
        Registry().resolve("odd")


def test_misspelt_hookimpl_fails_loudly(make_dist: MakeDist) -> None:
    source = (
        "import sergeant\n"
        "@sergeant.hookimpl\n"
        "def sergeant_register_connector(registry):\n"
        "    pass\n"
    )
    make_dist("typo-queue", "1.0", type_name="typo", source=source)
    with pytest.raises(PluginLoadError, match=r"typo-queue 1.0 has an invalid hook"):
        Registry().resolve("typo")


def test_two_distributions_claiming_one_type_are_named(make_dist: MakeDist) -> None:
    make_dist("acme-queue", "1.0", type_name="acme")
    make_dist("acme-fork", "2.0", type_name="acme")
    with pytest.raises(DuplicateConnectorTypeError) as caught:
        Registry().resolve("acme")
    message = str(caught.value)
    assert "acme-queue 1.0" in message
    assert "acme-fork 2.0" in message
    assert "pin" in message


def test_the_pin_decides_between_two_claims(make_dist: MakeDist) -> None:
    make_dist("acme-queue", "1.0", type_name="acme")
    fork = make_dist("acme-fork", "2.0", type_name="acme")
    cls = Registry(PluginPolicy(requires=["acme-fork==2.0"])).resolve("acme")
    assert cls.type_name == "acme"
    assert fork in sys.modules


def test_pin_mismatch_fails_at_start_up_with_installed_and_required(make_dist: MakeDist) -> None:
    make_dist("acme-queue", "1.2.0", type_name="acme")
    registry = Registry(PluginPolicy(requires=["acme-queue>=2,<3", "ghost-queue==1.0"]))
    with pytest.raises(PluginPinError) as caught:
        registry.resolve("acme")
    message = str(caught.value)
    assert "acme-queue<3,>=2 is required but acme-queue 1.2.0 is installed" in message
    assert "ghost-queue==1.0 is required but ghost-queue is not installed" in message


def test_satisfied_pins_pass(make_dist: MakeDist) -> None:
    make_dist("acme-queue", "1.2.0", type_name="acme")
    assert Registry(PluginPolicy(requires=["acme-queue~=1.2"])).resolve("acme").type_name == "acme"


def test_bad_requirement_string_names_the_field() -> None:
    with pytest.raises(ConfigError, match=r"PluginPolicy.requires"):
        PluginPolicy(requires=["acme queue ==="])


def test_allow_list_from_the_environment(make_dist: MakeDist) -> None:
    make_dist("acme-queue", "1.0", type_name="acme")
    make_dist("other-queue", "1.0", type_name="other")
    policy = PluginPolicy.from_env({"SERGEANT_CONNECTORS": "other, local"})
    assert policy.allow == frozenset({"other", "local"})
    registry = Registry(policy)
    with pytest.raises(
        PluginPinError, match=r"'acme' is not allowed .*SERGEANT_CONNECTORS=local,other"
    ):
        registry.resolve("acme")
    assert registry.resolve("other").type_name == "other"


def test_autoload_off_ignores_entry_points(make_dist: MakeDist) -> None:
    module = make_dist("acme-queue", "1.0", type_name="acme")
    off = Registry(PluginPolicy.from_env({"SERGEANT_DISABLE_PLUGIN_AUTOLOAD": "1"}))
    with pytest.raises(UnknownConnectorTypeError, match=r"unknown connector type 'acme'"):
        off.resolve("acme")
    assert module not in sys.modules
    with pytest.raises(ConnectorNotInstalledError, match=r"autoload is off"):
        off.resolve("redis")


def test_autoload_off_with_explicit_modules(make_dist: MakeDist) -> None:
    module = make_dist("acme-queue", "1.0", type_name="acme")
    env = {"SERGEANT_DISABLE_PLUGIN_AUTOLOAD": "yes", "SERGEANT_PLUGINS": module}
    assert Registry(PluginPolicy.from_env(env)).resolve("acme").type_name == "acme"


def test_requirements_file_from_the_environment(make_dist: MakeDist, tmp_path: Path) -> None:
    make_dist("acme-queue", "1.0", type_name="acme")
    pins = tmp_path / "pins.txt"
    pins.write_text("# deployment pins\nacme-queue==9.9  # too new\n")
    policy = PluginPolicy.from_env({"SERGEANT_PLUGIN_REQUIREMENTS": str(pins)})
    with pytest.raises(PluginPinError, match=r"acme-queue==9.9 is required"):
        Registry(policy).resolve("acme")
    with pytest.raises(ConfigError, match=r"SERGEANT_PLUGIN_REQUIREMENTS"):
        PluginPolicy.from_env({"SERGEANT_PLUGIN_REQUIREMENTS": str(tmp_path / "missing.txt")})


def test_registering_a_different_class_under_a_taken_type_is_refused() -> None:
    from minimal_connector import build

    registry = Registry()
    registry.types.add_connector(build("acme"))
    with pytest.raises(DuplicateConnectorTypeError, match=r"already registered"):
        registry.types.add_connector(build("acme"))
    replacement = build("acme")
    registry.types.add_connector(replacement, replace=True)
    assert registry.resolve("acme") is replacement


def test_discover_lists_installed_and_known_types(make_dist: MakeDist) -> None:
    module = make_dist("acme-queue", "1.2.0", type_name="acme")
    rows = {row.type: row for row in Registry().discover()}
    assert rows["acme"].distribution == "acme-queue"
    assert rows["acme"].version == "1.2.0"
    assert rows["acme"].module == module
    assert rows["acme"].status == "ok"
    assert rows["mongo"].status == "not installed (pip install sergeant-mongo)"


def test_import_sergeant_creates_no_plugin_manager_and_imports_no_driver() -> None:
    code = (
        "import sys, sergeant, sergeant.config\n"
        "from sergeant._connect import default_registry\n"
        "sergeant.config.Connector(type='redis', params={'nodes': []})\n"
        "assert default_registry.cache_info().currsize == 0\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in {'redis', 'pymongo'}]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
