"""The plugin manager: built-in and third-party plugins load through the same hooks."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import pluggy

from . import hookspecs
from .errors import PluginError

ENTRY_POINT_GROUP = "evidex"
DEFAULT_PLUGINS = ("evidex.sources",)

pm = pluggy.PluginManager("evidex")
pm.add_hookspecs(hookspecs)


@dataclass
class LoadState:
    "What load_plugins() did, so `evidex plugins` and runs can report failures."

    loaded: bool = False
    plugins_dirs: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (plugin name, error)
    versions: dict[str, str] = field(default_factory=dict)  # plugin name -> distribution version
    owners: dict[str, str] = field(default_factory=dict)  # extractor name -> plugin name
    origins: dict[str, str] = field(default_factory=dict)  # plugin name -> where it was loaded from
    clashes: list[str] = field(default_factory=list)  # two plugins under one name: an error every load
    invalid: list[str] = field(default_factory=list)  # hooks pluggy refuses (an argument no hook passes): likewise
    unknown: str = ""  # EVIDEX_LOAD_PLUGINS names no installed plugin has: an error every load
    unknown_names: list[str] = field(default_factory=list)


state = LoadState()


def _wanted(ep: importlib.metadata.EntryPoint) -> bool:
    "EVIDEX_LOAD_PLUGINS limits installed plugins by entry-point or distribution name."
    names = os.environ.get("EVIDEX_LOAD_PLUGINS")
    if names is None:
        return True
    allowed = {n.strip() for n in names.split(",") if n.strip()}
    dist = _normal(ep.dist.name) if ep.dist else ""
    return ep.name in allowed or (dist != "" and dist in {_normal(n) for n in allowed})


def _unknown_names(installed: list[importlib.metadata.EntryPoint]) -> tuple[str, list[str]]:
    "What EVIDEX_LOAD_PLUGINS names that no installed plugin is called: an error message ('' if none), the names."
    names = os.environ.get("EVIDEX_LOAD_PLUGINS")
    if not names:
        return "", []
    known = {ep.name for ep in installed} | {_normal(ep.dist.name) for ep in installed if ep.dist}
    unknown = [n.strip() for n in names.split(",")
               if n.strip() and n.strip() not in known and _normal(n.strip()) not in known]
    if not unknown:
        return "", []
    return (f"EVIDEX_LOAD_PLUGINS names {', '.join(repr(n) for n in unknown)}, which no installed plugin is "
            f"called; installed: {', '.join(sorted({ep.name for ep in installed})) or 'none'}"), unknown


def _named_by_plugins_dir() -> bool:
    "Are the names EVIDEX_LOAD_PLUGINS has that no installed plugin has all plugins-dir modules (loaded anyway)?"
    local = {name for name, origin in state.origins.items() if origin.startswith("file ")}
    return bool(local) and set(state.unknown_names) <= local


def _normal(name: str) -> str:
    "A distribution name as pip compares them: 'evidex_mything' is 'evidex-mything'."
    return re.sub(r"[-_.]+", "-", name).lower()


def _load_module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"evidex_local_plugins.{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _register(module: object, name: str, version: str = "", origin: str = "") -> None:
    if pm.is_registered(module):
        return
    if pm.get_plugin(name) is not None:
        # Which of the two would win depends on install order; the loser's claims would be
        # superseded by the winner's under the same name. Refuse both, naming them.
        clash = f"two plugins are named {name!r}: {state.origins.get(name, 'one already loaded')} and {origin or repr(module)}"
        if clash not in state.clashes:
            state.clashes.append(clash)
        return
    try:
        pm.register(module, name=name)
    except pluggy.PluginValidationError as ex:
        # Raised while the command line is built: a traceback there would break even --help.
        problem = f"plugin {name!r} ({origin or repr(module)}) has a hook evidex cannot call: {_one_line(ex)}"
        if problem not in state.invalid:
            state.invalid.append(problem)
        return
    state.versions[name] = version
    state.origins[name] = origin


def load_plugins(plugins_dir: str | os.PathLike | None = None) -> None:
    "Register default plugins, entry points and a plugins dir; idempotent, fail loudly on bad hooks."
    if not state.loaded:
        state.loaded = True
        for module_name in DEFAULT_PLUGINS:
            _register(importlib.import_module(module_name), module_name, _evidex_version(), f"module {module_name}")
        installed = list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
        state.unknown, state.unknown_names = _unknown_names(installed)
        for ep in installed:
            if not _wanted(ep):
                continue
            try:
                module = ep.load()
            except (Exception, SystemExit) as ex:  # a broken plugin must not take the others down
                state.failures.append((ep.name, f"{type(ex).__name__}: {ex}"))
                continue
            dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist else "no distribution"
            _register(module, ep.name, ep.dist.version if ep.dist else "", f"entry point {ep.value} ({dist})")
    plugins_dir = plugins_dir or os.environ.get("EVIDEX_PLUGINS_DIR")
    if plugins_dir and str(plugins_dir) not in state.plugins_dirs:
        load_plugins_dir(Path(plugins_dir))
    if state.clashes:
        raise PluginError(f"{state.clashes[0]}; rename or uninstall one")
    if state.invalid:
        raise PluginError(state.invalid[0])
    if state.unknown and not _named_by_plugins_dir():
        # A misspelt name would otherwise run without that plugin, or with none at all.
        raise PluginError(state.unknown)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as ex:
        name = pm.get_name(ex.plugin) or repr(ex.plugin)
        hook = re.search(r"unknown hook '(\w+)'", str(ex))
        raise PluginError(f"plugin {name!r} ({state.origins.get(name) or 'loaded'}) declares an unknown hook "
                          f"{hook.group(1) if hook else str(ex)!r}; evidex's hooks are {_hooks()}") from None


def _hooks() -> str:
    "The hooks a plugin may implement, with their arguments: 'register_commands(cli), ...'."
    return ", ".join(f"{name}({', '.join(caller.spec.argnames)})" for name, caller in sorted(vars(pm.hook).items())
                     if not name.startswith("_") and caller.spec)


def _one_line(ex: pluggy.PluginValidationError) -> str:
    "pluggy's several-line message as one line, with the hook's real arguments."
    lines = [line.strip() for line in str(ex).splitlines() if line.strip()]
    hook = re.search(r"for hook '(\w+)'", lines[0]) if lines else None
    caller = getattr(pm.hook, hook.group(1), None) if hook else None
    detail = "; ".join(lines[1:]) or str(ex)
    if caller is not None and caller.spec:
        detail += f"; the hook is {caller.name}({', '.join(caller.spec.argnames)})"
    return detail


def load_plugins_dir(path: Path) -> None:
    "Register every .py file in path as a one-off plugin (datasette's --plugins-dir)."
    if not path.is_dir():
        raise PluginError(f"plugins directory does not exist: {path}")
    state.plugins_dirs.append(str(path))
    files = [f for f in sorted(path.glob("*.py")) if not f.name.startswith("_")]
    if not files:
        # A wrong folder (a package's, or its project's) would otherwise run without the plugin meant,
        # silently. A warning, not an error: a configured plugins_dir may be empty on purpose.
        print(f"warning: plugins directory {path} holds no plugin (no .py file whose name does not start "
              "with _); an installed package is loaded by its entry point, not from its folder", file=sys.stderr)
    for file in files:
        try:
            module = _load_module(file.stem, file)
        except (Exception, SystemExit) as ex:
            state.failures.append((file.stem, f"{type(ex).__name__}: {ex}"))
            continue
        _register(module, file.stem, "", f"file {file}")


def _evidex_version() -> str:
    from . import __version__

    return __version__


def get_plugins() -> list[dict]:
    "Loaded plugins with their hooks and versions, for `evidex plugins`."
    load_plugins()
    out = []
    for plugin in pm.get_plugins():
        name = pm.get_name(plugin) or repr(plugin)
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        out.append({"name": name, "hooks": hooks, "version": state.versions.get(name, "")})
    return sorted(out, key=lambda p: p["name"])


def reset() -> None:
    "Unregister everything: for tests that need a fresh plugin manager."
    for plugin in list(pm.get_plugins()):
        pm.unregister(plugin)
    state.loaded = False
    state.plugins_dirs.clear()
    state.failures.clear()
    state.versions.clear()
    state.owners.clear()
    state.origins.clear()
    state.clashes.clear()
    state.invalid.clear()
    state.unknown = ""
    state.unknown_names.clear()
    sys.modules.pop("evidex_local_plugins", None)
