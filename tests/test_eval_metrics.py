"""Validation of the evaluation metrics against independent references.

Each test computes the expected value by another route (a closed form, a direct loop
over the published definition, the data's own labels), never a number copied from a run.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

import ganzoo
from ganzoo.eval import fidelity, modes, prdc
from ganzoo.eval.context import EvalContext
from ganzoo.eval.evaluate import draw_samples
from ganzoo.eval.extractor import extract
from ganzoo.eval.featurenet import lenet_net
from ganzoo.eval.lenet import NAME, WEIGHTS_FILE, WEIGHTS_SHA256, sha256_file
from ganzoo.eval.quantise import to_uint8
from ganzoo.eval.splits import stratified_split
from ganzoo_plugins.mixtures import grid_centres, mixture, ring_centres
from ganzoo_plugins.mnist import _embedded, to_model_range


@pytest.fixture(scope="module")
def mnist_split():
    """The bundled digits in model range, split exactly as the feature network's training split."""
    images, labels = _embedded()
    x, y = to_model_range(images, 28), torch.from_numpy(labels)
    train, held = stratified_split(y, len(y))
    return x[train], y[train], x[held], y[held]


def _lenet(x: torch.Tensor) -> dict[str, torch.Tensor]:
    return extract(to_uint8(x), NAME, ["features", "logits"])


@pytest.fixture(scope="module")
def train_features(mnist_split):
    return _lenet(mnist_split[0])["features"]


# -- the feature network ----------------------------------------------------------------

def test_shipped_weights_match_their_recorded_hash_and_classify_held_out_digits(mnist_split):
    assert sha256_file(WEIGHTS_FILE) == WEIGHTS_SHA256
    _, _, x_held, y_held = mnist_split
    accuracy = float((_lenet(x_held)["logits"].argmax(1) == y_held).double().mean())
    assert accuracy >= 0.97, f"held-out accuracy {accuracy}"


def test_split_is_stratified_disjoint_and_fixed():
    labels = torch.arange(10).repeat_interleave(50)
    train, held = stratified_split(labels, len(labels))
    assert len(set(train.tolist()) & set(held.tolist())) == 0 and len(train) + len(held) == 500
    assert torch.bincount(labels[held]).tolist() == [10] * 10
    assert torch.equal(held, stratified_split(labels, len(labels))[1])


# -- FID --------------------------------------------------------------------------------

def _closed_form(mu1, s1, mu2, s2) -> float:
    root = scipy.linalg.sqrtm(scipy.linalg.sqrtm(s1) @ s2 @ scipy.linalg.sqrtm(s1)).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(root))


