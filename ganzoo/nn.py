"""Network building blocks shared by model plugins."""

from __future__ import annotations

import math

import torch
from torch import nn


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
    without collapsing (as in the widely used PyTorch-GAN baseline).
    """

    def __init__(self, latent_dim: int, shape: tuple[int, ...], width: int, depth: int, tanh: bool, batchnorm: bool = False):
        super().__init__()
        self.shape = tuple(shape)
        self.net = mlp([latent_dim] + [width] * depth + [math.prod(shape)], batchnorm=batchnorm)
        self.tanh = tanh

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.net(z)
        if self.tanh:
            x = torch.tanh(x)
        return x.view(z.shape[0], *self.shape)


class MLPDiscriminator(nn.Module):
    """A sample of any shape -> flattened -> MLP -> one logit per sample."""

    def __init__(self, shape: tuple[int, ...], width: int, depth: int, dropout: float = 0.0):
        super().__init__()
        self.net = mlp([math.prod(shape)] + [width] * depth + [1], dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1)).squeeze(1)
