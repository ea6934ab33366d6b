"""DCGAN-style convolutional players (Radford, Metz & Chintala 2016), shared by ``dcgan`` and every model's ``arch=conv``.

G projects z to a small feature map and doubles it with strided transposed convolutions
(batch norm and ReLU between, tanh out); D halves the image with strided convolutions and
LeakyReLU(0.2), with no normalisation on its first layer (as in the paper) and the chosen
one on the others. Any square image of at least 8 pixels works: the side is halved
(rounding up) until it is 7 or less, so 28 runs 7 -> 14 -> 28, 32 runs 4 -> 8 -> 16 -> 32
and 64 runs 4 -> ... -> 64, without padding the data. A 4x4 kernel with stride 2 maps a
side ``s`` to ``2s`` with padding 1, and to ``2s - 1`` with padding 2 and output padding 1;
D's convolution with the same padding maps the side back, so both walk the same sizes.

``channels`` is the number of feature maps of D's first layer (and of G's last hidden one),
doubled at each halving, as in the paper's 64-pixel nets (64, 128, 256, 512 with 64).
With ``num_classes`` the players are conditional as the MLP players are: G concatenates a
label embedding to z, D adds a projection term ``<embed(y), phi(x)>`` on its last features.

:func:`players` builds the MLP or the conv pair from a model's config (its ``arch`` option),
so each model states once which architecture it uses and how its critic is normalised.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
from torch import nn

from .data import DatasetInfo
from .errors import GanzooError
from .nn import MLPDiscriminator, MLPGenerator
from .options import arch_options  # noqa: F401 (re-exported; torch-free for registration)

__all__ = [
    "ConvGenerator", "ConvDiscriminator", "conv_sizes", "dcgan_init_", "check_conv_images",
    "arch_options", "players", "D_NORMS",
]

D_NORMS = ("batch", "layer", "none")
MAX_START = 7  # halve the side until it is at most this: 28 -> 7, 32 -> 4


def conv_sizes(size: int) -> list[int]:
    """Feature-map sides from coarsest to finest: ``[7, 14, 28]``, ``[4, 8, 16, 32]``, ``[4, 8, 15, 30]``."""
    sizes = [size]
    while sizes[-1] > MAX_START:
        sizes.append((sizes[-1] + 1) // 2)
    return sizes[::-1]


def _padding(small: int, large: int) -> tuple[int, int]:
    """(padding, output padding) of a 4x4, stride-2 (transposed) convolution between sides ``small`` and ``large``."""
    return (1, 0) if large == 2 * small else (2, 1)


def check_conv_images(info: DatasetInfo, who: str, fix: str = "use --set arch=mlp, or an image dataset such as --dataset mnist") -> tuple[int, int]:
    """``(channels, side)`` of square images of at least 8 pixels, or a one-line :class:`GanzooError` naming ``fix``."""
    if info.kind != "image":
        raise GanzooError(f"{who} needs images; dataset {info.name} has {info.kind} data ({fix})")
    channels, height, width = info.shape
    if height != width or height < 8:
        raise GanzooError(f"{who} needs square images of at least 8x8; {info.name} has {height}x{width} (use --set data.size=32)")
    return channels, height


def _norm(kind: str, maps: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(maps)
    if kind == "layer":  # over (C, H, W) of each sample, a gain and bias per map: Gulrajani et al.'s layer norm
        return nn.GroupNorm(1, maps)
    raise ValueError(f"norm {kind!r} must be one of {D_NORMS}")


def dcgan_init_(module: nn.Module) -> nn.Module:
    """The paper's initialisation: conv and linear weights ~ N(0, 0.02), norm gains ~ N(1, 0.02), biases 0.

    Embeddings keep their own initialisation (the projection term's scale is set where it is made).
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return module


class ConvGenerator(nn.Module):
    """z (and a label) -> project and reshape -> transposed convs doubling the side -> tanh image of ``shape``."""

    def __init__(self, latent_dim: int, shape: tuple[int, int, int], channels: int, batchnorm: bool = True,
                 num_classes: int = 0, embed_dim: int = 16) -> None:
        super().__init__()
        image_channels, size, _ = shape
        self.shape = tuple(shape)
        sizes = conv_sizes(size)
        n = len(sizes) - 1
        maps = [channels * 2 ** (n - 1 - i) for i in range(n)]  # coarsest first; the last hidden layer has `channels`
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        self.start = (maps[0], sizes[0])
        self.project = nn.Linear(latent_dim + (embed_dim if num_classes else 0), maps[0] * sizes[0] ** 2, bias=not batchnorm)
        layers: list[nn.Module] = [nn.BatchNorm2d(maps[0])] if batchnorm else []
        layers.append(nn.ReLU())
        for i in range(n):
            pad, out_pad = _padding(sizes[i], sizes[i + 1])
            last = i == n - 1
            out = image_channels if last else maps[i + 1]
            layers.append(nn.ConvTranspose2d(maps[i], out, 4, 2, pad, out_pad, bias=last or not batchnorm))
            if not last:
                if batchnorm:
                    layers.append(nn.BatchNorm2d(out))
                layers.append(nn.ReLU())
        layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)
        dcgan_init_(self)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)], dim=1)
        maps, side = self.start
        return self.net(self.project(z).view(z.shape[0], maps, side, side))


