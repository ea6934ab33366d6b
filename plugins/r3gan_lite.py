"""``r3gan-lite``: the modern GAN baseline of Huang, Gokaslan, Kuleshov & Tompkin, "The GAN is
dead; long live the GAN! A Modern GAN Baseline" (NeurIPS 2024), R3GAN for short.

The paper's argument is that a well-behaved loss lets a GAN drop StyleGAN's bag of tricks.
Its recipe, and what this file takes from it:

- **the relativistic pairing loss (RpGAN)** with **zero-centred R1 and R2 penalties**: each
  real ``x`` is paired with one fake ``G(z)`` and D minimises
  ``softplus(-(D(x) - D(G(z)))) + gamma/2 * (||grad_x D(x)||^2 + ||grad_y D(y)||^2 at y = G(z))``,
  G minimises ``softplus(-(D(G(z)) - D(x)))`` (:func:`ganzoo.losses.d_relativistic_loss`,
  :func:`ganzoo.losses.g_relativistic_loss`). R1 penalises D's gradient on the reals, R2 the
  same on the fakes; R2 is :func:`ganzoo.penalties.r1_penalty` evaluated on fakes. Both run
  **every D step** (no lazy regularisation), in D's one phase, as in the reference code;
- **a ResNet with ResNeXt-style blocks and no normalisation**: each block is a 1x1 conv to
  ``expansion`` times the width, a 3x3 **grouped** conv (``group_width`` channels per group),
  a 1x1 conv back, LeakyReLU(0.2) after the first two, added to the identity path.
  **Fix-up style initialisation**: the first two convs start with He init scaled by
  ``L ** -1/4`` (L = blocks in the network, 3 layers per block: the reference's
  ``VarianceScalingParameter ** (-1 / (2 * 3 - 2))``), the **last conv of every block starts
  at zero**, so each block starts as its identity and the network as a plain chain of
  resampling and 1x1 transitions;
- **bilinear resampling** (the reference's [1, 2, 1] filter, which is the [1, 3, 3, 1]
  kernel: bilinear interpolation up, its adjoint as a low-pass 2x decimation down); width
  changes by 1x1 convs before upsampling in G and after downsampling in D;
- G starts from a **learned 4x4 basis** modulated per channel by a linear map of z (the
  reference's ``GenerativeBasis``) and ends with a 1x1 conv to pixels, no tanh; D starts with
  a 1x1 conv from pixels and ends with a per-channel 4x4 (depthwise) conv and a linear map to
  one logit, no output bias (RpGAN only sees differences of logits, so a bias would never move);
- **Adam with beta1 = 0**, plain PyTorch layers: no equalized learning rate, no mapping
  network, no style modulation, no noise inputs, no minibatch stddev, no path-length
  regularisation, no mixed-precision tricks; **an EMA of G** for sampling.

The reference's CIFAR-10 configuration (``train.py --preset CIFAR10`` in brownvc/R3GAN):
4 stages (4, 8, 16, 32 px) of 768 channels, 2 blocks per stage, expansion 2, 96 groups per
grouped conv (16 channels each), z of 64 numbers, batch 512, Adam betas (0, beta2), and four
cosine schedules over 20 M images: lr 2e-4 -> 5e-5, beta2 0.9 -> 0.99, gamma 0.05 -> 0.005,
EMA half-life 0 -> 5 M images; plus ADA-style augmentation whose probability rises 0 -> 0.55
(and x-flips of the dataset). Class-conditional there; unconditional here.

What "lite" changes, for a 10-minute run on 2 CPU cores:

- widths of ``channels`` (default 32) up to 16 px and half of it above (the 32 px stage
  costs the most), one block per stage instead of two, batch 32 instead of 512;
- **constant** betas and gamma at the schedules' starting values (betas (0, 0.9), gamma
  0.05), since a run of a few thousand steps is far from the 20 M images the schedules span;
  the core's EMA (decay ``ema_decay``, ramped up by the core) in place of the half-life
  schedule;
- **lr 1e-3** for G and D instead of 2e-4. On the bundled digits (seed 0, everything else
  default) the paper's 2e-4 still drew only soft blobs at steps 200, 400 and 500, with D far
  ahead (mean ``D(x) - D(G(z))`` 5.8 at step 500); gamma 1 instead of 0.05 at 2e-4 gave the same
  blobs at step 200. At 1e-3 the step-200 samples already had stroke-like curves (D still
  ahead, 4.9 at step 250), and by step 400 varied thin digit-like strokes (1, 2, 5, 0, 6, 9
  among them; ``ganzoo run --model r3gan-lite --steps 400 --set g_lr=1e-3 --set d_lr=1e-3
  --sample-every 200``, before 1e-3 became the default). A likely reason: with the blocks'
  last convs at zero, G starts as smooth bilinear blobs whose detail must grow from zero,
  which 2e-4 does slowly. Only these short runs back the choice; ``--set g_lr=2e-4 --set
  d_lr=2e-4`` restores the paper's;
- no augmentation (digits are not flip- or rotation-invariant, and a short run does not
  overfit 5,000 digits), no conditioning, no fp16 stages;
- any square side ``r * 2**k`` with ``r`` in 4..7 (the networks start and end at ``r``
  pixels), so 28 (7 -> 14 -> 28), 32 and 64 all work; MNIST's preset pads it to 32 as the
  other conv models do.

Defaults and their cost (the bundled 5,000 MNIST digits padded to 32x32): ``channels`` 32
(16 at 32 px), one block per stage, ``group_width`` 16 (the paper's), z of 64, batch 32,
1,600 steps. D's phase costs about 2.5 times G's: two forwards and, for R1 and R2, a double
backward every step. Cost, measured in-process (a D phase plus a G phase at batch 32, one
thread, on this project's 2-core machine while other jobs shared it, load average about 8):
1,708 ms a step against 861 ms for a stylegan-lite step measured the same way (with its R1
phase amortised over 16 steps), a ratio of 1.98. stylegan-lite's 1,600 steps take 3 min 53 s
alone on both cores (README), so the default run here is an extrapolation of about 7.5-8 min,
not a measurement. The paper's two blocks per stage (``--set blocks=2``) cost 3.5 stylegan-lite
steps a step (about 14 min); ``channels`` 16 with ``group_width`` 8 cost 1.1.
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


def _bilinear_kernel(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    k = torch.tensor([1.0, 3.0, 3.0, 1.0], device=device, dtype=dtype)
    return (k[:, None] * k[None, :] / 64)[None, None]  # sums to 1


def upsample(x: torch.Tensor) -> torch.Tensor:
    """2x bilinear upsampling (the [1, 3, 3, 1] kernel as a transposed conv; zero padding at the border, as upfirdn2d)."""
    n, c, h, w = x.shape
    kernel = 4 * _bilinear_kernel(x.device, x.dtype)
    y = F.conv_transpose2d(x.reshape(n * c, 1, h, w), kernel, stride=2, padding=1)
    return y.reshape(n, c, 2 * h, 2 * w)


def downsample(x: torch.Tensor) -> torch.Tensor:
    """2x downsampling by the [1, 3, 3, 1] low-pass filter (bilinear), a conv, so twice differentiable for R1/R2."""
    n, c, h, w = x.shape
    y = F.conv2d(x.reshape(n * c, 1, h, w), _bilinear_kernel(x.device, x.dtype), stride=2, padding=1)
    return y.reshape(n, c, h // 2, w // 2)


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


# -- the spec --------------------------------------------------------------------


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


@ganzoo.hookimpl
def register_models(register):
    register(
        ganzoo.ModelSpec(
            name="r3gan-lite",
            summary="R3GAN (Huang et al. 2024): RpGAN loss with R1 + R2, ResNeXt-style G and D without normalisation, Adam beta1 0, EMA",
            build=build_r3gan_lite,
            config={
                "latent_dim": ganzoo.Param(64, "size of z (the paper's 64)", min=1, max=65536),
                "channels": ganzoo.Param(32, "width of the stages up to 16 px, halved at each doubling above", min=1, max=4096),
                "blocks": ganzoo.Param(1, "residual blocks per stage (the paper's CIFAR-10 config: 2)", min=1, max=64),
                "expansion": ganzoo.Param(2, "width multiplier inside a residual block", min=1, max=16),
                "group_width": ganzoo.Param(16, "channels per group of each block's 3x3 grouped conv (must divide each stage's channels * expansion; a narrower stage is one group)", min=1, max=4096),
                "gamma": ganzoo.Param(0.05, "R1 and R2 weight gamma (the D loss adds gamma/2 * (R1 + R2))", min=0.0),
                "g_lr": ganzoo.Param(1e-3, "G's Adam learning rate (the paper's starts at 2e-4; see the docstring)", min=0.0),
                "d_lr": ganzoo.Param(1e-3, "D's Adam learning rate (the paper's starts at 2e-4)", min=0.0),
                "beta1": ganzoo.Param(0.0, "Adam beta1", min=0.0, max=1.0),
                "beta2": ganzoo.Param(0.9, "Adam beta2", min=0.0, max=1.0),
                "ema_decay": ganzoo.Param(0.999, "decay of the generator's EMA used for sampling (0: off)", min=0.0, max=0.9999),
            },
            presets={"image": {"steps": 1600, "batch_size": 32, "data.size": 32}},
        )
    )
