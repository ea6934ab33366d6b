"""``ganzoo new-plugin``: the package it writes installs with pip, is listed, trains and passes its own tests."""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import subprocess
import sys

import pytest
import torch

import ganzoo
from ganzoo import plugins
from ganzoo.eval import EvalContext
from ganzoo.scaffold import TEMPLATE_FILES, modules, package_names

NAMES = {"model": "scaffold-check-gan", "dataset": "scaffold-check-data", "metric": "scaffold-check-score"}  # names no real plugin uses


def pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_each_kind_installs_is_listed_works_with_the_others_and_passes_its_own_tests(cli, ganzoo_process, tmp_path):
    # One install and one pytest run for the three kinds: each costs seconds of process start-up.
    folders = {kind: tmp_path / package_names(name, kind)["dist"] for kind, name in NAMES.items()}
    for kind, name in NAMES.items():
        code, out, err = cli("new-plugin", name, "--kind", kind, "--dir", str(folders[kind]))
        assert code == 0, err
        assert f"pip install -e {folders[kind]}" in out
    model, data, metric = NAMES["model"], NAMES["dataset"], NAMES["metric"]
    try:
        # --no-build-isolation and --no-deps: setuptools and ganzoo are already here, so it works offline.
        installed = pip("install", "--no-deps", "--no-build-isolation", "-q", *[arg for f in folders.values() for arg in ("-e", str(f))])
        assert installed.returncode == 0, installed.stderr
        for kind, name in NAMES.items():
            dist = importlib.metadata.distribution(package_names(name, kind)["dist"])
            assert dist.entry_points.select(group="ganzoo")[name].value == package_names(name, kind)["module"]

        listed = ganzoo_process("plugins")
        assert listed.returncode == 0, listed.stderr
        rows = {line.split()[0]: line for line in listed.stdout.splitlines()}
        for kind, name in NAMES.items():
            assert f"{kind}s: {name}" in rows[name] and rows[name].endswith(" ok"), rows.get(name)

        # The scaffolded model trains on the scaffolded data, and the scaffolded metric scores it live.
        out_dir, number = tmp_path / "run", package_names(metric, "metric")["number"]
        trained = ganzoo_process("run", "--model", model, "--dataset", data, "--steps", "3", "--batch-size", "32", "--set", "width=16",
                                 "--set", "data.n=256", "--log-every", "3", "--eval-every", "3", "--eval-n", "100", "--best-metric", number,
                                 "--quiet", "--out", str(out_dir))
        assert trained.returncode == 0, trained.stderr
        assert (out_dir / "final.png").exists() and (out_dir / "checkpoints" / "last.pt").exists()
        logged = [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]
        assert any(f"eval/{number}" in line for line in logged), logged[-1]

        own_tests = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *[str(f / "tests") for f in folders.values()]],
            cwd=tmp_path, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        assert own_tests.returncode == 0, own_tests.stdout[-3000:]
        assert "12 passed" in own_tests.stdout  # four each; the model's train on points and on images
    finally:
        removed = pip("uninstall", "-y", "-q", *[package_names(name, kind)["dist"] for kind, name in NAMES.items()])
    assert removed.returncode == 0, removed.stderr
    for kind, name in NAMES.items():
        with pytest.raises(importlib.metadata.PackageNotFoundError):
            importlib.metadata.distribution(package_names(name, kind)["dist"])


@pytest.mark.parametrize("name, message", [
    ("My_GAN", "invalid plugin name 'My_GAN' (valid: lower-case letters and digits in words joined by '-'"),
    ("2gan", "invalid plugin name '2gan'"),
    ("my--gan", "invalid plugin name 'my--gan'"),
    ("ganzoo-mine", "NAME is the model's name; the package will be called ganzoo-NAME (try 'mine')"),
    ("vanilla", "model 'vanilla' is already registered by plugin ganzoo_plugins.vanilla; choose another NAME"),
    ("plugins", "a Python module called ganzoo_plugins already exists; choose another NAME"),
])
def test_bad_names_are_one_line_errors_and_write_nothing(cli, tmp_path, name, message):
    code, out, err = cli("new-plugin", name, "--dir", str(tmp_path / "pkg"))
    assert code == 2 and out == ""
    assert err.startswith(f"ganzoo new-plugin: error: {message}") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_never_touched(cli, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "pyproject.toml").write_text("my own work\n")
    code, _, err = cli("new-plugin", "fresh-gan", "--dir", str(folder))
    assert code == 2 and f"error: {folder} already exists; new-plugin never writes into an existing path" in err
    assert [p.name for p in folder.iterdir()] == ["pyproject.toml"] and (folder / "pyproject.toml").read_text() == "my own work\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no staging folder left behind


