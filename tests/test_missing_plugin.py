"""A run whose model's plugin is missing says which plugin (and distribution) made it and why it is missing
(left out by GANZOO_LOAD_PLUGINS, not installed), rather than "unknown model ..., did you mean ...";
an unknown name anywhere mentions the installed plugins GANZOO_LOAD_PLUGINS leaves out."""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest

import ganzoo
from ganzoo import plugins

TINY = dict(set={"width": 16, "depth": 1, "data.n": 512}, batch_size=16, log_every=1, steps=1, progress=False)
COMMANDS = [["sample", "{run}", "--n", "4"], ["eval", "{run}", "--n", "16"], ["run", "--resume", "{run}", "--steps", "2", "--quiet"]]


@contextmanager
def _without_plugin(name: str):
    """As if the plugin had not loaded in this process (left out, or uninstalled): unregistered, then put back."""
    plugin = plugins.pm.unregister(name=name)
    try:
        yield
    finally:
        plugins.pm.register(plugin, name=name)


@pytest.fixture(scope="module")
def lsgan_run(tmp_path_factory):
    if "lsgan" not in plugins.models():
        pytest.skip("the example plugin ganzoo-lsgan is not installed (pip install -e examples/ganzoo-lsgan)")
    return ganzoo.train("lsgan", "ring8", out=tmp_path_factory.mktemp("runs") / "lsgan", **TINY).path


@pytest.mark.slow
def test_a_run_records_which_plugin_gave_its_model_and_dataset(lsgan_run):
    record = json.loads((lsgan_run / "plugins.json").read_text())
    assert record["model"] == {"name": "lsgan", "plugin": "lsgan", "distribution": "ganzoo-lsgan", "version": plugins.origin("model", "lsgan")["version"]}
    assert record["dataset"] == {"name": "ring8", "plugin": "ganzoo_plugins.mixtures", "distribution": "ganzoo", "version": plugins.ganzoo_version()}


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_a_plugin_left_out_by_the_environment_variable_is_named_with_what_to_do(cli, lsgan_run, monkeypatch, command):
    monkeypatch.setenv(plugins.ENV_LOAD, "other")
    with _without_plugin("lsgan"):
        code, out, err = cli(*[part.format(run=lsgan_run) for part in command])
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "model 'lsgan' is not registered: the run was made with plugin lsgan (ganzoo-lsgan " in err
    assert "which GANZOO_LOAD_PLUGINS='other' leaves out (add lsgan to it, or unset it)" in err
    assert "did you mean" not in err


@pytest.mark.slow
def test_a_plugin_that_is_gone_is_named_with_its_distribution_to_install(cli, lsgan_run, monkeypatch):
    monkeypatch.delenv(plugins.ENV_LOAD, raising=False)
    with _without_plugin("lsgan"):
        code, _, err = cli("sample", str(lsgan_run), "--n", "4")
    assert code == 2 and "plugin lsgan (ganzoo-lsgan " in err and "which is not installed here (pip install ganzoo-lsgan)" in err


@pytest.mark.slow
def test_a_run_without_a_record_gets_the_unknown_name_line(cli, lsgan_run, tmp_path, monkeypatch):
    monkeypatch.delenv(plugins.ENV_LOAD, raising=False)
    old = tmp_path / "old"  # a run made before runs recorded their plugins
    old.mkdir()
    for name in ("config.yaml", "dataset.json"):
        (old / name).write_bytes((lsgan_run / name).read_bytes())
    with _without_plugin("lsgan"):
        code, _, err = cli("sample", str(old), "--n", "4")
        assert code == 2 and f"{old / 'config.yaml'}: {plugins.models().unknown_message('lsgan')}" in err


def test_an_unknown_name_mentions_installed_plugins_the_variable_leaves_out(monkeypatch):
    installed = sorted({ep.name for ep in plugins.importlib.metadata.entry_points(group="ganzoo")})
    if not installed:
        pytest.skip("no third-party plugin is installed")
    monkeypatch.setenv(plugins.ENV_LOAD, "")
    for registry in (plugins.models(), plugins.datasets(), plugins.metrics()):
        with pytest.raises(ganzoo.GanzooError) as caught:
            registry.get("no-such-name")
        assert str(caught.value).endswith(f"; GANZOO_LOAD_PLUGINS='' leaves out installed plugin(s) {', '.join(installed)}, which may register it")
    monkeypatch.delenv(plugins.ENV_LOAD)
    with pytest.raises(ganzoo.GanzooError) as caught:
        plugins.models().get("no-such-name")
    assert plugins.ENV_LOAD not in str(caught.value)


def test_a_damaged_record_is_passed_over(tmp_path):
    from ganzoo.run.folder import RunFolder

    folder = RunFolder(tmp_path)
    for text in ("not json", "[1, 2]", '{"model": 3}'):
        folder.plugins_file.write_text(text)
        assert folder.read_plugins().get("model") is None
