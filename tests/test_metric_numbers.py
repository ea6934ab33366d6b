"""What a metric declares about its numbers (``ganzoo.MetricNumber``), and the consumers that ask it.

A throwaway third-party metric declares a number with a direction and a rank; ``--best-metric``
and the leaderboard's ranking follow that declaration exactly as they follow the built-ins'.
"""

from __future__ import annotations

import ast
import csv
import json
from pathlib import Path

import pytest

import ganzoo
from ganzoo import MetricNumber, MetricSpec, SpecError
from ganzoo.training.checkpoint import load_checkpoint
from ganzoo.bench.store import Entry, Store

ROOT = Path(__file__).parent.parent
TINY_RUN = ["--model", "vanilla", "--dataset", "ring8", "--batch-size", "32", "--log-every", "10", "--quiet",
            "--set", "width=16", "--set", "depth=1", "--set", "data.n=512", "--set", "dropout=0.3"]


def _spread(ctx) -> dict[str, float]:
    norms = ctx.fake.flatten(1).norm(dim=1)
    return {"spread": float(norms.mean()), "spread_max": float(norms.max()), "cells": 3, "cells_total": 4}


class SpreadMetric:
    """A third-party metric: ``spread`` (higher is better, ranked first) and friends."""

    def __init__(self, better: str = "higher", live: bool = True) -> None:
        self.better, self.live = better, live

    @ganzoo.hookimpl
    def register_metrics(self, register):
        register(MetricSpec(
            name="spread", summary="mean norm of the generated samples", kinds=("vector",), compute=_spread, live=self.live,
            numbers=(
                MetricNumber("spread", self.better, rank=1),
                MetricNumber("spread_*", shown=False, live=False),
                MetricNumber("cells", "higher", out_of="cells_total"),
                MetricNumber("cells_total", shown=False, live=False),
            ),
        ))


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))


# -- the declarations ----------------------------------------------------------------------

def _spec(*numbers) -> MetricSpec:
    return MetricSpec("my-metric", "a metric", ("vector",), _spread, numbers=numbers)


@pytest.mark.parametrize(
    "numbers, message",
    [
        ((MetricNumber("x", "worse"),), "better 'worse' must be one of"),
        ((MetricNumber("x", rank=1),), "a ranked number needs better="),
        ((MetricNumber("x", "lower", rank=0),), "rank 0 must be a whole number from 1"),
        ((MetricNumber("x", "lower", rank=True),), "rank True must be a whole number from 1"),
        ((MetricNumber("x_*", "lower", rank=2),), "a pattern cannot be ranked"),
        ((MetricNumber("x", out_of="total"),), "out_of 'total' is not declared (declared: x)"),
        ((MetricNumber("x", out_of="x"),), "out_of must name another declared number"),
        ((MetricNumber("x"), MetricNumber("x", "lower")), "number x is declared twice"),
        ((MetricNumber("two words"),), "must be a non-empty string without spaces"),
        ((MetricNumber("x", shown="yes"),), "shown must be True or False"),
        (("x",), "numbers must be a tuple of ganzoo.MetricNumber"),
    ],
)
def test_invalid_declarations_are_spec_errors_naming_the_metric(numbers, message):
    with pytest.raises(SpecError, match="MetricSpec 'my-metric'") as info:
        _spec(*numbers)
    assert message in str(info.value)


def test_a_number_reads_its_own_declaration_then_a_pattern_then_the_default():
    spec = _spec(MetricNumber("class_kl", "lower"), MetricNumber("class_*", shown=False, live=False))
    assert spec.number("class_kl").better == "lower"
    assert spec.number("class_7").name == "class_*" and not spec.number("class_7").shown
    assert spec.number("other") == MetricNumber("other")  # undeclared: shown, live, no direction, unranked
    assert MetricSpec("plain", "a metric", ("vector",), _spread).numbers == ()


def test_every_builtin_metric_declares_what_it_returns():
    from ganzoo.eval.builtin import METRICS

    for spec in METRICS:
        assert spec.numbers, spec.name
    fid = next(s for s in METRICS if s.name == "fid")
    assert fid.number("fid").rank == 1 and not fid.number("fid_floor").live
    ranks = {n.name: n.rank for s in METRICS for n in s.numbers if n.rank}
    assert ranks == {"fid": 1, "kl": 2, "reverse_kl": 3, "class_kl": 4}


