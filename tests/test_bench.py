"""``ganzoo bench`` and ``ganzoo leaderboard``: a tiny two-model, two-seed bench end to end with W&B
offline (read back from the files W&B wrote), re-runs that train nothing, resume of an interrupted
entry, the HTML page in headless Chromium, and one-line errors."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import ganzoo
from ganzoo.bench.plan import live_schedule, steps_for_kimg
from ganzoo.model import Phase
from ganzoo.bench.store import STORE_FILE

# 4 kimg at the 2-D presets' batch of 256: 16 batches, i.e. 8 vanilla steps (D and G each draw a batch)
# and 3 wgan-gp steps (5 critic batches + 1 G batch per step: 18 batches).
TINY = ["--kimg", "4", "--eval-n", "300", "--set", "width=16", "--set", "depth=1", "--set", "data.n=2000", "--quiet"]
BENCH = ["bench", "--models", "vanilla,wgan-gp", "--datasets", "ring8", "--seeds", "2", *TINY]
RUNS = ["vanilla-ring8", "wgan-gp-ring8"]


@pytest.fixture(scope="module")
def wandb_env(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wandb")
    return {"WANDB_MODE": "offline", "WANDB_DIR": str(folder), "WANDB_SILENT": "true", "GANZOO_CACHE": str(folder / "cache")}


@pytest.fixture(scope="module")
def bench(tmp_path_factory, wandb_env):
    """The bench folder after one run of the command (W&B offline), and that run's process."""
    out = tmp_path_factory.mktemp("bench") / "b"
    proc = run_ganzoo([*BENCH, "--out", str(out), "--wandb", "offline"], wandb_env)
    assert proc.returncode == 0, proc.stderr
    return out, proc


def run_ganzoo(args: list[str], extra_env: dict[str, str]) -> subprocess.CompletedProcess:
    # Its own process: W&B starts a service process and must not linger in the test process.
    env = {**os.environ, "OMP_NUM_THREADS": "1", **extra_env}
    env.pop("WANDB_API_KEY", None)
    return subprocess.run([sys.executable, "-m", "ganzoo.cli", *args], capture_output=True, text=True, env=env, timeout=300)


def store_rows(out, sql: str) -> list[tuple]:
    with sqlite3.connect(out / STORE_FILE) as db:
        return db.execute(sql).fetchall()


def test_the_budget_counts_every_batch_the_phases_draw():
    two = [Phase("D", "D", "D"), Phase("G", "G", "G")]
    critic = [Phase("D", "D", "D", repeats=5), Phase("G", "G", "G")]
    lazy = [Phase("D", "D", "D"), Phase("R1", "D", "D", every=4), Phase("G", "G", "G")]
    assert steps_for_kimg(two, 64, 2) == 16  # 32 batches, 2 per step
    assert steps_for_kimg(critic, 64, 2) == 6  # 32 batches, 6 per step: 36 drawn after 6 steps
    assert steps_for_kimg(lazy, 100, 0.9) == 4  # steps 0..3 draw 3 + 2 + 2 + 2 = 9 batches
    assert steps_for_kimg(lazy, 100, 1) == 5  # 10 batches need a fifth step (step 4 draws 3 again)
    schedule = live_schedule(100)
    assert schedule["eval_every"] % schedule["log_every"] == 0 and 100 / schedule["eval_every"] <= 8


