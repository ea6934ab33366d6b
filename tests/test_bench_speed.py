"""A bench evaluates with shared work: k-NN balls shared by precision/recall and density/coverage, KID's
reference kernels and real features kept between runs, the live curves drawn once; every final number
stays as it was (compared with each metric computing alone), KID's to rounding (its kernels in torch)."""

from __future__ import annotations


import pytest
import torch

import ganzoo


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))


def _with_ties(n_fake: int, n_real: int, dim: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    real = torch.randn(n_real, dim, generator=g, dtype=torch.float64)
    fake = torch.randn(n_fake, dim, generator=g, dtype=torch.float64) * 1.1
    fake[: n_fake // 4] = real[: n_fake // 4]  # copies: distances exactly on a ball's edge
    return fake, real


def test_shared_neighbours_give_the_bits_of_each_metric_alone():
    from ganzoo.eval import prdc

    fake, real = _with_ties(700, 500, 16)
    shared = prdc.Neighbours(fake, real, prdc.BOTH_BALLS, batch=128)
    assert prdc.precision_recall(fake, real, batch=128, shared=shared) == prdc.precision_recall(fake, real, batch=128)
    assert shared.recall(prdc.PR_K) is not None  # recall was decided in the shared pass, from the generated side's screen
    assert prdc.density_coverage(fake, real, batch=128, shared=shared) == prdc.density_coverage(fake, real, batch=128)
    radii = prdc.neighbour_radii(real, [prdc.PR_K, prdc.DC_K], batch=128)
    for k in (prdc.PR_K, prdc.DC_K):
        assert torch.equal(radii[k], prdc.kth_neighbour_radii(real, k, batch=128))


def test_kid_with_cached_reference_sums_is_torch_fidelitys_kid_to_rounding():
    from ganzoo.eval import fidelity

    fake, real = _with_ties(500, 400, 32)  # subsets of 400: all the reference, drawn in another order each time
    calls, kept = [], {}

    def cache(compute):
        calls.append(1)
        return kept.setdefault("sums", compute())

    first, second = (fidelity.kid_shared(fake, real, cache, subsets=12) for _ in range(2))
    assert first == second and len(kept["sums"]) == 12 and len(calls) == 2
    assert _same_numbers({"kid": first}, {"kid": fidelity.kid(fake, real, subsets=12)})


def _same_numbers(ours: dict, theirs: dict) -> bool:
    """Equal, KID's numbers within the tolerance of its kernels in torch (:data:`ganzoo.eval.fidelity.KID_RTOL`)."""
    from ganzoo.eval import fidelity

    if ours.keys() != theirs.keys() or any(ours[m].keys() != theirs[m].keys() for m in ours):
        return False
    return all(fidelity.kid_close(ours[m][k], theirs[m][k]) if m == "kid" else ours[m][k] == theirs[m][k] for m in ours for k in ours[m])


def _score(fake, reference, share: bool) -> dict:
    from ganzoo.eval.evaluate import score, select_metrics

    specs, skipped = select_metrics(reference.info)
    specs = [spec for spec in specs if spec.name not in ("is", "classes")]  # no shared work in them; time saved
    return score(fake, reference, specs, skipped, head={}, protocol={}, share=share)


@pytest.mark.parametrize("dataset, options, n", [("mnist", {}, 300), ("ring8", {"data.n": 3000}, 500)])
def test_scores_with_and_without_sharing_are_identical_and_later_runs_reuse_the_reference(dataset, options, n, monkeypatch):
    from ganzoo.eval import prdc, realcache
    from ganzoo.eval.evaluate import dataset_reference
    from ganzoo.run.build import build_named_dataset
    from ganzoo.run.config import dataset_options

    options = dataset_options(dataset, options)
    data = build_named_dataset(dataset, options)
    reference = dataset_reference(data, options, n, n)
    g = torch.Generator().manual_seed(1)
    fake = (reference.heldout + 0.3 * torch.randn(reference.heldout.shape, generator=g)).clamp(-1, 1)
    fake[: n // 5] = reference.real[: n // 5]  # memorised samples: ties on the balls' edges
    realcache.forget()
    alone = _score(fake, reference, share=False)
    radii_passes = []
    original = prdc.neighbour_radii
    monkeypatch.setattr(prdc, "neighbour_radii", lambda points, ks, *a: radii_passes.append(len(points)) or original(points, ks, *a))
    shared, again = _score(fake, reference, share=True), _score(fake * 0.9, reference, share=True)
    expected = {"precision-recall", "density-coverage", "kid", "fid"} if dataset == "mnist" else {"mixture-prdc", "mixture-modes"}
    assert _same_numbers(shared["metrics"], alone["metrics"]) and set(shared["metrics"]) == expected
    assert again["metrics"] != shared["metrics"]  # the second "run" was really scored
    # One pass for the reference radii of both metrics and both runs, and one per run for recall's generated radii.
    assert len(radii_passes) == 3


@pytest.mark.slow
def test_a_run_folder_evaluated_with_and_without_sharing_has_identical_final_numbers(tmp_path):
    from ganzoo.eval import realcache
    from ganzoo.eval.evaluate import evaluate

    run = ganzoo.train("vanilla", "mnist", steps=3, out=tmp_path / "m", log_every=1, set={"width": 32, "depth": 1}, progress=False)
    realcache.forget()
    alone = evaluate(run.path, n=400, write=False, share=False)
    shared = evaluate(run.path, n=400, write=False)
    cached = evaluate(run.path, n=400, write=False)  # the reference's features and radii from this process's memory
    assert _same_numbers(shared["metrics"], alone["metrics"]) and shared["metrics"] == cached["metrics"]
    assert cached["protocol"]["real_features_cached"] == {"ganzoo-lenet-mnist/real": True, "ganzoo-lenet-mnist/heldout": True}


def test_a_bench_draws_the_live_curves_once_at_its_last_live_evaluation_and_logs_the_same_scalars(tmp_path, monkeypatch):
    from ganzoo.eval import live
    from ganzoo.run.build import build
    from ganzoo.run.config import make_run_config
    from ganzoo.run.device import resolve_device
    from ganzoo.run.folder import RunFolder
    from ganzoo.training.callbacks import StepInfo

    drawn = []
    monkeypatch.setattr(live, "save_eval_curves", lambda points, path, title: drawn.append(sorted(points)))
    config = make_run_config("vanilla", "ring8", sets={"width": 16, "depth": 1, "data.n": 2000}, steps=25, log_every=5, device="cpu")
    gan, data = build(config, resolve_device("cpu"))
    folder = RunFolder(tmp_path / "run")
    folder.path.mkdir()
    logged = {}
    for bench, expected in ((False, 5), (True, 1)):  # as ganzoo run does, then as ganzoo bench does
        drawn.clear()
        [callback] = live.live_evaluation(5, n=200, curves_at_end=bench, share=bench)(data, config)
        logged[bench] = [callback.after_step(StepInfo(step, gan, folder, "vanilla on ring8", lambda: {"step": step}))
                         for step in range(1, config.steps + 1)]
        assert len(drawn) == expected and drawn[-1] == sorted(f"eval/{k}" for k in ("modes", "hq", "reverse_kl"))
    assert logged[True] == logged[False] and sum(map(bool, logged[True])) == 5  # the same scalars at the same steps
