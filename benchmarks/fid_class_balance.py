"""How much of an MNIST FID is class balance alone: real digits, drawn with skewed class shares.

Every image scored here is a real held-out digit (the split evaluation holds out, so the
feature network's reference never contains them), so the digits themselves are perfect; only
how often each class appears changes. For each class distribution the script draws
``--n`` held-out digits with replacement at those shares and scores them exactly as
``ganzoo eval`` scores a run (``ganzoo.evaluate``: FID on the LeNet features against the
train part, the classes metric's KL to uniform). Distributions: uniform; ``p ∝ exp(t g)``
for a fixed random ``g`` and rising ``t`` (a smooth skew); one class missing; and, with
``--shares``, any histogram you paste (such as a run's ``class_*`` counts from ``ganzoo eval``).

    OMP_NUM_THREADS=1 python benchmarks/fid_class_balance.py
    python benchmarks/fid_class_balance.py --shares 1494,336,240,501,103,1044,852,1080,278,1070

What it tells a reader of a leaderboard: real digits at a model's class shares score the value
printed, however clean they are (the feature space is a digit classifier's, so class shares
move the features' means a long way). It depends on which classes are skewed, not on the KL
alone, and it does not add to the model's other faults term by term.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def skewed(g: "torch.Tensor", t: float) -> "torch.Tensor":
    """Class shares proportional to ``exp(t * g)``: uniform at t = 0, more skewed as t grows."""
    import torch

    p = torch.exp(t * g)
    return p / p.sum()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="digits per distribution (ganzoo eval's default N)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shares", action="append", default=[], help="a class histogram, comma-separated (repeatable)")
    args = parser.parse_args()

    import torch

    import ganzoo
    from ganzoo.data import stratified_split
    from ganzoo.eval.modes import kl_to_uniform
    from ganzoo.run.build import build_named_dataset
    from ganzoo.run.config import dataset_options

    dataset = build_named_dataset("mnist", dataset_options("mnist", {}))
    _, heldout = stratified_split(dataset.labels, len(dataset.labels))
    labels = dataset.labels[heldout]
    images = dataset.x[heldout]  # floats in [-1, 1], (n, 1, 28, 28)
    by_class = [torch.nonzero(labels == c).flatten() for c in range(10)]

    generator = torch.Generator().manual_seed(args.seed)
    g = torch.randn(10, generator=generator)
    cases: list[tuple[str, torch.Tensor]] = [("uniform", torch.full((10,), 0.1))]
    cases += [(f"exp({t:g} g)", skewed(g, t)) for t in (0.15, 0.3, 0.5, 0.75, 1.0, 1.5)]
    cases.append(("one class missing", torch.tensor([0.0] + [1 / 9] * 9)))
    for text in args.shares:
        counts = torch.tensor([float(v) for v in text.split(",")])
        if len(counts) != 10 or (counts < 0).any() or counts.sum() <= 0:
            parser.error(f"bad --shares {text!r} (valid: ten non-negative counts, comma-separated)")
        cases.append((f"shares {text}", counts / counts.sum()))

    print(f"{args.n} draws per row, with replacement, from the {len(heldout)} held-out real MNIST digits ({len(by_class[0])} of class 0)")
    print(f"{'class distribution':<44} {'KL(p||uniform)':>14} {'class_kl measured':>17} {'FID':>8}")
    for name, p in cases:
        counts = _counts(p, args.n)
        pick = torch.cat([by_class[c][torch.randint(len(by_class[c]), (int(k),), generator=generator)] for c, k in enumerate(counts.tolist()) if k])
        samples = images[pick]
        report = ganzoo.evaluate(samples, dataset="mnist", metrics=["fid", "classes"], seed=args.seed)
        m = report["metrics"]
        print(f"{name[:44]:<44} {kl_to_uniform(p):>14.3f} {m['classes']['class_kl']:>17.3f} {m['fid']['fid']:>8.1f}")


def _counts(p: "torch.Tensor", n: int) -> "torch.Tensor":
    """Integer counts closest to ``n * p`` that sum to ``n`` (largest remainders), so each row has exactly its shares."""
    import torch

    raw = p * n
    counts = raw.floor()
    rest = int(n - counts.sum())
    counts[torch.argsort(raw - counts, descending=True)[:rest]] += 1
    return counts


if __name__ == "__main__":
    main()
