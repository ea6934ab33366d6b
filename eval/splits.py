"""The fixed, stratified train / held-out split of a labelled dataset.

The feature network is trained on the train split of the 5,000 bundled MNIST images and
checked on the held-out split; evaluation uses the same split, so "held-out real vs train
real" (the floor) compares images the network never saw against images it did not either
need to have seen. Same labels and seed give the same split on every machine.
"""

from __future__ import annotations

import torch

HELDOUT_FRACTION = 0.2
SPLIT_SEED = 0


def stratified_split(labels: torch.Tensor | None, n: int, fraction: float = HELDOUT_FRACTION, seed: int = SPLIT_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices ``(train, heldout)``: ``fraction`` of every class held out (of all samples when unlabelled)."""
    generator = torch.Generator().manual_seed(seed)
    if labels is None:
        labels = torch.zeros(n, dtype=torch.long)
    train, heldout = [], []
    for c in torch.unique(labels).tolist():  # sorted, so the draw order is fixed
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=generator)]
        k = round(fraction * len(idx))
        heldout.append(idx[:k])
        train.append(idx[k:])
    return torch.cat(train).sort().values, torch.cat(heldout).sort().values
