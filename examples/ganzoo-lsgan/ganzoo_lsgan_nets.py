"""The torch half of the ``lsgan`` plugin: its objective and its networks, imported by ``ganzoo_lsgan.build_lsgan``."""

from __future__ import annotations

import torch

import ganzoo
from ganzoo.losses import d_least_squares_loss, g_least_squares_loss
from ganzoo.nn import MLPDiscriminator, MLPGenerator
from ganzoo.objectives import AdversarialObjective
from ganzoo.optim import adam_optimizers


class LeastSquaresObjective(AdversarialObjective):
    """The standard D/G game with the least-squares losses; logs D's raw outputs, whose targets are 1 and 0."""

    def __init__(self, G: torch.nn.Module, D: torch.nn.Module, latent_dim: int) -> None:
        super().__init__(G, D, latent_dim, d_least_squares_loss, g_least_squares_loss)

    def d_scalars(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> dict[str, torch.Tensor]:
        # Not probabilities (there is no sigmoid): D(x) -> 1 and D(G(z)) -> 0 mean D is winning.
        return {"D(x)": real_out.mean().detach(), "D(G(z))": fake_out.mean().detach()}


def build_lsgan(info: ganzoo.DatasetInfo, c: dict) -> ganzoo.GAN:
    G = MLPGenerator(c["latent_dim"], info.shape, c["width"], c["depth"], tanh=info.kind == "image", batchnorm=c["g_batchnorm"])
    D = MLPDiscriminator(info.shape, c["width"], c["depth"])
    networks = {"G": G, "D": D}
    return ganzoo.GAN(
        networks=networks,
        optimizers=adam_optimizers(networks, c),
        objective=LeastSquaresObjective(G, D, c["latent_dim"]),
        latent_dim=c["latent_dim"],
    )
