"""The networks, objective and builder of ``progan-lite`` (:mod:`ganzoo_plugins.progan_lite` describes the model).

They import torch, so the plugin module registers the model without this module and imports
it when a model is built: ``ganzoo models`` and ``ganzoo --help`` never wait for torch.
"""

from __future__ import annotations

import math

import torch
from torch import nn

import ganzoo
from ganzoo.losses import d_wasserstein_loss, g_wasserstein_loss
from ganzoo.model import Batch, PhaseLoss
from ganzoo.nn import EqualizedConv2d, EqualizedLinear, MinibatchStdDev, PixelNorm, Widths, resize_images, widths_for
from ganzoo.objectives import AdversarialObjective
from ganzoo.optim import adam_optimizers

FIRST_RESOLUTION = 4


def schedule(step: int, stable_steps: int, fade_steps: int, n_stages: int) -> tuple[int, float]:
    """``(stage, alpha)`` at ``step``: stage k works at ``4 * 2**k`` pixels; alpha is the new stage's weight.

    Stage 0 trains for ``stable_steps``; every later stage fades in over ``fade_steps``
    (alpha = 0 on its first step, rising linearly, 1 once the fade is over) and then
    stabilises for ``stable_steps`` at alpha 1. The last stage stays until training ends.
    """
    if step < stable_steps:
        return 0, 1.0
    grown, into = divmod(step - stable_steps, fade_steps + stable_steps)
    stage = grown + 1
    if stage >= n_stages:
        return n_stages - 1, 1.0
    return stage, min(1.0, into / fade_steps)


