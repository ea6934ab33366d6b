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

Layout: this module registers the model and imports no torch, because every ganzoo command
(``ganzoo --help`` included) imports every installed plugin before it prints; what needs
torch (the objective and the builder's body) is in ``ganzoo_lsgan_nets``, imported by
``build_lsgan`` when a model is built.
"""

from __future__ import annotations

import ganzoo
from ganzoo.options import adam_options, mlp_player_options, mlp_player_presets

__version__ = "0.1.0"


def build_lsgan(info: ganzoo.DatasetInfo, c: dict) -> ganzoo.GAN:
    from ganzoo_lsgan_nets import build_lsgan as build  # torch, imported only when a model is built

    return build(info, c)


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
