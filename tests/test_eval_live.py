"""``ganzoo run --eval-every K``: live metrics in metrics.jsonl, eval.png, the best checkpoint, exact resume."""

from __future__ import annotations

import json
import math

import pytest
import torch

import ganzoo
from ganzoo.training.checkpoint import load_checkpoint

TINY = dict(set={"width": 16, "depth": 1, "data.n": 512, "dropout": 0.3}, batch_size=32, progress=False)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))


@pytest.mark.slow
def test_live_mode_coverage_is_logged_plotted_and_picks_the_best_checkpoint(tmp_path, cli):
    run = ganzoo.train("vanilla", "ring8", steps=30, out=tmp_path / "ring", log_every=10, eval_every=10, **TINY)
    live = [r for r in run.metrics() if "eval/modes" in r]
    assert [r["step"] for r in live] == [10, 20, 30]
    assert all(0 <= r["eval/modes"] <= 8 and 0 <= r["eval/hq"] <= 1 for r in live)
    assert (run.path / "eval.png").stat().st_size > 0
    best = json.loads((run.path / "checkpoints" / "best.json").read_text())
    # Undefined KL (no high-quality sample yet) is logged as null and ranks worst; ties keep the earliest step.
    kls = {r["step"]: math.inf if r["eval/reverse_kl"] is None else r["eval/reverse_kl"] for r in live}
    expected = min(kls, key=kls.get)
    assert best["metric"] == "reverse_kl" and best["step"] == expected
    assert best["value"] == (None if math.isinf(kls[expected]) else pytest.approx(kls[expected]))
    assert load_checkpoint(run.path / "checkpoints" / "best.pt")["step"] == best["step"]
    code, out, err = cli("eval", str(run.path), "--checkpoint", "best", "--metrics", "mixture-modes")
    assert code == 0, err
    assert json.loads((run.path / "eval.json").read_text())["protocol"]["step"] == best["step"]


@pytest.mark.slow
def test_live_evaluation_keeps_resume_bitwise_exact(tmp_path):
    opts = dict(log_every=5, eval_every=10, **TINY)
    whole = ganzoo.train("vanilla", "ring8", steps=40, out=tmp_path / "whole", **opts)
    part = ganzoo.train("vanilla", "ring8", steps=17, out=tmp_path / "part", **opts)
    resumed = ganzoo.resume(part.path, steps=40, progress=False, eval_every=10)
    a, b = load_checkpoint(whole.path / "checkpoints" / "last.pt"), load_checkpoint(resumed.path / "checkpoints" / "last.pt")
    for name in a["networks"]:
        for key in a["networks"][name]:
            assert torch.equal(a["networks"][name][key], b["networks"][name][key]), (name, key)
    untimed = lambda run: [{k: v for k, v in r.items() if k != "time"} for r in run.metrics()]
    assert untimed(resumed) == untimed(whole)
    # The record beside best.pt, less the file identity (size, mtime, inode) that ties it to its own copy.
    best = lambda run: {k: v for k, v in run.folder.checkpoint_record("best").items() if k != "file"}
    assert best(resumed) == best(whole)