@pytest.mark.slow
def test_bench_trains_evaluates_stores_and_writes_the_leaderboard(bench):
    out, proc = bench
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert len(runs) == 4 and all(any(r.startswith(n) for n in RUNS) for r in runs)
    for run in runs:
        report = json.loads((out / "runs" / run / "eval.json").read_text())
        assert report["protocol"]["n_generated"] == 300 and report["protocol"]["checkpoint"] == "last"
    # The budget: 4 kimg of real images each, so the models ran different step counts, and the trainer's own kimg agrees.
    steps = dict(store_rows(out, "SELECT DISTINCT model, steps FROM results WHERE model != 'real data'"))
    assert steps == {"vanilla": 8, "wgan-gp": 3}
    for run in runs:
        last = [json.loads(line) for line in (out / "runs" / run / "metrics.jsonl").read_text().splitlines()][-1]
        assert 4.0 <= last["kimg"] < 4.0 + 6 * 256 / 1000
    # One row per (run, metric), each with its protocol; modes agree with eval.json.
    rows = store_rows(out, "SELECT run, value, seed, kimg, batch_size, eval_protocol_json, params_json FROM results WHERE metric = 'modes' AND model != 'real data'")
    assert len(rows) == 4
    for run, value, seed, kimg, batch, protocol, params in rows:
        assert value == json.loads((out / run / "eval.json").read_text())["metrics"]["mixture-modes"]["modes"]
        assert kimg == 4 and batch == 256 and json.loads(protocol)["n_generated"] == 300
        assert set(json.loads(params)) == {"G", "D"} and all(n > 0 for n in json.loads(params).values())
    assert {r[0] for r in store_rows(out, "SELECT model FROM results")} == {"vanilla", "wgan-gp", "real data"}
    # The leaderboard: one row per model plus the floor, mean +- std over the 2 seeds.
    with open(out / "leaderboard.csv") as f:
        table = list(csv.DictReader(f))
    by_model = {r["model"].split(" (")[0]: r for r in table}
    assert set(by_model) == {"vanilla", "wgan-gp", "real data"}
    modes = [value for run, value, *_ in rows if run.startswith("runs/vanilla")]
    assert float(by_model["vanilla"]["modes_mean"]) == pytest.approx(sum(modes) / 2)
    assert by_model["vanilla"]["n_seeds"] == "2" and float(by_model["vanilla"]["train_seconds_mean"]) > 0
    assert float(by_model["real data"]["modes_mean"]) == 8  # held-out real points cover every mode
    md = (out / "leaderboard.md").read_text()
    assert "| 1 | vanilla | 4 | 300/300 | 8 | 256 | 2 |" in md and "real data (held-out" in md and " ± " in md
    assert "vanilla" in proc.stdout and "wrote" in proc.stdout


