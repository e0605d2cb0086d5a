"""Which plugins a handler runs: those passed in ``plugins=``, then those the environment
names.

``DURABLE_EXECUTION_PLUGINS`` (the official SDK's variable) is a comma-separated list of
entry-point names. Each is looked up in the ``aiodurable.plugins`` entry-point group, then
in the official SDK's ``aws_durable_execution.plugins`` group, so a plugin package shipped
in a Lambda layer is enabled by configuration alone. An entry point resolves to a plugin
factory (an object with ``create_plugin(info)``) or a plugin instance. The lookup runs
once, when the handler is built, and only when the variable is set; a name that cannot be
resolved raises :class:`~aiodurable.errors.PluginLoadError` there, not mid-invocation.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from aiodurable.errors import PluginLoadError
from aiodurable.plugins.dispatch import is_plugin_factory
from aiodurable.plugins.plugin import HOOKS, PluginEntry

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = ["ENTRY_POINT_GROUPS", "PLUGIN_ENVIRONMENT_VARIABLE", "configured_plugins"]

PLUGIN_ENVIRONMENT_VARIABLE = "DURABLE_EXECUTION_PLUGINS"
#: Searched in this order: aiodurable's own group, then the official SDK's.
ENTRY_POINT_GROUPS = ("aiodurable.plugins", "aws_durable_execution.plugins")

_logger = logging.getLogger("aiodurable.plugins")


def configured_plugins(
    explicit: Sequence[PluginEntry], environment: Mapping[str, str] | None = None
) -> list[PluginEntry]:
    """``explicit`` (checked), followed by the plugins the environment names, in order.

    An entry point resolving to an object already passed explicitly is not added twice.
    """
    plugins = list(explicit)
    for entry in plugins:
        _check_entry(entry, "plugins=")
    names = _configured_names(os.environ if environment is None else environment)
    if not names:
        return plugins
    available = _entry_points()
    for name in names:
        entry = _load(name, available)
        if any(entry is known for known in plugins):
            _logger.info("plugin %r is already passed in plugins=; not added twice", name)
            continue
        plugins.append(entry)
    return plugins


def _configured_names(environment: Mapping[str, str]) -> list[str]:
    raw = environment.get(PLUGIN_ENVIRONMENT_VARIABLE, "")
    if not raw.strip():
        return []
    names = [name.strip() for name in raw.split(",")]
    if not all(names):
        raise PluginLoadError(
            f"{PLUGIN_ENVIRONMENT_VARIABLE}={raw!r} has an empty name: write "
            "comma-separated plugin names, such as 'otel,audit'"
        )
    if len(set(names)) != len(names):
        raise PluginLoadError(
            f"{PLUGIN_ENVIRONMENT_VARIABLE}={raw!r} names a plugin twice: list each once"
        )
    return names


def _entry_points() -> dict[str, list[list[EntryPoint]]]:
    """Entry points by name: one list per group, in :data:`ENTRY_POINT_GROUPS` order."""
    from importlib import metadata  # only when the environment names plugins

    found: dict[str, list[list[EntryPoint]]] = {}
    for position, group in enumerate(ENTRY_POINT_GROUPS):
        for entry_point in metadata.entry_points(group=group):
            lists = found.setdefault(entry_point.name, [[] for _ in ENTRY_POINT_GROUPS])
            lists[position].append(entry_point)
    return found


def _load(name: str, available: dict[str, list[list[EntryPoint]]]) -> PluginEntry:
    groups = available.get(name)
    candidates = next((eps for eps in groups or () if eps), None)
    if candidates is None:
        installed = ", ".join(sorted(available)) or "none"
        raise PluginLoadError(
            f"{PLUGIN_ENVIRONMENT_VARIABLE} names plugin {name!r}, but no installed package "
            f"declares it in the entry-point groups {', '.join(ENTRY_POINT_GROUPS)} "
            f"(installed: {installed}). Install the plugin package in the function or an "
            f"attached layer, or remove {name!r} from {PLUGIN_ENVIRONMENT_VARIABLE}."
        )
    if len(candidates) > 1:
        sources = ", ".join(_distribution(ep) for ep in candidates)
        raise PluginLoadError(
            f"plugin {name!r} is declared by several packages ({sources}): uninstall all but one"
        )
    entry_point = candidates[0]
    try:
        entry = entry_point.load()
    except Exception as exc:
        raise PluginLoadError(
            f"plugin {name!r} ({entry_point.value}, from {_distribution(entry_point)}) "
            f"failed to import: {exc!r}"
        ) from exc
    _check_entry(entry, f"plugin {name!r} ({entry_point.value})")
    return cast(PluginEntry, entry)


def _check_entry(entry: Any, where: str) -> None:
    if isinstance(entry, type):
        raise PluginLoadError(
            f"{where} is the class {entry.__qualname__}, not a plugin: pass an instance "
            f"({entry.__qualname__}()) or a factory with a create_plugin(info) method"
        )
    if is_plugin_factory(entry) or any(callable(getattr(entry, h, None)) for h in HOOKS):
        return
    raise PluginLoadError(
        f"{where} is {type(entry).__qualname__}, which is neither a plugin (no on_… hook) "
        "nor a plugin factory (no create_plugin method)"
    )


def _distribution(entry_point: EntryPoint) -> str:
    dist = getattr(entry_point, "dist", None)
    return str(dist.metadata["Name"]) if dist is not None else "an unknown package"
