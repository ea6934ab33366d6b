"""``vae``: the variational autoencoder (Kingma & Welling 2014, "Auto-Encoding Variational Bayes"),
trained by the same trainer and scored by the same evaluation as the GANs.

The tutorial's contrast in numbers: a GAN's samples are sharp but may drop modes; a VAE's
cover the data (its likelihood term punishes every real sample it cannot reconstruct) but
are blurry, because a factorised decoder likelihood averages over what the latent does not
pin down. On ring8 and MNIST the leaderboard shows it as high recall/coverage against lower
precision and worse FID.

The model: an encoder q(z | x) = N(mu(x), diag sigma^2(x)), a decoder p(x | z) and the prior
p(z) = N(0, I). One phase maximises the ELBO, E_q[log p(x | z)] - KL(q(z | x) || p(z)),
with the reparameterisation z = mu + sigma * eps; the trainer logs its two terms as
``vae/reconstruction`` and ``vae/kl`` (nats per sample) and their sum ``vae/neg_elbo``.
Samples are the decoder's mean for z drawn from the prior, through ``GAN.sample`` like any
generator, so ``ganzoo sample``, ``ganzoo eval`` and ``ganzoo bench`` treat it as one more model.

Likelihoods: images use a Bernoulli decoder on pixel intensities mapped to [0, 1] (the
paper's MNIST choice; the decoder's tanh output ``y`` gives the probability ``(y + 1) / 2``);
2-D points use a Gaussian with a fixed standard deviation ``recon_std`` (0.05 by default:
about the spread of grid25's modes; a larger one blurs the modes together, a smaller one
lets the KL term be ignored). ``beta`` weights the KL term (1: the ELBO; Higgins et al.'s
beta-VAE otherwise).

Networks: for images the DCGAN-style conv stacks of :mod:`ganzoo.convnets` (the encoder is the
conv discriminator's body without normalisation, ending in a linear map to mu and log sigma^2;
the decoder is the conv generator), so on MNIST it is the same size as ``dcgan``; for 2-D
data MLPs of ``width`` x ``depth``. What it leaves out: the paper's MLP image networks
(convs are what people use on images today), importance-weighted bounds and learned priors.

Defaults: Adam(1e-3), as is usual for VAEs; latent 16 for images (a small latent keeps the
KL term meaningful on 5,000 digits), 2 for 2-D data; 2,000 steps of 64 on images, 5,000 of
256 on 2-D data (the GANs' budgets).

The trainer's contract speaks of ``ganzoo.GAN`` and "generator": a VAE fills it with one
network ``G`` (the whole autoencoder; calling it on z decodes) and one phase.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

import ganzoo
from ganzoo.convnets import ConvDiscriminator, ConvGenerator, check_conv_images
from ganzoo.nn import MLPGenerator, mlp


class ConvEncoder(nn.Module):
    """An image -> the conv discriminator's strided convs (no normalisation) -> (mu, log sigma^2)."""

    def __init__(self, shape: tuple[int, int, int], channels: int, latent_dim: int) -> None:
        super().__init__()
        body = ConvDiscriminator(shape, channels, norm="none")
        self.features = body.features
        self.out = nn.Linear(body.head.in_features, 2 * latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(x))


