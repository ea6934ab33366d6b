"""``progan-lite``: progressive growing of GANs (Karras, Aila, Laine & Lehtinen 2018,
"Progressive Growing of GANs for Improved Quality, Stability, and Variation").

Generator and critic start at 4x4 and grow by doubling to the data's size (4 -> 8 -> 16 ->
32 on MNIST padded to 32; on to 64 with ``--set data.size=64``, 1 or 3 channels). Each new resolution is faded in: for ``fade_steps`` steps the
output is ``lerp(upsample(toRGB_old(h)), toRGB_new(block_new(h)), alpha)`` with ``alpha``
rising linearly from 0 to 1 (and mirrored in the critic: the new fromRGB/block path is
blended with the old fromRGB on the average-pooled image), then the networks stabilise for
``stable_steps`` before the next doubling. Real images are shown to the critic at the
current resolution, faded between the two resolutions with the same alpha.

The schedule is a pure function of the training step (:func:`schedule`); the objective sets
it on G and D at every phase and both keep it in buffers (``stage``, ``alpha``), so
checkpoints and the EMA generator carry it, a loaded run samples at the stage it reached,
and a run resumed mid-fade continues with the same resolution and alpha. G always returns
images at the data's full size (its current stage nearest-upsampled), so sample grids and
``ganzoo sample`` work at any stage.

What "lite" keeps: progressive growing with continuous fade-in, faded reals, pixel norm
after every generator convolution (and on z), equalized learning rate in every layer
(:mod:`ganzoo.nn`), minibatch standard deviation before the critic's last block, the
WGAN-GP loss (lambda 10) with the drift term (epsilon 0.001), Adam(lr 1e-3, betas (0, 0.99)),
and an EMA of the generator for sampling (decay 0.999).

Widths: ``capacity=cpu`` (the default) has 32 channels at 4x4 and 8x8, halved at each doubling
above (16 at 16x16, 8 at 32x32 and 64x64); ``capacity=gpu`` has the paper's, 512 up to 32x32,
halved above (256 at 64x64). ``--set channels=N`` scales either schedule (N at the coarse
resolutions, the same halving above).

What it leaves out: 1024x1024 images (64x64 here at most in the tests); the paper's 800k images per
phase (here 250 steps of 32 images per fade and per stabilisation); batch sizes that shrink
with the resolution; the label conditioning of its CIFAR experiments; and its evaluation
machinery (sliced Wasserstein distance, MS-SSIM).

Default hyperparameters and why: the paper's losses, optimiser and EMA as above. One change:
**two critic steps per generator step** (the paper uses one; ``--set n_critic=1`` restores
it). With one, our small networks oscillated: at 4x4 the critic scored the fakes above the
reals on half the steps, and G's mean 4x4 image swung 0.66, 1.06, 0.66, 0.29 away from the
real one (mean absolute error per pixel, every 100 steps), while with two critic steps it
settled at 0.48, 0.22, 0.05, 0.07; in a 4 -> 8 -> 16 trial only two critic steps gave varied digit shapes.
Latent size 128 (the paper uses 512; a 32x32 digit needs far less). Batch size 32. The
schedule (4x4 for 250 steps, then each doubling fades in over 250 and stabilises for 250,
reaching 32x32 at step 1,500, 2,000 steps in all) is sized for the 10-minute CPU budget:
a step at 32x32 costs about six steps at 8x8. At 64x64 the same schedule fades 64x64 in over
the last 250 of those 2,000 steps: give ``--steps`` 2,500 or more to let it stabilise there.
"""

from __future__ import annotations

import math

import torch
from torch import nn

import ganzoo
from ganzoo.losses import d_wasserstein_loss, g_wasserstein_loss
from ganzoo.model import Batch, PhaseLoss
from ganzoo.nn import EqualizedConv2d, EqualizedLinear, MinibatchStdDev, PixelNorm, Widths, capacity_options, resize_images, widths_for
from ganzoo.objectives import AdversarialObjective
from ganzoo.optim import adam_optimizers, adam_options

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


# Channel schedules: cpu is sized for the 10-minute CPU budget; gpu is the paper's
# (512 feature maps up to 32x32, halved at each doubling above: 256 at 64x64, 128 at 128x128).
WIDTHS = {"cpu": Widths(32, 8, 8), "gpu": Widths(512, 32, 16)}


def stage_channels(c: dict, n_stages: int) -> list[int]:
    """Feature maps per stage (stage k works at ``4 * 2**k`` pixels) for a config with ``capacity`` and ``channels``."""
    widths = widths_for(WIDTHS, c, [FIRST_RESOLUTION << k for k in range(n_stages)])
    return list(widths.values())


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


def build_progan_lite(info: ganzoo.DatasetInfo, c: dict) -> ganzoo.GAN:
    image_channels, size = check_image_shape(info)
    widths = stage_channels(c, n_stages_for(size))
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


@ganzoo.hookimpl
def register_models(register):
    register(
        ganzoo.ModelSpec(
            name="progan-lite",
            summary="Progressive GAN (Karras 2018): grows from 4x4 to the data size with fade-in, equalized lr, pixel norm, mbstd, WGAN-GP + drift, EMA",
            build=build_progan_lite,
            config={
                "latent_dim": ganzoo.Param(128, "size of z", min=1, max=65536),
                **capacity_options(WIDTHS),
                "stable_steps": ganzoo.Param(250, "steps at each resolution after its fade-in (and at 4x4 first)", min=0),
                "fade_steps": ganzoo.Param(250, "steps over which each new resolution fades in", min=1),
                "gp_weight": ganzoo.Param(10.0, "gradient penalty weight lambda", min=0.0),
                "drift_weight": ganzoo.Param(0.001, "drift penalty epsilon on E[D(x)^2]", min=0.0),
                "n_critic": ganzoo.Param(2, "critic steps per generator step", min=1, max=100),
                "mbstd_group": ganzoo.Param(4, "group size of the minibatch standard deviation", min=1, max=1024),
                **adam_options(lr=1e-3, beta1=0.0, beta2=0.99),
                "ema_decay": ganzoo.Param(0.999, "decay of the generator's EMA used for sampling (0: off)", min=0.0, max=0.9999),
            },
            presets={"image": {"steps": 2000, "batch_size": 32, "data.size": 32}},
        )
    )