@pytest.mark.slow
def test_rerunning_the_same_bench_trains_and_evaluates_nothing(bench, wandb_env):
    out, _ = bench
    checkpoints = sorted(out.glob("runs/*/checkpoints/last.pt"))
    before = {p: p.stat().st_mtime_ns for p in [*checkpoints, *out.glob("runs/*/eval.json")]}
    trainings = store_rows(out, "SELECT COUNT(*) FROM trainings")[0][0]
    proc = run_ganzoo([*BENCH, "--out", str(out), "--wandb", "offline"], wandb_env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("done earlier: skipped") == 4
    assert "0 trained, 0 evaluated" in proc.stdout
    assert store_rows(out, "SELECT COUNT(*) FROM trainings")[0][0] == trainings == 4
    assert {p: p.stat().st_mtime_ns for p in before} == before


@pytest.mark.slow
def test_wandb_offline_holds_config_scalars_pictures_final_metrics_and_the_table(bench, wandb_env, wandb_log):
    wandb_records, as_dict = wandb_log.records, wandb_log.as_dict
    out, proc = bench
    assert "wandb sync" in proc.stderr  # the one-line note on how to upload later
    folders = sorted((Path(wandb_env["WANDB_DIR"]) / "wandb").glob("offline-run-*"))
    by_name, group = {}, None
    for folder in folders:
        records = wandb_records(folder)
        run = next(r.run for r in records if r.WhichOneof("record_type") == "run")
        by_name[run.display_name] = (folder, records, run)
        group = group or run.run_group
    train_runs = [n for n in by_name if n.startswith(("vanilla", "wgan-gp"))]
    assert len(train_runs) == 4 and group == out.name
    assert all(by_name[n][2].run_group == group for n in by_name)

    folder, records, run = by_name[next(n for n in train_runs if n.startswith("vanilla") and n.endswith("seed1"))]
    config = as_dict(run.config.update)
    for r in records:
        if r.WhichOneof("record_type") == "config":
            config.update(as_dict(r.config.update))
    assert config["model"] == "vanilla" and config["seed"] == 1 and config["model_config"]["width"] == 16
    assert config["bench"]["kimg"] == 4 and config["eval_protocol"]["n_generated"] == 300
    history = [as_dict(r.history.item) for r in records if r.WhichOneof("record_type") == "history"]
    logged = [(h["_step"], h["loss/D"]) for h in history if "loss/D" in h]
    run_dir = out / "runs" / run.display_name
    jsonl = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert logged == [(r["step"], pytest.approx(r["loss/D"])) for r in jsonl]
    assert any("eval/modes" in h for h in history)
    pictures = [h["samples"] for h in history if "samples" in h]
    assert pictures and pictures[-1]["_type"] == "image-file"
    png = folder / "files" / pictures[-1]["path"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = {}
    for r in records:
        if r.WhichOneof("record_type") == "summary":
            summary.update(as_dict(r.summary.update))
    eval_report = json.loads((run_dir / "eval.json").read_text())
    assert summary["final/modes"] == eval_report["metrics"]["mixture-modes"]["modes"]

    board = next(n for n in by_name if n.endswith("leaderboard"))
    folder, records, _ = by_name[board]
    tables = [h["leaderboard"] for h in (as_dict(r.history.item) for r in records if r.WhichOneof("record_type") == "history") if "leaderboard" in h]
    assert tables and tables[0]["_type"] == "table-file"
    table = json.loads((folder / "files" / tables[0]["path"]).read_text())
    assert "modes_mean" in table["columns"] and len(table["data"]) == 3
    models = [row[table["columns"].index("model")] for row in table["data"]]
    assert "vanilla" in models and "wgan-gp" in models


@pytest.mark.slow
def test_leaderboard_html_renders_in_headless_chromium(bench, tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    out, _ = bench
    page = (out / "leaderboard.html").read_text()
    assert "http://" not in page and "https://" not in page and page.count('src="data:image/png;base64,') >= 4
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1300,2400"]
    url = (out / "leaderboard.html").as_uri()
    dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    # The page's own script counted the pictures the browser decoded (naturalWidth > 0).
    shown = re.search(r'data-shown="(\d+)" data-total="(\d+)"', dom)
    assert shown, dom[-500:]
    assert int(shown[1]) == int(shown[2]) >= 4  # curves, coverage bars, two scatter plots
    assert dom.count('<tr class="model">') == 2 and dom.count('<tr class="real">') == 1 and "wgan-gp" in dom
    # The screenshot (kept in tmp_path) against one of the same page with its pictures taken out.
    bare = tmp_path / "bare.html"
    bare.write_text(re.sub(r'src="data:image/png;base64,[^"]*"', 'src=""', page))
    shot, bare_shot = tmp_path / "leaderboard.png", tmp_path / "bare.png"
    subprocess.run([*flags, f"--screenshot={shot}", url], capture_output=True, timeout=120)
    subprocess.run([*flags, f"--screenshot={bare_shot}", bare.as_uri()], capture_output=True, timeout=120)
    assert non_white(shot) > non_white(bare_shot) + 0.01 > 0.01  # the table alone marks the bare page; pictures add far more


def non_white(png) -> float:
    from PIL import Image

    pixels = Image.open(png).convert("L")
    return sum(pixels.histogram()[:250]) / (pixels.width * pixels.height)


@pytest.mark.slow
def test_an_interrupted_entry_resumes_from_its_checkpoint(tmp_path, cli, monkeypatch):
    from ganzoo.training.trainer import Trainer

    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "b"
    args = ["bench", "--models", "vanilla", "--datasets", "ring8", "--seeds", "1", *TINY, "--out", str(out), "--wandb", "off"]
    step = Trainer.train_step

    def stop_at_step_3(self):  # what a Ctrl-C does: the trainer finishes the step, saves and stops
        step(self)
        if self.step == 3:
            self._stop_requested = True

    monkeypatch.setattr(Trainer, "train_step", stop_at_step_3)
    code, _, err = cli(*args)
    assert code == 130 and "same ganzoo bench command" in err
    assert not (out / "leaderboard.md").exists()
    # As if the entry had begun under another version whose preset chose channels_last: it goes on as it began.
    (config_file,) = (out / "runs").glob("*/config.yaml")
    config_file.write_text(config_file.read_text().replace("memory_format: contiguous", "memory_format: channels_last"))
    monkeypatch.setattr(Trainer, "train_step", step)
    code, out_text, err = cli(*args)
    assert code == 0, err
    assert "resuming from step 3" in err
    assert "memory_format: channels_last" in config_file.read_text()
    assert store_rows(out, "SELECT from_step, to_step FROM trainings") == [(0, 3), (3, 8)]
    assert "| vanilla | 4 | 300/300 | 8 |" in (out / "leaderboard.md").read_text()


@pytest.mark.parametrize("args, message", [
    (["--models", "vanila", "--datasets", "ring8", "--kimg", "1"], "unknown model 'vanila'"),
    (["--models", "vanilla", "--datasets", "ring9", "--kimg", "1"], "unknown dataset 'ring9'"),
    (["--models", "vanilla", "--datasets", "ring8", "--kimg", "0"], "bad --kimg"),
    (["--models", "vanilla", "--datasets", "ring8", "--kimg", "1", "--seeds", "two"], "bad --seeds"),
    (["--models", "vanilla", "--datasets", "ring8", "--kimg", "1", "--wandb", "maybe"], "bad --wandb"),
    (["--models", "vanilla", "--datasets", "ring8", "--kimg", "1", "--set", "widht=3"], "did you mean width"),
    (["--models", "progan-lite", "--datasets", "ring8", "--kimg", "1"], "nothing to run"),
    (["--models", "vanilla", "--datasets", "ring8", "--kimg", "1", "--jobs", "0"], "bad --jobs 0 (valid: 1 or more"),
    (["--models", "vanilla", "--datasets", "ring8", "--kimg", "1", "--jobs", "two"], "argument --jobs: invalid int value: 'two'"),
    (["--models", "vanilla", "--datasets", "ring8", "--kimg", "1", "--devices", "gpu0"], "'gpu0' is not a device (valid: comma-separated cpu or cuda:N"),
    (["--models", "vanilla", "--datasets", "ring8", "--kimg", "1", "--devices", "cpu,cuda:99"], "no cuda:99 on this machine"),
    (["--models", "vanilla", "--datasets", "ring8", "--kimg", "1", "--devices", "cpu,"], "'' is not a device"),
    (["--models", "vanilla", "--datasets", "ring8", "--kimg", "1", "--jobs", "3", "--devices", "cpu,cpu"], "--jobs 3 but --devices names 2"),
])
def test_bad_bench_input_is_one_line_and_exit_2_and_makes_no_folder(tmp_path, cli, args, message):
    code, out, err = cli("bench", *args, "--out", str(tmp_path / "b"))
    assert code == 2 and message in err and len(err.strip().splitlines()) <= 2 and "Traceback" not in err
    assert not (tmp_path / "b").exists()


def test_bench_refuses_a_folder_that_is_not_a_bench_folder(tmp_path, cli):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    (tmp_path / "file").write_text("keep me too")
    for out in ("mine", "file"):
        code, _, err = cli("bench", "--models", "vanilla", "--datasets", "ring8", "--kimg", "1", "--out", str(tmp_path / out))
        assert code == 2 and "--out" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"] and (tmp_path / "file").read_text() == "keep me too"


@pytest.mark.slow
def test_incompatible_pairs_are_skipped_in_one_line(tmp_path, cli, monkeypatch):
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))
    # No --set here: progan-lite has no width option, and an option a model lacks is an error, not a skip.
    args = ["--kimg", "4", "--eval-n", "300", "--set", "data.n=2000", "--quiet", "--wandb", "off", "--seeds", "1"]
    code, out, err = cli("bench", "--models", "vanilla,progan-lite", "--datasets", "ring8", *args, "--out", str(tmp_path / "b"))
    assert code == 0, err
    assert "skip progan-lite on ring8: progan-lite is for images" in err
    runs = [p.name for p in (tmp_path / "b" / "runs").iterdir()]
    assert len(runs) == 1 and runs[0].startswith("vanilla-ring8-4kimg-set") and runs[0].endswith("-seed0")
    code, _, err = cli("bench", "--models", "vanilla,progan-lite", "--datasets", "ring8", *args, "--set", "width=16", "--out", str(tmp_path / "c"))
    assert code == 2 and "unknown option 'width' for model progan-lite" in err


@pytest.mark.slow
def test_leaderboard_combines_bench_folders_and_refuses_others(tmp_path, cli, bench):
    out, _ = bench
    code, text, err = cli("leaderboard", str(out), str(out), "--out", str(tmp_path / "board"))
    assert code == 0, err
    assert "| vanilla |" in text and (tmp_path / "board" / "leaderboard.html").is_file()
    code, _, err = cli("leaderboard", str(tmp_path))
    assert code == 2 and "not a bench folder" in err
    assert not (tmp_path / STORE_FILE).exists()


@pytest.mark.slow
def test_a_copy_of_a_bench_folder_does_not_count_its_seeds_twice(tmp_path, cli, bench):
    out, _ = bench
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    code, _, err = cli("leaderboard", str(out), "--out", str(tmp_path / "one"))
    assert code == 0, err
    code, _, err = cli("leaderboard", str(out), str(copy), "--out", str(tmp_path / "both"))
    assert code == 0, err
    one, both = ([r for r in csv.DictReader(open(tmp_path / name / "leaderboard.csv"))] for name in ("one", "both"))
    assert [(r["model"], r["n_seeds"], r["seeds"], r["modes_mean"], r["modes_std"]) for r in both] == \
           [(r["model"], r["n_seeds"], r["seeds"], r["modes_mean"], r["modes_std"]) for r in one]
    assert "left out" in (tmp_path / "both" / "leaderboard.md").read_text()


class _BrokenModels:
    """A third-party plugin with two bugs: one model's builder raises, the other's loss raises in training."""

    def __init__(self, vanilla: ganzoo.ModelSpec) -> None:
        self.vanilla = vanilla

    def _fails_in_training(self, info, c):
        gan = self.vanilla.build(info, c)

        class Broken(type(gan.objective)):
            def loss(self, phase, batch):
                raise KeyError("a bug in the plugin")

        gan.objective.__class__ = Broken
        return gan

    @ganzoo.hookimpl
    def register_models(self, register):
        v = self.vanilla
        register(ganzoo.ModelSpec(name="broken-builder", summary="raises when built", build=lambda info, c: {}["oops"], config=v.config, presets=v.presets))
        register(ganzoo.ModelSpec(name="broken-loss", summary="raises in training", build=self._fails_in_training, config=v.config, presets=v.presets))


class _BrokenMetric:
    @ganzoo.hookimpl
    def register_metrics(self, register):
        register(ganzoo.MetricSpec(name="broken-metric", summary="divides by zero", kinds=("vector",), compute=lambda ctx: {"x": 1 / 0}))


@pytest.mark.slow
def test_a_broken_plugin_fails_its_own_entries_and_the_others_still_run(tmp_path, cli, monkeypatch, register_plugin):
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))
    register_plugin(_BrokenModels(ganzoo.plugins.models().get("vanilla")), "broken-models")
    register_plugin(_BrokenMetric(), "broken-metric")
    code, _, err = cli("bench", "--models", "broken-builder,broken-loss,vanilla", "--datasets", "ring8", "--seeds", "1", *TINY,
                       "--wandb", "off", "--out", str(tmp_path / "b"))
    assert "Traceback" not in err
    assert "skip broken-builder on ring8: model broken-builder (plugin broken-models) could not be built with " in err
    assert "KeyError: 'oops'" in err
    assert "failed: KeyError: 'a bug in the plugin'" in err
    # A metric that fails: its line under the entry; the entry's other numbers are stored.
    assert "  metric broken-metric failed (plugin broken-metric: ZeroDivisionError: division by zero)" in err
    assert store_rows(tmp_path / "b", "SELECT count(*) FROM results WHERE model = 'vanilla' AND metric = 'modes'") == [(1,)]
    assert code != 0  # the bench says an entry failed
    board = (tmp_path / "b" / "leaderboard.md").read_text()
    assert "| vanilla |" in board and "| broken-" not in board


