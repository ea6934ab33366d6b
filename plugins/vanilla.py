"""``vanilla``: the original GAN (Goodfellow et al. 2014, "Generative Adversarial Nets").

The discriminator maximises ``E[log D(x)] + E[log(1 - D(G(z)))]``. The generator uses the
non-saturating loss ``-log D(G(z))`` by default, which the paper recommends because
``log(1 - D(G(z)))`` saturates early, when D easily rejects bad fakes; ``--set
g_loss=minimax`` trains on the original minimax loss to see that happen.

Networks are MLPs (the paper's were too), so the same model trains on 2-D mixtures and
on flattened images. Defaults: Adam(2e-4, beta1 0.5) as in DCGAN, the usual choice for
stable GAN training; batch norm in G's hidden layers for images (without it, our MNIST
runs collapsed to one stroke within 5,000 steps); for 2-D data no batch norm and a
larger learning rate (1e-3), with which the 8 ring modes are found within 5,000 steps.

``--set arch=conv`` swaps the MLPs for DCGAN-style conv players (:mod:`ganzoo.convnets`,
batch norm in D but its first layer, ``channels`` wide) on images; the default stays
``mlp`` because the paper's networks were MLPs. (``dcgan`` is that conv GAN with its
paper's own defaults.) With arch=conv, ``width``, ``depth`` and ``dropout`` are unused.
"""

from __future__ import annotations

import ganzoo
from ganzoo.options import G_LOSS_NAMES, adam_options, arch_options, mlp_player_options, mlp_player_presets


def build_vanilla(info: ganzoo.DatasetInfo, c: dict) -> ganzoo.GAN:
    # torch comes in here, not at registration: `ganzoo models` and `ganzoo --help` never wait for it.
    from ganzoo.convnets import players
    from ganzoo.losses import G_LOSSES, d_minimax_loss
    from ganzoo.objectives import AdversarialObjective
    from ganzoo.optim import adam_optimizers

    G, D = players(info, c, "vanilla", dropout=c["dropout"])
    networks = {"G": G, "D": D}
    return ganzoo.GAN(
        networks=networks,
        optimizers=adam_optimizers(networks, c),
        objective=AdversarialObjective(G, D, c["latent_dim"], d_minimax_loss, G_LOSSES[c["g_loss"]]),
        latent_dim=c["latent_dim"],
    )


@ganzoo.hookimpl
def register_models(register):
    register(
        ganzoo.ModelSpec(
            name="vanilla",
            summary="Original GAN (Goodfellow 2014): MLPs, minimax D, non-saturating G loss",
            build=build_vanilla,
            config={
                **mlp_player_options(),
                **arch_options("mlp"),
                "dropout": ganzoo.Param(0.0, "dropout in D's hidden layers", min=0.0, max=0.9),
                **adam_options(lr=2e-4, beta1=0.5, beta2=0.999),
                "g_loss": ganzoo.Param("non-saturating", "generator loss", choices=G_LOSS_NAMES),
            },
            presets=mlp_player_presets(),
            # MNIST at 100 kimg: all 10 classes, class KL 0.30 (the 2026-11-27 reference leaderboard, 3 seeds); ring8 at
            # 100 kimg: 3 of 8 modes, 0.4% high quality; at 2,048 kimg 7 of 8 modes (benchmarks/leaderboard, 3 seeds).
            min_kimg={"image": 100, "vector": 2048},
        )
    )
