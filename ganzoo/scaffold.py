"""``ganzoo new-plugin``: write a ready-to-install model plugin package from the templates in ``plugin_template/``.

The package has a pyproject with the ``ganzoo`` entry point, a model module that trains,
a test and a README; ``pip install -e`` it and the model is in ``ganzoo models``.
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

# Each template and where it goes in the new package ({module} is the module's name).
TEMPLATE_FILES = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "module.py.tmpl": "{module}.py",
    "test_module.py.tmpl": "tests/test_{module}.py",
}


def package_names(name: str) -> dict[str, str]:
    """The names a plugin for model ``name`` goes by: model and entry point, distribution, module."""
    return {"name": name, "dist": f"ganzoo-{name}", "module": "ganzoo_" + name.replace("-", "_")}


def check_name(name: str) -> None:
    """Refuse a model name that is malformed or already taken, before anything is written."""
    if name.startswith("ganzoo-") and NAME_PATTERN.match(name):
        raise GanzooError(f"NAME is the model's name; the package will be called ganzoo-NAME (try {name.removeprefix('ganzoo-')!r})")
    if not NAME_PATTERN.match(name):
        raise GanzooError(f"invalid plugin name {name!r} (valid: {NAME_RULE})")
    models = plugins.models()
    if name in models.names():
        raise GanzooError(f"model {name!r} is already registered by plugin {models.owner(name)}; choose another NAME")
    module = package_names(name)["module"]
    if importlib.util.find_spec(module) is not None:
        # e.g. NAME "plugins" -> ganzoo_plugins, ganzoo's own built-ins: the two would shadow each other
        raise GanzooError(f"a Python module called {module} already exists; choose another NAME")
    dist = package_names(name)["dist"]
    try:
        importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        return
    raise GanzooError(f"a package called {dist} is already installed; choose another NAME")


def new_plugin(name: str, folder: str | os.PathLike | None = None) -> Path:
    """Write the package for model ``name`` into ``folder`` (default ``./ganzoo-NAME``), which must not exist."""
    check_name(name)
    names = package_names(name)
    # The package is staged beside the target as ".NAME.partial-PID": that name must fit too.
    target = check_path(folder if folder is not None else names["dist"], "--dir", room=len(".partial-4194304") + 1)
    if target.exists() or target.is_symlink():
        raise GanzooError(f"{target} already exists; new-plugin never writes into an existing path (choose another --dir)")
    templates = importlib.resources.files("ganzoo") / "plugin_template"
    files = {dest.format(**names): Template((templates / src).read_text()).substitute(names) for src, dest in TEMPLATE_FILES.items()}
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