@pytest.mark.slow
def test_an_entry_killed_before_its_first_checkpoint_trains_afresh_with_the_same_result(tmp_path, cli, monkeypatch):
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "b"
    args = ["bench", "--models", "vanilla", "--datasets", "ring8", "--seeds", "1", *TINY, "--out", str(out), "--wandb", "off"]
    code, _, err = cli(*args)
    assert code == 0, err
    (run,) = (out / "runs").iterdir()
    before = json.loads((run / "eval.json").read_text())["metrics"]
    # What a kill -9 during the first steps leaves: the run folder, no checkpoint, no evaluation.
    shutil.rmtree(run / "checkpoints")
    (run / "eval.json").unlink()
    code, _, err = cli(*args)
    assert code == 0, err
    assert "left no checkpoint: training afresh" in err
    assert store_rows(out, "SELECT from_step, to_step FROM trainings") == [(0, 8), (0, 8)]
    assert json.loads((run / "eval.json").read_text())["metrics"] == before  # same seed, same recipe: same numbers


@pytest.mark.slow
def test_two_metric_plugins_may_use_the_same_number_name(tmp_path, cli, monkeypatch, register_plugin):
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))

    class SamePrecision:
        @ganzoo.hookimpl
        def register_metrics(self, register):
            register(ganzoo.MetricSpec(name="my-precision", summary="a precision of its own", kinds=("vector",),
                                       compute=lambda ctx: {"precision": 0.5}))

    register_plugin(SamePrecision(), "same-precision")
    code, _, err = cli("bench", "--models", "vanilla", "--datasets", "ring8", "--seeds", "1", *TINY, "--wandb", "off", "--out", str(tmp_path / "b"))
    assert code == 0, err
    metrics = dict(store_rows(tmp_path / "b", "SELECT metric, source FROM results WHERE model = 'vanilla'"))
    assert metrics["precision"] == "mixture-prdc" and metrics["my-precision/precision"] == "my-precision"