def test_no_module_outside_the_builtin_metrics_names_their_numbers():
    """The core and the consumers in eval/ ask the declarations; only the built-in metrics' own code names the numbers."""
    from ganzoo.config import TRAINER_SCHEMA
    from ganzoo.eval.builtin import METRICS

    names = {n.name.rstrip("*") for s in METRICS for n in s.numbers}  # a family "class_*" counts as its prefix "class_"
    names -= set(TRAINER_SCHEMA)  # 'precision' in the core is also the trainer's --precision option, which it must name
    builtin = ROOT / "eval" / "builtin.py"
    # The built-in metrics' own code: builtin.py and the eval modules it imports to compute them.
    own = {builtin} | {ROOT / "eval" / f"{node.module}.py" for node in ast.walk(ast.parse(builtin.read_text()))
                       if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module}
    own |= {ROOT / "eval" / f"{a.name}.py" for node in ast.walk(ast.parse(builtin.read_text()))
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module is None for a in node.names}
    assert ROOT / "eval" / "modes.py" in own and ROOT / "eval" / "live.py" not in own
    found = []
    for path in sorted({*(ROOT / "ganzoo").rglob("*.py"), *(ROOT / "eval").glob("*.py")} - own):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert found == []


def test_the_eval_table_puts_numbers_declared_not_shown_on_a_line_of_their_own():
    from ganzoo.eval.evaluate import format_report

    values = {"classes": 9, "classes_total": 10, "confident": 0.9, "class_kl": 0.1, **{f"class_{c}": 10 + c for c in range(10)}}
    report = {"model": "m", "dataset": "mnist", "metrics": {"classes": values}, "seconds": {}, "skipped": {},
              "protocol": {"step": 1, "checkpoint": "last", "generator": "G", "seed": 0, "n_generated": 10, "n_real": 10, "real_split": "s"}}
    main, rest = format_report(report).splitlines()[3:5]
    assert "classes 9, confident 0.9, class_kl 0.1" in main and "class_0" not in main
    assert rest.split() == ["classes_total", "10,", "class_*", *map(str, range(10, 20))]


def test_ganzoo_metrics_json_lists_the_declarations(cli):
    code, out, err = cli("metrics", "--json")
    assert code == 0, err
    mixture = next(m for m in json.loads(out) if m["name"] == "mixture-modes")
    assert {"name": "modes", "better": "higher", "shown": True, "live": True, "out_of": "modes_total", "rank": None,
            "help": "modes with at least one high-quality sample", "role": None, "minimum": None} in mixture["numbers"]


# -- live evaluation -----------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("better", ["higher", "lower"])
def test_a_third_party_number_picks_the_best_checkpoint_in_its_direction(tmp_path, cli, register_plugin, better):
    register_plugin(SpreadMetric(better), "spread-metric")
    out = tmp_path / "run"
    code, _, err = cli("run", *TINY_RUN, "--steps", "30", "--eval-every", "10", "--best-metric", "spread", "--out", str(out))
    assert code == 0, err
    live = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    live = {r["step"]: r for r in live if "eval/spread" in r}
    assert sorted(live) == [10, 20, 30]
    # Declared live=False or not shown in a family: not logged; an undeclared-direction number still is.
    assert all("eval/spread_max" not in r and "eval/cells_total" not in r and "eval/cells" in r for r in live.values())
    spread = {step: r["eval/spread"] for step, r in live.items()}
    assert len(set(spread.values())) == 3  # the direction decides which step is best
    expected = (max if better == "higher" else min)(spread, key=spread.get)
    best = json.loads((out / "checkpoints" / "best.json").read_text())
    assert best["metric"] == "spread" and best["step"] == expected and best["value"] == pytest.approx(spread[expected])
    assert load_checkpoint(out / "checkpoints" / "best.pt")["step"] == expected


def test_best_metric_is_checked_against_the_live_declarations(tmp_path, cli, register_plugin):
    register_plugin(SpreadMetric(), "spread-metric")
    # cells_total is declared without a direction, spread_max is in a family: neither can pick a checkpoint.
    for name in ("cells_total", "spread_max"):
        code, _, err = cli("run", *TINY_RUN, "--steps", "20", "--eval-every", "10", "--best-metric", name, "--out", str(tmp_path / "x"))
        assert code == 2 and len(err.strip().splitlines()) == 1
        assert f"bad --best-metric {name!r} for ring8 (valid: cells, hq, modes, reverse_kl, spread)" in err
    assert not (tmp_path / "x").exists()


def test_the_default_best_metric_is_the_smallest_declared_rank(register_plugin):
    from ganzoo.eval.live import LiveEval
    from ganzoo.run.build import build_dataset
    from ganzoo.run.config import make_run_config

    config = make_run_config("vanilla", "ring8", sets={"data.n": 512})
    data = build_dataset(config)
    assert LiveEval(data, 10, options=config.dataset_config).describe()["best_metric"] == "reverse_kl"
    register_plugin(SpreadMetric(), "spread-metric")
    assert LiveEval(data, 10, options=config.dataset_config).describe()["best_metric"] == "spread"  # rank 1 beats reverse_kl's 3


class Undeclared:
    @ganzoo.hookimpl
    def register_metrics(self, register):
        register(MetricSpec(name="plain-norm", summary="declares nothing", kinds=("vector",), live=True,
                            compute=lambda ctx: {"plain_norm": float(ctx.fake.flatten(1).norm(dim=1).mean())}))


