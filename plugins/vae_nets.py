"""The networks, objective and builder of ``vae`` (:mod:`ganzoo_plugins.vae` describes the model).

They import torch, so the plugin module registers the model without this module and imports
it when a model is built: ``ganzoo models`` and ``ganzoo --help`` never wait for torch.
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
