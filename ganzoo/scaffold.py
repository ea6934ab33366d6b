"""``ganzoo new-plugin``: write a ready-to-install plugin package from the templates in ``plugin_template/``.

One kind per package: a model, a dataset or a metric (``--kind``). The package has a
pyproject with the ``ganzoo`` entry point, a module that registers the thing without
importing torch (a model keeps its torch half in a second module), tests that fit the kind
and a README; ``pip install -e`` it and the thing is in ``ganzoo models``, ``datasets`` or
``metrics``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import importlib.util
import os
import shutil
from pathlib import Path
from string import Template

from . import plugins
from .errors import GanzooError
from .files import check_path
from .specs import NAME_PATTERN, NAME_RULE

KINDS = ("model", "dataset", "metric")

# Each kind's templates and where they go in the new package ({module} is the module's name);
# a template path without a folder is shared by the kinds.
TEMPLATE_FILES = {
    "model": {
        "pyproject.toml.tmpl": "pyproject.toml",
        "model/README.md.tmpl": "README.md",
        "model/module.py.tmpl": "{module}.py",
        "model/nets.py.tmpl": "{module}_nets.py",
        "model/test_module.py.tmpl": "tests/test_{module}.py",
    },
    **{
        kind: {
            "pyproject.toml.tmpl": "pyproject.toml",
            f"{kind}/README.md.tmpl": "README.md",
            f"{kind}/module.py.tmpl": "{module}.py",
            f"{kind}/test_module.py.tmpl": "tests/test_{module}.py",
        }
        for kind in ("dataset", "metric")
    },
}

# The table a kind's name must be new in, and the commands that show the package once installed.
_TABLES = {"model": plugins.models, "dataset": plugins.datasets, "metric": plugins.metrics}
NEXT_STEPS = {
    "model": ("ganzoo models {name}", "ganzoo run --model {name} --dataset ring8"),
    "dataset": ("ganzoo datasets {name}", "ganzoo run --model vanilla --dataset {name}"),
    "metric": ("ganzoo metrics", "ganzoo eval RUN_DIR --metrics {name}"),
}


def modules(name: str, kind: str = "model") -> list[str]:
    """The package's Python modules: the one its entry point names, and a model's torch half."""
    module = "ganzoo_" + name.replace("-", "_")
    return [module, f"{module}_nets"] if kind == "model" else [module]


def package_names(name: str, kind: str = "model") -> dict[str, str]:
    """The names a plugin for ``name`` goes by, as the templates use them: its name and entry point, distribution, module, kind."""
    return {
        "name": name, "dist": f"ganzoo-{name}", "module": modules(name, kind)[0], "kind": kind,
        "py_modules": ", ".join(f'"{m}"' for m in modules(name, kind)),
        "number": name.replace("-", "_"),  # a metric's number is named after the metric
    }


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise GanzooError(f"bad --kind {kind!r} (valid: {', '.join(KINDS)})")


def check_name(name: str, kind: str = "model") -> None:
    """Refuse a name that is malformed or already taken by a ``kind``, before anything is written."""
    check_kind(kind)
    if name.startswith("ganzoo-") and NAME_PATTERN.match(name):
        raise GanzooError(f"NAME is the {kind}'s name; the package will be called ganzoo-NAME (try {name.removeprefix('ganzoo-')!r})")
    if not NAME_PATTERN.match(name):
        raise GanzooError(f"invalid plugin name {name!r} (valid: {NAME_RULE})")
    table = _TABLES[kind]()
    if name in table.names():
        raise GanzooError(f"{kind} {name!r} is already registered by plugin {table.owner(name)}; choose another NAME")
    for module in modules(name, kind):
        if importlib.util.find_spec(module) is not None:
            # e.g. NAME "plugins" -> ganzoo_plugins, ganzoo's own built-ins: the two would shadow each other
            raise GanzooError(f"a Python module called {module} already exists; choose another NAME")
    dist = package_names(name, kind)["dist"]
    try:
        importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        return
    raise GanzooError(f"a package called {dist} is already installed; choose another NAME")


def render(name: str, kind: str = "model") -> dict[str, str]:
    """The files of the package for ``name`` of ``kind``: ``{path in the package: text}``."""
    check_kind(kind)
    names = package_names(name, kind)
    templates = importlib.resources.files("ganzoo") / "plugin_template"
    return {dest.format(**names): Template((templates / src).read_text()).substitute(names) for src, dest in TEMPLATE_FILES[kind].items()}


def new_plugin(name: str, folder: str | os.PathLike | None = None, kind: str = "model") -> Path:
    """Write the package for ``name``, a ``kind`` (model, dataset or metric), into ``folder`` (default ``./ganzoo-NAME``), which must not exist."""
    check_name(name, kind)
    names = package_names(name, kind)
    # The package is staged beside the target as ".NAME.partial-PID": that name must fit too.
    target = check_path(folder if folder is not None else names["dist"], "--dir", room=len(".partial-4194304") + 1)
    if target.exists() or target.is_symlink():
        raise GanzooError(f"{target} already exists; new-plugin never writes into an existing path (choose another --dir)")
    files = render(name, kind)
    # Written next to the target and renamed into place, so a failure never leaves half a package.
    staging = target.parent / f".{target.name}.partial-{os.getpid()}"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
        for rel, text in files.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        staging.rename(target)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(target) else ""
        raise GanzooError(f"could not write {target}: {exc.strerror or exc}{where}") from None
    return target
