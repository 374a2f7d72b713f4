"""Plugin discovery, enabling, ordering and hook calling.

Installed is not enabled: entry points in the `mentorkit.plugins` group are only
listed until config names them, and only then imported. The built-in plugins go
through the same group, so a third-party plugin is not second-class.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable

import pluggy
from marshmallow import Schema

from . import hookspecs
from .errors import PluginError

log = logging.getLogger("mentorkit.plugins")
ENTRY_POINT_GROUP = "mentorkit.plugins"
CORE_PLUGIN = "core"


@dataclass(frozen=True)
class PluginSpec:
    """What the core needs to know about a plugin before calling its hooks.

    `name` is its config section, alembic branch label and permission prefix.
    Its alembic revisions live in `<package>/migrations/versions/` by convention.
    """

    name: str
    requires: tuple[str, ...] = ()
    config_schema: type[Schema] | None = None
    default_prefix: str = ""
    version: str = "0.0.0"
    description: str = ""


@dataclass
class LoadedPlugin:
    spec: PluginSpec
    module: ModuleType
    dist_version: str = ""


@dataclass
class Installed:
    name: str
    target: str
    version: str
    entry_point: metadata.EntryPoint | None = field(default=None, repr=False)
    builtin: bool = False  # shipped in the mentorkit distribution itself


BUILTIN_DISTRIBUTION = "mentorkit"


def installed_plugins() -> dict[str, Installed]:
    found: dict[str, Installed] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        version = ep.dist.version if ep.dist else ""
        builtin = bool(ep.dist) and ep.dist.metadata["Name"] == BUILTIN_DISTRIBUTION
        found[ep.name] = Installed(ep.name, ep.value, version, ep, builtin)
    return found


def default_enabled(installed: dict[str, Installed]) -> list[str]:
    """Without `plugins.enabled`: every built-in plugin. Third-party ones are opt-in."""
    return sorted(name for name, inst in installed.items() if inst.builtin)


def versions_path(inst: Installed) -> Path | None:
    """Where the plugin's alembic versions live (`<package>/migrations/versions`), found
    without importing the plugin; None when the plugin is not a package."""
    try:
        found = importlib.util.find_spec(inst.target.split(":")[0])
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    return Path(next(iter(found.submodule_search_locations))) / "migrations" / "versions"


def migration_dir(inst: Installed) -> str | None:
    """The plugin's versions folder if it holds revisions. An empty folder (a plugin whose
    first revision is not written yet) is no branch."""
    path = versions_path(inst)
    return str(path) if path is not None and path.is_dir() and any(path.glob("*.py")) else None


def _describe(installed: dict[str, Installed]) -> str:
    if not installed:
        return "no plugins are installed"
    return "installed: " + ", ".join(sorted(installed))


def load_plugin_module(inst: Installed) -> LoadedPlugin:
    assert inst.entry_point is not None
    module = inst.entry_point.load()
    spec = getattr(module, "spec", None)
    if not isinstance(spec, PluginSpec):
        raise PluginError(f"plugin {inst.name!r} ({inst.target}) has no `spec = PluginSpec(...)`")
    if spec.name != inst.name:
        raise PluginError(f"plugin entry point {inst.name!r} declares spec name {spec.name!r}")
    return LoadedPlugin(spec, module, inst.version)


def resolve(enabled: Iterable[str], installed: dict[str, Installed] | None = None) -> list[LoadedPlugin]:
    """Import the enabled plugins and return them in dependency order.

    Unknown names, missing requirements and cycles stop start-up; the message
    lists what is installed so the operator can fix the config in one go.
    """
    installed = installed_plugins() if installed is None else installed
    wanted = list(dict.fromkeys(enabled))
    unknown = [n for n in wanted if n not in installed]
    if unknown:
        raise PluginError(f"unknown plugin(s) {', '.join(unknown)}; {_describe(installed)}")
    loaded = {name: load_plugin_module(installed[name]) for name in wanted}
    problems = []
    for name, plugin in loaded.items():
        missing = [r for r in plugin.spec.requires if r != CORE_PLUGIN and r not in loaded]
        if missing:
            problems.append(f"plugin {name!r} requires {', '.join(missing)}, which is not enabled")
    if problems:
        raise PluginError("; ".join(problems) + f"; {_describe(installed)}")
    return [loaded[n] for n in _topological(loaded)]


def _topological(loaded: dict[str, LoadedPlugin]) -> list[str]:
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = path[path.index(name):] + [name]
            raise PluginError("plugin dependency cycle: " + " -> ".join(cycle))
        state[name] = "visiting"
        for dep in loaded[name].spec.requires:
            if dep != CORE_PLUGIN:
                visit(dep, path + [name])
        state[name] = "done"
        order.append(name)

    for name in loaded:
        visit(name, [])
    return order


def make_plugin_manager(core_modules: list[ModuleType], plugins: list[LoadedPlugin]) -> pluggy.PluginManager:
    """A fresh manager per app: no plugin state leaks between apps or tests."""
    pm = pluggy.PluginManager("mentorkit")
    pm.add_hookspecs(hookspecs)
    for module in core_modules:
        pm.register(module, name=module.__name__)
    for plugin in plugins:
        pm.register(plugin.module, name=plugin.spec.name)
    # Historic: every plugin, whenever registered, gets to open its hooks.
    pm.hook.add_hookspecs.call_historic(kwargs={"pm": pm})
    pm.check_pending()
    return pm


def plugin_name(pm: pluggy.PluginManager, impl: pluggy.HookImpl) -> str:
    name = pm.get_name(impl.plugin) or ""
    return CORE_PLUGIN if name == CORE_PLUGIN or name.startswith(CORE_PLUGIN + ".") else name


def call_each(pm: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
    """Call a build-time hook implementation by implementation, keeping who returned what.

    Implementations run in registration order (core first, then plugins in
    dependency order) - the reverse of pluggy's default LIFO - so a plugin can
    rely on what its requirements registered.
    """
    hook = getattr(pm.hook, hook_name)
    results = []
    for impl in hook.get_hookimpls():
        args = {k: kwargs[k] for k in impl.argnames if k in kwargs}
        results.append((plugin_name(pm, impl), impl.function(**args)))
    return results


async def call_async(pm: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
    """Await each implementation of a runtime hook in isolation; failures are logged."""
    out = []
    for name, impl in _impls(pm, hook_name):
        try:
            args = {k: kwargs[k] for k in impl.argnames if k in kwargs}
            result = impl.function(**args)
            if inspect.isawaitable(result):
                result = await result
            out.append((name, result))
        except Exception:
            log.exception("hook %s failed in plugin %s", hook_name, name)
    return out


async def emit(app: Any, name: str, payload: dict[str, Any]) -> None:
    """A domain event to every `on_event` implementation; call it after the commit."""
    from .keys import PLUGIN_MANAGER

    await call_async(app[PLUGIN_MANAGER], "on_event", app=app, name=name, payload=payload)


def _impls(pm: pluggy.PluginManager, hook_name: str) -> list[tuple[str, pluggy.HookImpl]]:
    hook = getattr(pm.hook, hook_name)
    return [(plugin_name(pm, impl), impl) for impl in hook.get_hookimpls()]
