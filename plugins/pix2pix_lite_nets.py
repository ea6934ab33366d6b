"""The task transforms, networks, objective and builder of ``pix2pix-lite`` (:mod:`ganzoo_plugins.pix2pix_lite`
describes the model). They import torch, so the plugin module registers the model without this module."""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

import ganzoo
from ganzoo.convnets import check_conv_images
from ganzoo.losses import d_minimax_loss, g_nonsaturating_loss
from ganzoo.optim import adam_optimizers

# Inpainting's hidden square: grey, the middle of the model range, so it shows in pictures
# and is neither background (-1) nor stroke (1) on digits.
HOLE_FILL = 0.0
# ITU-R BT.601 luma weights: what "grey" means for colorize.
LUMA = (0.299, 0.587, 0.114)


def inpaint_input(targets: torch.Tensor, generator: torch.Generator | None, hole: float) -> torch.Tensor:
    """``targets`` with one square of side ``round(hole * side)`` per image set to grey, at a uniform random place that fits."""
    n, _, height, width = targets.shape
    side = max(1, min(height, width, round(hole * min(height, width))))
    # Drawn on the CPU whatever the device, so a seeded generator gives the same squares everywhere.
    top = torch.randint(0, height - side + 1, (n,), generator=generator)
    left = torch.randint(0, width - side + 1, (n,), generator=generator)
    rows, cols = torch.arange(height), torch.arange(width)
    in_rows = (rows[None] >= top[:, None]) & (rows[None] < top[:, None] + side)
    in_cols = (cols[None] >= left[:, None]) & (cols[None] < left[:, None] + side)
    mask = (in_rows[:, :, None] & in_cols[:, None, :])[:, None].to(targets.device)
    return targets.masked_fill(mask, HOLE_FILL)


def downsample_input(targets: torch.Tensor, generator: torch.Generator | None, factor: int) -> torch.Tensor:
    """``targets`` average-pooled by ``factor`` and repeated back to their size (what a low-resolution camera would see)."""
    low = F.avg_pool2d(targets, factor)
    return low.repeat_interleave(factor, dim=2).repeat_interleave(factor, dim=3)


