"""Precision/recall and density/coverage: k-nearest-neighbour balls, with exact distances.

Precision and recall (Kynkaanniemi et al. 2019, "Improved Precision and Recall Metric for
Assessing Generative Models"), as torch-fidelity's ``prc``: each point's ball has the radius
of its k-th nearest neighbour within its own set (itself excluded), k = 3, and membership is
``<=``. Precision = share of fakes inside some real ball; recall = share of reals inside
some fake ball.

Density and coverage (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for
Generative Models"), as the reference code (clovaai/generative-evaluation-prdc, PyPI
``prdc``): real balls only, k = 5, membership strict (``<``).

    density  = 1/(k M) * sum over the M fakes of the number of real balls containing it
    coverage = share of real points whose ball contains at least one fake

Too few samples. A ball's radius is the distance to the k-th *other* point of its set, so a
set of k points or fewer has none: the metric is skipped (:class:`MetricSkipped`) with the N
it needs, k + 1 per set (the reference set alone for density/coverage), and the others run.

Exact distances. Membership compares a distance between the sets with a radius measured
within one, so when a generated point copies a reference point (a memorised image) the two
are the same distance and the answer hangs on the last bit. ``torch.cdist``'s
matrix-multiply path (``|x|^2 + |y|^2 - 2 x.y``, which torch-fidelity and sklearn's
pairwise distances also use) is neither symmetric nor zero between identical points, so
ties fell either way. Here every distance that decides a radius or a membership is
``sqrt(sum((x - y)^2))`` in float64 (``torch.cdist``'s other path), which is symmetric and
exactly 0 between copies.
Computing every distance that way is about six times slower, so all pairs are first
screened with the matrix-multiply path, whose error is bounded (:func:`_tolerance`), and
only the pairs within that bound of a decision are recomputed exactly. Work goes in
batches of rows: memory is a few ``batch x N`` float64 matrices, never ``N x N``.
"""

from __future__ import annotations

import math
from typing import Iterator

import torch

from .context import MetricSkipped

PR_K = 3  # Kynkaanniemi et al. 2019
DC_K = 5  # Naeem et al. 2020
BATCH = 2000  # rows per distance matrix: 2,000 x 10,000 float64 is 160 MB
EXACT_PAIRS = 1 << 16  # pairs recomputed at once: 65,536 x 128 features in float64 is 64 MB
CROWDED_ROW = 512  # a row with more pairs to recompute than this is recomputed whole (a collapsed generator's)


def precision_recall(fake: torch.Tensor, real: torch.Tensor, k: int = PR_K, batch: int = BATCH) -> dict[str, float]:
    _need_neighbours(k, generated=len(fake), real=len(real))  # both sets have balls
    fake, real = _float64(fake), _float64(real)
    precision = sum(int(inside.any(1).sum()) for inside in _in_balls(fake, real, kth_neighbour_radii(real, k, batch), False, batch))
    recall = sum(int(inside.any(1).sum()) for inside in _in_balls(real, fake, kth_neighbour_radii(fake, k, batch), False, batch))
    return {"precision": precision / len(fake), "recall": recall / len(real)}


def density_coverage(fake: torch.Tensor, real: torch.Tensor, k: int = DC_K, batch: int = BATCH) -> dict[str, float]:
    _need_neighbours(k, real=len(real))  # real balls only
    if not len(fake):
        raise MetricSkipped("needs at least 1 generated sample; got 0")
    fake, real = _float64(fake), _float64(real)
    inside_count = 0
    covered = torch.zeros(len(real), dtype=torch.bool)
    for inside in _in_balls(fake, real, kth_neighbour_radii(real, k, batch), True, batch):  # (fakes, reals)
        inside_count += int(inside.sum())
        covered |= inside.any(0)
    return {"density": inside_count / (k * len(fake)), "coverage": float(covered.double().mean())}


def _need_neighbours(k: int, **sizes: int) -> None:
    """Skip, naming the N needed, when a set has no k-th other point."""
    short = {name: n for name, n in sizes.items() if n < k + 1}
    if short:
        which = "samples per set" if len(sizes) > 1 else f"{next(iter(sizes))} samples"
        got = " and ".join(f"{n} {name}" for name, n in sizes.items())
        raise MetricSkipped(f"needs at least k+1 = {k + 1} {which} (k = {k} nearest neighbours); got {got}")