def fade_reals(real: torch.Tensor, stage: int, alpha: float) -> torch.Tensor:
    """Real images at stage ``stage``'s resolution, blended with their lower-resolution version as G's output is."""
    size = FIRST_RESOLUTION << stage
    current = resize_images(real, size)
    if stage == 0 or alpha >= 1.0:
        return current
    return torch.lerp(resize_images(resize_images(real, size // 2), size), current, alpha)


def stage_channels(widths: dict[str, Widths], c: dict, n_stages: int) -> list[int]:
    """Feature maps per stage (stage k works at ``4 * 2**k`` pixels) for a config with ``capacity`` and ``channels``."""
    return list(widths_for(widths, c, [FIRST_RESOLUTION << k for k in range(n_stages)]).values())


def n_stages_for(size: int) -> int:
    """Stages from 4x4 up to ``size`` pixels."""
    return int(math.log2(size // FIRST_RESOLUTION)) + 1


def _act() -> nn.Module:
    return nn.LeakyReLU(0.2)


class _Growing(nn.Module):
    """The growing state both networks keep as buffers, so checkpoints and EMA copies carry it."""

    def __init__(self, n_stages: int) -> None:
        super().__init__()
        self.n_stages = n_stages
        self.register_buffer("stage", torch.zeros((), dtype=torch.long))
        self.register_buffer("alpha", torch.ones(()))

    @torch.no_grad()
    def grow_to(self, stage: int, alpha: float) -> None:
        if not 0 <= stage < self.n_stages:
            raise ValueError(f"stage {stage} out of range 0-{self.n_stages - 1}")
        self.stage.fill_(stage)
        self.alpha.fill_(alpha)

    @property
    def resolution(self) -> int:
        return FIRST_RESOLUTION << int(self.stage)


class ProGenerator(_Growing):
    """z -> 4x4 block -> (upsample, two 3x3 convs) per stage; pixel norm after every conv; a 1x1 toRGB per stage."""

    def __init__(self, latent_dim: int, image_channels: int, size: int, ch: list[int]) -> None:
        n_stages = n_stages_for(size)
        super().__init__(n_stages)
        self.size = size
        self.pixel_norm = PixelNorm()
        self.input = EqualizedLinear(latent_dim, ch[0] * FIRST_RESOLUTION**2)
        self.blocks = nn.ModuleList([nn.Sequential(EqualizedConv2d(ch[0], ch[0], 3, padding=1), _act(), PixelNorm())])
        for k in range(1, n_stages):
            self.blocks.append(nn.Sequential(
                nn.Upsample(scale_factor=2, mode="nearest"),
                EqualizedConv2d(ch[k - 1], ch[k], 3, padding=1), _act(), PixelNorm(),
                EqualizedConv2d(ch[k], ch[k], 3, padding=1), _act(), PixelNorm(),
            ))
        # Linear toRGB outputs, as in the paper: no tanh (the picture writer clamps to [-1, 1]).
        self.to_rgb = nn.ModuleList([EqualizedConv2d(c, image_channels, 1) for c in ch])

    def at_stage(self, z: torch.Tensor) -> torch.Tensor:
        """Images at the current stage's resolution (what the critic sees during training)."""
        stage, alpha = int(self.stage), float(self.alpha)
        h = self.input(self.pixel_norm(z)).view(z.shape[0], -1, FIRST_RESOLUTION, FIRST_RESOLUTION)
        h = self.pixel_norm(nn.functional.leaky_relu(h, 0.2))
        for block in self.blocks[:stage]:
            h = block(h)
        if stage == 0:
            return self.to_rgb[0](self.blocks[0](h))
        new = self.to_rgb[stage](self.blocks[stage](h))
        if alpha >= 1.0:
            return new
        return torch.lerp(resize_images(self.to_rgb[stage - 1](h), new.shape[-1]), new, alpha)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Images at the data's full size: the current stage nearest-upsampled."""
        return resize_images(self.at_stage(z), self.size)


class ProDiscriminator(_Growing):
    """A 1x1 fromRGB per stage -> (two 3x3 convs, 2x average pool) per stage -> minibatch stddev, 3x3 and 4x4 convs, linear."""

    def __init__(self, image_channels: int, size: int, ch: list[int], group_size: int = 4) -> None:
        n_stages = n_stages_for(size)
        super().__init__(n_stages)
        self.from_rgb = nn.ModuleList([nn.Sequential(EqualizedConv2d(image_channels, c, 1), _act()) for c in ch])
        self.blocks = nn.ModuleList([nn.Sequential(
            MinibatchStdDev(group_size),
            EqualizedConv2d(ch[0] + 1, ch[0], 3, padding=1), _act(),
            EqualizedConv2d(ch[0], ch[0], FIRST_RESOLUTION), _act(),
            nn.Flatten(),
            EqualizedLinear(ch[0], 1),
        )])
        for k in range(1, n_stages):
            self.blocks.append(nn.Sequential(
                EqualizedConv2d(ch[k], ch[k], 3, padding=1), _act(),
                EqualizedConv2d(ch[k], ch[k - 1], 3, padding=1), _act(),
                nn.AvgPool2d(2),
            ))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One score per image; ``x`` must be at the current stage's resolution."""
        stage, alpha = int(self.stage), float(self.alpha)
        if x.shape[-1] != self.resolution:
            raise ValueError(f"the critic is at {self.resolution}x{self.resolution}, got images of {x.shape[-1]}")
        h = self.blocks[stage](self.from_rgb[stage](x))
        if stage and alpha < 1.0:
            h = torch.lerp(self.from_rgb[stage - 1](resize_images(x, x.shape[-1] // 2)), h, alpha)
        for k in range(stage - 1, -1, -1):
            h = self.blocks[k](h)
        return h.squeeze(1)


class ProGANObjective(AdversarialObjective):
    """WGAN-GP with drift, at the resolution and fade the schedule gives for each step."""

    def __init__(self, G: ProGenerator, D: ProDiscriminator, c: dict) -> None:
        # The adversarial game is played at the current stage's resolution, so the game's
        # "generator" is G.at_stage; G.forward (full size) is for sampling.
        super().__init__(
            G.at_stage, D, c["latent_dim"], d_wasserstein_loss, g_wasserstein_loss,
            d_repeats=c["n_critic"], gp_weight=c["gp_weight"], drift_weight=c["drift_weight"], logits=False,
        )
        self.grown = (G, D)
        self.stable_steps, self.fade_steps = c["stable_steps"], c["fade_steps"]

    def progress(self, step: int) -> tuple[int, float]:
        return schedule(step, self.stable_steps, self.fade_steps, self.grown[0].n_stages)

    def loss(self, phase: str, batch: Batch) -> PhaseLoss:
        stage, alpha = self.progress(batch.step)
        for net in self.grown:
            net.grow_to(stage, alpha)
        real = fade_reals(batch.real, stage, alpha)
        result = super().loss(phase, Batch(real, batch.labels, batch.step))
        if phase == "G":  # once per step
            result.scalars["progan/alpha"] = torch.tensor(alpha, device=real.device)
            result.scalars["progan/resolution"] = torch.tensor(float(FIRST_RESOLUTION << stage), device=real.device)
        return result


def check_image_shape(info: ganzoo.DatasetInfo) -> tuple[int, int]:
    """``(channels, size)`` of square power-of-two images of at least 8 pixels, or a one-line error naming the fix."""
    if info.kind != "image":
        raise ganzoo.GanzooError(f"progan-lite is for images; dataset {info.name} has {info.kind} data (try --dataset mnist)")
    channels, height, width = info.shape
    if height != width or height < 2 * FIRST_RESOLUTION or height & (height - 1):
        raise ganzoo.GanzooError(
            f"progan-lite grows from 4x4 by doubling, so images must be square with a power-of-two side of at least 8; "
            f"{info.name} has {height}x{width} (use --set data.size=32)"
        )
    return channels, height


def build_progan_lite(info: ganzoo.DatasetInfo, c: dict, schedules: dict[str, Widths]) -> ganzoo.GAN:
    """The model for ``info`` and config ``c``, its channels from ``schedules[c["capacity"]]`` (the plugin's ``WIDTHS``)."""
    image_channels, size = check_image_shape(info)
    widths = stage_channels(schedules, c, n_stages_for(size))
    G = ProGenerator(c["latent_dim"], image_channels, size, widths)
    D = ProDiscriminator(image_channels, size, widths, c["mbstd_group"])
    networks = {"G": G, "D": D}
    return ganzoo.GAN(
        networks=networks,
        optimizers=adam_optimizers(networks, c),
        objective=ProGANObjective(G, D, c),
        latent_dim=c["latent_dim"],
        ema_decay=c["ema_decay"],
        idle_parameters=("G", "D"),  # stages above the current one sit out (data-parallel training must know)
    )
