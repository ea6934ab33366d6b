"""``import ganzoo`` from a source checkout that is not what is installed: a script run from a clone's root.

Python puts the script's folder first on ``sys.path``, so ``import ganzoo`` there finds the
clone's ``ganzoo/`` folder, not the installed package. The clone's ``eval/`` and ``plugins/``
are ``ganzoo.eval`` and ``ganzoo_plugins`` only through setuptools' ``package-dir`` mapping
(``pyproject.toml``), which an install applies and a plain folder does not: without help,
``ganzoo.eval`` does not resolve there, and ``ganzoo_plugins`` resolves to the installed copy,
another version than the ganzoo beside it.

So when ``ganzoo`` is imported from such a folder, this module applies the same mapping, read
from the clone's own ``pyproject.toml``: the clone works as a whole, as an editable install
would. An install (its ``eval`` is inside the package) and an editable install (its finder
resolves the mapped names already) are left as they are.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType
from typing import Sequence


class SourceTreeFinder(importlib.abc.MetaPathFinder):
    """Finds the packages a source tree maps (``ganzoo.eval`` -> ``eval/``, ...) in that tree's folders."""

    def __init__(self, packages: dict[str, Path]) -> None:
        self.packages = packages

    def find_spec(self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None) -> ModuleSpec | None:
        folder = self.packages.get(fullname)
        if folder is None:
            return None  # submodules are found through the package's __path__, which is the mapped folder
        return importlib.util.spec_from_file_location(fullname, folder / "__init__.py", submodule_search_locations=[str(folder)])


def mapped_packages(root: Path, package: str) -> dict[str, Path]:
    """``pyproject.toml``'s ``package-dir`` entries of ``root`` other than ``package`` itself, as folders that exist."""
    import tomllib

    try:
        config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if config.get("project", {}).get("name") != package:
        return {}
    mapping = config.get("tool", {}).get("setuptools", {}).get("package-dir", {})
    return {name: root / folder for name, folder in mapping.items()
            if name != package and isinstance(folder, str) and (root / folder / "__init__.py").is_file()}


def use_source_tree(package: str, folder: Path) -> SourceTreeFinder | None:
    """Map the source tree's other packages when ``package`` (at ``folder``) was imported from one that is not installed in place."""
    root = folder.parent
    if (folder / "eval").is_dir() or not (root / "pyproject.toml").is_file():
        return None  # an installed package, or a folder that is no source tree
    found = importlib.util.find_spec(f"{package}.eval")
    if found is not None and found.origin and Path(found.origin).resolve().is_relative_to(root.resolve()):
        return None  # an editable install of this very tree maps them already
    # Not found, or found in another checkout (an editable install of a different clone): this tree's own.
    packages = mapped_packages(root, package)
    if not packages:
        return None
    finder = SourceTreeFinder(packages)
    sys.meta_path.insert(0, finder)  # before the path finder, which would find an installed ganzoo_plugins
    return finder
