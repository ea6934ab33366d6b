"""The networks, objective and builder of ``r3gan-lite`` (:mod:`ganzoo_plugins.r3gan_lite` describes the model).

They import torch, so the plugin module registers the model without this module and imports
it when a model is built: ``ganzoo models`` and ``ganzoo --help`` never wait for torch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

import ganzoo
from ganzoo.losses import d_relativistic_loss, g_relativistic_loss
from ganzoo.penalties import double_backward, r1_penalty

LRELU_GAIN = math.sqrt(2 / (1 + 0.2**2))  # keeps unit-variance activations at unit variance through LeakyReLU(0.2)
BASE_SIDES = (4, 5, 6, 7)  # the sides the networks may start (G) and end (D) at


# -- building blocks ----------------------------------------------------------------


def he_init_(layer: nn.Conv2d | nn.Linear, gain: float = 1.0) -> nn.Module:
    """Weights ``N(0, gain^2 / fan_in)`` (fan_in per group for grouped convs), biases zero."""
    fan_in = layer.weight[0].numel()
    nn.init.normal_(layer.weight, 0.0, gain / math.sqrt(fan_in))
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def conv(in_channels: int, out_channels: int, kernel_size: int, gain: float = 1.0, groups: int = 1, bias: bool = False) -> nn.Conv2d:
    return he_init_(nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, groups=groups, bias=bias), gain)


class ResidualBlock(nn.Module):
    """``x + conv3(lrelu(conv2_grouped(lrelu(conv1(x)))))``: 1x1 expand, 3x3 grouped, 1x1 back; no normalisation.

    ``conv3`` starts at zero, so the block starts as the identity. ``total_blocks`` (L) scales
    the first two convs' initial gain by ``L ** -1/4`` (fix-up initialisation for 3 layers a block).
    """

    def __init__(self, channels: int, expansion: int, group_width: int, total_blocks: int) -> None:
        super().__init__()
        wide = channels * expansion
        group_width = min(group_width, wide)  # a narrow stage (above 16 px) is one group
        if wide % group_width:
            raise ganzoo.GanzooError(f"group_width {group_width} must divide a block's width, channels * expansion = {wide} at {channels} channels")
        gain = LRELU_GAIN * total_blocks ** (-1 / 4)
        self.conv1 = conv(channels, wide, 1, gain, bias=True)
        self.conv2 = conv(wide, wide, 3, gain, groups=wide // group_width, bias=True)
        self.conv3 = conv(wide, channels, 1, gain=0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.leaky_relu(self.conv1(x), 0.2)
        y = F.leaky_relu(self.conv2(y), 0.2)
        return x + self.conv3(y)


def _upsample_axis(x: torch.Tensor, dim: int) -> torch.Tensor:
    """2x along ``dim`` by the [1, 3, 3, 1] / 4 filter: ``y[2j] = (x[j-1] + 3 x[j]) / 4``, ``y[2j+1] = (3 x[j] + x[j+1]) / 4``, zeros beyond the border."""
    n = x.shape[dim]
    padded = F.pad(x, [0, 0] * (x.dim() - 1 - dim) + [1, 1])
    before, here, after = padded.narrow(dim, 0, n), padded.narrow(dim, 1, n), padded.narrow(dim, 2, n)
    return torch.stack((0.25 * before + 0.75 * here, 0.75 * here + 0.25 * after), dim + 1).flatten(dim, dim + 1)


def _downsample_axis(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Half along ``dim`` (an even side: the networks only halve those) by the [1, 3, 3, 1] / 8 filter: ``y[i] = (x[2i-1] + 3 x[2i] + 3 x[2i+1] + x[2i+2]) / 8``, zeros beyond the border."""
    n = x.shape[dim]
    padded = F.pad(x, [0, 0] * (x.dim() - 1 - dim) + [1, 1])
    left = padded.narrow(dim, 0, n).unflatten(dim, (n // 2, 2))  # (x[2i-1], x[2i])
    right = padded.narrow(dim, 2, n).unflatten(dim, (n // 2, 2))  # (x[2i+1], x[2i+2])
    return (left.select(dim + 1, 0) + 3 * left.select(dim + 1, 1) + 3 * right.select(dim + 1, 0) + right.select(dim + 1, 1)) / 8


# The filter is separable, so resampling is shifted slices and sums along each axis: the same
# numbers as the 4x4 (transposed) convolution of upfirdn2d to rounding, and about 4x (up) and
# 10x (down) faster on a CPU through R1/R2's double backward than a one-channel conv over n*c images.
def upsample(x: torch.Tensor) -> torch.Tensor:
    """2x bilinear upsampling (the [1, 3, 3, 1] kernel of upfirdn2d, zero padding at the border)."""
    return _upsample_axis(_upsample_axis(x, 3), 2)


def downsample(x: torch.Tensor) -> torch.Tensor:
    """2x downsampling by the [1, 3, 3, 1] low-pass filter (bilinear), twice differentiable for R1/R2."""
    return _downsample_axis(_downsample_axis(x, 3), 2)


def sides(size: int) -> list[int]:
    """The resolutions of the stages, smallest first: ``size`` halved down to a side in 4..7."""
    out = [size]
    while out[-1] not in BASE_SIDES:
        out.append(out[-1] // 2)
    return out[::-1]


def stage_widths(channels: int, resolutions: list[int]) -> list[int]:
    """``channels`` at stages up to 16 px, halved at each doubling above (the large stages cost the most)."""
    return [max(1, channels >> max(0, (res - 1).bit_length() - 4)) for res in resolutions]


# -- generator and discriminator --------------------------------------------------------


class GenerativeBasis(nn.Module):
    """z -> a learned ``side``x``side`` basis per channel, scaled by a linear map of z."""

    def __init__(self, latent_dim: int, channels: int, side: int) -> None:
        super().__init__()
        self.basis = nn.Parameter(torch.randn(channels, side, side))
        self.linear = he_init_(nn.Linear(latent_dim, channels, bias=False))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.basis[None] * self.linear(z)[:, :, None, None]


class DiscriminativeBasis(nn.Module):
    """Features at ``side``x``side`` -> a per-channel (depthwise) ``side``x``side`` conv -> a linear map to one logit."""

    def __init__(self, channels: int, side: int) -> None:
        super().__init__()
        self.basis = he_init_(nn.Conv2d(channels, channels, side, groups=channels, bias=False))
        self.linear = he_init_(nn.Linear(channels, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.basis(x).flatten(1)).squeeze(1)


class Generator(nn.Module):
    """basis at the smallest side -> per stage: (1x1 width change, bilinear 2x up), residual blocks -> 1x1 to pixels."""

    def __init__(self, latent_dim: int, image_channels: int, size: int, channels: int, blocks: int, expansion: int, group_width: int) -> None:
        super().__init__()
        res = sides(size)
        widths = stage_widths(channels, res)
        total = blocks * len(res)
        self.basis = GenerativeBasis(latent_dim, widths[0], res[0])
        # The width change comes before the upsampling, so that G upsamples the narrower tensor.
        self.transitions = nn.ModuleList(
            conv(a, b, 1) if a != b else nn.Identity() for a, b in zip(widths[:-1], widths[1:])
        )
        self.stages = nn.ModuleList(
            nn.Sequential(*(ResidualBlock(width, expansion, group_width, total) for _ in range(blocks))) for width in widths
        )
        self.to_image = conv(widths[-1], image_channels, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.stages[0](self.basis(z))
        for transition, stage in zip(self.transitions, self.stages[1:]):
            x = stage(upsample(transition(x)))
        return self.to_image(x)


class Discriminator(nn.Module):
    """1x1 from pixels -> per stage: residual blocks, (bilinear 2x down, 1x1 width change) -> basis -> one logit."""

    def __init__(self, image_channels: int, size: int, channels: int, blocks: int, expansion: int, group_width: int) -> None:
        super().__init__()
        res = sides(size)[::-1]
        widths = stage_widths(channels, res)
        total = blocks * len(res)
        self.from_image = conv(image_channels, widths[0], 1)
        self.stages = nn.ModuleList(
            nn.Sequential(*(ResidualBlock(width, expansion, group_width, total) for _ in range(blocks))) for width in widths
        )
        self.transitions = nn.ModuleList(
            conv(a, b, 1) if a != b else nn.Identity() for a, b in zip(widths[:-1], widths[1:])
        )
        self.basis = DiscriminativeBasis(widths[-1], res[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.from_image(x)
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i < len(self.transitions):
                x = self.transitions[i](downsample(x))
        return self.basis(x)


# -- objective -------------------------------------------------------------------


class R3GANObjective(ganzoo.Objective):
    """RpGAN with R1 on the reals and R2 on the fakes in D's phase, every step; RpGAN for G against fresh reals."""

    def __init__(self, G: nn.Module, D: nn.Module, latent_dim: int, gamma: float) -> None:
        self.G, self.D = G, D
        self.latent_dim, self.gamma = latent_dim, gamma
        self.phases = (ganzoo.Phase("D", "D", "D"), ganzoo.Phase("G", "G", "G"))

    def loss(self, phase: str, batch: ganzoo.Batch) -> ganzoo.PhaseLoss:
        real = batch.real
        z = torch.randn(real.shape[0], self.latent_dim, device=real.device)
        if phase == "D":
            with torch.no_grad():
                fake = self.G(z)
            real = real.detach().requires_grad_(True)
            fake = fake.requires_grad_(True)
            with double_backward():  # the penalties differentiate D's graph twice: eager under --compile
                real_out, fake_out = self.D(real), self.D(fake)
            r1, r2 = r1_penalty(real_out, real), r1_penalty(fake_out, fake)  # R2 is R1 taken at the fakes
            loss = d_relativistic_loss(real_out, fake_out) + (self.gamma / 2) * (r1 + r2)
            scalars = {
                "D(x)-D(G(z))": (real_out - fake_out).mean().detach(),
                "penalty/r1": r1.detach(),
                "penalty/r2": r2.detach(),
            }
            return ganzoo.PhaseLoss(loss, scalars)
        with torch.no_grad():  # D is not trained in this phase and the reals need no gradient
            real_out = self.D(real)
        return ganzoo.PhaseLoss(g_relativistic_loss(self.D(self.G(z)), real_out))


# -- the model --------------------------------------------------------------------


def check_image_shape(info: ganzoo.DatasetInfo) -> tuple[int, int]:
    """``(channels, side)`` of square images whose side halves down to 4..7 pixels, or a one-line error naming the fix."""
    if info.kind != "image":
        raise ganzoo.GanzooError(f"r3gan-lite is for images; dataset {info.name} has {info.kind} data (try --dataset mnist)")
    channels, height, width = info.shape
    side = height
    while side % 2 == 0 and side not in BASE_SIDES:
        side //= 2
    if height != width or side not in BASE_SIDES:
        raise ganzoo.GanzooError(
            f"r3gan-lite needs square images whose side is 4-7 pixels times a power of two (28, 32, 64, ...); "
            f"{info.name} has {height}x{width} (use --set data.size=32)"
        )
    return channels, height


def build_r3gan_lite(info: ganzoo.DatasetInfo, c: dict) -> ganzoo.GAN:
    image_channels, size = check_image_shape(info)
    arch = dict(channels=c["channels"], blocks=c["blocks"], expansion=c["expansion"], group_width=c["group_width"])
    G = Generator(c["latent_dim"], image_channels, size, **arch)
    D = Discriminator(image_channels, size, **arch)
    betas = (c["beta1"], c["beta2"])
    return ganzoo.GAN(
        networks={"G": G, "D": D},
        optimizers={
            "G": torch.optim.Adam(G.parameters(), lr=c["g_lr"], betas=betas),
            "D": torch.optim.Adam(D.parameters(), lr=c["d_lr"], betas=betas),
        },
        objective=R3GANObjective(G, D, c["latent_dim"], c["gamma"]),
        latent_dim=c["latent_dim"],
        ema_decay=c["ema_decay"],
    )
