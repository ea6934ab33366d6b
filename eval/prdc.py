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
from dataclasses import dataclass
from typing import Iterator

import torch

from .context import MetricSkipped

PR_K = 3  # Kynkaanniemi et al. 2019
DC_K = 5  # Naeem et al. 2020
BATCH = 256  # rows per distance matrix: 256 x 10,000 float64 is 20 MB (2,000 rows took 1.5 times as long: each pass over the matrix left the caches)
EXACT_PAIRS = 1 << 16  # pairs recomputed at once: 65,536 x 128 features in float64 is 64 MB
CROWDED_ROW = 512  # a row with more pairs to recompute than this is recomputed whole (a collapsed generator's)


def precision_recall(fake: torch.Tensor, real: torch.Tensor, k: int = PR_K, batch: int = BATCH, shared: Neighbours | None = None) -> dict[str, float]:
    """``shared``: the pair's :class:`Neighbours`, holding density/coverage's balls too (the same numbers, less work)."""
    _need_neighbours(k, generated=len(fake), real=len(real))  # both sets have balls
    near = shared or Neighbours(fake, real, ((k, False),), batch)
    fake, real = _float64(fake), _float64(real)
    precision = near.fake_in_real(k, False, recall=shared is not None).inside_any
    recall = near.recall(k)
    if recall is None:  # not measured in that pass
        recall = sum(int(torch.count_nonzero(_any(inside, 1))) for inside in _in_balls(real, fake, kth_neighbour_radii(fake, k, batch), False, batch))
    return {"precision": precision / len(fake), "recall": recall / len(real)}


def density_coverage(fake: torch.Tensor, real: torch.Tensor, k: int = DC_K, batch: int = BATCH, shared: Neighbours | None = None) -> dict[str, float]:
    """``shared``: as for :func:`precision_recall`."""
    _need_neighbours(k, real=len(real))  # real balls only
    if not len(fake):
        raise MetricSkipped("needs at least 1 generated sample; got 0")
    counts = (shared or Neighbours(fake, real, ((k, True),), batch)).fake_in_real(k, True)
    return {"density": counts.inside_total / (k * len(fake)), "coverage": float(counts.covered.double().mean())}


BOTH_BALLS = ((PR_K, False), (DC_K, True))  # (k, strict membership) of precision/recall and of density/coverage


@dataclass
class BallCounts:
    """Generated points against the reference balls of one k: how many lie in some ball, how many
    (point, ball) pairs there are, and which balls hold at least one point."""

    inside_any: int
    inside_total: int
    covered: torch.Tensor


class Neighbours:
    """The reference balls of a (generated, reference) pair and the generated points' membership,
    for every ``(k, strict)`` in ``balls`` at once, computed when first asked for and then kept.

    Precision/recall (k = 3, ``<=``) and density/coverage (k = 5, ``<``) both measure the
    reference set's k-NN radii and screen every generated point against every reference
    point; done for both in one pass, each distance is computed once. The numbers are the
    same bits as computing each alone: the exact recomputation covers every pair either
    would recompute, and exact distances do not depend on which others are computed with them.
    ``real_radii`` (from :func:`neighbour_radii` over the ``balls``' k) may come from a cache:
    they depend on the reference set alone. Asked with ``recall=True``, the same pass also
    decides recall (reference points inside generated balls, the same pairs seen from the other
    side): each decision is the exact one whichever side's screen and bound it starts from.
    ``recall_k``: decide recall for that k in the pass whichever metric asks first (density/coverage
    runs before precision/recall in name order; otherwise recall would need a pass of its own).
    """

    def __init__(self, fake: torch.Tensor, real: torch.Tensor, balls: tuple[tuple[int, bool], ...] = BOTH_BALLS,
                 batch: int = BATCH, real_radii: dict[int, torch.Tensor] | None = None, recall_k: int | None = None) -> None:
        self.fake, self.real, self.balls, self.batch = fake, real, tuple(balls), batch
        self._radii = real_radii
        self.recall_k = recall_k
        self._counts: dict[tuple[int, bool], BallCounts] | None = None
        self._recall: dict[int, int] = {}  # k -> reference points inside some generated ball

    def real_radii(self) -> dict[int, torch.Tensor]:
        if self._radii is None:
            self._radii = neighbour_radii(self.real, sorted({k for k, _ in self.balls}), self.batch)
        return self._radii

    def fake_in_real(self, k: int, strict: bool, recall: bool = False) -> BallCounts:
        """The generated points against the reference balls of ``k``; with ``recall`` (or ``recall_k``
        given), the pass that measures them also measures :meth:`recall` for ``k`` (for ``recall_k``)
        when it is the pass's first asking."""
        if self._counts is None:
            recall_k = k if recall else self.recall_k
            recall = recall_k is not None
            radii = self.real_radii()
            fake, real = _float64(self.fake), _float64(self.real)
            counts = {ball: BallCounts(0, 0, torch.zeros(len(real), dtype=torch.bool)) for ball in self.balls}
            balls = [(radii[k_], strict_, False) for k_, strict_ in self.balls]
            if recall:  # generated balls, radius per generated point: the rows of this pass
                balls.append((kth_neighbour_radii(fake, recall_k, self.batch), False, True))
            covered_by_fake = torch.zeros(len(real), dtype=torch.bool)
            for insides in _in_balls_each(fake, real, balls, self.batch):
                for ball, inside in zip(self.balls, insides):
                    counts[ball].inside_any += int(torch.count_nonzero(_any(inside, 1)))
                    counts[ball].inside_total += int(torch.count_nonzero(inside))  # several times faster than a bool sum
                    counts[ball].covered |= _any(inside, 0)
                if recall:
                    covered_by_fake |= _any(insides[-1], 0)
            if recall:
                self._recall[recall_k] = int(torch.count_nonzero(covered_by_fake))
            self._counts = counts
        return self._counts[(k, strict)]

    def recall(self, k: int) -> int | None:
        """Reference points inside some generated ball of ``k``, when :meth:`fake_in_real` measured them."""
        return self._recall.get(k)


