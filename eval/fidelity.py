"""FID, IS and KID from features, computed by torch-fidelity's own functions (KID also by :func:`kid_shared`).

ganzoo extracts features once per image set (see :mod:`ganzoo.eval.extractor`) and hands
them to the same functions ``torch_fidelity.calculate_metrics`` uses, so the numbers are
torch-fidelity's (:func:`kid_shared`'s to float64 rounding), with three differences that matter: statistics are float64, the
generated samples are drawn by ganzoo (torch-fidelity 0.4.0 crashes on NumPy 2 when it
draws from a conditional generator: ``np.int`` in ``get_featuresdict_from_generative_model``),
and the real-data features are cached under a key that includes the weights and N.
Precision/recall is in :mod:`ganzoo.eval.prdc`: torch-fidelity's ``prc`` uses
``torch.cdist``'s matrix-multiply path, whose distances are not exact on ties.
"""

from __future__ import annotations

import math

import torch

IS_SPLITS = 10
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000  # torch-fidelity's default; smaller sets use all their samples per subset
TORCH_FIDELITY_SEED = 2020  # torch-fidelity's default rng_seed, for its shuffles and KID subsets


def frechet_statistics(features: torch.Tensor) -> dict:
    """Mean and covariance in float64 (numpy arrays, torch-fidelity's format)."""
    from torch_fidelity.metric_fid import fid_features_to_statistics  # lazily: torch-fidelity loads torchvision

    return fid_features_to_statistics(features.double().cpu())


def frechet_distance(stats_1: dict, stats_2: dict) -> float:
    """The Frechet distance between two Gaussians given as ``{"mu", "sigma"}`` (torch-fidelity's formula)."""
    from torch_fidelity.metric_fid import fid_statistics_to_metric

    return fid_statistics_to_metric(stats_1, stats_2, False)["frechet_inception_distance"]


def fid(fake: torch.Tensor, real: torch.Tensor) -> float:
    return frechet_distance(frechet_statistics(fake), frechet_statistics(real))


FID_INF_POINTS = 10  # subset sizes evenly spaced in 1/N, as in Chong & Forsyth's reference code
FID_INF_MIN_N = 50  # below this the smallest subsets are too small for a covariance worth fitting