class ConvDiscriminator(nn.Module):
    """An image -> strided convs halving the side (LeakyReLU 0.2) -> one logit per sample.

    ``norm`` ("batch", "layer" or "none") follows every conv but the first, which sees
    the pixels unnormalised, as in the paper. A WGAN-GP critic must not use "batch": the
    penalty is per sample, and batch norm makes each score depend on the whole batch.
    With ``num_classes`` it is a projection discriminator, as :class:`ganzoo.nn.MLPDiscriminator`.
    """

    def __init__(self, shape: tuple[int, int, int], channels: int, norm: str = "batch", num_classes: int = 0) -> None:
        super().__init__()
        if norm not in D_NORMS:
            raise ValueError(f"norm {norm!r} must be one of {D_NORMS}")
        image_channels, size, _ = shape
        sizes = conv_sizes(size)[::-1]  # finest first
        layers: list[nn.Module] = []
        maps_in = image_channels
        for i in range(len(sizes) - 1):
            maps = channels * 2 ** i
            pad, _ = _padding(sizes[i + 1], sizes[i])
            normed = i > 0 and norm != "none"
            layers.append(nn.Conv2d(maps_in, maps, 4, 2, pad, bias=not normed))
            if normed:
                layers.append(_norm(norm, maps))
            layers.append(nn.LeakyReLU(0.2))
            maps_in = maps
        self.features = nn.Sequential(*layers, nn.Flatten())
        width = maps_in * sizes[-1] ** 2
        # The paper's last layer, a conv whose kernel covers the whole coarsest map, is this linear map.
        self.head = nn.Linear(width, 1)
        dcgan_init_(self)
        self.embed = nn.Embedding(num_classes, width) if num_classes else None
        if self.embed is not None:
            nn.init.normal_(self.embed.weight, std=1.0 / math.sqrt(width))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        features = self.features(x)
        out = self.head(features).squeeze(1)
        if self.embed is None:
            return out
        return out + (self.embed(labels) * features).sum(dim=1)


def players(info: DatasetInfo, c: Mapping[str, Any], who: str, d_norm: str = "batch", dropout: float = 0.0,
            num_classes: int = 0, embed_dim: int = 16) -> tuple[nn.Module, nn.Module]:
    """(G, D) for ``info``: the MLP players or, with ``c["arch"] == "conv"``, the conv players.

    Reads ``latent_dim``, ``g_batchnorm`` and ``arch``, and ``width``/``depth`` or ``channels``;
    ``d_norm`` is the conv D's normalisation, ``dropout`` the MLP D's.
    """
    if c["arch"] == "conv":
        check_conv_images(info, f"{who} with arch=conv")
        G = ConvGenerator(c["latent_dim"], info.shape, c["channels"], batchnorm=c["g_batchnorm"],
                          num_classes=num_classes, embed_dim=embed_dim)
        return G, ConvDiscriminator(info.shape, c["channels"], norm=d_norm, num_classes=num_classes)
    G = MLPGenerator(c["latent_dim"], info.shape, c["width"], c["depth"], tanh=info.kind == "image",
                     batchnorm=c["g_batchnorm"], num_classes=num_classes, embed_dim=embed_dim)
    return G, MLPDiscriminator(info.shape, c["width"], c["depth"], dropout=dropout, num_classes=num_classes)