def _need_neighbours(k: int, **sizes: int) -> None:
    """Skip, naming the N needed, when a set has no k-th other point."""
    short = {name: n for name, n in sizes.items() if n < k + 1}
    if short:
        which = "samples per set" if len(sizes) > 1 else f"{next(iter(sizes))} samples"
        got = " and ".join(f"{n} {name}" for name, n in sizes.items())
        raise MetricSkipped(f"needs at least k+1 = {k + 1} {which} (k = {k} nearest neighbours); got {got}")


def kth_neighbour_radii(points: torch.Tensor, k: int, batch: int = BATCH) -> torch.Tensor:
    """Exact distance from each point to its k-th nearest other point of the same set."""
    return neighbour_radii(points, [k], batch)[k]


def neighbour_radii(points: torch.Tensor, ks: list[int], batch: int = BATCH) -> dict[int, torch.Tensor]:
    """:func:`kth_neighbour_radii` for each k of ``ks``, from one pass over the pairs.

    The pairs recomputed exactly for the largest k include those for every smaller one, and
    the others are larger than its radius, so each k's radii are the bits it gets alone.
    """
    points = _float64(points)
    norms = points.norm(dim=1)
    top = max(ks)
    radii: dict[int, list[torch.Tensor]] = {k: [] for k in ks}
    for start in range(0, len(points), batch):
        chunk = points[start : start + batch]
        approx = _screen(chunk, points)
        tol = _tolerance(norms[start : start + batch].max(), norms.max(), points.shape[1])
        # The k + 1 smallest include the point itself (exactly 0). The exact (k+1)-th smallest
        # is within tol of the screened one, so every pair at or below it screens at most 2 tol above.
        near = approx <= (_kth_smallest(approx, top + 1) + 2 * tol)[:, None]
        approx.masked_fill_(~near, math.inf)
        _fill_exact(approx, near, chunk, points)
        smallest = approx.topk(top + 1, dim=1, largest=False).values
        for k in ks:
            radii[k].append(smallest[:, k])
    return {k: torch.cat(values) for k, values in radii.items()}


def _in_balls(queries: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, strict: bool, batch: int) -> Iterator[torch.Tensor]:
    """Per batch of queries, ``inside[i, j]``: query i lies in the ball of radius ``radii[j]`` around centre j."""
    for insides in _in_balls_each(queries, centres, [(radii, strict, False)], batch):
        yield insides[0]


def _in_balls_each(
    queries: torch.Tensor, centres: torch.Tensor, balls: list[tuple[torch.Tensor, bool, bool]], batch: int,
) -> Iterator[list[torch.Tensor]]:
    """:func:`_in_balls` for several ``(radii, strict, around_queries)``, screening each pair once.

    ``around_queries``: the balls are around the queries (one radius per query; ``inside[i, j]``:
    centre j lies in query i's ball) rather than around the centres. The bound of the screen
    holds for a pair whichever side it is computed from, so the decisions are the exact ones either way.
    """
    centre_norm = centres.norm(dim=1).max()
    for start in range(0, len(queries), batch):
        chunk = queries[start : start + batch]
        distance = _screen(chunk, centres)
        tol = _tolerance(chunk.norm(dim=1).max(), centre_norm, queries.shape[1])
        edges = [radii[start : start + batch, None] if around_queries else radii[None, :] for radii, _, around_queries in balls]
        close = None  # pairs within tol of an edge, too close to call from the screen: decided exactly
        for edge in edges:
            # Two comparisons against the band's bounds (vectors) instead of |distance - edge| <= tol over
            # the matrix; the 0.1% margin covers the rounding of the bounds, so the band holds every such pair.
            near = (distance >= edge - 1.001 * tol).logical_and_(distance <= edge + 1.001 * tol)
            close = near if close is None else close.logical_or_(near)
        _fill_exact(distance, close, chunk, centres)
        # A pair not within tol of an edge is on the same side of it screened and exact (the bound), and
        # there ``<`` and ``<=`` agree; the others now hold their exact distance: one comparison decides all.
        yield [distance < edge if strict else distance <= edge for (_, strict, _), edge in zip(balls, edges)]


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
    crowded = _row_counts(mask) > CROWDED_ROW
    if crowded.any():
        rows = crowded.nonzero()[:, 0]
        distances[rows] = torch.where(mask[rows], _exact(a[rows], b), distances[rows])
        mask = mask & ~crowded[:, None]
    rows, cols = torch.nonzero(mask, as_tuple=True)
    for start in range(0, len(rows), EXACT_PAIRS):
        r, c = rows[start : start + EXACT_PAIRS], cols[start : start + EXACT_PAIRS]
        distances[r, c] = _exact(a[r][:, None], b[c][:, None])[:, 0, 0]


def _any(mask: torch.Tensor, dim: int) -> torch.Tensor:
    """``mask.any(dim)``; a max over the bytes is ten times faster on wide bool matrices (torch 2.x, CPU)."""
    if not mask.numel():
        return mask.any(dim)
    return mask.view(torch.uint8).amax(dim).bool()


def _row_counts(mask: torch.Tensor) -> torch.Tensor:
    """``torch.count_nonzero(mask, dim=1)``, four times faster: a sum of the bytes in the narrowest integer that holds a row's count."""
    return mask.view(torch.uint8).sum(1, dtype=torch.int16 if mask.shape[1] < 2**15 else torch.int32)


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
