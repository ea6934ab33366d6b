"""docs/plugins.md: its public API list is what the code exports, and its tutorial code is the code that works."""

from __future__ import annotations

import importlib
import math
import re
import types
from pathlib import Path

import pytest
import torch

import ganzoo
from ganzoo.eval import EvalContext
from ganzoo.eval.evaluate import evaluate

ROOT = Path(__file__).parent.parent
GUIDE = (ROOT / "docs" / "plugins.md").read_text()


def section(heading: str) -> str:
    assert f"\n{heading}\n" in GUIDE, f"docs/plugins.md has no section {heading!r}"
    return GUIDE.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def resolve(dotted: str):
    """The object a dotted name such as ganzoo.nn.MLPGenerator names, importing its module."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


PUBLIC = sorted(set(re.findall(r"`(ganzoo(?:\.\w+)+)", section("## 5. Public API"))))
PUBLIC_MODULES = [name for name in PUBLIC if isinstance(resolve(name), types.ModuleType)]


@pytest.mark.parametrize("name", PUBLIC)
def test_every_name_documented_as_public_imports(name):
    assert resolve(name) is not None


def test_the_documented_api_is_complete():
    assert {"ganzoo.losses", "ganzoo.penalties", "ganzoo.objectives", "ganzoo.nn", "ganzoo.eval"} <= set(PUBLIC_MODULES)
    exported = [f"ganzoo.{name}" for name in ganzoo.__all__]
    exported += [f"{module}.{name}" for module in PUBLIC_MODULES for name in resolve(module).__all__]
    assert [name for name in exported if name not in PUBLIC] == []


def test_the_package_docstring_names_the_same_api():
    for name in ganzoo.__all__:
        assert f"``{name}``" in ganzoo.__doc__, name
    for module in PUBLIC_MODULES:
        assert f"``{module}``" in ganzoo.__doc__, module


def test_the_tutorial_shows_the_example_package_as_it_is():
    tutorial = section("## 1. A model plugin, from nothing: LSGAN")
    example = ROOT / "examples" / "ganzoo-lsgan"
    assert code_blocks(tutorial, "toml")[0] == (example / "pyproject.toml").read_text()
    assert code_blocks(tutorial, "python")[0] in (example / "ganzoo_lsgan.py").read_text()


def tutorial_module(heading: str) -> types.ModuleType:
    module = types.ModuleType(heading)
    exec(code_blocks(section(heading), "python")[0], module.__dict__)
    return module


@pytest.mark.slow
def test_the_dataset_and_metric_tutorials_work_together(register_plugin, tmp_path):
    moons = register_plugin(tutorial_module("## 2. A dataset plugin: two moons"), "two-moons-tutorial")
    swd = register_plugin(tutorial_module("## 3. A metric plugin: sliced Wasserstein distance"), "swd-tutorial")

    data = moons.build_two_moons({"n": 500, "noise": 0.0, "data_seed": 3})
    assert data.x.shape == (500, 2) and set(data.labels.tolist()) == {0, 1}
    upper = data.x[data.labels == 0]
    torch.testing.assert_close(upper.norm(dim=1), torch.ones(len(upper)))  # on the unit half circle
    torch.testing.assert_close(moons.build_two_moons({"n": 500, "noise": 0.05, "data_seed": 3}).labels, data.labels)

    ctx = EvalContext(data.info, fake=data.x.clone(), real=data.x, seed=0)
    assert swd.sliced_wasserstein(ctx)["swd"] < 0.05
    shifted = EvalContext(data.info, fake=data.x + torch.tensor([1.0, 0.0]), real=data.x, seed=0)
    # A shift by a unit vector moves each projection by |cos|, whose mean over directions is 2/pi.
    assert abs(swd.sliced_wasserstein(shifted)["swd"] - 2 / math.pi) < 0.1

    run = ganzoo.train("vanilla", "two-moons", steps=3, batch_size=16, out=tmp_path / "run", progress=False,
                       set={"width": 16, "data.n": 256})
    report = evaluate(run.path, n=200, metrics=["swd"])
    assert report["metrics"]["swd"]["swd"] > 0 and report["protocol"]["swd_directions"] == 128
