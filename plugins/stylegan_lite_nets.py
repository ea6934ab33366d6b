"""The networks, objective and builder of ``stylegan-lite`` (:mod:`ganzoo_plugins.stylegan_lite` describes the model).

They import torch, so the plugin module registers the model without this module and imports
it when a model is built: ``ganzoo models`` and ``ganzoo --help`` never wait for torch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

import ganzoo
from ganzoo.losses import d_minimax_loss, g_nonsaturating_loss
from ganzoo.nn import EqualizedConv2d, EqualizedLinear, MinibatchStdDev, PixelNorm, Widths, widths_for
from ganzoo.penalties import double_backward, r1_penalty

COARSE = 8  # the styled convs up to this resolution decide the digit's shape
SQRT2 = math.sqrt(2.0)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """LeakyReLU(0.2) with StyleGAN's gain sqrt(2), which keeps unit-variance activations at unit variance."""
    return F.leaky_relu(x, 0.2) * SQRT2


def resolutions_up_to(size: int) -> tuple[int, ...]:
    """4, 8, ..., ``size``: the resolutions the synthesis network passes through."""
    return tuple(4 << k for k in range(int(math.log2(size // 4)) + 1))


# -- generator -----------------------------------------------------------------


class MappingNetwork(nn.Module):
    """z -> w: pixel norm, then ``depth`` equalized linear layers at lr_mul 0.01."""

    def __init__(self, latent_dim: int, w_dim: int, depth: int, lr_mul: float = 0.01) -> None:
        super().__init__()
        self.norm = PixelNorm()
        self.layers = nn.ModuleList(
            EqualizedLinear(latent_dim if i == 0 else w_dim, w_dim, lr_mul=lr_mul) for i in range(depth)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.norm(z)
        for layer in self.layers:
            x = lrelu(layer(x))
        return x


class ModulatedConv2d(nn.Module):
    """A convolution whose weights are scaled per input channel by a style from w (StyleGAN2, eqs. 1-3).

    ``w'_{oik} = s_i * w_{oik}``, then with ``demodulate`` ``w''_{oik} = w'_{oik} / sqrt(sum_{i,k} w'^2_{oik} + eps)``:
    each output channel's weights have unit norm whatever the style. The style affine's bias
    starts at ``style_bias``: 1 (the paper's) uses every channel unmodulated early on; a
    small one, given a centred w (``StyleGenerator.synthesis`` passes ``w - w_avg``), a
    style with little part shared by all latents (see the module docstring).
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, w_dim: int,
        demodulate: bool = True, style_bias: float = 1.0,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)  # equalized learning rate
        self.affine = EqualizedLinear(w_dim, in_channels, bias_init=style_bias)
        self.padding = kernel_size // 2
        self.demodulate = demodulate

    def modulated_weight(self, w: torch.Tensor) -> torch.Tensor:
        """Each sample's effective weights, shape ``(n, out, in, k, k)`` (what :meth:`forward` convolves with)."""
        s = self.affine(w)
        weight = self.weight[None] * self.scale * s[:, None, :, None, None]
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
        return weight

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        # Scaling the input by s, convolving with the shared weight and scaling the output by
        # the demodulation factor equals convolving each sample with modulated_weight(w), and
        # is one ordinary batched convolution (much faster on a CPU than a grouped one).
        s = self.affine(w)
        weight = self.weight * self.scale
        out = F.conv2d(x * s[:, :, None, None], weight, padding=self.padding)
        if self.demodulate:
            # sum_{i,k} (s_i w_{oik})^2 = sum_i s_i^2 (sum_k w_{oik}^2)
            d = torch.rsqrt(s.pow(2) @ weight.pow(2).sum(dim=(2, 3)).t() + 1e-8)  # (n, out)
            out = out * d[:, :, None, None]
        return out


class StyledConv(nn.Module):
    """(upsample) -> modulated 3x3 conv -> + per-channel-scaled noise -> + bias -> LeakyReLU."""

    def __init__(
        self, in_channels: int, out_channels: int, w_dim: int, resolution: int,
        upsample: bool = False, style_bias: float = 1.0,
    ) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, w_dim, style_bias=style_bias)
        self.upsample = upsample
        self.noise_strength = nn.Parameter(torch.zeros(out_channels))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        # The noise image used in eval mode, so that sampling is deterministic given z.
        self.register_buffer("noise_const", torch.randn(1, 1, resolution, resolution))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = self.conv(x, w)
        n, _, h, width = x.shape
        noise = torch.randn(n, 1, h, width, device=x.device) if self.training else self.noise_const
        x = x + self.noise_strength[None, :, None, None] * noise
        return lrelu(x + self.bias[None, :, None, None])


class ToRGB(nn.Module):
    """1x1 modulated conv without demodulation (StyleGAN2's tRGB), plus a bias."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias[None, :, None, None]


def mix_styles(w1: torch.Tensor, w2: torch.Tensor, crossover: torch.Tensor, num_ws: int) -> torch.Tensor:
    """Per-layer styles ``(n, num_ws, w_dim)``: sample i uses ``w1`` for layers below ``crossover[i]``, ``w2`` from it on."""
    use_w1 = torch.arange(num_ws, device=w1.device)[None, :] < crossover[:, None]
    return torch.where(use_w1[:, :, None], w1[:, None, :], w2[:, None, :])


def draw_crossover(n: int, num_ws: int, prob: float, device: torch.device | None = None) -> torch.Tensor:
    """One crossover layer per sample: uniform in ``[1, num_ws)`` with probability ``prob``, else ``num_ws`` (no mixing)."""
    layer = torch.randint(1, num_ws, (n,), device=device)
    return torch.where(torch.rand(n, device=device) < prob, layer, torch.full_like(layer, num_ws))


class StyleGenerator(nn.Module):
    """z -> mapping -> w -> per-layer styles -> synthesis from a learned 4x4 constant to 32x32.

    Seven styled convs (one at 4x4, two per doubling) and one tRGB at 32x32 take one style
    slot each (``num_ws`` = 8), in that order. Every style is an affine function of
    ``w - w_avg``, so once ``w_avg`` has settled the mean latent's styles are the affine
    biases; those of the coarse convs (up to ``COARSE`` pixels) start at
    ``coarse_style_bias``, the others at the paper's 1.
    """

    def __init__(
        self, latent_dim: int, w_dim: int, mapping_depth: int, channels: dict[int, int], out_channels: int,
        w_avg_beta: float = 0.995, coarse_style_bias: float = 1.0,
    ) -> None:
        super().__init__()
        resolutions = sorted(channels)
        self.mapping = MappingNetwork(latent_dim, w_dim, mapping_depth)
        self.const = nn.Parameter(torch.randn(1, channels[4], 4, 4))
        bias = {res: coarse_style_bias if res <= COARSE else 1.0 for res in resolutions}
        self.convs = nn.ModuleList([StyledConv(channels[4], channels[4], w_dim, 4, style_bias=bias[4])])
        for prev, res in zip(resolutions[:-1], resolutions[1:]):
            self.convs.append(StyledConv(channels[prev], channels[res], w_dim, res, upsample=True, style_bias=bias[res]))
            self.convs.append(StyledConv(channels[res], channels[res], w_dim, res, style_bias=bias[res]))
        self.to_rgb = ToRGB(channels[resolutions[-1]], out_channels, w_dim)
        self.num_ws = len(self.convs) + 1
        self.w_avg_beta = w_avg_beta
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def styles(self, z: torch.Tensor, truncation: float | None = None, track: bool = False) -> torch.Tensor:
        """w for each z; ``track`` moves ``w_avg`` towards this batch's mean w (before truncation)."""
        w = self.mapping(z)
        if track:
            with torch.no_grad():
                self.w_avg.copy_(w.detach().to(self.w_avg.dtype).mean(dim=0).lerp(self.w_avg, self.w_avg_beta))  # fp32 under autocast
        if truncation is not None:
            w = torch.lerp(self.w_avg.expand_as(w), w, truncation)
        return w

    def synthesis(self, ws: torch.Tensor) -> torch.Tensor:
        """Images from per-layer styles ``ws`` of shape ``(n, num_ws, w_dim)``."""
        # The affines see w relative to its running mean (a reparameterisation: their biases
        # absorb A(w_avg)), so that a zero bias means a style with no part common to all z.
        ws = ws - self.w_avg
        x = self.const.expand(ws.shape[0], -1, -1, -1)
        for slot, conv in enumerate(self.convs):
            x = conv(x, ws[:, slot])
        return self.to_rgb(x, ws[:, -1])

    def forward(
        self, z: torch.Tensor, truncation: float | None = None,
        z_mix: torch.Tensor | None = None, crossover: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Images for ``z``; ``truncation`` psi pulls w towards ``w_avg``; ``z_mix`` with ``crossover`` mixes styles."""
        # w_avg is tracked like batch-norm statistics: in training mode, from z1 only (as in
        # StyleGAN2-ADA), so that it is the mean over the latents the model is sampled from.
        w = self.styles(z, truncation, track=self.training)
        if z_mix is None:
            ws = w[:, None, :].expand(-1, self.num_ws, -1)
        else:
            ws = mix_styles(w, self.styles(z_mix, truncation), crossover, self.num_ws)
        return self.synthesis(ws)


# -- discriminator ---------------------------------------------------------------


class ResidualBlock(nn.Module):
    """Two 3x3 convs and a 2x average-pool, plus a 1x1 skip, summed and scaled by 1/sqrt(2) (StyleGAN2's resnet D)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = EqualizedConv2d(in_channels, in_channels, 3, padding=1)
        self.conv2 = EqualizedConv2d(in_channels, out_channels, 3, padding=1)
        self.skip = EqualizedConv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.avg_pool2d(lrelu(self.conv2(lrelu(self.conv1(x)))), 2)
        return (y + self.skip(F.avg_pool2d(x, 2))) / SQRT2


class StyleDiscriminator(nn.Module):
    """fromRGB -> residual blocks from the image's size down to 4x4 -> minibatch stddev -> conv -> dense -> one logit."""

    def __init__(self, channels: dict[int, int], in_channels: int, mbstd_group: int = 4) -> None:
        super().__init__()
        resolutions = sorted(channels)
        self.from_rgb = EqualizedConv2d(in_channels, channels[resolutions[-1]], 1)
        self.blocks = nn.Sequential(*(ResidualBlock(channels[res], channels[res // 2]) for res in resolutions[:0:-1]))
        self.mbstd = MinibatchStdDev(mbstd_group)
        self.conv = EqualizedConv2d(channels[4] + 1, channels[4], 3, padding=1)
        self.fc = EqualizedLinear(channels[4] * 16, channels[4])
        self.out = EqualizedLinear(channels[4], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(lrelu(self.from_rgb(x)))
        x = lrelu(self.conv(self.mbstd(x)))
        return self.out(lrelu(self.fc(x.flatten(1)))).squeeze(1)


# -- objective -------------------------------------------------------------------


class StyleGANObjective(ganzoo.Objective):
    """Logistic non-saturating loss, lazy R1 as its own D phase every ``r1_every`` steps, style mixing in G's fakes."""

    def __init__(self, G: StyleGenerator, D: nn.Module, latent_dim: int, r1_gamma: float, r1_every: int, mixing_prob: float, d_steps: int = 1) -> None:
        self.G, self.D = G, D
        self.latent_dim = latent_dim
        self.r1_gamma, self.r1_every, self.mixing_prob = r1_gamma, r1_every, mixing_prob
        self.phases = (
            ganzoo.Phase("D", "D", "D", repeats=d_steps),
            ganzoo.Phase("R1", "D", "D", every=r1_every),
            ganzoo.Phase("G", "G", "G"),
        )

    def fakes(self, n: int, device: torch.device) -> torch.Tensor:
        """Training fakes with style mixing: two latents per sample, a crossover drawn per sample."""
        z1 = torch.randn(n, self.latent_dim, device=device)
        z2 = torch.randn(n, self.latent_dim, device=device)
        crossover = draw_crossover(n, self.G.num_ws, self.mixing_prob, device)
        return self.G(z1, z_mix=z2, crossover=crossover)

    def loss(self, phase: str, batch: ganzoo.Batch) -> ganzoo.PhaseLoss:
        real = batch.real
        if phase == "D":
            with torch.no_grad():
                fake = self.fakes(real.shape[0], real.device)
            real_out, fake_out = self.D(real), self.D(fake)
            scalars = {"D(x)": torch.sigmoid(real_out).mean().detach(), "D(G(z))": torch.sigmoid(fake_out).mean().detach()}
            return ganzoo.PhaseLoss(d_minimax_loss(real_out, fake_out), scalars)
        if phase == "R1":
            # Lazy regularisation: run 1 step in r1_every, with the weight scaled up to match.
            real = real.detach().requires_grad_(True)
            with double_backward():  # R1 differentiates D's graph twice: eager under --compile
                scores = self.D(real)
            penalty = r1_penalty(scores, real)
            return ganzoo.PhaseLoss(penalty * (self.r1_gamma / 2) * self.r1_every, {"penalty/r1": penalty.detach()})
        return ganzoo.PhaseLoss(g_nonsaturating_loss(self.D(self.fakes(real.shape[0], real.device))))


# -- the model --------------------------------------------------------------------


def build_stylegan_lite(info: ganzoo.DatasetInfo, c: dict, schedules: dict[str, Widths]) -> ganzoo.GAN:
    """The model for ``info`` and config ``c``, its channels from ``schedules[c["capacity"]]`` (the plugin's ``WIDTHS``)."""
    if info.kind != "image":
        raise ganzoo.GanzooError(f"stylegan-lite is for images; dataset {info.name} is {info.kind} data (try --dataset mnist)")
    height, width = info.shape[1:]
    if height != width or height < 8 or height & (height - 1):
        raise ganzoo.GanzooError(
            f"stylegan-lite synthesises from 4x4 by doubling, so images must be square with a power-of-two side of at least 8; "
            f"dataset {info.name} gives {height}x{width} (use --set data.size=32 or 64)"
        )
    channels = widths_for(schedules, c, resolutions_up_to(height))
    G = StyleGenerator(c["latent_dim"], c["w_dim"], c["mapping_depth"], channels, info.shape[0], c["w_avg_beta"], c["coarse_style_bias"])
    D = StyleDiscriminator(channels, info.shape[0], c["mbstd_group"])
    betas = (c["beta1"], c["beta2"])
    # StyleGAN2 appendix B: with lazy regularisation every k steps, scale D's lr and betas by k/(k+1).
    ratio = c["r1_every"] / (c["r1_every"] + 1)
    return ganzoo.GAN(
        networks={"G": G, "D": D},
        optimizers={
            "G": torch.optim.Adam(G.parameters(), lr=c["g_lr"], betas=betas),
            "D": torch.optim.Adam(D.parameters(), lr=c["d_lr"] * ratio, betas=(betas[0] ** ratio, betas[1] ** ratio)),
        },
        objective=StyleGANObjective(G, D, c["latent_dim"], c["r1_gamma"], c["r1_every"], c["mixing_prob"], c["d_steps"]),
        latent_dim=c["latent_dim"],
        ema_decay=c["ema_decay"],
        idle_parameters=("D",),  # the R1 phase takes no gradient to D's output bias (data-parallel training must know)
    )
