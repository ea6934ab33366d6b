"""Density and coverage (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative Models").

Implemented as in the reference code (clovaai/generative-evaluation-prdc, PyPI ``prdc``):
each real point's ball has the radius of its k-th nearest real neighbour (itself excluded),
and membership is strict (``<``).

    density  = 1/(k M) * sum over the M fakes of the number of real balls containing it
    coverage = share of real points whose ball contains at least one fake
"""

from __future__ import annotations

import torch

DC_K = 5


def kth_neighbour_radii(points: torch.Tensor, k: int, batch: int = 2000) -> torch.Tensor:
    """Distance from each point to its k-th nearest other point of the same set."""
    radii = []
    for chunk in points.split(batch):
        # k + 1 smallest includes the point itself at distance 0.
        radii.append(torch.cdist(chunk, points).kthvalue(k + 1, dim=1).values)
    return torch.cat(radii)


def density_coverage(fake: torch.Tensor, real: torch.Tensor, k: int = DC_K, batch: int = 2000) -> dict[str, float]:
    fake, real = fake.double().cpu(), real.double().cpu()
    radii = kth_neighbour_radii(real, k, batch)
    inside_count = torch.zeros(len(fake), dtype=torch.float64)
    covered = torch.zeros(len(real), dtype=torch.bool)
    for start in range(0, len(fake), batch):
        d = torch.cdist(fake[start : start + batch], real)  # (fakes, reals)
        inside = d < radii[None, :]
        inside_count[start : start + batch] = inside.sum(1).double()
        covered |= inside.any(0)
    return {"density": float(inside_count.sum() / (k * len(fake))), "coverage": float(covered.double().mean())}
