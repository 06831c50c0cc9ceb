"""Resolve a connector ``type`` string to a connector class found through entry points.

Plugins are found in the ``sergeant.connectors`` entry point group; an entry
point's name is the type, its value the plugin module. Resolving a type imports
only the entry points of that name, so ``'local'`` never imports ``redis``.

A plugin may also name, in the ``sergeant.connector_params`` group under the
same type, a light function that checks the connector's ``params`` without
importing the connector or its driver (:data:`ParamsCheck`); with it,
``sergeant.config.Connector(...)`` fails at construction on a wrong param.

We read entry points ourselves instead of calling pluggy's
``load_setuptools_entrypoints``: it silently keeps the first of two
distributions that claim one name, and its import errors do not say which
distribution failed. pluggy still registers the modules and calls the hooks.
"""

from __future__ import annotations

import difflib
import importlib
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from types import ModuleType
from typing import Any, cast

import attrs
import importlib_metadata
import pluggy
from packaging.utils import canonicalize_name

from sergeant import hookspecs
from sergeant._connector_config import Connector as ConnectorConfig
from sergeant._params_check import PARAMS_ENTRY_POINT_GROUP, ParamsCheck, load_params_check
from sergeant._params_check import dist_name as _dist_name
from sergeant.connector import Connector
from sergeant.errors import (
    ConfigError,
    ConnectorNotInstalledError,
    DuplicateConnectorTypeError,
    PluginLoadError,
    PluginPinError,
    SergeantError,
    UnknownConnectorTypeError,
)
from sergeant.plugins import ENV_ALLOW, ENV_AUTOLOAD_OFF, PluginPolicy
from sergeant.redaction import redact

__all__ = [
    "ENTRY_POINT_GROUP",
    "KNOWN_SCHEMES",
    "KNOWN_TYPES",
    "PARAMS_ENTRY_POINT_GROUP",
    "ConnectorTypes",
    "ParamsCheck",
    "PluginInfo",
    "Registry",
    "load_params_check",
]

ENTRY_POINT_GROUP = "sergeant.connectors"
#: Types sergeant ships as separate distributions, for the install hint.
KNOWN_TYPES: dict[str, str] = {
    "local": "sergeant-local",
    "redis": "sergeant-redis",
    "mongo": "sergeant-mongo",
}

#: The url schemes of those types, only to say what to install when a url's
#: scheme is one of them and no installed plugin reads it: reading urls is the
#: plugins' (the ``sergeant_connector_url_schemes`` hook).
KNOWN_SCHEMES: dict[str, str] = {
    "local": "local",
    "redis": "redis",
    "rediss": "redis",
    "mongodb": "mongo",
    "mongodb+srv": "mongo",
}

#: A url's scheme (RFC 3986): a letter, then letters, digits, ``+``, ``-`` or ``.``.
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")


class ConnectorTypes:
    """The table of connector classes by type that a :class:`Registry` keeps.

    ``sergeant_register_connectors`` receives it under the parameter name
    ``registry`` (pluggy passes hook arguments by name, so the name stays for the
    plugins written against it): plugins add their classes with :meth:`add_connector`.
    """

    def __init__(self) -> None:
        self._classes: dict[str, type[Connector]] = {}
        self._origin: dict[str, str] = {}
        self._current_origin = "<direct>"

    def add_connector(self, cls: type[Connector], *, replace: bool = False) -> None:
        """Register ``cls`` under ``cls.type_name``.

        :param replace: allow replacing a different class already registered for the type.
        """
        if not (isinstance(cls, type) and issubclass(cls, Connector)):
            raise PluginLoadError(
                f"{self._current_origin} registered {cls!r}, which is not a "
                "sergeant.connector.Connector subclass"
            )
        type_name = getattr(cls, "type_name", None)
        if not isinstance(type_name, str) or not type_name:
            raise PluginLoadError(
                f"{self._current_origin} registered {cls.__qualname__} without a type_name; "
                "set the class attribute type_name = '...'"
            )
        existing = self._classes.get(type_name)
        if existing is not None and existing is not cls and not replace:
            raise DuplicateConnectorTypeError(
                f"connector type {type_name!r} is already registered by "
                f"{self._origin[type_name]} ({existing.__module__}.{existing.__qualname__}); "
                f"{self._current_origin} tried to register {cls.__module__}.{cls.__qualname__}"
            )
        self._classes[type_name] = cls
        self._origin[type_name] = self._current_origin

    def get(self, type_name: str) -> type[Connector] | None:
        """The class registered for ``type_name``, if any."""
        return self._classes.get(type_name)

    def names(self) -> list[str]:
        """Registered type names, sorted."""
        return sorted(self._classes)


