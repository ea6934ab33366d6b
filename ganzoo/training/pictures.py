"""Pictures of a run: sample grids for images, scatter plots over the modes for 2-D data,
input | output | target triplets for image-to-image models, loss curves.

Every picture is written to a temporary file and renamed into place, so a crash never
leaves a half-written PNG. matplotlib is imported only when a plot is drawn.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from ..data import DatasetInfo
from ..model import GAN
from ..files import atomic_write


IMAGE_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg"}


def _image_format(path: Path) -> str:
    return IMAGE_FORMATS.get(Path(path).suffix.lower(), "png")


def save_image_grid(images: torch.Tensor, path: Path, nrow: int | None = None) -> Path:
    """Images in [-1, 1], shape (N, C, H, W), as one PNG grid."""
    from torchvision.utils import save_image

    images = images.detach().float().cpu().clamp(-1, 1).add(1).div(2)
    if images.shape[1] not in (1, 3):  # e.g. stacked digits: show channels side by side
        images = images.flatten(0, 1).unsqueeze(1)
    nrow = nrow or max(1, int(math.sqrt(len(images))))
    return atomic_write(path, lambda f: save_image(images, f, format=_image_format(path), nrow=nrow, padding=2, pad_value=0.5))


def _save_figure(fig, path: Path) -> Path:
    """Write a matplotlib figure atomically and close it, even when writing fails."""
    import matplotlib.pyplot as plt

    try:
        return atomic_write(path, lambda f: fig.savefig(f, format=_image_format(path), bbox_inches="tight"))
    finally:
        plt.close(fig)


def save_scatter(points: torch.Tensor, info: DatasetInfo, path: Path, title: str = "") -> Path:
    """Generated 2-D points (first two dimensions) over the data's mode centres."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = points.detach().float().cpu().flatten(1)[:, :2].numpy()
    if pts.shape[1] == 1:  # 1-D data: a histogram of the generated values
        fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
        ax.hist(pts[:, 0], bins=60, color="tab:blue", alpha=0.7, label=f"generated ({len(pts)})")
        ax.set_title(title or info.name)
        ax.legend(loc="upper right", fontsize=7)
        return _save_figure(fig, path)
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    ax.scatter(pts[:, 0], pts[:, 1], s=3, alpha=0.4, color="tab:blue", label=f"generated ({len(pts)})")
    if info.centres:
        c = torch.tensor(info.centres)
        ax.scatter(c[:, 0], c[:, 1], marker="x", s=60, color="tab:red", label="mode centres")
        span = float(c.abs().max()) + 3 * (info.std or 0) + 0.5
        ax.set_xlim(-span, span)
        ax.set_ylim(-span, span)
    ax.set_aspect("equal")
    ax.set_title(title or info.name)
    ax.legend(loc="upper right", fontsize=7)
    return _save_figure(fig, path)


def save_samples(samples: torch.Tensor, info: DatasetInfo, path: Path, title: str = "") -> Path:
    """A grid for image data, a scatter plot for vector data."""
    if info.kind == "image":
        return save_image_grid(samples, path)
    return save_scatter(samples, info, path, title)


TRIPLETS_PER_ROW = 4


def save_translations(gan: GAN, images, path: Path, n: int, seed: int, among: torch.Tensor | None = None) -> Path:
    """An image-to-image model's input | output | target triplets for ``n`` of ``images`` (a dataset's ``x``).

    The targets and the inputs made from them (where a mask falls) are drawn from ``seed``
    alone, so every picture of a run shows the same pairs. ``among``: the indices to draw
    targets from (a run that never trained on the held-out images shows those), else all.
    """
    generator = torch.Generator().manual_seed(seed)
    pool = torch.arange(len(images)) if among is None else among.cpu()
    index = pool[torch.randperm(len(pool), generator=generator)[: min(n, len(pool))]]
    targets = images[index].float().cpu()
    inputs, outputs = gan.translate(targets, generator)
    triplets = torch.stack([inputs, outputs.clamp(-1, 1), targets], dim=1).flatten(0, 1)
    return save_image_grid(triplets, path, nrow=3 * min(TRIPLETS_PER_ROW, len(targets)))


def save_loss_curves(records: list[dict], path: Path, title: str = "") -> Path | None:
    """Every logged ``loss/*`` scalar of the metrics ``records`` against the step, with the other scalars in a second panel."""
    if not records:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    skip = {"step", "kimg", "time"}
    keys = sorted({k for r in records for k, v in r.items() if k not in skip and isinstance(v, (int, float))})
    losses = [k for k in keys if k.startswith("loss/")]
    others = [k for k in keys if not k.startswith("loss/")]
    panels = [p for p in (losses, others) if p]
    if not panels:  # nothing but nulls logged yet
        return None
    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 3.2 * len(panels)), dpi=100, squeeze=False)
    for ax, names in zip(axes[:, 0], panels):
        for name in names:
            xs = [r["step"] for r in records if r.get(name) is not None]
            ys = [r[name] for r in records if r.get(name) is not None]
            ax.plot(xs, ys, label=name, linewidth=1)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    axes[0, 0].set_title(title)
    fig.tight_layout()
    try:
        return atomic_write(path, lambda f: fig.savefig(f, format=_image_format(path)))
    finally:
        plt.close(fig)