def test_rows_of_one_model_that_differ_in_evaluation_n_or_recipe_say_so():
    from ganzoo.bench.leaderboard import group_rows, row_label

    def row(run, n, recipe, seed=0):
        return {"bench": "b", "run": run, "metric": "modes", "source": "mixture-modes", "value": 8.0, "dataset": "ring8",
                "model": "vanilla", "kimg": 4.0, "config_hash": recipe, "seed": seed, "config": {},
                "eval_protocol": {"n_generated": n, "n_real": n}}

    groups = group_rows([row("a", 1000, "aaaaaaaa11"), row("b", 300, "aaaaaaaa11"), row("c", 300, "bbbbbbbb22")])["ring8"]
    assert sorted(row_label(g) for g in groups) == [
        "vanilla (recipe aaaaaaaa, N=1000)", "vanilla (recipe aaaaaaaa, N=300)", "vanilla (recipe bbbbbbbb, N=300)"]
    (alone,) = group_rows([row("a", 1000, "aaaaaaaa11"), row("b", 1000, "aaaaaaaa11", seed=1)])["ring8"]
    assert row_label(alone) == "vanilla" and alone.seeds == [0, 1]


def test_rows_of_one_model_are_told_apart_by_the_options_that_differ_not_by_a_hash():
    """Two recipes of wgan-gp at one budget are named by their options; another budget alone by its kimg."""
    from ganzoo.bench.leaderboard import group_rows, row_label

    def row(run, kimg, steps, recipe, arch, n_critic):
        config = {"model": "wgan-gp", "seed": 0, "steps": steps, "log_every": steps // 10, "batch_size": 64,
                  "model_config": {"arch": arch, "n_critic": n_critic, "lr": 2e-4}, "dataset_config": {"size": 28}}
        return {"bench": "b", "run": run, "metric": "fid", "source": "fid", "value": 100.0, "dataset": "mnist", "model": "wgan-gp",
                "kimg": kimg, "config_hash": recipe, "seed": 0, "config": config, "eval_protocol": {"n_generated": 10000, "n_real": 4000}}

    groups = group_rows([row("a", 256, 667, "aaaa1111", "mlp", 5), row("b", 768, 2000, "bbbb2222", "mlp", 5),
                         row("c", 768, 6000, "cccc3333", "conv", 1)])["mnist"]
    assert sorted(row_label(g) for g in groups) == [
        "wgan-gp (256 kimg, arch=mlp, n_critic=5)", "wgan-gp (768 kimg, arch=conv, n_critic=1)", "wgan-gp (768 kimg, arch=mlp, n_critic=5)"]
    budgets = group_rows([row("a", 256, 667, "aaaa1111", "mlp", 5), row("b", 768, 2000, "bbbb2222", "mlp", 5)])["mnist"]
    assert sorted(row_label(g) for g in budgets) == ["wgan-gp (256 kimg)", "wgan-gp (768 kimg)"]  # the steps follow the budget


