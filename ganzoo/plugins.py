"""The one plugin manager: built-in plugins first, then third-party entry points of group ``ganzoo``.

Loading is lazy and happens once per process. A plugin that fails to import, whose
hook raises, or that registers a bad or duplicate spec is recorded with its error and
shown by ``ganzoo plugins`` and as a warning; the other plugins keep working. "Fails"
means any way out of plugin code (:func:`plugin_code`): an exception, ``sys.exit()``, or
a ``KeyboardInterrupt`` the plugin raised itself; only the user's own Ctrl-C stops
ganzoo. An entry point that takes more than ``SLOW_IMPORT_SECONDS`` to import is named
in a warning, since every ganzoo command waits for it.

``GANZOO_LOAD_PLUGINS`` controls third-party loading: unset loads all; an empty value
loads none; a comma-separated list loads only those entry-point names. An unknown name
then also names the installed plugins it leaves out, and a run whose plugin is missing
(:func:`why_unregistered`, from the :func:`origin` the run recorded) says which plugin and why.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import signal
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

import pluggy

from . import hookspecs
from .errors import GanzooError, first_line
from .registry import Registry
from .specs import DatasetSpec, MetricNumber, MetricSpec, ModelSpec, SpecError

# The single place where the core names its built-in plugins.
DEFAULT_PLUGINS = (
    "ganzoo_plugins.mnist",
    "ganzoo_plugins.mixtures",
    "ganzoo_plugins.vanilla",
    "ganzoo_plugins.cgan",
    "ganzoo_plugins.wgan",
    "ganzoo_plugins.dcgan",
    "ganzoo_plugins.progan_lite",
    "ganzoo_plugins.stylegan_lite",
    "ganzoo_plugins.vae",
    "ganzoo_plugins.r3gan_lite",
    "ganzoo_plugins.pix2pix_lite",
    "ganzoo_plugins.stacked_mnist",
    "ganzoo_plugins.torchvision_sets",
    "ganzoo_plugins.image_folder",
    "ganzoo.eval.builtin",
)

ENV_LOAD = "GANZOO_LOAD_PLUGINS"
SLOW_IMPORT_SECONDS = 5.0  # an entry point slower than this to import is named in a warning


class PluginWarning(UserWarning):
    """A plugin could not be loaded, registered something invalid, is slow to import, or its code failed."""


class PluginFault(Exception):
    """Plugin code failed: raised an exception, called ``sys.exit()`` or raised ``KeyboardInterrupt`` itself.

    The message is one line describing what happened; ``original`` is what the plugin raised.
    """

    def __init__(self, original: BaseException) -> None:
        self.original = original
        super().__init__(describe_failure(original))


def describe_failure(exc: BaseException) -> str:
    """``RuntimeError: boom``, ``called sys.exit(3)``, ``KeyboardInterrupt``: one line."""
    if isinstance(exc, SystemExit):
        return f"called sys.exit({'' if exc.code is None else repr(exc.code)})"
    if isinstance(exc, KeyboardInterrupt):
        return "KeyboardInterrupt (raised by the plugin itself, not by Ctrl-C)"
    return f"{type(exc).__name__}: {first_line(exc)}" if str(exc).strip() else type(exc).__name__


class _SigintWatch:
    user_interrupted = False


@contextmanager
def _watching_sigint() -> Iterator[_SigintWatch]:
    """Note whether SIGINT arrives (the user's Ctrl-C) while the block runs; the handler in place still runs.

    Python raises the user's ``KeyboardInterrupt`` from its SIGINT handler, which runs in the
    main thread only; a ``KeyboardInterrupt`` without a SIGINT was raised by the code itself.
    """
    watch = _SigintWatch()
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous is None:
        # No SIGINT is delivered outside the main thread; a handler not set from Python cannot be put back.
        yield watch
        return

    def handler(signum, frame):
        watch.user_interrupted = True
        if callable(previous):
            previous(signum, frame)  # the default raises KeyboardInterrupt; the trainer's asks for a stop
        elif previous != signal.SIG_IGN:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield watch
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def plugin_code(passes: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Run plugin code: any way it fails becomes :class:`PluginFault`, except the ``passes`` types.

    Caught: every exception, ``SystemExit`` and a ``KeyboardInterrupt`` the code raised
    itself. The user's Ctrl-C (a SIGINT during the block) still interrupts.
    """
    with _watching_sigint() as watch:
        try:
            yield
        except passes:
            raise
        except KeyboardInterrupt:
            if watch.user_interrupted:
                raise
            raise PluginFault(KeyboardInterrupt()) from None
        except BaseException as exc:
            raise PluginFault(exc) from exc


@dataclass
class PluginInfo:
    """What ``ganzoo plugins`` shows about one plugin."""

    name: str
    distribution: str | None = None  # None for plugins registered by hand (tests, notebooks)
    version: str | None = None
    hooks: list[str] = field(default_factory=list)
    registered: dict[str, list[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def builtin(self) -> bool:
        return self.name in DEFAULT_PLUGINS

    def to_dict(self) -> dict:
        """The ``ganzoo plugins --json`` row."""
        return {
            "name": self.name, "distribution": self.distribution, "version": self.version, "builtin": self.builtin,
            "hooks": self.hooks, "registered": self.registered, "ok": self.ok, "errors": self.errors,
        }


pm = pluggy.PluginManager("ganzoo")
pm.add_hookspecs(hookspecs)

_loaded = False
_load_errors: dict[str, PluginInfo] = {}  # plugins that never got registered (import errors)
_dists: dict[str, tuple[str, str]] = {}  # plugin name -> (distribution, version)


@dataclass
class Registries:
    """The tables the hooks fill, for one set of registered plugins (``key``)."""

    key: tuple
    models: Registry[ModelSpec]
    datasets: Registry[DatasetSpec]
    metrics: Registry[MetricSpec]
    infos: dict[str, PluginInfo]


_registries: Registries | None = None


def _broken(name: str, error: str, dist: tuple[str, str] | None = None) -> None:
    """Record a plugin that could not be registered at all."""
    info = _load_errors.setdefault(name, PluginInfo(name))
    if dist:
        info.distribution, info.version = dist
    _report(info, error)


def _report(info: PluginInfo, error: str) -> None:
    error = " ".join(error.split())  # one line, for listings and warnings
    info.errors.append(error)
    warnings.warn(f"plugin {info.name}: {error}", PluginWarning, stacklevel=3)


def _add(plugin: object, name: str, dist: tuple[str, str] | None = None) -> None:
    """Register one plugin; if it implements a hook that does not exist, take it out again and report it."""
    pm.register(plugin, name=name)
    try:
        pm.check_pending()  # the plugins before this one passed, so a failure is this one's
    except pluggy.PluginValidationError as exc:
        pm.unregister(name=name)
        _broken(name, f"implements no known hook: {exc} (known: {', '.join(_hook_names())})", dist)
        return
    if dist:
        _dists[name] = dist


def _hook_names() -> list[str]:
    return sorted(n for n in dir(hookspecs) if hasattr(getattr(hookspecs, n), "ganzoo_spec"))


def load_plugins() -> None:
    """Register built-ins and entry-point plugins once; later calls do nothing."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    ganzoo_dist = ("ganzoo", ganzoo_version())
    for module_name in DEFAULT_PLUGINS:
        try:
            with plugin_code():
                _add(importlib.import_module(module_name), module_name, ganzoo_dist)
        except PluginFault as fault:  # a broken built-in must not hide the rest
            _broken(module_name, f"failed to import: {fault}", ganzoo_dist)

    allowed = _allowed_entry_points()
    for ep in importlib.metadata.entry_points(group="ganzoo"):
        if allowed is not None and ep.name not in allowed:
            continue
        dist = (ep.dist.name, ep.dist.version) if ep.dist else None
        if pm.has_plugin(ep.name) or ep.name in _load_errors:
            seen = _load_errors[ep.name].distribution if ep.name in _load_errors else _dists.get(ep.name, (None,))[0]
            if dist and seen and seen != dist[0]:
                _broken(f"{ep.name} ({dist[0]})", f"entry point name {ep.name!r} is used by both {seen} and {dist[0]}; only {seen} was loaded", dist)
            continue  # otherwise the same distribution is visible twice on sys.path
        _load_entry_point(ep, dist)


def _load_entry_point(ep: importlib.metadata.EntryPoint, dist: tuple[str, str] | None) -> None:
    """Import and register one third-party plugin; any failure is recorded against it."""
    start = time.perf_counter()
    try:
        with plugin_code():
            _add(ep.load(), ep.name, dist)
    except PluginFault as fault:
        _broken(ep.name, f"failed to import: {fault}", dist)
    seconds = time.perf_counter() - start
    if seconds > SLOW_IMPORT_SECONDS:
        warnings.warn(
            f"plugin {ep.name} took {seconds:.1f} s to import, and every ganzoo command waits for it "
            f"(leave it out with {ENV_LOAD}=NAMES, the plugins to load)",
            PluginWarning, stacklevel=2,
        )


def _plugin_key() -> tuple:
    # The plugin objects themselves, not their ids: a key that holds them keeps an id from being
    # reused by a new plugin of the same name (tests register and drop throwaway plugins).
    return tuple(sorted(pm.list_name_plugin(), key=lambda item: item[0]))


def _build_registries() -> Registries:
    """Call every plugin's hooks through pluggy, one plugin at a time, so one failure stays with its plugin."""
    global _registries
    load_plugins()
    key = _plugin_key()
    if _registries is not None and _registries.key == key:
        return _registries
    tables = Registries(
        key, Registry("model", ModelSpec, _left_out_hint), Registry("dataset", DatasetSpec, _left_out_hint),
        Registry("metric", MetricSpec, _left_out_hint), {},
    )
    infos = tables.infos
    plugins_by_name = dict(pm.list_name_plugin())
    for name, plugin in pm.list_name_plugin():
        dist = _dists.get(name)
        infos[name] = PluginInfo(
            name,
            distribution=dist[0] if dist else None,
            version=dist[1] if dist else None,
            hooks=sorted(caller.name for caller in pm.get_hookcallers(plugin) or ()),
        )
    for hook_name, registry in (("register_models", tables.models), ("register_datasets", tables.datasets), ("register_metrics", tables.metrics)):
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            info = infos[impl.plugin_name]
            # pluggy calls the hook with every other plugin left out: an exception here is this plugin's alone.
            others = [p for n, p in plugins_by_name.items() if n != impl.plugin_name]
            call_hook = pm.subset_hook_caller(hook_name, remove_plugins=others)

            def register(spec, _info=info, _registry=registry):
                try:
                    _registry.register(spec, _info.name)
                except GanzooError as exc:
                    _report(_info, str(exc))
                else:
                    _info.registered.setdefault(_registry.kind, []).append(spec.name)

            try:
                with plugin_code(passes=(SpecError,)):
                    call_hook(register=register)
            except SpecError as exc:  # raised while the hook built a spec: the spec is at fault, not the hook
                _report(info, f"hook {hook_name} built an invalid spec: {exc}")
            except PluginFault as fault:
                _report(info, f"hook {hook_name} {fault}" if isinstance(fault.original, SystemExit) else f"hook {hook_name} raised {fault}")
    for name, broken in _load_errors.items():
        infos.setdefault(name, broken)
    _registries = tables
    return tables


def models() -> Registry[ModelSpec]:
    """The model table, built from all loaded plugins."""
    return _build_registries().models


def datasets() -> Registry[DatasetSpec]:
    """The dataset table, built from all loaded plugins."""
    return _build_registries().datasets


def metrics() -> Registry[MetricSpec]:
    """The metric table, built from all loaded plugins."""
    return _build_registries().metrics


def metric_number(source: str, key: str) -> MetricNumber:
    """What metric ``source`` declares about its number ``key`` (a results store's ``source/key`` reads as ``key``).

    A metric that is not installed (or is registered twice) declares nothing: its numbers
    read as undeclared ones, shown, with no direction and no rank.
    """
    key = key.removeprefix(f"{source}/")
    try:
        spec = metrics().get(source)
    except GanzooError:
        return MetricNumber(key)
    return spec.number(key)


def plugin_infos() -> list[PluginInfo]:
    """Every plugin with its distribution, hooks, what it registered and its errors."""
    infos = _build_registries().infos
    return [infos[name] for name in sorted(infos)]


def _allowed_entry_points() -> set[str] | None:
    """The entry-point names ``GANZOO_LOAD_PLUGINS`` lets load (``None``: unset, all of them)."""
    wanted = os.environ.get(ENV_LOAD)
    return None if wanted is None else {w.strip() for w in wanted.split(",") if w.strip()}


def left_out_plugins() -> list[str]:
    """Installed third-party plugins (entry-point names) that ``GANZOO_LOAD_PLUGINS`` keeps from loading."""
    allowed = _allowed_entry_points()
    if allowed is None:
        return []
    return sorted({ep.name for ep in importlib.metadata.entry_points(group="ganzoo")} - allowed)


def _left_out_hint() -> str:
    left_out = left_out_plugins()
    if not left_out:
        return ""
    return f"; {ENV_LOAD}={os.environ[ENV_LOAD]!r} leaves out installed plugin(s) {', '.join(left_out)}, which may register it"


def origin(kind: str, name: str) -> dict[str, str | None]:
    """Where the registered ``kind`` (``model``, ``dataset`` or ``metric``) ``name`` comes from, as a run records it:
    ``{"name", "plugin", "distribution", "version"}`` (no distribution for a plugin registered by hand)."""
    plugin = _registry(kind).owner(name)
    info = _build_registries().infos.get(plugin)
    return {"name": name, "plugin": plugin, "distribution": info.distribution if info else None, "version": info.version if info else None}


def why_unregistered(kind: str, name: str, recorded: dict | None) -> str:
    """One line on why ``kind`` ``name``, which a run used, is not registered now, from what the run recorded (``recorded``: :func:`origin`'s dict, or ``None``)."""
    if not recorded or not isinstance(recorded.get("plugin"), str):
        return _registry(kind).unknown_message(name)  # an old run, or a record that cannot be read: what any unknown name gets
    plugin, dist, version = recorded["plugin"], recorded.get("distribution"), recorded.get("version")
    made = f"plugin {plugin}" + (f" ({dist} {version})" if isinstance(dist, str) else "")
    head = f"{kind} {name!r} is not registered: the run was made with {made}"
    allowed = _allowed_entry_points()
    info = _build_registries().infos.get(plugin)
    if allowed is not None and plugin not in allowed and plugin not in DEFAULT_PLUGINS:
        return f"{head}, which {ENV_LOAD}={os.environ[ENV_LOAD]!r} leaves out (add {plugin} to it, or unset it)"
    if info is not None and info.errors:
        return f"{head}, which failed to load: {info.errors[0]} (see ganzoo plugins)"
    if info is not None:
        now = f" (now {describe_distribution(info)})" if info.distribution else ""
        return f"{head}, which is loaded{now} but no longer registers it"
    install = f" (pip install {dist})" if isinstance(dist, str) and dist != "ganzoo" else ""
    return f"{head}, which is not installed here{install}"


def _registry(kind: str) -> Registry:
    return getattr(_build_registries(), f"{kind}s")


def ganzoo_version() -> str:
    """The installed ganzoo's version ("dev" when running from a source tree)."""
    try:
        return importlib.metadata.version("ganzoo")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree
        return "dev"


def describe_distribution(info: PluginInfo) -> str:
    """``ganzoo-lsgan 0.1.0``, ``ganzoo 0.1.0 (built-in)``, or ``-`` for a plugin registered by hand."""
    if not info.distribution:
        return "-"
    return f"{info.distribution} {info.version}" + (" (built-in)" if info.builtin else "")


__all__ = [
    "pm", "load_plugins", "models", "datasets", "metrics", "plugin_infos", "plugin_code", "PluginInfo", "PluginFault", "PluginWarning",
    "DEFAULT_PLUGINS", "ENV_LOAD", "left_out_plugins", "origin", "why_unregistered",
]