def kth_neighbour_radii(points: torch.Tensor, k: int, batch: int = BATCH) -> torch.Tensor:
    """Exact distance from each point to its k-th nearest other point of the same set."""
    points = _float64(points)
    norms = points.norm(dim=1)
    radii = []
    for start in range(0, len(points), batch):
        chunk = points[start : start + batch]
        approx = _screen(chunk, points)
        tol = _tolerance(norms[start : start + batch].max(), norms.max(), points.shape[1])
        # The k + 1 smallest include the point itself (exactly 0). The exact (k+1)-th smallest
        # is within tol of the screened one, so every pair at or below it screens at most 2 tol above.
        near = approx <= (_kth_smallest(approx, k + 1) + 2 * tol)[:, None]
        approx.masked_fill_(~near, math.inf)
        _fill_exact(approx, near, chunk, points)
        radii.append(_kth_smallest(approx, k + 1))
    return torch.cat(radii)


def _in_balls(queries: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, strict: bool, batch: int) -> Iterator[torch.Tensor]:
    """Per batch of queries, ``inside[i, j]``: query i lies in the ball of radius ``radii[j]`` around centre j."""
    centre_norm = centres.norm(dim=1).max()
    for start in range(0, len(queries), batch):
        chunk = queries[start : start + batch]
        distance = _screen(chunk, centres)
        gap = distance - radii[None, :]
        tol = _tolerance(chunk.norm(dim=1).max(), centre_norm, queries.shape[1])
        inside = gap < -tol  # certainly inside, whatever the last bits
        close = gap.abs_() <= tol  # too close to call: decide exactly
        _fill_exact(distance, close, chunk, centres)
        exact_inside = distance < radii[None, :] if strict else distance <= radii[None, :]
        yield torch.where(close, exact_inside, inside)


def _kth_smallest(rows: torch.Tensor, k: int) -> torch.Tensor:
    # topk is several times faster than kthvalue on wide rows; the k-th value is the same.
    return rows.topk(k, dim=1, largest=False).values[:, -1]


def _screen(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.cdist(a, b, compute_mode="use_mm_for_euclid_dist")


def _exact(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The exact distances: ``torch.cdist`` without the matrix-multiply path, which sums
    ``(x - y)^2`` per pair. Checked here: the same bits for a pair whatever the shapes it is
    computed in (a whole matrix, a few rows, a batch of single pairs), symmetric, 0 between copies."""
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")


def _fill_exact(distances: torch.Tensor, mask: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> None:
    """Overwrite ``distances[i, j]`` with the exact distance between ``a[i]`` and ``b[j]`` wherever ``mask[i, j]``.

    A collapsed generator (many identical samples) puts most pairs of a row in ``mask``: such
    rows are recomputed whole; the other pairs go in slices of ``EXACT_PAIRS``, never gathered
    all at once (batch x N x dim floats).
    """
    crowded = mask.sum(1) > CROWDED_ROW
    if crowded.any():
        rows = crowded.nonzero()[:, 0]
        distances[rows] = torch.where(mask[rows], _exact(a[rows], b), distances[rows])
        mask = mask & ~crowded[:, None]
    rows, cols = torch.nonzero(mask, as_tuple=True)
    for start in range(0, len(rows), EXACT_PAIRS):
        r, c = rows[start : start + EXACT_PAIRS], cols[start : start + EXACT_PAIRS]
        distances[r, c] = _exact(a[r][:, None], b[c][:, None])[:, 0, 0]


def _tolerance(norm_a: torch.Tensor, norm_b: torch.Tensor, dim: int) -> float:
    """A bound on |screened - exact| for rows of norm at most ``norm_a`` and ``norm_b``.

    Both squared distances are sums of ``dim + 2`` terms whose magnitudes add up to at most
    ``(|x| + |y|)^2``, so each is within ``(dim + 3) u (|x| + |y|)^2`` of the true one (u the
    unit roundoff; Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., 3.1), and
    ``|sqrt(p) - sqrt(q)| <= sqrt(|p - q|)``: the two distances are within
    ``2 sqrt((dim + 3) u) (|x| + |y|)``. We allow about three times that (eps = 2u), plus an
    absolute term for the matrix-multiply path's clamp of tiny squares and zero-norm rows.
    """
    eps = torch.finfo(torch.float64).eps
    return 4 * math.sqrt((dim + 3) * eps) * float(norm_a + norm_b) + 1e-12


def _float64(x: torch.Tensor) -> torch.Tensor:
    return x.detach().to("cpu", torch.float64).flatten(1).contiguous()
