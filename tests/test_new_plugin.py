"""``ganzoo new-plugin``: the package it writes installs with pip, is listed, trains and passes its own tests."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys

import pytest

from ganzoo.scaffold import TEMPLATE_FILES, package_names

NAME = "scaffold-check-gan"  # a name no real plugin uses


def pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_new_plugin_installs_is_listed_trains_and_passes_its_own_tests(cli, ganzoo_process, tmp_path):
    dist = package_names(NAME)["dist"]
    folder = tmp_path / dist
    code, out, err = cli("new-plugin", NAME, "--dir", str(folder))
    assert code == 0, err
    written = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert written == {dest.format(**package_names(NAME)) for dest in TEMPLATE_FILES.values()}
    assert f"pip install -e {folder}" in out
    try:
        # --no-build-isolation and --no-deps: setuptools and ganzoo are already here, so it works offline.
        installed = pip("install", "--no-deps", "--no-build-isolation", "-q", "-e", str(folder))
        assert installed.returncode == 0, installed.stderr
        assert importlib.metadata.distribution(dist).entry_points.select(group="ganzoo")[NAME].value == package_names(NAME)["module"]

        listed = ganzoo_process("models", NAME)
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.startswith(f"{NAME}: ") and f"plugin: {NAME}" in listed.stdout

        out_dir = tmp_path / "run"
        trained = ganzoo_process("run", "--model", NAME, "--dataset", "ring8", "--steps", "3", "--set", "width=16", "--quiet", "--out", str(out_dir))
        assert trained.returncode == 0, trained.stderr
        assert (out_dir / "final.png").exists() and (out_dir / "checkpoints" / "last.pt").exists()

        own_tests = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=folder,
            capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        assert own_tests.returncode == 0, own_tests.stdout[-2000:]
        assert "2 passed" in own_tests.stdout
    finally:
        removed = pip("uninstall", "-y", "-q", dist)
    assert removed.returncode == 0, removed.stderr
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.distribution(dist)


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
