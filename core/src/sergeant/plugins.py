"""Which connector plugins a deployment may load: pins, allow-list, autoload.

A deployment pins exact plugin distributions with PEP 508 strings, can turn
entry-point autoload off and load named modules instead, and can allow-list
connector types. :meth:`PluginPolicy.from_env` reads the same settings from
environment variables, so a deployment can set them without code:

``SERGEANT_CONNECTORS=redis,local``
    only these connector types may be resolved.
``SERGEANT_DISABLE_PLUGIN_AUTOLOAD=1``
    do not load entry points; only the modules in ``SERGEANT_PLUGINS`` register.
``SERGEANT_PLUGINS=sergeant_local.plugin,my_pkg.plugin``
    plugin modules to register explicitly (comma-separated).
``SERGEANT_PLUGIN_REQUIREMENTS=/etc/app/sergeant-plugins.txt``
    a requirements file (one PEP 508 string a line, ``#`` comments) such as
    ``sergeant plugins --requirements`` prints.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs
from packaging.requirements import InvalidRequirement, Requirement

from sergeant.errors import ConfigError

__all__ = ["ENV_ALLOW", "ENV_AUTOLOAD_OFF", "ENV_MODULES", "ENV_REQUIREMENTS", "PluginPolicy"]

ENV_ALLOW = "SERGEANT_CONNECTORS"
ENV_AUTOLOAD_OFF = "SERGEANT_DISABLE_PLUGIN_AUTOLOAD"
ENV_MODULES = "SERGEANT_PLUGINS"
ENV_REQUIREMENTS = "SERGEANT_PLUGIN_REQUIREMENTS"


def _parse_requirements(values: Iterable[str | Requirement]) -> tuple[Requirement, ...]:
    if isinstance(values, str):
        raise ConfigError("PluginPolicy.requires", values, "pass a list of PEP 508 strings")
    parsed = []
    for value in values:
        if isinstance(value, Requirement):
            parsed.append(value)
            continue
        text = value.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            parsed.append(Requirement(text))
        except InvalidRequirement as exc:
            raise ConfigError(
                "PluginPolicy.requires", value, f"write a PEP 508 requirement ({exc})"
            ) from exc
    return tuple(parsed)


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _to_allow(value: Iterable[str] | None) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = _split(value)
    return frozenset(value)


@attrs.frozen
class PluginPolicy:
    """Plugin rules for one deployment.

    :param requires: PEP 508 strings (``'sergeant-redis==0.1.0'``) every named
        distribution must satisfy; checked with ``packaging`` before any plugin loads.
        When two distributions claim one type, the pinned one wins.
    :param autoload: load plugins from the ``sergeant.connectors`` entry points.
    :param modules: plugin modules to register explicitly (by import path).
    :param allow: connector types that may be resolved; None allows all.
    """

    requires: tuple[Requirement, ...] = attrs.field(default=(), converter=_parse_requirements)
    autoload: bool = True
    modules: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    allow: frozenset[str] | None = attrs.field(default=None, converter=_to_allow)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PluginPolicy:
        """The policy the environment variables describe (see the module docstring)."""
        env = os.environ if environ is None else environ
        kwargs: dict[str, Any] = {}
        if env.get(ENV_ALLOW, "").strip():
            kwargs["allow"] = _split(env[ENV_ALLOW])
        if env.get(ENV_AUTOLOAD_OFF, "").strip().lower() in {"1", "true", "yes", "on"}:
            kwargs["autoload"] = False
        if env.get(ENV_MODULES, "").strip():
            kwargs["modules"] = _split(env[ENV_MODULES])
        path = env.get(ENV_REQUIREMENTS, "").strip()
        if path:
            try:
                kwargs["requires"] = Path(path).read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise ConfigError(
                    ENV_REQUIREMENTS,
                    path,
                    f"point it at a readable requirements file ({exc.strerror})",
                ) from exc
        return cls(**kwargs)
