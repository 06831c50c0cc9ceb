"""Connector urls are read by the plugins that declare their schemes; core knows none.

With plugins installed here as real distributions (no backend is): a plugin's
``sergeant_connector_url_schemes`` declares its schemes and only that plugin's
``sergeant_connector_from_url`` is asked for a url of one (in any case); the CLI's
``--connector`` uses it. Every failure names the value with its password hidden,
the forms the installed plugins read and the fix: a scheme nobody reads, a url its
plugin declines, no scheme at all; a scheme two plugins declare, and a plugin
answering with something else than a config, are refused naming the plugins. A
plugin that fails to load, or a type the policy does not allow, takes no part.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
import sergeant
from conftest import CONNECTOR_SOURCE, MakeDist
from sergeant.cli import build_parser
from sergeant.cli._connector_option import connector_from_args
from sergeant.config import Connector
from sergeant.errors import ConfigError, DuplicateConnectorTypeError, PluginLoadError
from sergeant.plugins import PluginPolicy
from sergeant.registry import Registry
from test_cli_behave import run_cli

PASSWORD = "hunter2QzjX"

#: A connector plugin whose urls are ``SCHEME://HOST``; it records the urls it is asked.
URL_PLUGIN = CONNECTOR_SOURCE + textwrap.dedent(
    """
    asked = []

    @sergeant.hookimpl
    def sergeant_connector_url_schemes():
        return {{"SCHEME": "SCHEME://HOST"}}

    @sergeant.hookimpl
    def sergeant_connector_from_url(url):
        asked.append(url)
        scheme, separator, host = url.partition("://")
        if not separator or not host:
            return None
        return sergeant.config.Connector(type={type_name!r}, params={{"host": host}})
    """
)


def url_plugin(make_dist: MakeDist, type_name: str, scheme: str | None = None) -> str:
    """Install a distribution of type ``type_name`` reading ``scheme`` urls; its module."""
    source = URL_PLUGIN.replace("SCHEME", scheme or type_name)
    return make_dist(f"{type_name}-queue", "1.0", type_name=type_name, source=source)


def parsed(spec: str, registry: Registry) -> Connector:
    args = build_parser().parse_args(["stats", "q", "--connector", spec])
    return connector_from_args(args, registry=registry)


def test_the_plugin_declaring_a_scheme_reads_its_urls(make_dist: MakeDist) -> None:
    module = url_plugin(make_dist, "acme")
    registry = Registry()
    assert registry.url_schemes() == {"acme": {"acme-queue 1.0": "acme://HOST"}}
    assert parsed("acme://h:1", registry) == Connector(type="acme", params={"host": "h:1"})
    assert parsed("  ACME://h:2 ", registry) == Connector(type="acme", params={"host": "h:2"})
    assert sys.modules[module].asked == ["acme://h:1", "ACME://h:2"]


def test_only_the_plugin_declaring_the_scheme_is_asked(make_dist: MakeDist) -> None:
    acme = url_plugin(make_dist, "acme")
    zeta = url_plugin(make_dist, "zeta")
    registry = Registry()
    assert registry.connector_from_url("zeta://h") == Connector(type="zeta", params={"host": "h"})
    assert sys.modules[zeta].asked == ["zeta://h"]
    assert sys.modules[acme].asked == []


def test_a_bare_type_and_json_never_ask_the_plugins(make_dist: MakeDist) -> None:
    module = url_plugin(make_dist, "acme")
    registry = Registry()
    assert parsed("acme", registry) == Connector(type="acme", params={})
    spec = '{"type": "acme", "params": {"host": "h"}}'
    assert parsed(spec, registry) == Connector(type="acme", params={"host": "h"})
    assert module not in sys.modules


def test_a_scheme_no_plugin_reads_names_the_value_the_forms_and_the_fix(
    make_dist: MakeDist,
) -> None:
    url_plugin(make_dist, "acme")
    url_plugin(make_dist, "zeta")
    with pytest.raises(ConfigError) as caught:
        parsed(f"nosuch://user:{PASSWORD}@h:1", Registry())
    assert str(caught.value) == (
        "invalid --connector: 'nosuch://***@h:1'; no installed plugin reads nosuch: urls; "
        "the installed plugins read acme://HOST, zeta://HOST; use one of those, or name "
        "the connector by its type and params"
    )


def test_a_url_its_plugin_declines_names_the_plugin_and_its_form(make_dist: MakeDist) -> None:
    url_plugin(make_dist, "acme")
    with pytest.raises(ConfigError) as caught:
        parsed(f"acme:{PASSWORD}@h", Registry())
    message = str(caught.value)
    assert message.startswith("invalid --connector: 'acme:***@h'; acme-queue 1.0 reads acme: urls")
    assert "as acme://HOST" in message
    assert PASSWORD not in message


def test_text_without_a_scheme_is_no_url(make_dist: MakeDist) -> None:
    url_plugin(make_dist, "acme")
    with pytest.raises(ConfigError) as caught:
        parsed(f":{PASSWORD}@h", Registry())
    assert str(caught.value).startswith(
        "invalid --connector: '***@h'; a url starts with its scheme: the installed plugins "
        "read acme://HOST"
    )


def test_with_no_plugin_installed_the_error_says_so() -> None:
    with pytest.raises(ConfigError) as caught:
        parsed(f"acme://u:{PASSWORD}@h", Registry())
    assert str(caught.value) == (
        "invalid --connector: 'acme://***@h'; no installed plugin reads acme: urls; no "
        "installed plugin reads urls; name the connector by its type and params, or install "
        "the plugin that reads this url"
    )


def test_a_scheme_two_plugins_declare_is_refused_naming_both(make_dist: MakeDist) -> None:
    url_plugin(make_dist, "acme", scheme="shared")
    url_plugin(make_dist, "zeta", scheme="shared")
    with pytest.raises(DuplicateConnectorTypeError) as caught:
        Registry().connector_from_url("shared://h")
    assert str(caught.value) == (
        "url scheme 'shared' is read by several plugins: acme-queue 1.0, zeta-queue 1.0. "
        "Uninstall one, or name the connector by its type and params"
    )


@pytest.mark.parametrize(
    ("hooks", "error"),
    [
        (
            "def sergeant_connector_url_schemes():\n    return ['odd']\n",
            "odd-queue 1.0's sergeant_connector_url_schemes returned ['odd']",
        ),
        (
            "def sergeant_connector_url_schemes():\n    return {'odd': 'odd://X'}\n\n"
            "@sergeant.hookimpl\n"
            "def sergeant_connector_from_url(url):\n    return {'type': 'odd'}\n",
            "odd-queue 1.0's sergeant_connector_from_url returned dict; return a "
            "sergeant.config.Connector or None",
        ),
    ],
)
def test_a_plugin_answering_the_wrong_shape_is_named(
    make_dist: MakeDist, hooks: str, error: str
) -> None:
    source = (
        CONNECTOR_SOURCE + "\n@sergeant.hookimpl\n" + hooks.replace("{", "{{").replace("}", "}}")
    )
    make_dist("odd-queue", "1.0", type_name="odd", source=source)
    with pytest.raises(PluginLoadError) as caught:
        Registry().connector_from_url("odd://X")
    assert str(caught.value).startswith(f"plugin {error}")


def test_a_broken_plugin_or_a_type_not_allowed_takes_no_part(make_dist: MakeDist) -> None:
    make_dist("broken-queue", "1.0", type_name="broken", source="raise RuntimeError('boom')\n")
    url_plugin(make_dist, "acme")
    hidden = url_plugin(make_dist, "zeta")
    registry = Registry(PluginPolicy(allow=["acme", "broken"]))
    assert registry.connector_from_url("acme://h") == Connector(type="acme", params={"host": "h"})
    assert set(registry.url_schemes()) == {"acme"}
    assert hidden not in sys.modules
    with pytest.raises(ConfigError, match="no installed plugin reads zeta: urls"):
        registry.connector_from_url("zeta://h")


def test_the_cli_reports_an_unknown_scheme_in_one_line(make_dist: MakeDist, site: Path) -> None:
    url_plugin(make_dist, "acme")
    result = run_cli("stats", "q", "--connector", f"nosuch://:{PASSWORD}@h", site=site)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "sergeant: error: invalid --connector: 'nosuch://***@h'; no installed plugin reads "
        "nosuch: urls; the installed plugins read acme://HOST; use one of those, or name the "
        "connector by its type and params"
    )


def test_the_registry_used_by_connect_reads_urls_too(make_dist: MakeDist) -> None:
    url_plugin(make_dist, "acme")
    registry = Registry()
    config = registry.connector_from_url("acme://h")
    live = sergeant.connect(config, registry=registry)
    assert live.params == {"host": "h"}  # type: ignore[attr-defined]