def test_the_real_data_row_of_several_bench_folders_is_not_reported_as_a_repeated_run():
    from ganzoo.bench.leaderboard import REAL_DATA, group_rows, markdown

    def row(bench, model, seed=0):
        return {"bench": bench, "run": f"{model}-{seed}", "metric": "modes", "source": "mixture-modes", "value": 8.0, "dataset": "ring8",
                "model": model, "kimg": 4.0, "config_hash": "aaaaaaaa11", "seed": seed, "config": {}, "steps": 8, "batch_size": 256,
                "train_seconds": 1.0, "eval_seconds": 1.0, "params": {"G": 10}, "ganzoo_version": "0",
                "eval_protocol": {"n_generated": 2500, "n_real": 2500}}

    two_benches = [row("one", "vanilla"), row("one", REAL_DATA), row("two", "vanilla", seed=1), row("two", REAL_DATA)]
    assert "left out" not in markdown(group_rows(two_benches), [Path("one"), Path("two")])
    copied = two_benches + [row("copy", "vanilla", seed=1)]  # the same recipe and seed again: one run left out, and said
    assert "1 run(s) repeating a recipe and seed" in markdown(group_rows(copied), [Path("one"), Path("two"), Path("copy")])


def test_a_batch_larger_than_the_dataset_is_a_skip_at_planning(tmp_path, cli):
    # vanilla's 2-D preset batch is 256; 100 points cannot fill one batch. Planning trains nothing.
    code, out, err = cli("bench", "--models", "vanilla", "--datasets", "ring8", "--kimg", "1", "--set", "data.n=100", "--wandb", "off",
                         "--out", str(tmp_path / "b"))
    assert code == 2 and "Traceback" not in err
    assert err.splitlines()[0] == (
        "skip vanilla on ring8: its batch size 256 (the model's preset for ring8) is larger than the 100 samples of the dataset; "
        "give the dataset at least 256 samples"
    )
    assert "nothing to run" in err.splitlines()[1] and not (tmp_path / "b").exists()