def greyscale_input(targets: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """The luminance of RGB ``targets`` in all three channels."""
    weights = torch.tensor(LUMA, dtype=targets.dtype, device=targets.device).view(1, 3, 1, 1)
    return (targets * weights).sum(dim=1, keepdim=True).expand_as(targets).contiguous()


def make_translation(info: ganzoo.DatasetInfo, c: dict) -> ganzoo.Translation:
    """The task of config ``c`` for images described by ``info``, or a one-line error naming what fits."""
    channels, side = info.shape[0], info.shape[1]
    task = c["task"]
    if task == "inpaint":
        return ganzoo.Translation(f"inpaint, a {max(1, round(c['hole'] * side))}-pixel square hidden", partial(inpaint_input, hole=c["hole"]))
    if task == "super-resolution":
        factor = c["factor"]
        if side % factor:
            raise ganzoo.GanzooError(f"pix2pix-lite: task super-resolution needs an image side divisible by factor {factor}; {info.name} is {side}x{side} (valid factors: 2, 4)")
        return ganzoo.Translation(f"super-resolution, {side // factor}x{side // factor} to {side}x{side}", partial(downsample_input, factor=factor))
    if channels != 3:
        raise ganzoo.GanzooError(f"pix2pix-lite: task colorize needs RGB images; {info.name} has {channels} channel(s) (try --dataset stacked-mnist, or task inpaint or super-resolution)")
    return ganzoo.Translation("colorize, from luminance", greyscale_input)


class UNet(nn.Module):
    """An encoder of ``depth`` strided convs and a decoder of as many transposed convs, each decoder level
    concatenated with the encoder level of its size (the U-Net's skips): the input's detail reaches the output directly."""

    def __init__(self, image_channels: int, width: int, depth: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(image_channels, width, 3, padding=1), nn.LeakyReLU(0.2))
        maps = [width * 2**i for i in range(depth + 1)]
        self.downs = nn.ModuleList(
            nn.Sequential(nn.Conv2d(maps[i], maps[i + 1], 4, 2, 1), nn.BatchNorm2d(maps[i + 1]), nn.LeakyReLU(0.2)) for i in range(depth)
        )
        # Up level i makes maps[i] from level i + 1: the bottleneck alone, or an up level concatenated with its skip.
        self.ups = nn.ModuleList(
            nn.Sequential(nn.ConvTranspose2d(maps[i + 1] * (1 if i == depth - 1 else 2), maps[i], 4, 2, 1), nn.BatchNorm2d(maps[i]), nn.ReLU())
            for i in range(depth)
        )
        self.out = nn.Sequential(nn.Conv2d(2 * width, image_channels, 3, padding=1), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.stem(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        h = skips.pop()
        for up in reversed(self.ups):
            h = torch.cat([up(h), skips.pop()], dim=1)
        return self.out(h)


class PatchDiscriminator(nn.Module):
    """D(pair): an (input, image) pair concatenated by channel, two strided convs and a 3x3 head giving one logit per patch.

    It takes the pair as one tensor, as every discriminator takes its samples, so the core's
    collapse remedies (``pack``, ``diffaugment``) treat the input and the image together.
    """

    def __init__(self, image_channels: int, width: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(2 * image_channels, width, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 1, 3, padding=1),
        )

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        return self.net(pairs)


def pair(inputs: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """What D judges: an input and an image (the target, or G's output for that input) as one tensor."""
    return torch.cat([inputs, images], dim=1)


class Pix2PixObjective(ganzoo.Objective):
    """D then G each step, every phase on its own batch of targets with inputs made from them."""

    def __init__(self, G: nn.Module, D: nn.Module, translation: ganzoo.Translation, l1_weight: float) -> None:
        self.G, self.D, self.translation, self.l1_weight = G, D, translation, l1_weight
        self.phases = (ganzoo.Phase("D", "D", "D"), ganzoo.Phase("G", "G", "G"))

    def loss(self, phase: str, batch: ganzoo.Batch) -> ganzoo.PhaseLoss:
        target = batch.real
        x = self.translation.make_input(target, None)  # torch's RNG: a checkpoint saves it, so resuming is exact
        if phase == "D":
            with torch.no_grad():
                fake = self.G(x)
            real_out, fake_out = self.D(pair(x, target)), self.D(pair(x, fake))
            # Halved, as the paper does, to slow D down relative to G.
            loss = 0.5 * d_minimax_loss(real_out, fake_out)
            return ganzoo.PhaseLoss(loss, {"D(x,y)": torch.sigmoid(real_out).mean().detach(), "D(x,G(x))": torch.sigmoid(fake_out).mean().detach()})
        fake = self.G(x)
        adversarial = g_nonsaturating_loss(self.D(pair(x, fake)))
        l1 = (fake - target).abs().mean()
        return ganzoo.PhaseLoss(adversarial + self.l1_weight * l1, {"pix2pix/l1": l1.detach(), "pix2pix/adversarial": adversarial.detach()})


def build_pix2pix(info: ganzoo.DatasetInfo, c: dict) -> ganzoo.GAN:
    channels, side = check_conv_images(info, "pix2pix-lite", fix="try --dataset mnist")
    if side % 2 ** c["depth"]:
        raise ganzoo.GanzooError(f"pix2pix-lite: depth {c['depth']} halves the image {c['depth']} times; {info.name} is {side}x{side} (use --set depth=1 or 2, or --set data.size=32)")
    translation = make_translation(info, c)
    G = UNet(channels, c["channels"], c["depth"])
    D = PatchDiscriminator(channels, c["channels"])
    networks = {"G": G, "D": D}
    return ganzoo.GAN(
        networks=networks,
        optimizers=adam_optimizers(networks, c),
        objective=Pix2PixObjective(G, D, translation, c["l1_weight"]),
        latent_dim=0,  # no latents: G is called on images (see ganzoo.Translation)
        translation=translation,
    )