def test_default_folder_is_ganzoo_name_in_the_current_directory(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("new-plugin", "here-gan")
    assert code == 0, err
    assert (tmp_path / "ganzoo-here-gan" / "ganzoo_here_gan.py").read_text().count('name="here-gan"') == 1
    assert 'here-gan = "ganzoo_here_gan"' in (tmp_path / "ganzoo-here-gan" / "pyproject.toml").read_text()


@pytest.mark.parametrize("args, message", [
    (("ring8", "--kind", "dataset"), "dataset 'ring8' is already registered by plugin ganzoo_plugins.mixtures; choose another NAME"),
    (("fid", "--kind", "metric"), "metric 'fid' is already registered by plugin ganzoo.eval.builtin; choose another NAME"),
    (("ganzoo-moons", "--kind", "dataset"), "NAME is the dataset's name; the package will be called ganzoo-NAME (try 'moons')"),
    (("my-gan", "--kind", "loss"), "bad --kind 'loss' (valid: model, dataset, metric)"),
])
def test_names_are_checked_against_the_table_of_their_kind(cli, tmp_path, args, message):
    code, out, err = cli("new-plugin", *args, "--dir", str(tmp_path / "pkg"))
    assert (code, out) == (2, "") and err == f"ganzoo new-plugin: error: {message}\n"
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def scaffold(cli, tmp_path, register_plugin, monkeypatch):
    """Write a package of a kind with the CLI, import its modules from its folder and register it, as installing would."""
    imported = []

    def write(name: str, kind: str):
        folder = tmp_path / name
        code, _, err = cli("new-plugin", name, "--kind", kind, "--dir", str(folder))
        assert code == 0, err
        names = package_names(name, kind)
        written = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
        assert written == {dest.format(**names) for dest in TEMPLATE_FILES[kind].values()}
        monkeypatch.syspath_prepend(str(folder))
        imported.extend(modules(name, kind))
        return register_plugin(importlib.import_module(names["module"]), name)

    try:
        yield write
    finally:
        for module in imported:
            sys.modules.pop(module, None)


def test_the_model_template_builds_players_for_points_and_for_images(scaffold):
    scaffold("fast-check-gan", "model")
    for info in (ganzoo.DatasetInfo("points", "vector", (2,)), ganzoo.DatasetInfo("digits", "image", (1, 28, 28))):
        gan = ganzoo.create_model("fast-check-gan", info, width=8)
        fake = gan.networks["G"](torch.randn(4, gan.latent_dim))
        assert fake.shape == (4, *info.shape) and gan.networks["D"](fake).shape == (4,)
        if info.kind == "image":
            assert fake.abs().max() <= 1


def test_the_dataset_template_registers_data_with_its_mode_centres(scaffold):
    module = scaffold("fast-check-data", "dataset")
    spec = plugins.datasets().get("fast-check-data")
    assert spec.kind == "vector"
    data = module.build({**{key: p.default for key, p in spec.config.items()}, "n": 300})
    assert data.x.shape == (300, 2) and len(data.info.centres) == data.info.num_classes == 6
    assert all(isinstance(row, tuple) for row in data.info.centres)  # given as a tensor, stored as floats


def test_the_metric_template_registers_a_number_that_ranks_lower_first(scaffold):
    module = scaffold("fast-check-score", "metric")
    spec = plugins.metrics().get("fast-check-score")
    assert spec.kinds == ("image", "vector") and [(n.name, n.better) for n in spec.numbers] == [("fast_check_score", "lower")]
    real = torch.randn(100, 3)
    context = EvalContext(ganzoo.DatasetInfo("toy", "vector", (3,)), fake=real + torch.tensor([0.0, 3.0, 4.0]), real=real, seed=0)
    assert module.compute(context)["fast_check_score"] == pytest.approx(5.0)
