"""The light check of a connector's params, found through entry points.

A plugin may name, in the ``sergeant.connector_params`` group under its type, a
function that checks the connector's ``params`` without importing the connector
or its driver (:data:`ParamsCheck`). ``sergeant.config.Connector(...)`` calls it
at construction; :class:`sergeant.registry.Registry` re-exports these names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

import importlib_metadata
from packaging.utils import canonicalize_name

from sergeant.plugins import PluginPolicy

__all__ = ["PARAMS_ENTRY_POINT_GROUP", "ParamsCheck", "dist_name", "load_params_check"]

#: Entry points named by type whose value (``module:function``) is a :data:`ParamsCheck`.
PARAMS_ENTRY_POINT_GROUP = "sergeant.connector_params"

#: Checks a connector's ``params`` (the mapping users pass) and raises
#: :class:`~sergeant.errors.ConfigError` naming the field, exactly as the
#: connector's constructor would; no I/O, and its module imports no driver.
ParamsCheck: TypeAlias = Callable[[Mapping[str, Any]], object]


def load_params_check(type_name: str, policy: PluginPolicy) -> ParamsCheck | None:
    """The installed :data:`ParamsCheck` of ``type_name`` under ``policy``, or None.

    None when autoload is off, the type is not allowed, no distribution (or more
    than one) names a check for it, or the check fails to import: the connector's
    own constructor then validates, and connecting reports any plugin problem.
    Needs no plugin manager and imports only the check's module.
    """
    if not policy.autoload or (policy.allow is not None and type_name not in policy.allow):
        return None
    found = [
        ep
        for ep in importlib_metadata.entry_points(group=PARAMS_ENTRY_POINT_GROUP)
        if ep.name == type_name
    ]
    if len({(canonicalize_name(dist_name(ep)), ep.value) for ep in found}) != 1:
        return None
    try:
        check = found[0].load()
    except Exception:  # connect() imports the plugin and reports the failure
        return None
    return check if callable(check) else None


def dist_name(ep: importlib_metadata.EntryPoint) -> str:
    """The name of the distribution that declares ``ep``."""
    return ep.dist.name if ep.dist is not None else "<unknown distribution>"
