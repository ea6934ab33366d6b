"""``ring8`` and ``grid25``: 2-D Gaussian mixtures where mode collapse can be seen and counted.

Definitions follow PacGAN (Lin et al. 2018) and VEEGAN (Srivastava et al. 2017):
ring8 has 8 modes evenly spaced on the unit circle with std 0.01; grid25 has 25 modes
on {-4, -2, 0, 2, 4}^2 with std 0.05. Each point's label is the index of its mode. The
points are drawn once from a fixed data seed (independent of the training seed), so
every run of a dataset trains on the same sample.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import ganzoo

if TYPE_CHECKING:  # torch is imported when points are drawn, not at registration
    import torch


def ring_centres(modes: int = 8, radius: float = 1.0) -> torch.Tensor:
    import torch

    angles = torch.arange(modes, dtype=torch.float64) * (2 * math.pi / modes)
    return torch.stack([radius * torch.cos(angles), radius * torch.sin(angles)], dim=1)


def grid_centres(side: int = 5, spacing: float = 2.0) -> torch.Tensor:
    import torch

    coords = (torch.arange(side, dtype=torch.float64) - (side - 1) / 2) * spacing
    gx, gy = torch.meshgrid(coords, coords, indexing="ij")
    return torch.stack([gx.flatten(), gy.flatten()], dim=1)


def mixture(name: str, centres: torch.Tensor, std: float, n: int, seed: int) -> ganzoo.Dataset:
    """``n`` points from equal-weight isotropic Gaussians at ``centres``, labelled by mode."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(len(centres), (n,), generator=generator)
    points = centres[labels] + std * torch.randn(n, centres.shape[1], generator=generator, dtype=torch.float64)
    info = ganzoo.DatasetInfo(
        name,
        "vector",
        (centres.shape[1],),
        num_classes=len(centres),
        centres=tuple(tuple(float(v) for v in c) for c in centres),
        std=std,
    )
    return ganzoo.Dataset(points.float(), info, labels)


MIXTURES = {
    # name: (centres, std, summary)
    "ring8": (ring_centres, 0.01, "8 Gaussians on the unit circle, std 0.01 (mode index as label)"),
    "grid25": (grid_centres, 0.05, "25 Gaussians on {-4,-2,0,2,4}^2, std 0.05 (mode index as label)"),
}


@ganzoo.hookimpl
def register_datasets(register):
    for name, (centres, std, summary) in MIXTURES.items():
        register(
            ganzoo.DatasetSpec(
                name=name,
                summary=summary,
                kind="vector",
                build=lambda c, name=name, centres=centres, std=std: mixture(name, centres(), std, c["n"], c["seed"]),
                config={
                    "n": ganzoo.Param(50_000, "number of points drawn", min=1, max=100_000_000),
                    "seed": ganzoo.Param(0, "seed of the data draw (not of training)", min=0, max=2**31 - 1),
                },
            )
        )