@pytest.mark.slow
def test_a_metric_without_declarations_is_logged_live_but_picks_nothing(tmp_path, cli, register_plugin):
    register_plugin(Undeclared(), "undeclared-metric")
    out = tmp_path / "run"
    code, _, err = cli("run", *TINY_RUN, "--steps", "10", "--eval-every", "10", "--out", str(out))
    assert code == 0, err
    assert any("eval/plain_norm" in json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines())
    assert json.loads((out / "checkpoints" / "best.json").read_text())["metric"] == "reverse_kl"
    code, _, err = cli("run", *TINY_RUN, "--steps", "10", "--eval-every", "10", "--best-metric", "plain_norm", "--out", str(tmp_path / "x"))
    assert code == 2 and "valid: hq, modes, reverse_kl)" in err


# -- the leaderboard -----------------------------------------------------------------------

# model: (spread, reverse_kl); spread ranks c, b, a (higher first); reverse_kl ranks a, b, c.
BOARD = {"a": (1.0, 0.1), "b": (2.0, 0.2), "c": (3.0, 0.3)}


def _store(folder: Path) -> Path:
    folder.mkdir()
    store = Store(folder)
    for model, (spread, kl) in BOARD.items():
        entry = Entry(run=f"runs/{model}", model=model, dataset="ring8", seed=0, kimg=4.0, steps=8, batch_size=256,
                      config_hash=f"{model}hash", config={}, eval_protocol={"n_generated": 300, "n_real": 300, "seed": 0, "checkpoint": "last"},
                      train_seconds=1.0, eval_seconds=1.0, params={"G": 10, "D": 10}, ganzoo_version="test")
        store.put(entry, [("mixture-modes", "reverse_kl", kl), ("mixture-modes", "modes_total", 8),
                          ("spread", "spread", spread), ("spread", "spread_max", 9.0), ("spread", "cells", 3), ("spread", "cells_total", 4)])
    return folder


def _models(folder: Path) -> list[str]:
    with open(folder / "leaderboard.csv") as f:
        return [r["model"] for r in csv.DictReader(f)]


def test_the_leaderboard_ranks_by_a_third_party_number_and_reads_its_other_declarations(tmp_path, cli, register_plugin):
    bench = _store(tmp_path / "bench")
    register_plugin(SpreadMetric(), "spread-metric")
    code, out, err = cli("leaderboard", str(bench), "--rank-by", "spread", "--out", str(tmp_path / "by-spread"))
    assert code == 0, err
    assert _models(tmp_path / "by-spread") == ["c", "b", "a"]  # higher is better
    assert "Ranked by spread (higher is better)" in out
    assert "Lower is better for reverse_kl; higher is better for spread, cells." in out
    header = next(line for line in out.splitlines() if line.startswith("| rank"))
    assert header.split(" | ")[7:10] == ["spread ↑", "reverse_kl ↓", "cells ↑ (of 4)"]  # the ranking number, the declared diversity one, the covered one
    assert "spread_max" not in out and "cells_total" not in out and "modes_total" not in out  # declared not shown
    code, _, err = cli("leaderboard", str(bench), "--rank-by", "reverse_kl", "--out", str(tmp_path / "by-kl"))
    assert code == 0, err
    assert _models(tmp_path / "by-kl") == ["a", "b", "c"]  # lower is better
    code, out, err = cli("leaderboard", str(bench), "--out", str(tmp_path / "default"))
    assert code == 0, err
    assert _models(tmp_path / "default") == ["c", "b", "a"]  # spread's rank 1 beats reverse_kl's 3

    from ganzoo.bench.leaderboard import group_rows
    from ganzoo.bench.html import coverage_pair
    from ganzoo.bench.store import read_stores

    assert coverage_pair(group_rows(read_stores([bench]))["ring8"]) == ("cells", "cells_total")


def test_without_the_metric_installed_its_numbers_are_shown_unranked(tmp_path, cli):
    bench = _store(tmp_path / "bench")
    code, out, err = cli("leaderboard", str(bench), "--out", str(tmp_path / "board"))
    assert code == 0, err
    assert _models(tmp_path / "board") == ["a", "b", "c"]  # by reverse_kl, the only declared rank left
    assert "spread_max" in out and "no direction for spread, spread_max, cells, cells_total" in out
    code, _, err = cli("leaderboard", str(bench), "--rank-by", "spread", "--out", str(tmp_path / "x"))
    assert code == 2 and err.strip() == "ganzoo leaderboard: error: bad --rank-by 'spread' (valid: reverse_kl)"


def test_a_prefixed_store_name_reads_its_own_metrics_declaration(register_plugin):
    from ganzoo.plugins import metric_number

    register_plugin(SpreadMetric(), "spread-metric")
    assert metric_number("spread", "spread/cells").out_of == "cells_total"  # the store's name when two metrics gave "cells"
    assert metric_number("not-installed", "x") == MetricNumber("x")
