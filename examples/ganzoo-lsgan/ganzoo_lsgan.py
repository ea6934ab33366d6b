"""``lsgan``: Least Squares GAN (Mao et al. 2017, "Least Squares Generative Adversarial Networks").

The discriminator is a regressor, not a classifier: it is pulled towards b = 1 on real
samples and a = 0 on fakes, and the generator pulls D(G(z)) towards c = 1 (the paper's
"0-1 coding", its eq. 9)::

    D:  min  E[(D(x) - 1)^2] / 2 + E[D(G(z))^2] / 2
    G:  min  E[(D(G(z)) - 1)^2] / 2

Why: with the sigmoid cross-entropy loss a fake that lies on the real side of D's decision
boundary but far from the data gets almost no gradient; the squared loss keeps pushing it
towards the boundary, in proportion to how far off it is. The paper shows that with
b - c = 1 and b - a = 2 the game minimises the Pearson chi^2 divergence; the 0-1 coding
kept here is the one it uses for its image experiments.

What this plugin keeps: exactly the two losses (``ganzoo.losses.d_least_squares_loss`` and
``g_least_squares_loss``), with no sigmoid on D's output. What it leaves out: the paper's
DCGAN-style convolutional networks. It uses the MLP players of ``vanilla`` (the same
``ganzoo.nn`` options), so that ``lsgan`` and ``vanilla`` differ only in the loss and can
be compared run for run.

Defaults, and why: Adam(2e-4, beta1 0.5), as in DCGAN, which the paper follows; batch norm
in G's hidden layers on images (the MLP generator needs it on MNIST, see ``vanilla``). On
2-D data the preset mirrors ``vanilla``'s (width 128, no batch norm, lr 1e-3, batch 256):
the same budget, so the two can be compared on ``ring8`` one for one.
"""

from __future__ import annotations

import torch

import ganzoo
from ganzoo.losses import d_least_squares_loss, g_least_squares_loss
from ganzoo.nn import MLPDiscriminator, MLPGenerator, mlp_player_options, mlp_player_presets
from ganzoo.objectives import AdversarialObjective
from ganzoo.optim import adam_optimizers, adam_options

__version__ = "0.1.0"


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


@ganzoo.hookimpl
def register_models(register):
    register(
        ganzoo.ModelSpec(
            name="lsgan",
            summary="Least Squares GAN (Mao 2017): MLPs, D regresses real to 1 and fake to 0, G pulls fakes to 1",
            build=build_lsgan,
            config={
                **mlp_player_options(),
                **adam_options(lr=2e-4, beta1=0.5, beta2=0.999),
            },
            presets=mlp_player_presets(),
        )
    )
