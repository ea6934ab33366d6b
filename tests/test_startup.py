"""The listing commands answer in a fraction of a second: importing the CLI and registering every
built-in plugin imports no torch (issue 18). ``benchmarks/startup.py`` measures the times.

Each check runs in a fresh interpreter (this one has torch loaded already) with an import hook
that records, the first time torch is imported, the lines of ganzoo's own code on the stack,
so a failure names the file and line that pulled it in (a plugin that imports torch at the top
instead of inside its builder, say). Third-party plugins are left out (``GANZOO_LOAD_PLUGINS=``):
what they import is their business.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ganzoo
from ganzoo import plugins

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torchvision", "torch_fidelity")

# Prepended to each check: remember who imports a heavy module first, then report it as JSON.
WATCH = f"""
import importlib.abc, json, os, sys, traceback
ROOT, HEAVY, pulled = {str(ROOT)!r}, {HEAVY!r}, {{}}

class Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name in HEAVY and not pulled:
            pulled[name] = [f"{{os.path.relpath(f.filename, ROOT)}}:{{f.lineno}}: {{f.line}}"
                            for f in traceback.extract_stack()[:-1] if f.filename.startswith(ROOT + os.sep)]
        return None

sys.meta_path.insert(0, Watch())
"""
REPORT = "\nprint(json.dumps({'loaded': sorted(m for m in HEAVY if m in sys.modules), 'pulled': pulled}))\n"


def _check(code: str) -> dict:
    env = {**os.environ, "GANZOO_LOAD_PLUGINS": ""}
    result = subprocess.run([sys.executable, "-c", WATCH + code + REPORT], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _who(report: dict) -> str:
    """'plugins/x.py:12: import ganzoo.nn (then ganzoo/nn.py:11: import torch)': the culprit line first, then the way to torch."""
    for name, chain in report["pulled"].items():
        chain = [line for line in chain if not line.startswith(os.path.join("ganzoo", "plugins.py"))]  # the loader itself
        if not chain:
            return f"{name} was imported, but from no file of this repository"
        then = f" (then {' -> '.join(chain[1:])})" if len(chain) > 1 else ""
        return f"{chain[0]}{then}"
    return "no import was seen"


@pytest.mark.slow  # spawns an interpreter
def test_importing_the_cli_imports_no_torch():
    report = _check("import ganzoo.cli")
    assert report["loaded"] == [], f"import ganzoo.cli imports torch: {_who(report)}"


@pytest.mark.slow  # spawns an interpreter
def test_registering_every_built_in_plugin_imports_no_torch():
    # What `ganzoo models`, `datasets`, `plugins` and `metrics` do before they print.
    report = _check(
        "import ganzoo.plugins as p\n"
        "infos = p.plugin_infos()\n"
        "broken = [f'{i.name}: {i.errors}' for i in infos if not i.ok]\n"
        "assert not broken, broken\n"
    )
    assert report["loaded"] == [], (
        f"registering the built-in plugins imports {', '.join(report['loaded'])}, and every ganzoo command waits "
        f"for it: {_who(report)}. Import it inside the build function; declare options with ganzoo.options"
    )


@pytest.mark.slow  # spawns ganzoo
def test_the_torch_free_listing_shows_every_built_in_model_with_its_options():
    # The listing made without torch is the one this process (torch loaded) makes from the same plugins.
    env = {**os.environ, "GANZOO_LOAD_PLUGINS": ""}
    models = plugins.models()
    builtin = {name for name in models.names() if models.owner(name).startswith("ganzoo_plugins.")}
    assert {"vanilla", "cgan", "wgan", "wgan-gp", "dcgan", "progan-lite", "stylegan-lite"} <= builtin
    script = (
        "import json, sys, ganzoo.plugins as p\n"
        "m = p.models()\n"
        "print(json.dumps({n: list(m.get(n).config) for n in m.names()}))\n"
        "assert 'torch' not in sys.modules\n"
    )
    listed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env, check=True)
    options = json.loads(listed.stdout)
    assert builtin <= set(options)
    for name in builtin:
        assert options[name] == list(models.get(name).config), name
    out = subprocess.run([sys.executable, "-m", "ganzoo", "models"], capture_output=True, text=True, timeout=120, env=env, check=True).stdout
    assert builtin <= {line.split()[0] for line in out.splitlines()}
    shown = subprocess.run([sys.executable, "-m", "ganzoo", "models", "stylegan-lite"], capture_output=True, text=True,
                           timeout=120, env=env, check=True).stdout
    for key in [*options["stylegan-lite"], "pack", "mbstd", "spectral_norm", "diffaugment"]:
        assert f"\n  {key} " in shown, key


def test_the_torch_based_exports_are_still_there():
    # ganzoo's own names that need torch load on first use (PEP 562) and are the real objects.
    from ganzoo.data import Dataset
    from ganzoo.model import GAN

    assert ganzoo.GAN is GAN and ganzoo.Dataset is Dataset and callable(ganzoo.train)
    assert set(ganzoo.__all__) <= set(dir(ganzoo))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        ganzoo.nothing  # noqa: B018
    assert ganzoo.plugins.models is plugins.models  # submodules, as when `import ganzoo` imported them all
    from ganzoo.convnets import arch_options
    from ganzoo.nn import capacity_options, mlp_player_options
    from ganzoo.optim import adam_options
    from ganzoo.remedies import REMEDY_SCHEMA
    from ganzoo import options, remedy_options

    assert (mlp_player_options, adam_options, arch_options, capacity_options) == (
        options.mlp_player_options, options.adam_options, options.arch_options, options.capacity_options)
    assert REMEDY_SCHEMA is remedy_options.REMEDY_SCHEMA
    from ganzoo_plugins.stylegan_lite import ModulatedConv2d
    from ganzoo_plugins.stylegan_lite_nets import ModulatedConv2d as moved

    assert ModulatedConv2d is moved


@pytest.mark.slow  # spawns an interpreter
def test_listing_with_the_example_plugin_installed_imports_no_torch():
    # The README's test install includes examples/ganzoo-lsgan, and every command that needs a
    # table loads it first: when it imported torch at its top, `ganzoo models` waited ~6 s for it.
    pytest.importorskip("ganzoo_lsgan", reason="the example plugin is not installed: pip install -e examples/ganzoo-lsgan")
    code = (
        "import contextlib, io, ganzoo.cli\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    with contextlib.suppress(SystemExit):\n"
        "        ganzoo.cli.main(['--help'])\n"
        "    assert ganzoo.cli.main(['models']) == 0\n"
        "assert '\\nlsgan ' in out.getvalue(), out.getvalue()\n"
        "assert 'ganzoo_lsgan' in sys.modules, 'the example plugin was not loaded'\n"
    )
    env = {**os.environ, "GANZOO_LOAD_PLUGINS": "lsgan"}
    result = subprocess.run([sys.executable, "-c", WATCH + code + REPORT], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["loaded"] == [], f"ganzoo models with ganzoo-lsgan installed imports torch: {_who(report)}"
