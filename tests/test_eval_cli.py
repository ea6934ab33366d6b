"""``ganzoo eval`` on tiny trained runs: eval.json, its protocol, the feature cache, errors, metric plugins."""

from __future__ import annotations

import json
import sys

import pytest
import torch

import ganzoo
from ganzoo.eval.evaluate import draw_samples, evaluate
from ganzoo.eval.lenet import WEIGHTS_SHA256

TINY = dict(set={"width": 16, "depth": 1}, batch_size=32, progress=False)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory):
    return ganzoo.train("vanilla", "ring8", steps=30, out=tmp_path_factory.mktemp("r") / "ring", **{**TINY, "set": {**TINY["set"], "data.n": 2000}})


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory):
    return ganzoo.train("vanilla", "mnist", steps=10, out=tmp_path_factory.mktemp("m") / "mnist", **TINY)


@pytest.mark.slow
def test_eval_of_a_ring_run_reports_modes_hq_kl_and_its_protocol(cli, ring_run):
    code, out, err = cli("eval", str(ring_run.path), "--seed", "3")
    assert code == 0, err
    report = json.loads((ring_run.path / "eval.json").read_text())
    modes = report["metrics"]["mixture-modes"]
    assert 0 <= modes["modes"] <= modes["modes_total"] == 8 and 0 <= modes["hq"] <= 1 and "reverse_kl" in modes
    assert set(report["metrics"]["mixture-prdc"]) == {"precision", "recall", "density", "coverage"}
    p = report["protocol"]
    assert (p["n_generated"], p["seed"], p["step"], p["checkpoint"], p["generator"]) == (2500, 3, 30, "last", "G")
    assert p["n_real"] + p["n_heldout"] == 2000 and p["n_heldout"] < 500 and p["hq_stds"] == 3.0 and "torch-fidelity" in p["versions"]
    assert "mixture-modes" in out and "wrote" in out


@pytest.mark.slow
def test_eval_of_an_mnist_run_reports_every_image_metric_with_its_floor_and_caches_real_features(cli, mnist_run):
    code, out, err = cli("eval", str(mnist_run.path), "--n", "1100")
    assert code == 0, err
    first = json.loads((mnist_run.path / "eval.json").read_text())
    m, p = first["metrics"], first["protocol"]
    assert {"fid", "is", "kid", "precision-recall", "density-coverage", "classes"} <= set(m)
    assert {"fid", "fid_floor", "fid_at_floor_n"} <= set(m["fid"]) and 0 <= m["fid"]["fid_floor"] < m["fid"]["fid"]
    assert sum(m["classes"][f"class_{c}"] for c in range(10)) <= 1100
    assert p["feature_weights_sha256"] == WEIGHTS_SHA256 and p["feature_network"] == "ganzoo-lenet-mnist"
    assert (p["n_generated"], p["n_real"], p["fid_floor_n"], p["kid_subset_size"], p["pr_k"], p["dc_k"]) == (1100, 1100, 1000, 1000, 3, 5)
    # FID at N = infinity: the intercept of a line through FID on subsets from N/5 to N, whose points are in the protocol.
    sizes = [n for n, _ in p["fid_inf_fit"]]
    assert sizes[0] == 220 and sizes[-1] == 1100 and len(sizes) == 10 and isinstance(m["fid"]["fid_inf"], float)
    assert "holds digits, which the MNIST feature network evaluates" in first["skipped"]["inception"]
    assert p["real_features_cached"] == {"ganzoo-lenet-mnist/real": False, "ganzoo-lenet-mnist/heldout": False}
    # Same protocol again: real features come from the cache and every number is the same.
    again = evaluate(mnist_run.path, n=1100, metrics=["fid"], write=False)
    assert again["protocol"]["real_features_cached"] == {"ganzoo-lenet-mnist/real": True, "ganzoo-lenet-mnist/heldout": True}
    assert again["metrics"]["fid"] == m["fid"]
    # Another N is another cache entry, not a stale hit.
    other = evaluate(mnist_run.path, n=1050, metrics=["fid"], write=False)
    assert other["protocol"]["real_features_cached"]["ganzoo-lenet-mnist/real"] is False


