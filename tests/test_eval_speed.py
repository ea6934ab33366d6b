"""The faster evaluation arithmetic gives the numbers of the slower one: KID's kernels in torch agree
with torch-fidelity's NumPy ones within the stated tolerance, the k-NN metrics' byte-wise reductions
and one-comparison decisions give the exact brute-force numbers (ties included), density/coverage's
pass decides recall too when it runs first, and LeNet's pooling without gradients keeps the features' bits."""

from __future__ import annotations


import pytest
import torch

from ganzoo.eval import fidelity, prdc


def _features(n: int, dim: int, seed: int, copies_of: torch.Tensor | None = None) -> torch.Tensor:
    """ReLU features like LeNet's (many exact zeros), optionally a quarter of them copying ``copies_of``."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(n, dim, generator=g, dtype=torch.float64) * torch.rand(n, 1, generator=g, dtype=torch.float64) * 4).relu()
    if copies_of is not None:
        x[: n // 4] = copies_of[: n // 4]
    return x


@pytest.mark.parametrize("n_fake, n_real, dim, subsets", [(500, 400, 32, 12), (300, 300, 128, 5), (60, 90, 8, 30)])
def test_kid_in_torch_agrees_with_torch_fidelitys_function_within_the_tolerance(n_fake, n_real, dim, subsets):
    from torch_fidelity.metric_kid import kid_features_to_metric

    real = _features(n_real, dim, 1)
    for fake in (_features(n_fake, dim, 2), _features(n_fake, dim, 3, copies_of=real), real[torch.arange(n_fake) % n_real]):
        size = fidelity.kid_subset_size(n_fake, n_real)
        theirs = kid_features_to_metric(fake, real, kid_subsets=subsets, kid_subset_size=size, verbose=False,
                                        rng_seed=fidelity.TORCH_FIDELITY_SEED)
        ours = fidelity.kid_shared(fake, real, lambda compute: compute(), subsets=subsets)
        for key, their_key in (("kid", "kernel_inception_distance_mean"), ("kid_std", "kernel_inception_distance_std")):
            assert fidelity.kid_close(ours[key], theirs[their_key]), key
        assert ours == fidelity.kid_shared(fake, real, lambda compute: compute(), subsets=subsets)  # deterministic


def test_byte_wise_any_and_row_counts_are_torchs():
    g = torch.Generator().manual_seed(0)
    for shape, p in (((37, 1000), 0.003), ((5, 40_000), 0.5), ((3, 7), 1.0), ((0, 9), 0.5), ((4, 0), 0.5)):
        mask = torch.rand(shape, generator=g) < p
        for dim in (0, 1):
            assert torch.equal(prdc._any(mask, dim), mask.any(dim))
        assert torch.equal(prdc._row_counts(mask).long(), torch.count_nonzero(mask, dim=1))
    wide = torch.ones(2, 2**15 + 3, dtype=torch.bool)  # a row count past int16
    assert prdc._row_counts(wide).tolist() == [2**15 + 3] * 2


def _brute_force(fake: torch.Tensor, real: torch.Tensor) -> dict[str, float]:
    d_rr, d_ff, d_fr = (prdc._exact(a, b) for a, b in ((real, real), (fake, fake), (fake, real)))
    r_pr, f_pr, r_dc = (d.sort(1).values[:, k] for d, k in ((d_rr, prdc.PR_K), (d_ff, prdc.PR_K), (d_rr, prdc.DC_K)))
    inside_dc = d_fr < r_dc[None, :]
    return {"precision": float((d_fr <= r_pr[None, :]).any(1).double().mean()), "recall": float((d_fr <= f_pr[:, None]).any(0).double().mean()),
            "density": int(inside_dc.sum()) / (prdc.DC_K * len(fake)), "coverage": float(inside_dc.any(0).double().mean())}


@pytest.mark.parametrize("first", ["density-coverage", "precision-recall"])
def test_shared_pass_decides_recall_whichever_metric_asks_first_and_every_number_is_the_brute_force_one(first):
    real = _features(400, 24, 4)
    real[:6] = 0  # dead features: radius exactly 0
    real[6:10] = real[10]  # duplicates
    fake = _features(350, 24, 5, copies_of=real[torch.randperm(400, generator=torch.Generator().manual_seed(6))])
    fake[-20:] = fake[-21]  # a collapsed corner: crowded rows
    expected = _brute_force(fake, real)
    shared = prdc.Neighbours(fake, real, prdc.BOTH_BALLS, batch=64, recall_k=prdc.PR_K)
    passes = []
    original = prdc._in_balls_each
    try:
        prdc._in_balls_each = lambda *a: passes.append(1) or original(*a)
        if first == "density-coverage":
            got = {**prdc.density_coverage(fake, real, batch=64, shared=shared), **prdc.precision_recall(fake, real, batch=64, shared=shared)}
        else:
            got = {**prdc.precision_recall(fake, real, batch=64, shared=shared), **prdc.density_coverage(fake, real, batch=64, shared=shared)}
    finally:
        prdc._in_balls_each = original
    assert got == expected
    assert len(passes) == 1  # recall came from the one screening pass, not a pass of its own


def test_lenet_features_without_gradients_are_the_bits_of_the_trained_layout():
    from ganzoo.eval.lenet import load_lenet, to_lenet_input

    net = load_lenet()
    g = torch.Generator().manual_seed(0)
    images = (torch.rand(64, 1, 28, 28, generator=g) * 255).to(torch.uint8)
    images[:16] = 0  # blank images: ties everywhere in the pooling windows
    x = to_lenet_input(images)
    with torch.no_grad():
        fast = net.features(x)
    with torch.enable_grad():
        trained_layout = net.features(x.requires_grad_(True)).detach()
    assert torch.equal(fast, trained_layout)


def test_an_evaluation_decides_recall_in_density_coverages_pass(tmp_path, monkeypatch):
    # The registry runs density-coverage before precision-recall; told which metrics run, its pass decides recall too.
    from ganzoo.eval.evaluate import dataset_reference, score, select_metrics
    from ganzoo.run.build import build_named_dataset
    from ganzoo.run.config import dataset_options

    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))
    options = dataset_options("mnist", {})
    reference = dataset_reference(build_named_dataset("mnist", options), options, 200, 200)
    fake = (reference.heldout + 0.3 * torch.randn(reference.heldout.shape, generator=torch.Generator().manual_seed(1))).clamp(-1, 1)
    specs, _ = select_metrics(reference.info, ["density-coverage", "precision-recall"])
    passes = []
    original = prdc._in_balls_each
    monkeypatch.setattr(prdc, "_in_balls_each", lambda *a: passes.append(1) or original(*a))
    shared = score(fake, reference, specs, {}, head={}, protocol={})["metrics"]
    assert len(passes) == 1
    alone = score(fake, reference, specs, {}, head={}, protocol={}, share=False)["metrics"]
    assert shared == alone


def test_with_too_few_generated_samples_for_recall_density_coverage_still_runs(tmp_path, monkeypatch):
    # 3 generated images: recall needs a 3rd neighbour among them (4 at least), density/coverage does not;
    # sharing must not make density/coverage's pass try to decide recall (it raised "k out of range").
    from ganzoo.eval.evaluate import dataset_reference, score, select_metrics
    from ganzoo.run.build import build_named_dataset
    from ganzoo.run.config import dataset_options

    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))
    options = dataset_options("mnist", {})
    reference = dataset_reference(build_named_dataset("mnist", options), options, 50, 50)
    fake = reference.heldout[:3] + 0.2
    specs, _ = select_metrics(reference.info, ["density-coverage", "precision-recall"])
    shared = score(fake, reference, specs, {}, head={}, protocol={})
    alone = score(fake, reference, specs, {}, head={}, protocol={}, share=False)
    assert set(shared["metrics"]) == {"density-coverage"} and "precision-recall" in shared["skipped"]
    assert shared["metrics"] == alone["metrics"]