def fid_infinity(fake: torch.Tensor, real: torch.Tensor, seed: int, points: int = FID_INF_POINTS) -> tuple[float | None, list[list[float]]]:
    """FID extrapolated to infinitely many generated samples (Chong & Forsyth 2020).

    FID is biased upwards by about b/N at N generated samples. The generator's FID is
    computed on random subsets of ``fake`` whose sizes are evenly spaced in 1/N between
    N/5 and N (the reference code spaces them between 5,000 and 50,000), a line is fitted to
    FID against 1/N by least squares, and its intercept is FID at N = infinity. Returns
    ``(fid_inf, [[n, fid], ...])``; ``None`` when there are fewer than ``FID_INF_MIN_N`` samples.
    """
    n = len(fake)
    if n < FID_INF_MIN_N:
        return None, []
    inverse = torch.linspace(1.0 / (n // 5), 1.0 / n, points, dtype=torch.float64)
    sizes = sorted({int(round(1.0 / x)) for x in inverse.tolist()})
    generator = torch.Generator().manual_seed(seed)
    real_stats = frechet_statistics(real)
    fit = []
    for size in sizes:
        subset = fake[torch.randperm(n, generator=generator)[:size]]
        fit.append([size, frechet_distance(frechet_statistics(subset), real_stats)])
    x = torch.tensor([1.0 / size for size, _ in fit], dtype=torch.float64)
    y = torch.tensor([value for _, value in fit], dtype=torch.float64)
    slope = ((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum()
    return float(y.mean() - slope * x.mean()), fit


def inception_score(logits: torch.Tensor, splits: int = IS_SPLITS) -> dict[str, float]:
    from torch_fidelity.metric_isc import isc_features_to_metric

    out = isc_features_to_metric(logits.double().cpu(), splits=splits, shuffle=True, rng_seed=TORCH_FIDELITY_SEED)
    return {"is": out["inception_score_mean"], "is_std": out["inception_score_std"]}


def kid_subset_size(n_fake: int, n_real: int) -> int:
    return min(KID_SUBSET_SIZE, n_fake, n_real)


def kid(fake: torch.Tensor, real: torch.Tensor, subsets: int = KID_SUBSETS) -> dict[str, float]:
    from torch_fidelity.metric_kid import kid_features_to_metric

    out = kid_features_to_metric(
        fake.double().cpu(), real.double().cpu(), kid_subsets=subsets,
        kid_subset_size=kid_subset_size(len(fake), len(real)), verbose=False, rng_seed=TORCH_FIDELITY_SEED,
    )
    return {"kid": out["kernel_inception_distance_mean"], "kid_std": out["kernel_inception_distance_std"]}


# kid_shared agrees with kid to float64 rounding: math.isclose with these (tested on data with copies and on
# identical sets, KID near 0). Seen: relative differences of 1e-14 and below.
KID_RTOL = 1e-9
KID_ATOL = 1e-12


def kid_close(a: float, b: float) -> bool:
    """Whether two KID numbers (``kid`` or ``kid_std``) agree within the tolerance above; NaN agrees with NaN (undefined both ways)."""
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=KID_RTOL, abs_tol=KID_ATOL)


def kid_shared(fake: torch.Tensor, real: torch.Tensor, real_sums, subsets: int = KID_SUBSETS) -> dict[str, float]:
    """:func:`kid`, with the kernels computed in torch and the reference subsets' kernel sums from
    ``real_sums(compute)`` (a cache).

    The same subsets drawn in the same order from torch-fidelity's seed, the same kernel
    (``kernel_poly``: ``(x.y / dim + 1) ** 3``) and the same unbiased estimator (``mmd2``), so
    the numbers are torch-fidelity's up to float64 rounding: torch's matrix product, cube and
    sums round otherwise than NumPy's (NumPy's ``** 3`` calls ``pow`` per element, two thirds of
    the time of torch-fidelity's KID), within ``KID_RTOL`` and ``KID_ATOL`` (tested
    against :func:`kid`). The reference half of each subset's kernel sum depends on the
    reference features and the sizes alone, so ``real_sums``, which is called with a function
    computing them, lets a bench that scores run after run against one reference compute it once.
    """
    import numpy as np

    x, y = fake.detach().to("cpu", torch.float64), real.detach().to("cpu", torch.float64)
    size = kid_subset_size(len(x), len(y))
    rng = np.random.RandomState(TORCH_FIDELITY_SEED)
    draws = [(torch.from_numpy(rng.choice(len(x), size, replace=False)), torch.from_numpy(rng.choice(len(y), size, replace=False)))
             for _ in range(subsets)]
    gamma = 1.0 / x.shape[1]  # kernel_poly's default

    def kernel_sum(a: torch.Tensor, b: torch.Tensor, off_diagonal: bool) -> float:
        k = torch.mm(a, b.T).mul_(gamma).add_(1.0).pow_(3)
        return float(k.sum() - k.diagonal().sum()) if off_diagonal else float(k.sum())

    def reference_sums() -> list[float]:
        # Kt_YY_sum of torch-fidelity's mmd2: the off-diagonal sum of each reference subset's kernel.
        return [kernel_sum(y[j], y[j], True) for _, j in draws]

    yy = real_sums(reference_sums)
    m = size
    mmds = np.array([
        (kernel_sum(x[i], x[i], True) + yy[s]) / (m * (m - 1)) - 2 * kernel_sum(x[i], y[j], False) / (m * m)
        for s, (i, j) in enumerate(draws)
    ])
    return {"kid": float(np.mean(mmds)), "kid_std": float(np.std(mmds))}
