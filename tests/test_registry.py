"""The plugin manager and registries: names, duplicates, broken plugins, listings."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

import ganzoo
from ganzoo import plugins
from ganzoo.errors import GanzooError


class _Models:
    """A throwaway plugin registering the models it is given."""

    def __init__(self, *specs):
        self.specs = specs

    @ganzoo.hookimpl
    def register_models(self, register):
        for spec in self.specs:
            register(spec)


def _spec(name: str) -> ganzoo.ModelSpec:
    return ganzoo.ModelSpec(name=name, summary="a test model", build=lambda info, c: None)


def test_builtins_are_registered():
    assert plugins.models().names() == sorted(set(plugins.models().names()) | {"vanilla"})
    assert {"mnist", "ring8", "grid25"} <= set(plugins.datasets().names())


def test_unknown_model_lists_close_matches():
    with pytest.raises(GanzooError) as err:
        plugins.models().get("vanila")
    message = str(err.value)
    assert "unknown model 'vanila'" in message
    assert "did you mean vanilla" in message
    assert "\n" not in message


def test_unknown_dataset_lists_available():
    with pytest.raises(GanzooError, match=r"unknown dataset 'cifar'.*available: .*mnist.*ring8"):
        plugins.datasets().get("cifar")


def test_wildcard_listing(register_plugin):
    register_plugin(_Models(_spec("wobble-a"), _spec("wobble-b")), "wobble")
    assert plugins.models().names("wobble-*") == ["wobble-a", "wobble-b"]


def test_throwaway_plugin_appears_and_is_removed(register_plugin):
    register_plugin(_Models(_spec("tmp-model")), "tmp")
    assert "tmp-model" in plugins.models()
    plugins.pm.unregister(name="tmp")
    assert "tmp-model" not in plugins.models()
    plugins.pm.register(_Models(), name="tmp")  # so the fixture's unregister has something to remove


def test_duplicate_name_is_an_error_naming_both_plugins(register_plugin):
    register_plugin(_Models(_spec("vanilla")), "impostor")
    with pytest.warns(plugins.PluginWarning, match=r"'vanilla' is registered twice: by plugin ganzoo_plugins.vanilla and by plugin impostor"):
        table = plugins.models()
    # Neither wins silently: using the name says what clashes and how to resolve it.
    with pytest.raises(GanzooError, match=r"registered twice \(by plugin ganzoo_plugins.vanilla and by plugin impostor\); uninstall one"):
        table.get("vanilla")
    info = {i.name: i for i in plugins.plugin_infos()}["impostor"]
    assert not info.ok and "registered twice" in info.errors[0]
    assert "vanilla" in table.names()  # still listed


def test_registry_refuses_duplicates_directly():
    table = plugins.Registry("model", ganzoo.ModelSpec)
    table.register(_spec("x"), "first")
    with pytest.raises(GanzooError, match="by plugin first and by plugin second"):
        table.register(_spec("x"), "second")


def test_hook_that_raises_is_isolated(register_plugin):
    class Exploding:
        @ganzoo.hookimpl
        def register_models(self, register):
            register(_spec("half-made"))
            raise RuntimeError("boom")

    register_plugin(Exploding(), "exploding")
    register_plugin(_Models(_spec("innocent")), "innocent")
    with pytest.warns(plugins.PluginWarning, match="exploding: hook register_models raised RuntimeError: boom"):
        table = plugins.models()
    assert "vanilla" in table and "innocent" in table
    info = {i.name: i for i in plugins.plugin_infos()}["exploding"]
    assert info.errors == ["hook register_models raised RuntimeError: boom"]


def _nothing(*args):
    return None


# (hook, spec the hook builds, what the report must say)
INVALID_SPECS = {
    "malformed name": ("register_models", lambda: ganzoo.ModelSpec(name="Bad Name", summary="x", build=_nothing),
                       "invalid spec: ModelSpec 'Bad Name': name must be lower-case letters and digits"),
    "two-line summary": ("register_models", lambda: ganzoo.ModelSpec(name="m", summary="one\ntwo", build=_nothing),
                         "ModelSpec 'm': summary must be one non-empty line"),
    "no build": ("register_models", lambda: ganzoo.ModelSpec(name="m", summary="s"),
                 "raised TypeError: ModelSpec.__init__() missing 1 required positional argument: 'build'"),
    "build not callable": ("register_models", lambda: ganzoo.ModelSpec(name="m", summary="s", build="build_m"),
                           "ModelSpec 'm': build must be callable, got str"),
    "invalid default": ("register_models", lambda: ganzoo.ModelSpec(name="m", summary="s", build=_nothing, config={"lr": ganzoo.Param(-1.0, min=0.0)}),
                        "ModelSpec 'm': config: invalid default: bad value for lr: -1.0 (must be >= 0.0)"),
    "default not in choices": ("register_models", lambda: ganzoo.ModelSpec(name="m", summary="s", build=_nothing, config={"loss": ganzoo.Param("l2", choices=("l1",))}),
                               "ModelSpec 'm': config: invalid default: bad value for loss: 'l2' (valid: l1)"),
    "option not a Param": ("register_models", lambda: ganzoo.ModelSpec(name="m", summary="s", build=_nothing, config={"lr": 2e-4}),
                           "ModelSpec 'm': config: option 'lr' must be a ganzoo.Param, got float"),
    "invalid preset value": ("register_models", lambda: ganzoo.ModelSpec(name="m", summary="s", build=_nothing, presets={"vector": {"steps": 0}}),
                             "ModelSpec 'm': preset vector: bad value for steps: 0 (must be >= 1)"),
    "dataset kind": ("register_datasets", lambda: ganzoo.DatasetSpec(name="d", summary="s", kind="audio", build=_nothing),
                     "DatasetSpec 'd': kind 'audio' must be one of ('image', 'vector')"),
    "metric without kinds": ("register_metrics", lambda: ganzoo.MetricSpec(name="x", summary="s", kinds=(), compute=_nothing),
                             "MetricSpec 'x': kinds () must be a non-empty tuple of ('image', 'vector')"),
}


@pytest.mark.parametrize("case", INVALID_SPECS)
def test_invalid_spec_is_reported_against_its_plugin_and_the_rest_work(register_plugin, case):
    hook, make_spec, problem = INVALID_SPECS[case]

    def impl(register):
        register(make_spec())

    register_plugin(type("Invalid", (), {hook: staticmethod(ganzoo.hookimpl(impl))}), "invalid")
    with pytest.warns(plugins.PluginWarning, match=r"^plugin invalid: hook " + hook) as caught:
        plugins.models()
    assert problem in str(caught[0].message)
    info = {i.name: i for i in plugins.plugin_infos()}["invalid"]
    assert not info.ok and problem in info.errors[0] and info.registered == {}
    assert "vanilla" in plugins.models() and "ring8" in plugins.datasets() and "fid" in plugins.metrics()


def test_wrong_spec_type_is_reported(register_plugin):
    class WrongType:
        @ganzoo.hookimpl
        def register_datasets(self, register):
            register(_spec("not-a-dataset"))

    register_plugin(WrongType(), "wrongtype")
    with pytest.warns(plugins.PluginWarning, match="registered a ModelSpec as a dataset"):
        assert "not-a-dataset" not in plugins.datasets()


def test_specs_are_checked_when_created():
    with pytest.raises(ganzoo.SpecError, match=r"^ModelSpec 'm': config: invalid default: bad value for lr"):
        ganzoo.ModelSpec(name="m", summary="s", build=lambda i, c: None, config={"lr": ganzoo.Param(-1.0, min=0.0)})
    with pytest.raises(ganzoo.SpecError, match=r"^ModelSpec 'm': preset image.nope is neither a model option"):
        ganzoo.ModelSpec(name="m", summary="s", build=lambda i, c: None, presets={"image": {"nope": 1}})
    # Dataset options in presets are checked later, against the dataset in use.
    assert ganzoo.ModelSpec(name="m", summary="s", build=lambda i, c: None, presets={"image": {"data.size": 32}}).presets


def _fake_distribution(tmp_path, name: str, entry: str, module_source: str | None, entry_name: str | None = None) -> None:
    """A real installed-distribution layout (dist-info with an entry point) on a path we control."""
    # Wheels name the folder with underscores; importlib.metadata relies on that to tell distributions apart.
    dist = tmp_path / f"{name.replace('-', '_')}-1.2.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n")
    (dist / "entry_points.txt").write_text(f"[ganzoo]\n{entry_name or name} = {entry}\n")
    if module_source is not None:
        (tmp_path / f"{entry}.py").write_text(textwrap.dedent(module_source))


def _ganzoo(tmp_path, *args, env_extra=None, extra_path=None) -> subprocess.Popen:
    """``ganzoo ARGS`` started as a process of its own, which loads the entry points under ``tmp_path`` afresh."""
    path = os.pathsep.join(str(p) for p in (tmp_path, extra_path) if p)
    env = {**os.environ, "PYTHONPATH": path, **(env_extra or {})}
    return subprocess.Popen([sys.executable, "-m", "ganzoo.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _finished(*procs: subprocess.Popen) -> list[subprocess.CompletedProcess]:
    """What each of ``procs`` printed and returned. Independent commands are started together and
    waited for here: each spends seconds importing torch on one core, and the machines the suite
    runs on have another idle."""
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


@pytest.mark.slow
def test_entry_point_plugins_load_and_broken_ones_are_isolated(tmp_path):
    _fake_distribution(tmp_path, "ganzoo-broken", "ganzoo_broken_mod", "raise ImportError('missing dependency xyz')\n")
    _fake_distribution(tmp_path, "ganzoo-good", "ganzoo_good_mod", """
        import ganzoo
        @ganzoo.hookimpl
        def register_models(register):
            register(ganzoo.ModelSpec(name="good-gan", summary="a third-party model", build=lambda i, c: None))
    """)
    result, models = _finished(_ganzoo(tmp_path, "plugins"), _ganzoo(tmp_path, "models"))
    assert result.returncode == 0, result.stderr
    assert "ganzoo-broken" in result.stdout and "BROKEN: failed to import: ImportError: missing dependency xyz" in result.stdout
    assert "ganzoo-good 1.2.3" in result.stdout and "models: good-gan" in result.stdout
    assert "ganzoo: warning: plugin ganzoo-broken: failed to import" in result.stderr
    assert "good-gan" in models.stdout and "vanilla" in models.stdout

    # A hook name that does not exist (a typo) is reported, and the plugin is taken out again.
    _fake_distribution(tmp_path, "ganzoo-typo", "ganzoo_typo_mod", """
        import ganzoo
        @ganzoo.hookimpl
        def register_modles(register):
            pass
    """)
    # Plugins that leave by other doors than an exception: sys.exit() and their own KeyboardInterrupt.
    _fake_distribution(tmp_path, "ganzoo-exits", "ganzoo_exits_mod", "import sys\nsys.exit(3)\n")
    _fake_distribution(tmp_path, "ganzoo-interrupts", "ganzoo_interrupts_mod", "raise KeyboardInterrupt\n")
    # A second distribution using an entry-point name that is already taken.
    clash = tmp_path / "clash"
    clash.mkdir()
    _fake_distribution(clash, "ganzoo-clash", "ganzoo_clash_mod", "", entry_name="ganzoo-good")
    result, models, only_builtins, only_good = _finished(
        _ganzoo(tmp_path, "plugins", extra_path=clash), _ganzoo(tmp_path, "models", extra_path=clash),
        _ganzoo(tmp_path, "models", env_extra={plugins.ENV_LOAD: ""}), _ganzoo(tmp_path, "plugins", env_extra={plugins.ENV_LOAD: "ganzoo-good"}))
    assert result.returncode == 0, result.stderr
    assert "ganzoo-typo" in result.stdout and "implements no known hook" in result.stdout and "register_modles" in result.stdout
    assert "entry point name 'ganzoo-good' is used by both ganzoo-good and ganzoo-clash" in result.stdout
    assert "models: good-gan" in result.stdout and "models: vanilla" in result.stdout
    assert "ganzoo-exits 1.2.3]" in result.stdout and "BROKEN: failed to import: called sys.exit(3)" in result.stdout
    assert "BROKEN: failed to import: KeyboardInterrupt (raised by the plugin itself, not by Ctrl-C)" in result.stdout
    assert result.stdout.splitlines()[-1].endswith(" 5 broken")  # import error, unknown hook, entry-point clash, exit, interrupt
    assert models.returncode == 0 and "good-gan" in models.stdout and "vanilla" in models.stdout

    assert "good-gan" not in only_builtins.stdout and "vanilla" in only_builtins.stdout
    assert "ganzoo-broken" not in only_builtins.stderr
    assert "good-gan" in only_good.stdout and "ganzoo-broken" not in only_good.stdout


@pytest.mark.slow
def test_a_throwaway_dataset_plugin_trains_with_a_builtin_model(register_plugin, tmp_path):
    class Line:
        @ganzoo.hookimpl
        def register_datasets(self, register):
            def build(c):
                x = torch.linspace(-1, 1, c["n"]).unsqueeze(1).repeat(1, 3)
                return ganzoo.Dataset(x, ganzoo.DatasetInfo("tiny-line", "vector", (3,)))

            register(ganzoo.DatasetSpec(name="tiny-line", summary="points on a line in 3-D", kind="vector", build=build,
                                        config={"n": ganzoo.Param(64, "points", min=1)}))

    register_plugin(Line(), "line")
    run = ganzoo.train("vanilla", "tiny-line", steps=3, batch_size=8, out=tmp_path / "r", progress=False, set={"width": 8})
    assert run.config.dataset_config == {"n": 64}
    assert ganzoo.load_run(run.path).sample(4).shape == (4, 3)


@pytest.mark.slow
def test_builders_that_fail_or_describe_data_badly_are_one_line_errors_before_any_folder(register_plugin, tmp_path):
    class Fragile:
        @ganzoo.hookimpl
        def register_models(self, register):
            def build(info, c):
                raise RuntimeError("not enough memory for 10^12 units\nsecond line")

            register(ganzoo.ModelSpec(name="fragile", summary="fails to build", build=build, config={"size": ganzoo.Param(1)}))

        @ganzoo.hookimpl
        def register_datasets(self, register):
            def build(c):
                info = ganzoo.DatasetInfo("tensor-extra", "vector", (2,), extra={"scale": torch.ones(1)})
                return ganzoo.Dataset(torch.zeros(64, 2), info)

            register(ganzoo.DatasetSpec(name="tensor-extra", summary="info that is not JSON", kind="vector", build=build))

    register_plugin(Fragile(), "fragile")
    with pytest.raises(GanzooError, match=r"model fragile \(plugin fragile\) could not be built with size=1: RuntimeError: not enough memory for 10\^12 units$"):
        ganzoo.train("fragile", "ring8", out=tmp_path / "a", progress=False)
    with pytest.raises(GanzooError, match="dataset tensor-extra \\(plugin fragile\\) could not be built .*TypeError"):
        ganzoo.train("vanilla", "tensor-extra", out=tmp_path / "b", progress=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_hooks_are_called_through_pluggy_once_per_plugin(register_plugin):
    # pluggy's call monitoring sees every hook call it makes: one per plugin per hook, each with
    # that plugin's implementation alone, so one plugin's exception cannot cut another's call short.
    class Counted:
        @ganzoo.hookimpl
        def register_models(self, register):
            register(_spec("counted-model"))

    register_plugin(Counted(), "counted")
    calls = []
    undo = plugins.pm.add_hookcall_monitoring(
        lambda hook_name, impls, kwargs: calls.append((hook_name, [impl.plugin_name for impl in impls])), lambda *args: None,
    )
    try:
        assert "counted-model" in plugins.models()
    finally:
        undo()
    model_calls = [names for hook, names in calls if hook == "register_models"]
    implementers = [impl.plugin_name for impl in plugins.pm.hook.register_models.get_hookimpls()]
    assert sorted(names[0] for names in model_calls) == sorted(implementers) and all(len(names) == 1 for names in model_calls)
    assert {hook for hook, _ in calls} == {"register_models", "register_datasets", "register_metrics"}


# -- every way a plugin can fail (issue 14) ------------------------------------------------------

class _Exits:
    @ganzoo.hookimpl
    def register_models(self, register):
        sys.exit(4)


class _Interrupts:
    @ganzoo.hookimpl
    def register_datasets(self, register):
        raise KeyboardInterrupt  # the plugin's own, not the user's Ctrl-C


class _Good:
    @ganzoo.hookimpl
    def register_models(self, register):
        register(_spec("still-works"))


def test_a_hook_that_exits_or_raises_keyboardinterrupt_is_recorded_and_the_others_work(register_plugin):
    register_plugin(_Exits(), "exits")
    register_plugin(_Interrupts(), "interrupts")
    register_plugin(_Good(), "good")
    with pytest.warns(plugins.PluginWarning) as caught:
        assert "still-works" in plugins.models() and "vanilla" in plugins.models() and "ring8" in plugins.datasets()
    infos = {i.name: i for i in plugins.plugin_infos()}
    assert infos["exits"].errors == ["hook register_models called sys.exit(4)"]
    assert infos["interrupts"].errors == ["hook register_datasets raised KeyboardInterrupt (raised by the plugin itself, not by Ctrl-C)"]
    assert infos["good"].ok and infos["good"].registered == {"model": ["still-works"]}
    assert any("plugin exits: hook register_models called sys.exit(4)" in str(w.message) for w in caught)


class _EntryPoint:
    """What ``load_plugins`` reads of an ``importlib.metadata.EntryPoint``."""

    def __init__(self, name, load):
        self.name, self.load = name, load


@pytest.mark.parametrize("load, error", [
    (lambda: sys.exit(3), "failed to import: called sys.exit(3)"),
    (lambda: sys.exit(), "failed to import: called sys.exit()"),
    (lambda: (_ for _ in ()).throw(KeyboardInterrupt()), "failed to import: KeyboardInterrupt (raised by the plugin itself, not by Ctrl-C)"),
    (lambda: (_ for _ in ()).throw(GeneratorExit("odd")), "failed to import: GeneratorExit: odd"),
])
def test_an_entry_point_that_exits_or_interrupts_at_import_is_recorded(load, error):
    plugins.load_plugins()
    try:
        with pytest.warns(plugins.PluginWarning, match="plugin ganzoo-rude: failed to import"):
            plugins._load_entry_point(_EntryPoint("ganzoo-rude", load), ("ganzoo-rude", "0.1"))
        info = plugins._load_errors["ganzoo-rude"]
        assert info.errors == [error] and (info.distribution, info.version) == ("ganzoo-rude", "0.1")
        assert not plugins.pm.has_plugin("ganzoo-rude") and "vanilla" in plugins.models()
    finally:
        plugins._load_errors.pop("ganzoo-rude", None)


def test_a_slow_entry_point_is_named_in_a_warning(monkeypatch):
    plugins.load_plugins()
    monkeypatch.setattr(plugins, "SLOW_IMPORT_SECONDS", -1.0)  # every import counts as slow: no clock in the test
    try:
        with pytest.warns(plugins.PluginWarning, match=r"^plugin ganzoo-sluggish took [0-9.]+ s to import, .*GANZOO_LOAD_PLUGINS"):
            plugins._load_entry_point(_EntryPoint("ganzoo-sluggish", lambda: _Good()), ("ganzoo-sluggish", "0.1"))
        assert "still-works" in plugins.models()  # slow is not broken
    finally:
        if plugins.pm.has_plugin("ganzoo-sluggish"):
            plugins.pm.unregister(name="ganzoo-sluggish")
        plugins._dists.pop("ganzoo-sluggish", None)


@pytest.fixture
def python_sigint_handler():
    # A process started in the background by a non-interactive shell inherits SIGINT ignored, and
    # Python then leaves it ignored: give the test the handler a terminal's Python has.
    import signal

    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, inherited)


def test_the_users_ctrl_c_still_interrupts_plugin_code(register_plugin, python_sigint_handler):
    import signal

    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        with plugins.plugin_code():
            signal.raise_signal(signal.SIGINT)  # a real SIGINT, as the terminal sends on Ctrl-C
            sum(range(1000))  # the handler runs between bytecodes
    assert signal.getsignal(signal.SIGINT) is before

    class CtrlC:
        @ganzoo.hookimpl
        def register_models(self, register):
            signal.raise_signal(signal.SIGINT)
            sum(range(1000))

    register_plugin(CtrlC(), "ctrl-c")
    with pytest.raises(KeyboardInterrupt):
        plugins.models()
    assert signal.getsignal(signal.SIGINT) is before


@pytest.mark.parametrize("build, message", [
    (lambda info, c: sys.exit(5), "called sys.exit(5)"),
    (lambda info, c: {}["missing"], "KeyError: 'missing'"),
    (lambda info, c: (_ for _ in ()).throw(KeyboardInterrupt()), "KeyboardInterrupt (raised by the plugin itself, not by Ctrl-C)"),
    (lambda info, c: None, "AttributeError: 'NoneType' object has no attribute 'to'"),
])
def test_a_builder_that_fails_in_any_way_is_one_line_naming_model_and_plugin(register_plugin, cli, tmp_path, build, message):
    class Rude:
        @ganzoo.hookimpl
        def register_models(self, register):
            register(ganzoo.ModelSpec(name="rude", summary="fails to build", build=build, config={"size": ganzoo.Param(1)}))

    register_plugin(Rude(), "rude-plugin")
    code, out, err = cli("run", "--model", "rude", "--dataset", "ring8", "--set", "data.n=64", "--out", str(tmp_path / "r"))
    assert code == 2 and "Traceback" not in err, err
    assert err.strip() == f"ganzoo run: error: model rude (plugin rude-plugin) could not be built with size=1: {message}"
    assert not (tmp_path / "r").exists()