@attrs.frozen
class PluginInfo:
    """One row of ``sergeant plugins``."""

    type: str
    distribution: str | None
    version: str | None
    module: str | None
    status: str

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def _dist_version(ep: importlib_metadata.EntryPoint) -> str:
    return ep.dist.version if ep.dist is not None else "?"


class Registry:
    """Finds, loads and checks connector plugins for one :class:`PluginPolicy`.

    Nothing is imported until a type is resolved, and then only that type's plugin.
    Safe to use from several threads.
    """

    def __init__(self, policy: PluginPolicy | None = None) -> None:
        self.policy = policy if policy is not None else PluginPolicy()
        self.types = ConnectorTypes()
        self._manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._manager.add_hookspecs(hookspecs)
        self._lock = threading.RLock()
        self._checked_requirements = False
        self._loaded_modules = False
        self._params_checks: dict[str, ParamsCheck | None] = {}

    # Public API ---------------------------------------------------------

    def resolve(self, type_name: str) -> type[Connector]:
        """The connector class for ``type_name``, loading its plugin if needed."""
        with self._lock:
            self._check_allowed(type_name)
            self.check_requirements()
            self._register_explicit_modules()
            found = self.types.get(type_name)
            if found is not None:
                return found
            if self.policy.autoload:
                entry_point = self._choose_entry_point(type_name)
                if entry_point is not None:
                    self._load_entry_point(entry_point)
                    found = self.types.get(type_name)
                    if found is None:
                        raise PluginLoadError(
                            f"plugin module {entry_point.value!r} from {_dist_name(entry_point)} "
                            f"{_dist_version(entry_point)} did not register a connector of type "
                            f"{type_name!r}; its sergeant_register_connectors hook must call "
                            "registry.add_connector(cls) with cls.type_name == "
                            f"{type_name!r}"
                        )
                    return found
            raise self._not_found(type_name)

    def plugin_notes(self, type_name: str) -> list[str]:
        """What the loaded plugins say about ``type_name`` through
        :func:`~sergeant.hookspecs.sergeant_plugin_notes`; a plugin whose hook
        raises gives one line saying so instead."""
        lines: list[str] = []
        with self._lock:
            impls = self._manager.hook.sergeant_plugin_notes.get_hookimpls()
        for impl in impls:
            try:
                said = cast("Iterable[object]", impl.function(type_name=type_name))
                lines.extend(str(line) for line in said)
            except Exception as exc:  # a broken note must not hide the others
                lines.append(f"sergeant_plugin_notes failed: {type(exc).__name__}: {exc}")
        return lines

    def connect(self, config: ConnectorConfig) -> Connector:
        """Build a live connector from ``config`` (see :func:`sergeant.connect`)."""
        cls = self.resolve(config.type)
        connector = cls(**dict(config.params))
        self._manager.hook.sergeant_connector_created(connector=connector, config=config)
        return connector

    def check_params(self, type_name: str, params: Mapping[str, Any]) -> bool:
        """Validate ``params`` with the installed plugin's :data:`ParamsCheck` for
        ``type_name``, without importing the connector or its driver.

        :returns: True when checked; False when there is nothing to check with (the
            type is not installed, not allowed, has no params entry point, is
            claimed twice, autoload is off, or the check fails to import): then
            :meth:`connect` validates, or reports why it cannot.
        :raises ConfigError: a param is wrong (what the connector would raise).
        """
        with self._lock:
            if type_name not in self._params_checks:
                self._params_checks[type_name] = load_params_check(type_name, self.policy)
            check = self._params_checks[type_name]
        if check is None:
            return False
        check(params)
        return True

    def url_schemes(self) -> dict[str, dict[str, str]]:
        """Each url scheme the installed plugins read, with each plugin that declares
        it and the form it shows users: ``{'redis': {'sergeant-redis 0.1.0': 'redis://...'}}``.

        A url names no type, so this loads every installed plugin the policy
        allows (see :func:`~sergeant.hookspecs.sergeant_connector_url_schemes`);
        one that fails to load is left out, and resolving its type says why.
        """
        with self._lock:
            self.check_requirements()
            self._register_explicit_modules()
            self._load_every_plugin()
            found: dict[str, dict[str, str]] = {}
            for impl in self._manager.hook.sergeant_connector_url_schemes.get_hookimpls():
                declared = impl.function()
                if not isinstance(declared, Mapping) or not all(
                    isinstance(key, str) and isinstance(value, str)
                    for key, value in declared.items()
                ):
                    raise PluginLoadError(
                        f"plugin {impl.plugin_name}'s sergeant_connector_url_schemes returned "
                        f"{declared!r}; return a dict of scheme to form, e.g. "
                        "{'acme': 'acme://HOST'}"
                    )
                for scheme, form in declared.items():
                    found.setdefault(scheme.lower(), {})[impl.plugin_name] = form
            return found

    def connector_from_url(self, url: str, *, field: str = "url") -> ConnectorConfig:
        """The ``Connector`` config ``url`` names, read by the installed plugin that
        declares its scheme (:func:`~sergeant.hookspecs.sergeant_connector_from_url`).

        :param field: what the user calls the url, for errors (e.g. ``'--connector'``).
        :raises ConfigError: no installed plugin reads the url (the message shows
            it with its password hidden, and the forms the installed plugins read).
        :raises ConnectorNotInstalledError: the scheme is one of a type sergeant
            ships (:data:`KNOWN_SCHEMES`) whose plugin is not installed.
        :raises DuplicateConnectorTypeError: several installed plugins declare the scheme.
        """
        matched = _SCHEME.match(url)
        schemes = self.url_schemes()
        if matched is None:
            raise ConfigError(
                field, redact(url), "a url starts with its scheme: " + _forms(schemes)
            )
        scheme = matched.group(1).lower()
        readers = schemes.get(scheme, {})
        if not readers:
            known = KNOWN_SCHEMES.get(scheme)
            if known is not None and self.types.get(known) is None:
                raise self._not_found(known)
            raise ConfigError(
                field,
                redact(url),
                f"no installed plugin reads {scheme}: urls; " + _forms(schemes),
            )
        if len(readers) > 1:
            raise DuplicateConnectorTypeError(
                f"url scheme {scheme!r} is read by several plugins: {', '.join(sorted(readers))}. "
                "Uninstall one, or name the connector by its type and params"
            )
        ((origin, form),) = readers.items()
        plugin = self._manager.get_plugin(origin)
        others = [other for other in self._manager.get_plugins() if other is not plugin]
        caller = self._manager.subset_hook_caller("sergeant_connector_from_url", others)
        config = caller(url=url)
        if config is None:
            raise ConfigError(
                field, redact(url), f"{origin} reads {scheme}: urls as {form}; " + _forms(schemes)
            )
        if not isinstance(config, ConnectorConfig):
            raise PluginLoadError(
                f"plugin {origin}'s sergeant_connector_from_url returned "
                f"{type(config).__name__}; return a sergeant.config.Connector or None"
            )
        return config

    def register_module(self, module: ModuleType, *, origin: str | None = None) -> None:
        """Register a plugin module directly (what autoload does for each entry point)."""
        with self._lock:
            name = origin or module.__name__
            if self._manager.is_registered(module):
                return
            self.types._current_origin = name
            try:
                self._manager.register(module, name=name)
                self._manager.check_pending()
                self._call_register(module)
            except SergeantError:
                raise
            except pluggy.PluginValidationError as exc:
                raise PluginLoadError(f"plugin {name} has an invalid hook: {exc}") from exc
            finally:
                self.types._current_origin = "<direct>"

    def check_requirements(self) -> None:
        """Fail with :class:`PluginPinError` if an installed distribution misses its pin."""
        if self._checked_requirements:
            return
        problems = []
        for requirement in self.policy.requires:
            try:
                installed = importlib_metadata.version(requirement.name)
            except importlib_metadata.PackageNotFoundError:
                problems.append(
                    f"{requirement} is required but {requirement.name} is not installed"
                )
                continue
            if requirement.specifier and not requirement.specifier.contains(
                installed, prereleases=True
            ):
                problems.append(
                    f"{requirement} is required but {requirement.name} {installed} is installed"
                )
        if problems:
            raise PluginPinError(
                "installed plugins do not match this deployment's pins: "
                + "; ".join(problems)
                + ". Install the pinned versions or update the pins "
                "(`sergeant plugins --requirements` prints what is installed)"
            )
        self._checked_requirements = True

    def discover(self) -> list[PluginInfo]:
        """Every installed and known type with its distribution and status (loads each plugin)."""
        rows: list[PluginInfo] = []
        by_type: dict[str, list[importlib_metadata.EntryPoint]] = {}
        for ep in self._entry_points():
            by_type.setdefault(ep.name, []).append(ep)
        for type_name in sorted(set(by_type) | set(KNOWN_TYPES) | set(self.types.names())):
            eps = by_type.get(type_name, [])
            if not eps:
                cls = self.types.get(type_name)
                if cls is not None:
                    rows.append(
                        PluginInfo(type_name, None, None, cls.__module__, "ok (registered)")
                    )
                else:
                    hint = f"pip install {KNOWN_TYPES[type_name]}"
                    rows.append(
                        PluginInfo(
                            type_name, KNOWN_TYPES[type_name], None, None, f"not installed ({hint})"
                        )
                    )
                continue
            for ep in eps:
                rows.append(
                    PluginInfo(
                        type_name,
                        _dist_name(ep),
                        _dist_version(ep),
                        ep.value,
                        self._status(type_name),
                    )
                )
        return rows

    def installed_requirements(self) -> list[str]:
        """Exact pins (``name==version``) for sergeant and every installed plugin distribution."""
        pins = {"sergeant": importlib_metadata.version("sergeant")}
        for ep in self._entry_points():
            if ep.dist is not None:
                pins[canonicalize_name(ep.dist.name)] = ep.dist.version
        return [f"{name}=={version}" for name, version in sorted(pins.items())]

    # Internals ----------------------------------------------------------

    def _call_register(self, module: ModuleType) -> None:
        # Only the new module's hook: the other plugins have registered already.
        others = [p for p in self._manager.get_plugins() if p is not module]
        caller = self._manager.subset_hook_caller("sergeant_register_connectors", others)
        caller(registry=self.types)

    def _status(self, type_name: str) -> str:
        try:
            self.resolve(type_name)
        except SergeantError as exc:
            return f"error: {exc}"
        return "ok"

    def _entry_points(self) -> Iterator[importlib_metadata.EntryPoint]:
        seen: set[tuple[str, str, str]] = set()
        for ep in importlib_metadata.entry_points(group=ENTRY_POINT_GROUP):
            key = (ep.name, canonicalize_name(_dist_name(ep)), ep.value)
            if key not in seen:
                seen.add(key)
                yield ep

    def _choose_entry_point(self, type_name: str) -> importlib_metadata.EntryPoint | None:
        candidates = [ep for ep in self._entry_points() if ep.name == type_name]
        if len(candidates) <= 1:
            return candidates[0] if candidates else None
        pinned = {canonicalize_name(r.name) for r in self.policy.requires}
        chosen = [ep for ep in candidates if canonicalize_name(_dist_name(ep)) in pinned]
        if len(chosen) == 1:
            return chosen[0]
        claims = ", ".join(
            f"{_dist_name(ep)} {_dist_version(ep)} ({ep.value})" for ep in candidates
        )
        raise DuplicateConnectorTypeError(
            f"connector type {type_name!r} is claimed by several distributions: {claims}. "
            "Uninstall one, or pin the one to use (PluginPolicy(requires=[...]) or "
            "SERGEANT_PLUGIN_REQUIREMENTS)"
        )

    def _load_entry_point(self, ep: importlib_metadata.EntryPoint) -> None:
        origin = f"{_dist_name(ep)} {_dist_version(ep)}"
        try:
            module = importlib.import_module(ep.value.split(":", 1)[0])
        except Exception as exc:
            raise PluginLoadError(
                f"connector plugin {ep.name!r} failed to import: distribution {origin}, "
                f"module {ep.value!r}: {type(exc).__name__}: {exc}"
            ) from exc
        self.register_module(module, origin=origin)

    def _load_every_plugin(self) -> None:
        if not self.policy.autoload:
            return
        for type_name in sorted({ep.name for ep in self._entry_points()}):
            allowed = self.policy.allow is None or type_name in self.policy.allow
            if allowed and self.types.get(type_name) is None:
                try:
                    self.resolve(type_name)
                except SergeantError:  # reported when the type itself is asked for
                    continue

    def _register_explicit_modules(self) -> None:
        if self._loaded_modules:
            return
        for name in self.policy.modules:
            try:
                module = importlib.import_module(name)
            except Exception as exc:
                raise PluginLoadError(
                    f"plugin module {name!r} (from the deployment's plugin list) failed to "
                    f"import: {type(exc).__name__}: {exc}"
                ) from exc
            self.register_module(module)
        self._loaded_modules = True

    def _check_allowed(self, type_name: str) -> None:
        if not isinstance(type_name, str) or not type_name:
            raise ConfigError(
                "Connector.type", type_name, "use a connector type name such as 'local'"
            )
        allow = self.policy.allow
        if allow is not None and type_name not in allow:
            raise PluginPinError(
                f"connector type {type_name!r} is not allowed by this deployment "
                f"({ENV_ALLOW}={','.join(sorted(allow))}); add it to the allow-list to use it"
            )

    def _not_found(self, type_name: str) -> UnknownConnectorTypeError:
        installed = sorted({ep.name for ep in self._entry_points()} | set(self.types.names()))
        if not self.policy.autoload:
            installed = self.types.names()
        if type_name in KNOWN_TYPES and type_name not in installed:
            if not self.policy.autoload:
                return ConnectorNotInstalledError(
                    f"connector type {type_name!r} is not registered: plugin autoload is off "
                    f"({ENV_AUTOLOAD_OFF}); list its module in SERGEANT_PLUGINS or "
                    "PluginPolicy(modules=[...])"
                )
            return ConnectorNotInstalledError(
                f"connector type {type_name!r} is not installed: "
                f"pip install {KNOWN_TYPES[type_name]}"
            )
        candidates = sorted(set(installed) | set(KNOWN_TYPES))
        close = difflib.get_close_matches(type_name, candidates, n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        listed = ", ".join(installed) if installed else "none"
        return UnknownConnectorTypeError(
            f"unknown connector type {type_name!r}.{hint} Installed types: {listed}"
        )


def _forms(schemes: Mapping[str, Mapping[str, str]]) -> str:
    """What to write instead: the forms the installed plugins read."""
    forms = sorted({form for readers in schemes.values() for form in readers.values()})
    if not forms:
        return (
            "no installed plugin reads urls; name the connector by its type and params, "
            "or install the plugin that reads this url"
        )
    return (
        f"the installed plugins read {', '.join(forms)}; use one of those, or name the "
        "connector by its type and params"
    )