# -- a results store is data: the leaderboard reads only inside its bench folders (issue 14) --------

def _stored_bench(folder, runs: list[str]):
    """A bench folder whose store holds one vanilla/ring8 row per run path in ``runs`` (nothing trained)."""
    from ganzoo.bench.store import Entry, Store

    folder.mkdir(exist_ok=True)
    store = Store(folder)
    for seed, run in enumerate(runs):
        entry = Entry(run=run, model="vanilla", dataset="ring8", seed=seed, kimg=1.0, steps=4, batch_size=256, config_hash="abc",
                      config={}, eval_protocol={"n_generated": 300, "n_real": 300}, train_seconds=1.0, eval_seconds=1.0,
                      params={"G": 10}, ganzoo_version="test")
        store.put(entry, [("mixture-modes", "modes", 8.0)])
    return folder


def test_the_leaderboard_reads_pictures_only_inside_its_bench_folders(tmp_path, cli):
    import base64

    secret = b"SECRET-PICTURE-OUTSIDE-THE-BENCH"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "final.png").write_bytes(secret)
    (outside / "metrics.jsonl").write_text('{"step": 1, "kimg": 0.5, "eval/modes": 3}\n')
    bench = tmp_path / "b"
    bench.mkdir()
    (bench / "runs").mkdir()
    (bench / "runs" / "linked").symlink_to(outside, target_is_directory=True)  # a run folder that is a link out
    (bench / "runs" / "own").mkdir()
    (bench / "runs" / "own" / "final.png").symlink_to(outside / "final.png")  # a picture that is a link out
    _stored_bench(bench, ["../outside", str(outside), "runs/linked", "runs/own"])
    code, out, err = cli("leaderboard", str(bench), "--out", str(tmp_path / "board"))
    assert code == 0 and "Traceback" not in err, err
    page = (tmp_path / "board" / "leaderboard.html").read_text()
    assert base64.b64encode(secret).decode() not in page and "No live evaluation scalars" in page
    notes = [line for line in err.splitlines() if line.startswith("ganzoo leaderboard: note: left out")]
    assert len(notes) == 4 and all("outside the bench folder" in line for line in notes), err
    assert "run '../outside'" in notes[0] and "| vanilla |" in out  # the numbers are still shown


