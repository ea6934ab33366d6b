"""``ganzoo bench`` says when its budget is too small: ``ModelSpec.min_kimg``'s checks, and the one warning
line, read from the plan (nothing trains)."""

from __future__ import annotations

from pathlib import Path

import pytest

import ganzoo
from ganzoo import plugins
from ganzoo.bench.plan import budget_warning, plan
from ganzoo.specs import SpecError


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))


def _entries(models: list[str], datasets: list[str], kimg: float, tmp_path: Path):
    return plan(models, datasets, [0], kimg, tmp_path, {"width": 16, "depth": 1})[0]


def test_the_budget_warning_names_each_model_below_its_minimum_and_the_kimg_that_would_do(tmp_path):
    vanilla, cgan, wgan_gp = (plugins.models().get(m).min_kimg["vector"] for m in ("vanilla", "cgan", "wgan-gp"))
    kimg = cgan  # enough for cgan, not for the other two (README: 100 kimg gives cgan 8 of 8 ring8 modes, them 3-4)
    entries = _entries(["vanilla", "cgan", "wgan-gp"], ["ring8"], kimg, tmp_path)
    line = budget_warning(entries, kimg)
    assert "\n" not in line and f"--kimg {kimg:g} " in line
    assert f"vanilla ({vanilla:g} kimg on ring8)" in line and f"wgan-gp ({wgan_gp:g} kimg on ring8)" in line and "cgan" not in line
    assert line.endswith(f"--kimg {max(vanilla, wgan_gp):g} would do")
    assert budget_warning(entries, max(vanilla, wgan_gp)) is None


def test_the_budget_warning_takes_the_kind_of_each_benched_dataset(tmp_path):
    image = plugins.models().get("wgan").min_kimg["image"]
    vector = plugins.models().get("wgan").min_kimg["vector"]
    entries = _entries(["wgan"], ["ring8", "mnist"], 10, tmp_path)
    assert f"wgan ({max(image, vector):g} kimg on {'ring8' if vector > image else 'mnist'})" in budget_warning(entries, 10)
    assert budget_warning(_entries(["wgan"], ["mnist"], 10, tmp_path), image) is None


def test_a_model_that_declares_no_minimum_is_never_warned_about(tmp_path, register_plugin):
    vanilla = plugins.models().get("vanilla")

    class Plugin:
        @ganzoo.hookimpl
        def register_models(self, register):
            register(ganzoo.ModelSpec("no-minimum", "vanilla without a declared budget", vanilla.build, vanilla.config, vanilla.presets))

    register_plugin(Plugin(), "no-minimum")
    assert budget_warning(_entries(["no-minimum"], ["ring8"], 0.5, tmp_path), 0.5) is None


def test_ganzoo_bench_prints_the_budget_warning_before_it_trains(tmp_path, cli, monkeypatch):
    from ganzoo.bench import runner

    monkeypatch.setattr(runner, "_run_here", lambda *args: None)  # the line comes from the plan: nothing need train
    code, _, err = cli("bench", "--models", "vanilla", "--datasets", "ring8", "--seeds", "1", "--kimg", "3",
                       "--set", "width=16", "--out", str(tmp_path / "b"), "--wandb", "off", "--quiet")
    warnings = [line for line in err.splitlines() if line.startswith("warning: --kimg 3 ")]
    assert code == 0 and len(warnings) == 1 and "vanilla (" in warnings[0]


@pytest.mark.parametrize("min_kimg, problem", [
    ({"audio": 10}, "min_kimg kind 'audio'"), ({"image": 0}, "positive"), ({"image": float("inf")}, "positive"),
    ({"image": "100"}, "positive"), ([("image", 1)], "must map"),
])
def test_a_bad_min_kimg_is_refused_when_the_spec_is_made(min_kimg, problem):
    vanilla = plugins.models().get("vanilla")
    with pytest.raises(SpecError, match=problem):
        ganzoo.ModelSpec("bad-budget", "one line", vanilla.build, min_kimg=min_kimg)


def test_every_built_in_model_declares_its_minimum_for_images():
    built_in = [spec for spec in plugins.models() if plugins.models().owner(spec.name).startswith("ganzoo_plugins")]
    assert built_in and all(spec.min_kimg.get("image") for spec in built_in)
