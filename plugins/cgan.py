"""``cgan``: the conditional GAN (Mirza & Osindero 2014, "Conditional Generative Adversarial Nets").

Both players see the class label y: G models p(x | y) and D judges (x, y) pairs, so
``ganzoo sample RUN --label 7`` draws sevens. On ``ring8``/``grid25`` the label is the
mode index, so each mode is asked for by name and none can be dropped silently.

What it keeps: the paper's idea, MLP players, the minimax D loss with the non-saturating
G loss. How the label enters: G concatenates a learned label embedding to z, as the paper
concatenates y; D is a *projection* discriminator (Miyato & Koyama 2018) rather than the
paper's input concatenation, because the projection term ``<embed(y), phi(x)>`` is the form
of the optimal conditional D's log-ratio, and a D that merely concatenates y to 784 pixels
tends to ignore it. What it leaves out: the paper's maxout units and dropout schedule.

Defaults are the vanilla model's (MLP 512 x 3, Adam(2e-4, beta1 0.5), batch norm in G for
images), so the two differ only in conditioning; for 2-D data, width 128, no batch norm and
lr 1e-3 as for vanilla.
"""

from __future__ import annotations

import torch

import ganzoo
from ganzoo.losses import G_LOSSES, d_minimax_loss
from ganzoo.nn import MLPDiscriminator, MLPGenerator, mlp_player_options
from ganzoo.objectives import AdversarialObjective


def build_cgan(info: ganzoo.DatasetInfo, c: dict) -> ganzoo.GAN:
    if info.num_classes < 2:
        raise ganzoo.GanzooError(f"cgan needs a labelled dataset; {info.name} has no classes (try mnist, ring8 or grid25)")
    k = info.num_classes
    G = MLPGenerator(c["latent_dim"], info.shape, c["width"], c["depth"], tanh=info.kind == "image",
                     batchnorm=c["g_batchnorm"], num_classes=k, embed_dim=c["embed_dim"])
    D = MLPDiscriminator(info.shape, c["width"], c["depth"], dropout=c["dropout"], num_classes=k)
    betas = (c["beta1"], c["beta2"])
    return ganzoo.GAN(
        networks={"G": G, "D": D},
        optimizers={
            "G": torch.optim.Adam(G.parameters(), lr=c["lr"], betas=betas),
            "D": torch.optim.Adam(D.parameters(), lr=c["lr"], betas=betas),
        },
        objective=AdversarialObjective(G, D, c["latent_dim"], d_minimax_loss, G_LOSSES[c["g_loss"]], conditional=True),
        latent_dim=c["latent_dim"],
        num_classes=k,
    )


@ganzoo.hookimpl
def register_models(register):
    register(
        ganzoo.ModelSpec(
            name="cgan",
            summary="Conditional GAN (Mirza & Osindero 2014): label-embedding G, projection D; sample with --label",
            build=build_cgan,
            config={
                **mlp_player_options(),
                "embed_dim": ganzoo.Param(16, "size of G's label embedding", min=1, max=4096),
                "dropout": ganzoo.Param(0.0, "dropout in D's hidden layers", min=0.0, max=0.9),
                "lr": ganzoo.Param(2e-4, "Adam learning rate (G and D)", min=0.0),
                "beta1": ganzoo.Param(0.5, "Adam beta1", min=0.0, max=1.0),
                "beta2": ganzoo.Param(0.999, "Adam beta2", min=0.0, max=1.0),
                "g_loss": ganzoo.Param("non-saturating", "generator loss", choices=tuple(G_LOSSES)),
            },
            presets={
                "image": {"steps": 5000, "batch_size": 64},
                "vector": {"steps": 5000, "batch_size": 256, "width": 128, "g_batchnorm": False, "lr": 1e-3},
            },
        )
    )
