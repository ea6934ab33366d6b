"""Network building blocks shared by model plugins.

The option helpers listed here (``mlp_player_options``, ``Widths``, ``capacity_options``, ...) live in
:mod:`ganzoo.options`, which imports no torch, so that plugins can register without it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .options import CAPACITIES, Widths, capacity_options, mlp_player_options, mlp_player_presets, widths_for  # noqa: F401 (re-exported)

__all__ = ["mlp", "MLPGenerator", "MLPDiscriminator", "mlp_player_options", "mlp_player_presets", "EqualizedLinear", "EqualizedConv2d", "PixelNorm", "MinibatchStdDev", "resize_images", "Widths", "capacity_options", "widths_for"]


def mlp(sizes: list[int], dropout: float = 0.0, batchnorm: bool = False) -> nn.Sequential:
    """Linear layers of ``sizes`` with LeakyReLU(0.2) (and batch norm or dropout) between them, none after the last."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        hidden = i < len(sizes) - 2
        layers.append(nn.Linear(a, b, bias=not (hidden and batchnorm)))
        if hidden:
            if batchnorm:
                layers.append(nn.BatchNorm1d(b))
            layers.append(nn.LeakyReLU(0.2))
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """z -> MLP -> a sample of ``shape``; ``tanh`` output for images in [-1, 1].

    Batch norm in the hidden layers is what lets an MLP generator learn MNIST digits
    without collapsing (as in the widely used PyTorch-GAN baseline). With ``num_classes``
    it is conditional (Mirza & Osindero 2014): a learned label embedding is concatenated to z.
    """

    def __init__(
        self, latent_dim: int, shape: tuple[int, ...], width: int, depth: int, tanh: bool,
        batchnorm: bool = False, num_classes: int = 0, embed_dim: int = 16,
    ):
        super().__init__()
        self.shape = tuple(shape)
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        extra = embed_dim if num_classes else 0
        self.net = mlp([latent_dim + extra] + [width] * depth + [math.prod(shape)], batchnorm=batchnorm)
        self.tanh = tanh

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)], dim=1)
        x = self.net(z)
        if self.tanh:
            x = torch.tanh(x)
        return x.view(z.shape[0], *self.shape)


class MLPDiscriminator(nn.Module):
    """A sample of any shape -> flattened -> MLP -> one logit per sample.

    With ``num_classes`` it is a projection discriminator (Miyato & Koyama 2018): the logit
    gains ``<embed(y), phi(x)>``, the inner product of a label embedding with the last hidden
    features, which is the form the optimal conditional discriminator's log-ratio takes.
    """

    def __init__(self, shape: tuple[int, ...], width: int, depth: int, dropout: float = 0.0, num_classes: int = 0):
        super().__init__()
        self.net = mlp([math.prod(shape)] + [width] * depth + [1], dropout=dropout)
        self.embed = nn.Embedding(num_classes, width) if num_classes else None
        if self.embed is not None:
            nn.init.normal_(self.embed.weight, std=1.0 / math.sqrt(width))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is None:
            return self.net(x.flatten(1)).squeeze(1)
        features = self.net[:-1](x.flatten(1))
        return self.net[-1](features).squeeze(1) + (self.embed(labels) * features).sum(dim=1)


# -- Building blocks of the progressive/style-based generators (Karras et al. 2018, 2019) --


class EqualizedLinear(nn.Module):
    """Linear layer with equalized learning rate: weights stored ~N(0, 1/lr_mul^2), scaled at run time.

    Scaling by He's constant at every forward pass (instead of at initialisation) makes
    Adam's per-parameter step sizes equal across layers of different fan-in (ProGAN, section 4.1).
    ``lr_mul`` lowers the effective learning rate (StyleGAN's mapping network uses 0.01).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, lr_mul: float = 1.0, bias_init: float = 0.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init) / lr_mul)) if bias else None
        self.scale = lr_mul / math.sqrt(in_features)
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias * self.lr_mul if self.bias is not None else None
        return F.linear(x, self.weight * self.scale, bias)


class EqualizedConv2d(nn.Module):
    """2-D convolution with equalized learning rate (weights ~N(0, 1), scaled by 1/sqrt(fan_in) at run time)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int = 0, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class PixelNorm(nn.Module):
    """Normalise each pixel's feature vector to unit average square (ProGAN, section 4.2)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class MinibatchStdDev(nn.Module):
    """Append one feature map: the standard deviation across a group of samples, averaged (ProGAN, section 3).

    The discriminator then sees how varied a batch is, which penalises a generator that
    emits near-identical images. Groups are the largest divisor of the batch up to ``group_size``.
    """

    def __init__(self, group_size: int = 4) -> None:
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        group = max(g for g in range(1, min(self.group_size, n) + 1) if n % g == 0)
        y = x.reshape(group, n // group, c, h, w)
        std = (y.var(dim=0, unbiased=False) + 1e-8).sqrt()  # (n/group, c, h, w)
        feature = std.mean(dim=(1, 2, 3)).reshape(-1, 1, 1, 1)  # one number per group member position
        feature = feature.repeat(group, 1, h, w)
        return torch.cat([x, feature], dim=1)


def resize_images(x: torch.Tensor, size: int) -> torch.Tensor:
    """Images resized to ``size`` x ``size``: average pooling down, nearest-neighbour up (ProGAN's choices)."""
    current = x.shape[-1]
    if current == size:
        return x
    if current > size:
        return F.avg_pool2d(x, current // size)
    return F.interpolate(x, scale_factor=size // current, mode="nearest")