def test_a_damaged_store_or_an_unwritable_out_is_one_line_and_exit_2(tmp_path, cli):
    other = tmp_path / "other"
    other.mkdir()
    with sqlite3.connect(other / STORE_FILE) as db:
        db.execute("CREATE TABLE results (run TEXT, score REAL)")
        db.execute("INSERT INTO results VALUES ('x', 1.0)")
    code, _, err = cli("leaderboard", str(other), "--out", str(tmp_path / "o1"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "has another schema (no column metric, source" in err

    for column, value, message in [
        ("value", "'abc'", "has value = 'abc', not a number"),
        ("seed", "1.5", "has seed = 1.5, not a whole number"),
        ("config_json", "'{not json'", "has a config_json that is not JSON"),
        ("params_json", "'{\"G\": \"ten\"}'", "not counts"),
    ]:
        bench = _stored_bench(tmp_path / f"bad-{column}", ["runs/a"])
        with sqlite3.connect(bench / STORE_FILE) as db:
            db.execute(f"UPDATE results SET {column} = {value}")
        code, _, err = cli("leaderboard", str(bench), "--out", str(tmp_path / "o2"))
        assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert "row 'runs/a'/'modes' " in err and message in err and "the store is damaged" in err

    good = _stored_bench(tmp_path / "good", ["runs/a"])
    code, _, err = cli("leaderboard", str(good), "--out", "/proc/self")
    assert code == 2 and err.strip().startswith("ganzoo leaderboard: error: --out /proc/self: cannot write leaderboard.md there")


def test_models_all_skips_the_models_that_refuse_a_remedy_but_a_named_model_or_a_typo_is_an_error(tmp_path):
    from ganzoo.bench.plan import plan
    from ganzoo.errors import GanzooError

    every = ["vanilla", "vae", "wgan-gp"]  # as --models all would list them (every model is slow to build here)
    entries, skipped = plan(every, ["ring8"], [0], 1.0, tmp_path, {"pack": 2}, every_model=True)
    assert {e.config.model for e in entries} == {"vanilla", "wgan-gp"}
    assert [line.split(":")[0] for line in skipped] == ["skip vae on ring8"] and "model vae takes no pack=2" in skipped[0]
    assert all(e.config.model_config["pack"] == 2 for e in entries)
    with pytest.raises(GanzooError, match="vae takes no pack=2"):
        plan(["vanilla", "vae"], ["ring8"], [0], 1.0, tmp_path, {"pack": 2})  # named by the user: theirs to fix
    with pytest.raises(GanzooError, match="unknown option 'pakc'"):
        plan(every, ["ring8"], [0], 1.0, tmp_path, {"pakc": 2}, every_model=True)  # no model takes it: a typo
    assert not any(tmp_path.iterdir())  # planning writes nothing


def test_the_batch_check_counts_only_the_train_split_for_a_model_that_trains_on_it(tmp_path, monkeypatch):
    from PIL import Image

    from ganzoo.bench.plan import plan

    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))
    # pix2pix-lite's batch is 32 and it draws only from the train split (80% of each class):
    # 36 images hold a batch, their train split (28) does not; 40 images' (32) does.
    for n in (36, 40):
        for label in ("a", "b"):
            (tmp_path / str(n) / label).mkdir(parents=True)
            for i in range(n // 2):
                Image.new("L", (28, 28), 40 + 5 * i).save(tmp_path / str(n) / label / f"{i}.png")
    entries, skipped = plan(["pix2pix-lite"], ["image-folder"], [0], 1.0, tmp_path / "b", {"data.root": str(tmp_path / "36")})
    assert not entries
    assert skipped == [
        "skip pix2pix-lite on image-folder: its batch size 32 (the model's preset for image-folder) is larger than the 28 samples "
        "in the dataset's train split, which it trains on; give the dataset more samples"
    ]
    entries, skipped = plan(["pix2pix-lite"], ["image-folder"], [0], 1.0, tmp_path / "b", {"data.root": str(tmp_path / "40")})
    assert len(entries) == 1 and not skipped