class VAE(nn.Module):
    """Encoder and decoder in one network: ``VAE(z)`` decodes (the generator's contract);
    ``VAE(z=None, reconstruct=x)`` returns ``(decoded, mu, logvar)`` for the ELBO.

    Both paths go through ``forward`` so that data-parallel training sees every parameter's
    gradient arrive through the call it wraps.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int) -> None:
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.latent_dim = latent_dim

    def forward(self, z: torch.Tensor | None = None, reconstruct: torch.Tensor | None = None):
        if reconstruct is None:
            return self.decoder(z)
        mu, logvar = self.encoder(reconstruct).flatten(1).chunk(2, dim=1)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)  # the reparameterisation trick
        return self.decoder(z), mu, logvar


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) per sample, in nats (Kingma & Welling, appendix B)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)


def bernoulli_nll(decoded: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """-log p(x | z) per sample for images in [-1, 1], pixel intensities read as Bernoulli probabilities."""
    p = ((decoded + 1) / 2).clamp(1e-6, 1 - 1e-6)
    return F.binary_cross_entropy(p, (real + 1) / 2, reduction="none").flatten(1).sum(dim=1)


def gaussian_nll(decoded: torch.Tensor, real: torch.Tensor, std: float) -> torch.Tensor:
    """-log N(x; decoded, std^2 I) per sample."""
    d = real[0].numel()
    return ((real - decoded).pow(2).flatten(1).sum(dim=1) / (2 * std**2)) + d * math.log(std * math.sqrt(2 * math.pi))


class ELBOObjective(ganzoo.Objective):
    """One phase: minimise the negative ELBO, reconstruction plus ``beta`` times KL, averaged over the batch."""

    def __init__(self, vae: VAE, likelihood: str, recon_std: float, beta: float) -> None:
        self.vae, self.likelihood, self.recon_std, self.beta = vae, likelihood, recon_std, beta
        self.phases = (ganzoo.Phase("ELBO", "G", "G"),)

    def loss(self, phase: str, batch: ganzoo.Batch) -> ganzoo.PhaseLoss:
        decoded, mu, logvar = self.vae(reconstruct=batch.real)
        if self.likelihood == "bernoulli":
            reconstruction = bernoulli_nll(decoded, batch.real).mean()
        else:
            reconstruction = gaussian_nll(decoded, batch.real, self.recon_std).mean()
        kl = gaussian_kl(mu, logvar).mean()
        scalars = {"vae/reconstruction": reconstruction.detach(), "vae/kl": kl.detach(), "vae/neg_elbo": (reconstruction + kl).detach()}
        return ganzoo.PhaseLoss(reconstruction + self.beta * kl, scalars)


def build_vae(info: ganzoo.DatasetInfo, c: dict) -> ganzoo.GAN:
    latent = c["latent_dim"]
    if info.kind == "image":
        check_conv_images(info, "vae", fix="try --dataset mnist")
        encoder = ConvEncoder(info.shape, c["channels"], latent)
        decoder = ConvGenerator(latent, info.shape, c["channels"])
        likelihood = "bernoulli"
    else:
        dim = math.prod(info.shape)
        encoder = mlp([dim] + [c["width"]] * c["depth"] + [2 * latent])
        decoder = MLPGenerator(latent, info.shape, c["width"], c["depth"], tanh=False)
        likelihood = "gaussian"
    vae = VAE(encoder, decoder, latent)
    return ganzoo.GAN(
        networks={"G": vae},
        optimizers={"G": torch.optim.Adam(vae.parameters(), lr=c["lr"])},
        objective=ELBOObjective(vae, likelihood, c["recon_std"], c["beta"]),
        latent_dim=latent,
    )


@ganzoo.hookimpl
def register_models(register):
    register(
        ganzoo.ModelSpec(
            name="vae",
            summary="Variational autoencoder (Kingma & Welling 2014): ELBO with reparameterisation; the GANs' blurry, covering neighbour",
            build=build_vae,
            config={
                "latent_dim": ganzoo.Param(16, "size of z", min=1, max=4096),
                "channels": ganzoo.Param(32, "images: feature maps of the encoder's first conv and the decoder's last, doubled at each halving", min=1, max=4096),
                "width": ganzoo.Param(128, "2-D data: units per hidden layer of the MLP encoder and decoder", min=1, max=65536),
                "depth": ganzoo.Param(3, "2-D data: hidden layers of the encoder and of the decoder", min=1, max=64),
                "beta": ganzoo.Param(1.0, "weight of the KL term (1: the ELBO; beta-VAE otherwise)", min=0.0),
                "recon_std": ganzoo.Param(0.05, "2-D data: standard deviation of the Gaussian decoder", min=1e-6),
                "lr": ganzoo.Param(1e-3, "Adam learning rate", min=0.0),
            },
            presets={
                "image": {"steps": 2000, "batch_size": 64},
                "vector": {"steps": 5000, "batch_size": 256, "latent_dim": 2},
            },
        )
    )
