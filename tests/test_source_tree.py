"""A script run from a clone's root imports the clone's ``ganzoo/`` folder (Python puts the script's folder first);
the clone's ``eval/`` and ``plugins/`` must then be its ``ganzoo.eval`` and ``ganzoo_plugins``, as an install maps them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Installed non-editable elsewhere, nothing maps the clone's folders: the editable installs' finders are taken out.
# Kept, they map another checkout's folders (this repository's), which must not win over the clone's own.
SCRIPT = """
import json, sys
if {drop_editable}:
    sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in (getattr(f, "__module__", "") or "")]
import ganzoo, ganzoo.eval, ganzoo_plugins
from ganzoo import plugins
models = plugins.models().names()  # registers the built-in plugins, ganzoo.eval.builtin among them
print(json.dumps({
    "files": [ganzoo.__file__, ganzoo.eval.__file__, ganzoo_plugins.__file__, sys.modules["ganzoo_plugins.vanilla"].__file__],
    "models": models, "metrics": plugins.metrics().names(),
    "broken": [i.name for i in plugins.plugin_infos() if not i.ok],
}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("drop_editable", [True, False], ids=["installed-elsewhere", "another-checkout-editable"])
def test_a_script_beside_a_clones_ganzoo_folder_uses_the_whole_clone(tmp_path, drop_editable):
    clone = tmp_path / "clone"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("ganzoo", "eval", "plugins"):
        shutil.copytree(ROOT / folder, clone / folder, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", clone / "pyproject.toml")
    (clone / "script.py").write_text(SCRIPT.replace("{drop_editable}", str(drop_editable)))
    env = {**os.environ, "GANZOO_LOAD_PLUGINS": "", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "script.py"], cwd=clone, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    ganzoo_file, eval_file, plugins_file, vanilla_file = seen["files"]
    assert Path(ganzoo_file) == clone / "ganzoo" / "__init__.py"
    assert Path(eval_file) == clone / "eval" / "__init__.py" and Path(plugins_file) == clone / "plugins" / "__init__.py"
    assert Path(vanilla_file) == clone / "plugins" / "vanilla.py"  # the built-in plugins come from the clone too
    assert {"vanilla", "vae"} <= set(seen["models"]) and "fid" in seen["metrics"] and seen["broken"] == []


def test_an_installed_or_editable_ganzoo_is_left_as_it_is():
    import ganzoo
    from ganzoo.source_tree import SourceTreeFinder

    # This test session's ganzoo is an editable install (or an installed one): its own finder maps the folders.
    assert not any(isinstance(f, SourceTreeFinder) for f in sys.meta_path)
    assert Path(ganzoo.eval.__file__).parent.name == "eval"
