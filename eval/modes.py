"""Counting modes: 2-D mixtures by distance to the mode centres, digits by the classifier.

Mixtures follow VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018): each sample
belongs to its nearest centre and is *high quality* when within 3 std of it; a mode is
*covered* when it has at least one high-quality sample; the reverse KL is
KL(generated mode histogram of high-quality samples || uniform over the modes).

For digits, a sample counts towards its predicted class only when the classifier is
confident (top softmax probability >= ``CONFIDENCE``), so that blobs which look like no
digit do not cover classes by the classifier's guess.
"""

from __future__ import annotations

import math

import torch

HQ_STDS = 3.0
CONFIDENCE = 0.9


def kl_to_uniform(counts: torch.Tensor) -> float:
    """KL(p || uniform) for the histogram ``counts`` (0 log 0 = 0); NaN when it is empty."""
    total = float(counts.sum())
    if total == 0:
        return math.nan
    p = counts.double() / total
    p = p[p > 0]
    return float((p * (p * len(counts)).log()).sum())


def mixture_modes(points: torch.Tensor, centres: torch.Tensor, std: float) -> dict[str, float]:
    points, centres = points.double().cpu().flatten(1), torch.as_tensor(centres, dtype=torch.float64)
    dist = torch.cdist(points, centres)
    nearest_dist, nearest = dist.min(dim=1)
    hq = nearest_dist <= HQ_STDS * std
    counts = torch.bincount(nearest[hq], minlength=len(centres))
    return {
        "modes": int((counts > 0).sum()),
        "modes_total": len(centres),
        "hq": float(hq.double().mean()),
        "reverse_kl": kl_to_uniform(counts),
    }


def confident_classes(logits: torch.Tensor, threshold: float = CONFIDENCE) -> tuple[torch.Tensor, torch.Tensor]:
    """``(predicted class, confident mask)`` from classifier logits."""
    probs = logits.double().softmax(dim=1)
    top, pred = probs.max(dim=1)
    return pred, top >= threshold


def class_coverage(logits: torch.Tensor, num_classes: int = 10, threshold: float = CONFIDENCE) -> dict[str, float]:
    pred, confident = confident_classes(logits, threshold)
    counts = torch.bincount(pred[confident], minlength=num_classes)
    out = {
        "classes": int((counts > 0).sum()),
        "classes_total": num_classes,
        "confident": float(confident.double().mean()),
        "class_kl": kl_to_uniform(counts),
    }
    out.update({f"class_{c}": int(n) for c, n in enumerate(counts.tolist())})
    return out


def triple_coverage(channel_logits: list[torch.Tensor], threshold: float = CONFIDENCE) -> dict[str, float]:
    """Stacked MNIST: the mode of a sample is its digit triple; a sample counts when all channels are confident.

    ``channel_kl`` sums each channel's own class KL (over its confident digits): unbalanced
    digits alone put the triple ``kl`` at least this high when the channels are independent
    (the KL to a product of uniforms is the sum of the factors' KLs plus their mutual dependence).
    """
    preds, masks = zip(*(confident_classes(lg, threshold) for lg in channel_logits))
    confident = torch.stack(masks).all(dim=0)
    mode = torch.zeros_like(preds[0])
    for p in preds:
        mode = mode * 10 + p
    total = 10 ** len(preds)
    counts = torch.bincount(mode[confident], minlength=total)
    channel_kls = [kl_to_uniform(torch.bincount(p[m], minlength=10)) for p, m in zip(preds, masks)]
    return {"modes": int((counts > 0).sum()), "modes_total": total, "confident": float(confident.double().mean()), "kl": kl_to_uniform(counts),
            "channel_kl": sum(channel_kls), **{f"channel_kl_{c}": kl for c, kl in enumerate(channel_kls)}}