@pytest.mark.slow
def test_live_fid_and_classes_on_mnist(tmp_path):
    run = ganzoo.train("vanilla", "mnist", steps=4, out=tmp_path / "m", log_every=2, eval_every=2, eval_n=200,
                       set={"width": 16, "depth": 1}, batch_size=16, progress=False)
    live = [r for r in run.metrics() if "eval/fid" in r]
    assert [r["step"] for r in live] == [2, 4] and all(r["eval/fid"] > 0 and 0 <= r["eval/classes"] <= 10 for r in live)
    assert json.loads((run.path / "checkpoints" / "best.json").read_text())["metric"] == "fid"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--eval-every", "7", "--log-every", "5"], "bad --eval-every 7 (valid: a multiple of --log-every 5)"),
        (["--eval-every", "10", "--log-every", "10", "--best-metric", "fid"], "bad --best-metric 'fid' for ring8 (valid: hq, modes, reverse_kl)"),
        (["--best-metric", "fid"], "need --eval-every K"),
    ],
)
def test_live_evaluation_mistakes_are_one_line_errors_before_any_run_folder(cli, tmp_path, args, message):
    out_dir = tmp_path / "never"
    code, out, err = cli("run", "--model", "vanilla", "--dataset", "ring8", "--steps", "20", "--out", str(out_dir), *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not out_dir.exists()


def _final_weights(run) -> dict[str, dict[str, torch.Tensor]]:
    return load_checkpoint(run.path / "checkpoints" / "last.pt")["networks"]


@pytest.mark.slow  # trains four tiny runs
@pytest.mark.parametrize("dataset, options", [("mnist", {}), ("stacked-mnist", {"data.n": 256})])
def test_live_evaluation_leaves_image_training_bitwise_unchanged(tmp_path, dataset, options):
    # Feature extraction must not draw from the RNG the trainer draws its latents from.
    opts = dict(steps=4, log_every=2, batch_size=16, progress=False, set={"width": 16, "depth": 1, **options})
    plain = ganzoo.train("vanilla", dataset, out=tmp_path / "plain", **opts)
    live = ganzoo.train("vanilla", dataset, out=tmp_path / "live", eval_every=2, eval_n=64, **opts)
    assert any("eval/fid" in r or "eval/kl" in r for r in live.metrics())
    a, b = _final_weights(plain), _final_weights(live)
    for name in a:
        for key in a[name]:
            assert torch.equal(a[name][key], b[name][key]), (name, key, (a[name][key] - b[name][key]).abs().max().item())


def test_evaluation_leaves_the_callers_random_state_alone():
    # So that ``ganzoo.evaluate`` or a live metric inside a user's own loop does not change what it draws next.
    from ganzoo import plugins
    from ganzoo.eval.context import EvalContext
    from ganzoo.eval.evaluate import run_metrics, select_metrics

    dataset = plugins.datasets().get("mnist").build({"size": 28, "root": "", "download": False})
    specs, _ = select_metrics(dataset.info, ["fid", "classes", "precision-recall", "density-coverage"])
    ctx = EvalContext(dataset.info, dataset.x[:64], dataset.x[64:128], dataset.x[128:192], use_cache=False)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    ran = run_metrics(ctx, specs)
    assert set(ran.results) == {s.name for s in specs} and not ran.skipped and not ran.failed
    assert torch.equal(torch.get_rng_state(), before)


@pytest.mark.slow
def test_a_copied_run_folder_keeps_comparing_against_its_best(tmp_path):
    # A copy has new inodes and mtimes: the record beside best.pt no longer matches its file
    # identity, but best.pt's own step agrees with it, so the record still holds.
    import shutil

    from ganzoo.run.folder import RunFolder

    run = ganzoo.train("vanilla", "ring8", steps=20, out=tmp_path / "a", log_every=5, eval_every=10, **TINY)
    record = run.folder.checkpoint_record("best")
    shutil.copytree(run.path, tmp_path / "copy")
    copy = RunFolder(tmp_path / "copy")
    kept = copy.checkpoint_record("best")
    assert kept is not None and {k: v for k, v in kept.items() if k != "file"} == {k: v for k, v in record.items() if k != "file"}
    assert (tmp_path / "copy" / "checkpoints" / "best.json").read_text() == (run.path / "checkpoints" / "best.json").read_text()  # reading changes nothing
    # A stale record (its checkpoint is from another step) is not believed.
    copy.save_checkpoint({**copy.load_checkpoint("best"), "step": 999}, "last")
    shutil.copy(copy.checkpoint_dir / "best.json", copy.checkpoint_dir / "last.json")
    assert copy.checkpoint_record("last") is None and copy.checkpoint_step("last") == 999


@pytest.mark.slow
def test_a_live_metric_that_fails_is_left_out_and_training_goes_on(tmp_path, register_plugin):
    import sys
    import warnings

    from ganzoo import plugins

    class Failing:
        @ganzoo.hookimpl
        def register_metrics(self, register):
            def exits(ctx):
                sys.exit(1)

            register(ganzoo.MetricSpec("exits-live", "calls sys.exit", ("vector",), exits, live=True))

    register_plugin(Failing(), "failing-live")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = ganzoo.train("vanilla", "ring8", steps=6, out=tmp_path / "r", log_every=2, eval_every=2, eval_n=200,
                           set={"width": 16, "depth": 1, "data.n": 512}, batch_size=64, progress=False)
    assert run.result.step == 6 and not run.interrupted
    live = [r for r in run.metrics() if "eval/modes" in r]
    assert [r["step"] for r in live] == [2, 4, 6]
    lines = [str(w.message) for w in caught if issubclass(w.category, plugins.PluginWarning)]
    assert lines == [
        "metric exits-live failed (plugin failing-live: called sys.exit(1)) at step 2; "
        "training goes on, and this run's live evaluation leaves it out from now on"
    ]


@pytest.mark.slow
def test_a_hostile_best_checkpoint_is_said_in_one_line_and_replaced(tmp_path, cli):
    run = ganzoo.train("vanilla", "ring8", steps=10, out=tmp_path / "r", log_every=5, eval_every=5, **TINY)
    best = run.folder.checkpoint_file("best")

    class Payload:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"format": "ganzoo-checkpoint-1", "step": 5, "x": Payload()}, best)
    code, _, err = cli("run", "--resume", str(run.path), "--steps", "20", "--eval-every", "5", "--quiet")
    assert code == 0, err
    warning = [line for line in err.splitlines() if "best.pt" in line]
    assert len(warning) == 1 and "refusing to load" in warning[0] and "replaced at the next live evaluation" in warning[0]
    assert "pwned" not in err
    assert run.folder.load_checkpoint("best")["step"] in (10, 15, 20)  # a real checkpoint again