def _random_cov(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def test_frechet_distance_of_two_gaussians_matches_the_closed_form():
    rng = np.random.default_rng(0)
    d = 6
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    s1, s2 = _random_cov(rng, d), _random_cov(rng, d)  # do not commute
    got = fidelity.frechet_distance({"mu": mu1, "sigma": s1}, {"mu": mu2, "sigma": s2})
    assert got == pytest.approx(_closed_form(mu1, s1, mu2, s2), rel=1e-9)
    # Diagonal covariances have the simpler closed form sum (sqrt a - sqrt b)^2 + |mu1 - mu2|^2.
    a, b = rng.uniform(0.5, 2, size=d), rng.uniform(0.5, 2, size=d)
    expected = float(((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum())
    assert fidelity.frechet_distance({"mu": mu1, "sigma": np.diag(a)}, {"mu": mu2, "sigma": np.diag(b)}) == pytest.approx(expected, rel=1e-9)
    # From samples, the float64 statistics converge on the same value.
    x = torch.from_numpy(rng.multivariate_normal(mu1, s1, size=200_000))
    y = torch.from_numpy(rng.multivariate_normal(mu2, s2, size=200_000))
    assert fidelity.fid(x, y) == pytest.approx(_closed_form(mu1, s1, mu2, s2), rel=0.02)


def test_fid_floor_is_small_next_to_a_real_difference(mnist_split, train_features):
    x_train, y_train, x_held, y_held = mnist_split
    held = _lenet(x_held)["features"]
    floor = fidelity.fid(held, train_features)
    # Held-out digits 0-4 only: real images, but half the classes missing.
    half = fidelity.fid(held[y_held < 5], train_features)
    assert 0 <= floor < 0.1 * half


def test_fid_rises_monotonically_with_gaussian_noise(mnist_split, train_features):
    _, _, x_held, _ = mnist_split
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(x_held.shape, generator=g)
    scores = [fidelity.fid(_lenet((x_held + s * noise).clamp(-1, 1))["features"], train_features) for s in (0.0, 0.1, 0.2, 0.4, 0.8)]
    assert all(a < b for a, b in zip(scores, scores[1:])), scores


# -- classes ----------------------------------------------------------------------------

class _OneDigit(torch.nn.Module):
    """A 'generator' that ignores z and always draws the same digit, slightly jittered."""

    def __init__(self, image: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("image", image)
        self.scale = torch.nn.Parameter(torch.tensor(0.02))

    def forward(self, z):
        return (self.image + self.scale * z[:, :1, None, None]).clamp(-1, 1)


class _NoPhases(ganzoo.Objective):
    phases = (ganzoo.Phase("G", "G", "G"),)

    def loss(self, phase, batch):
        raise NotImplementedError


def test_a_generator_of_one_class_covers_one_class_with_a_large_kl(mnist_split):
    from ganzoo import plugins

    x_train, y_train, _, _ = mnist_split
    G = _OneDigit(x_train[y_train == 3][0])
    gan = ganzoo.GAN({"G": G}, {"G": torch.optim.SGD(G.parameters(), lr=0.1)}, _NoPhases(), latent_dim=4)
    info = ganzoo.DatasetInfo("mnist", "image", (1, 28, 28), num_classes=10)
    ctx = EvalContext(info, draw_samples(gan, 500, seed=0))
    out = plugins.metrics().get("classes").compute(ctx)
    assert out["classes"] == 1 and out["class_3"] == 500
    assert out["class_kl"] == pytest.approx(math.log(10))  # KL(point mass || uniform over 10)
    # Real held-out digits, by contrast, cover every class with a KL near 0.
    balanced = modes.class_coverage(_lenet(mnist_split[2])["logits"])
    assert balanced["classes"] == 10 and balanced["class_kl"] < 0.05


# -- precision, recall, density, coverage -----------------------------------------------

def _direct_prdc(fake: np.ndarray, real: np.ndarray, k_pr: int, k_dc: int) -> dict[str, float]:
    """The published definitions, one point at a time (Kynkaanniemi et al. 2019; Naeem et al. 2020)."""
    def dist(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    def radius(points, k):  # k-th nearest other point
        return np.array([np.sort(row)[k] for row in dist(points, points)])

    rr_pr, rf_pr, rr_dc = radius(real, k_pr), radius(fake, k_pr), radius(real, k_dc)
    d_fr = dist(fake, real)
    precision = np.mean([any(d_fr[i, j] <= rr_pr[j] for j in range(len(real))) for i in range(len(fake))])
    recall = np.mean([any(d_fr[i, j] <= rf_pr[i] for i in range(len(fake))) for j in range(len(real))])
    density = sum(sum(d_fr[i, j] < rr_dc[j] for j in range(len(real))) for i in range(len(fake))) / (k_dc * len(fake))
    coverage = np.mean([any(d_fr[i, j] < rr_dc[j] for i in range(len(fake))) for j in range(len(real))])
    return {"precision": precision, "recall": recall, "density": density, "coverage": coverage}


@pytest.mark.parametrize("shift", [0.0, 0.7])
def test_precision_recall_density_coverage_match_the_published_definitions(shift):
    rng = np.random.default_rng(1)
    real = rng.normal(size=(150, 4))
    fake = rng.normal(size=(120, 4)) * 1.3 + shift
    expected = _direct_prdc(fake, real, prdc.PR_K, prdc.DC_K)
    got = {**prdc.precision_recall(torch.from_numpy(fake), torch.from_numpy(real)), **prdc.density_coverage(torch.from_numpy(fake), torch.from_numpy(real))}
    for key in expected:
        assert got[key] == pytest.approx(expected[key], abs=1e-12), key


def _exact_knn_metrics(fake: np.ndarray, real: np.ndarray, k_pr: int, k_dc: int) -> dict[str, float]:
    """The same definitions by brute force, vectorised, on distances from explicit differences in float64."""
    def dist(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    d_rr, d_ff, d_fr = dist(real, real), dist(fake, fake), dist(fake, real)
    rr_pr, rf_pr, rr_dc = np.sort(d_rr, 1)[:, k_pr], np.sort(d_ff, 1)[:, k_pr], np.sort(d_rr, 1)[:, k_dc]
    inside_dc = d_fr < rr_dc[None, :]
    return {
        "precision": (d_fr <= rr_pr[None, :]).any(1).mean(), "recall": (d_fr <= rf_pr[:, None]).any(0).mean(),
        "density": inside_dc.sum() / (k_dc * len(fake)), "coverage": inside_dc.any(0).mean(),
    }


def _memorised(seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Feature-like data (ReLU, norms from 0 to ~100) where fakes copy reference points: exact ties everywhere.

    Six all-zero reference rows (dead features) have a k=5 radius of exactly 0; five identical
    rows have four neighbours at exactly 0.
    """
    rng = np.random.default_rng(seed)
    real = np.maximum(rng.normal(size=(400, 64)) * rng.uniform(0.5, 50, size=(400, 1)), 0)
    real[:6] = 0
    real[6:10] = real[10]
    copies = real[rng.permutation(len(real))[:300]]
    fake = np.concatenate([copies, np.maximum(rng.normal(size=(100, 64)) * 5, 0)])
    return fake, real


def test_density_coverage_are_exact_on_fakes_that_copy_reference_points():
    # torch.cdist's matrix-multiply path is not symmetric to the last bit: a copy of a real
    # point's k-th neighbour, which lies exactly on the ball's edge, fell inside at random.
    fake, real = _memorised()
    expected = _exact_knn_metrics(fake, real, prdc.PR_K, prdc.DC_K)
    got = prdc.density_coverage(torch.from_numpy(fake), torch.from_numpy(real))
    assert got == {"density": expected["density"], "coverage": expected["coverage"]}
    # Strict membership: a copied point is inside its own ball iff that ball's radius is above 0.
    radii = prdc.kth_neighbour_radii(torch.from_numpy(real), prdc.DC_K)
    assert (radii[:6] == 0).all() and (radii[6:] > 0).all()
    for i in (0, 8, 20):  # a dead-feature row, a duplicated row, an ordinary one
        alone = prdc.density_coverage(torch.from_numpy(real[i : i + 1]), torch.from_numpy(real[i : i + 1].repeat(6, 0)))
        assert alone["density"] == 0.0  # six copies: radius 0, and 0 < 0 is false
        if radii[i] > 0:  # inside its own ball at least
            assert prdc.density_coverage(torch.from_numpy(real[i : i + 1]), torch.from_numpy(real))["density"] >= 1 / prdc.DC_K


def test_precision_recall_are_exact_on_ties_and_torch_fidelitys_elsewhere():
    from torch_fidelity.metric_prc import calculate_precision_recall_part

    fake, real = _memorised()
    expected = _exact_knn_metrics(fake, real, prdc.PR_K, prdc.DC_K)
    got = prdc.precision_recall(torch.from_numpy(fake), torch.from_numpy(real))
    assert got == {"precision": expected["precision"], "recall": expected["recall"]}
    # Without ties, the numbers are torch-fidelity's (it averages in float32).
    rng = np.random.default_rng(4)
    fake, real = torch.from_numpy(rng.normal(size=(500, 32)) * 1.2 + 0.3), torch.from_numpy(rng.normal(size=(600, 32)))
    theirs = calculate_precision_recall_part(fake, real, prdc.PR_K, 2000)
    ours = prdc.precision_recall(fake, real)
    assert (ours["precision"], ours["recall"]) == pytest.approx(theirs, abs=1e-6)


def test_exact_distances_fit_in_chunks():
    # The k-NN metrics never hold an N x N matrix: the work is split in batches of the rows.
    fake, real = _memorised(6)
    small = {**prdc.precision_recall(torch.from_numpy(fake), torch.from_numpy(real), batch=37),
             **prdc.density_coverage(torch.from_numpy(fake), torch.from_numpy(real), batch=37)}
    assert small == _exact_knn_metrics(fake, real, prdc.PR_K, prdc.DC_K)


# -- mixtures and stacked digits --------------------------------------------------------

def test_mixture_metrics_on_true_ring_and_grid_samples_and_on_a_single_gaussian():
    ring = mixture("ring8", ring_centres(), 0.01, 2500, seed=3)
    out = modes.mixture_modes(ring.x, ring_centres(), 0.01)
    assert out["modes"] == 8
    # A 2-D Gaussian puts 1 - exp(-9/2) = 98.9% of its mass within 3 std of its centre.
    assert out["hq"] == pytest.approx(1 - math.exp(-4.5), abs=0.01)
    assert out["reverse_kl"] < 0.01
    grid = mixture("grid25", grid_centres(), 0.05, 2500, seed=3)
    assert modes.mixture_modes(grid.x, grid_centres(), 0.05)["modes"] == 25
    one = ring_centres()[2] + 0.01 * torch.randn(2500, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    single = modes.mixture_modes(one, ring_centres(), 0.01)
    assert single["modes"] == 1 and single["reverse_kl"] == pytest.approx(math.log(8))
    far = modes.mixture_modes(torch.full((10, 2), 5.0), ring_centres(), 0.01)
    assert far["modes"] == 0 and far["hq"] == 0 and math.isnan(far["reverse_kl"])


def test_stacked_mnist_triples_are_counted_per_channel():
    from ganzoo import plugins

    data = plugins.datasets().get("stacked-mnist").build({"n": 1500, "seed": 0, "size": 28, "root": ""})
    assert data.x.shape == (1500, 3, 28, 28) and data.info.num_classes == 1000
    ctx = EvalContext(data.info, data.x)
    out = plugins.metrics().get("stacked-modes").compute(ctx)
    true_modes = len(torch.unique(data.labels))
    # The classifier errs on ~1% of digits, so nearly every true triple is found, and few extra.
    assert 0.9 * true_modes <= out["modes"] <= true_modes * 1.05
    assert out["modes_total"] == 1000 and out["kl"] < math.log(1000)
    # Real digits are balanced (500 of each): the channels' own class KLs are sampling noise.
    assert out["channel_kl"] < 0.05 and all(out[f"channel_kl_{c}"] < 0.02 for c in range(3))


def test_stacked_channel_kl_is_what_unbalanced_digits_explain_of_the_triple_kl():
    from ganzoo.eval import modes

    def confident_logits(digits: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.one_hot(digits, 10).double() * 20.0  # softmax ~1 on the digit

    i = torch.arange(1000)
    # Channel 0 always draws a 3; channels 1 and 2 run through every digit evenly and independently.
    one_digit = modes.triple_coverage([confident_logits(torch.full_like(i, 3)), confident_logits(i % 10), confident_logits(i // 10 % 10)])
    assert one_digit["channel_kl_0"] == pytest.approx(math.log(10))
    assert one_digit["channel_kl_1"] == pytest.approx(0.0, abs=1e-12) and one_digit["channel_kl_2"] == pytest.approx(0.0, abs=1e-12)
    # Independent channels: the triple KL is exactly the sum (100 triples, 10 samples each).
    assert one_digit["modes"] == 100 and one_digit["kl"] == pytest.approx(one_digit["channel_kl"]) == pytest.approx(math.log(10))
    # Dependent channels (2 copies 1): every channel is balanced, yet only 100 triples occur.
    copied = modes.triple_coverage([confident_logits(i // 10 % 10), confident_logits(i % 10), confident_logits(i % 10)])
    assert copied["channel_kl"] == pytest.approx(0.0, abs=1e-12) and copied["kl"] == pytest.approx(math.log(10))
    # A channel's unconfident digits count towards no mode and no class.
    unsure = modes.triple_coverage([torch.zeros(1000, 10), confident_logits(i % 10), confident_logits(i // 10 % 10)])
    assert unsure["confident"] == 0 and unsure["modes"] == 0 and math.isnan(unsure["channel_kl_0"])


def test_a_collapsed_generator_is_scored_exactly_without_gathering_every_pair():
    # 700 identical samples: every pair among them is a tie, so whole rows are recomputed
    # exactly (more than CROWDED_ROW per row) instead of gathering batch x N x dim values.
    from ganzoo.eval import prdc

    g = torch.Generator().manual_seed(3)
    real = torch.randn(400, 16, generator=g, dtype=torch.float64)
    fake = real[5].repeat(700, 1)
    assert len(fake) > prdc.CROWDED_ROW
    exact = lambda a, b: torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")
    real_radii = exact(real, real).topk(prdc.DC_K + 1, dim=1, largest=False).values[:, -1]
    d = exact(fake, real)
    inside = d < real_radii[None, :]
    expected = {"density": float(inside.sum()) / (prdc.DC_K * len(fake)), "coverage": float(inside.any(0).double().mean())}
    assert prdc.density_coverage(fake, real) == expected
    pr_radii = exact(real, real).topk(prdc.PR_K + 1, dim=1, largest=False).values[:, -1]
    fake_radii = torch.zeros(len(fake), dtype=torch.float64)  # identical samples: the k-th neighbour is at 0
    assert prdc.kth_neighbour_radii(fake, prdc.PR_K).eq(0).all()
    expected_pr = {"precision": float((d <= pr_radii[None, :]).any(1).double().mean()),
                   "recall": float((d.T <= fake_radii[None, :]).any(1).double().mean())}
    assert prdc.precision_recall(fake, real) == expected_pr and expected_pr["recall"] == 1 / len(real)


def test_inception_is_for_rgb_and_grey_non_digits_and_reads_grey_images_as_three_equal_channels(monkeypatch):
    from ganzoo.eval import extractor
    from ganzoo.eval.featurenet import FeatureNet

    inception = ganzoo.plugins.metrics().get("inception")
    clothes = ganzoo.DatasetInfo("fashion-mnist", "image", (1, 28, 28), 10, extra={"images_of": "clothes"})
    assert inception.reason_not_applicable(ganzoo.DatasetInfo("cifar10", "image", (3, 32, 32), 10)) is None
    assert inception.reason_not_applicable(clothes) is None
    assert "MNIST feature network" in inception.reason_not_applicable(ganzoo.DatasetInfo("mnist", "image", (1, 28, 28), 10))
    lenet = ganzoo.plugins.metrics().get("fid")
    assert "clothes" in lenet.reason_not_applicable(clothes)

    seen = []
    monkeypatch.setattr(extractor, "extract", lambda images, *a, **k: seen.append(images) or {"2048": images.flatten(1).double()})
    grey = torch.rand(5, 1, 8, 8) * 2 - 1
    ctx = EvalContext(clothes, grey)
    ctx.features(FeatureNet("inception-v3-compat", "0" * 64, ("2048",), rgb=True), "fake")
    ctx.features(FeatureNet("lenet", "0" * 64, ("2048",)), "fake")
    assert seen[0].shape == (5, 3, 8, 8) and all(torch.equal(seen[0][:, c], to_uint8(grey)[:, 0]) for c in range(3))
    assert seen[1].shape == (5, 1, 8, 8)  # a network that reads grey gets grey