@pytest.mark.parametrize(
    "args, message",
    [
        (["--checkpoint", "best"], "has no best checkpoint"),
        (["--metrics", "fid"], "metric fid does not apply to ring8"),
        (["--metrics", "mode"], "unknown metric 'mode'"),
        (["--n", "1"], "bad --n 1"),
    ],
)
@pytest.mark.slow
def test_eval_mistakes_are_one_line_errors(cli, ring_run, args, message):
    code, out, err = cli("eval", str(ring_run.path), *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_a_third_party_metric_plugin_is_listed_and_evaluated(cli, register_plugin, ring_run):
    class MeanNorm:
        @staticmethod
        @ganzoo.hookimpl
        def register_metrics(register):
            register(ganzoo.MetricSpec(
                "mean-norm", "Mean L2 norm of the generated samples", ("vector",),
                lambda ctx: {"mean_norm": float(ctx.fake.norm(dim=1).mean())},
            ))

    register_plugin(MeanNorm, "mean-norm-plugin")
    code, out, _ = cli("metrics")
    assert code == 0 and "mean-norm" in out
    report = evaluate(ring_run.path, metrics=["mean-norm"], seed=1, write=False)
    expected = float(ganzoo.load_run(ring_run.path).sample(2500, seed=1).norm(dim=1).mean())
    assert report["metrics"]["mean-norm"]["mean_norm"] == pytest.approx(expected, rel=1e-6)


def test_evaluation_samples_from_the_ema_generator_when_there_is_one():
    class Shift(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.b = torch.nn.Parameter(torch.zeros(2))

        def forward(self, z):
            return z[:, :2] + self.b

    class Obj(ganzoo.Objective):
        phases = (ganzoo.Phase("G", "G", "G"),)

        def loss(self, phase, batch):
            raise NotImplementedError

    G = Shift()
    gan = ganzoo.GAN({"G": G}, {"G": torch.optim.SGD(G.parameters(), lr=0.1)}, Obj(), latent_dim=2, ema_decay=0.9)
    with torch.no_grad():
        gan.networks["G_ema"].b.fill_(5.0)
    z = torch.randn(1500, 2, generator=torch.Generator().manual_seed(4))
    assert torch.allclose(draw_samples(gan, 1500, seed=4), z + 5.0)


class _FailingMetrics:
    """A metric plugin with three metrics that fail in three ways, and one that works."""

    @ganzoo.hookimpl
    def register_metrics(self, register):
        def boom(ctx):
            raise RuntimeError("boom\nsecond line")

        def exits(ctx):
            sys.exit(7)

        def interrupts(ctx):
            raise KeyboardInterrupt

        for name, compute in (("boom", boom), ("exits", exits), ("interrupts", interrupts)):
            register(ganzoo.MetricSpec(name, f"fails: {name}", ("vector",), compute, live=True))
        register(ganzoo.MetricSpec("fine", "works", ("vector",), lambda ctx: {"fine": 1.0}, live=True))


FAILED = {
    "boom": "plugin failing-metrics: RuntimeError: boom",
    "exits": "plugin failing-metrics: called sys.exit(7)",
    "interrupts": "plugin failing-metrics: KeyboardInterrupt (raised by the plugin itself, not by Ctrl-C)",
}


def _main(*args: str) -> tuple[int, str, str]:
    """``ganzoo ARGS`` in-process with warnings shown as the command shows them."""
    import contextlib
    import io
    import warnings

    from ganzoo.cli import main

    out, err = io.StringIO(), io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        warnings.simplefilter("always")
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def test_a_metric_that_fails_in_any_way_is_recorded_and_the_others_run(register_plugin):
    from ganzoo import plugins
    from ganzoo.eval.context import EvalContext
    from ganzoo.eval.evaluate import run_metrics

    register_plugin(_FailingMetrics(), "failing-metrics")
    info = plugins.datasets().get("ring8").build({"n": 64, "seed": 0}).info
    specs = [plugins.metrics().get(n) for n in ("boom", "exits", "fine", "interrupts", "mixture-modes")]
    ran = run_metrics(EvalContext(info, torch.randn(32, 2), torch.randn(32, 2), use_cache=False), specs)
    assert ran.failed == FAILED and set(ran.results) == {"fine", "mixture-modes"} and ran.results["fine"] == {"fine": 1.0}

    def user_error(ctx):
        raise ganzoo.GanzooError("weights missing")

    spec = ganzoo.MetricSpec("needs-weights", "s", ("vector",), user_error)
    ctx = EvalContext(info, torch.randn(8, 2), torch.randn(8, 2), use_cache=False)
    with pytest.raises(ganzoo.GanzooError, match="weights missing"):  # the user's to fix: the command stops
        run_metrics(ctx, [spec])
    assert run_metrics(ctx, [spec], keep_going=True).failed == {"needs-weights": "GanzooError: weights missing"}


@pytest.mark.slow
def test_ganzoo_eval_reports_failed_metrics_in_one_line_each(register_plugin, ring_run):
    register_plugin(_FailingMetrics(), "failing-metrics")
    code, out, err = _main("eval", str(ring_run.path), "--n", "200")
    assert code == 0 and "Traceback" not in err, err
    report = json.loads((ring_run.path / "eval.json").read_text())
    assert report["failed"] == FAILED and {"fine", "mixture-modes", "mixture-prdc"} <= set(report["metrics"])
    for name, reason in FAILED.items():
        assert f"ganzoo: warning: metric {name} failed ({reason})" in err.splitlines()
        assert f"{name:<18} FAILED: {reason}" in out.splitlines()
    code, out, err = _main("eval", str(ring_run.path), "--n", "200", "--metrics", "boom", "--json")
    assert code == 0 and json.loads(out)["failed"] == {"boom": FAILED["boom"]} and "metric boom failed" in err


@pytest.mark.parametrize("fake, real, metric, reason", [
    (3, 50, "precision_recall", "needs at least k+1 = 4 samples per set (k = 3 nearest neighbours); got 3 generated and 50 real"),
    (50, 2, "precision_recall", "needs at least k+1 = 4 samples per set (k = 3 nearest neighbours); got 50 generated and 2 real"),
    (50, 5, "density_coverage", "needs at least k+1 = 6 real samples (k = 5 nearest neighbours); got 5 real"),
])
def test_knn_metrics_skip_naming_the_n_they_need(fake, real, metric, reason):
    from ganzoo.eval import prdc
    from ganzoo.eval.context import MetricSkipped

    with pytest.raises(MetricSkipped) as caught:
        getattr(prdc, metric)(torch.randn(fake, 2), torch.randn(real, 2))
    assert str(caught.value) == reason
    # At exactly k + 1 there is a k-th other point: the metric runs.
    k = prdc.PR_K if metric == "precision_recall" else prdc.DC_K
    assert set(getattr(prdc, metric)(torch.randn(k + 1, 2), torch.randn(k + 1, 2)))


@pytest.mark.slow
def test_eval_at_small_n_skips_the_knn_metrics_in_one_line_and_runs_the_others(cli, ring_run):
    code, out, err = cli("eval", str(ring_run.path), "--n", "4")
    assert code == 0 and "Traceback" not in err, err
    report = json.loads((ring_run.path / "eval.json").read_text())
    # Precision/recall (k = 3) has its 4 per set; density/coverage (k = 5) would need 6 real samples.
    assert report["skipped"]["mixture-prdc"] == "needs at least k+1 = 6 real samples (k = 5 nearest neighbours); got 4 real"
    assert "mixture-modes" in report["metrics"] and "mixture-prdc       skipped: needs at least k+1" in out
    for n_real in ("0", "1", "-3"):
        code, _, err = cli("eval", str(ring_run.path), "--n", "50", "--n-real", n_real)
        assert code == 2 and err.strip() == f"ganzoo eval: error: bad --n-real {n_real} (valid: 2 to 100000)"
