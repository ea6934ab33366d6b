"""``dcgan``: the deep convolutional GAN (Radford, Metz & Chintala 2016, "Unsupervised Representation
Learning with Deep Convolutional Generative Adversarial Networks").

What it keeps from the paper: the architecture guidelines (:mod:`ganzoo.convnets`). No
pooling: G doubles the side with strided transposed convolutions, D halves it with strided
convolutions; no hidden fully connected layers (G's first layer projects and reshapes z, D's
last covers the whole coarsest map); batch norm in G and in D, except on D's first layer;
ReLU in G with a tanh output, LeakyReLU(0.2) in D. Weights start from N(0, 0.02); Adam with
lr 2e-4 and beta1 0.5; D on the minimax loss, G on the non-saturating ``-log D(G(z))`` as in
the authors' code (``--set g_loss=minimax`` for Goodfellow's original); z of 100 dimensions.

What changes, and why: z is drawn from N(0, I) rather than the paper's uniform, as every
model here draws it. The paper's nets are for 64x64 images starting from 4x4; here the side
is halved until it is at most 7, so MNIST trains natively at 28 (7 -> 14 -> 28) without
padding, 32x32 data as 4 -> 8 -> 16 -> 32 and 64x64 as the paper. The width is smaller:
``channels`` 32 (D's first layer; 64 in the authors' code for 64-pixel images, whose
generator in the paper's figure 1 ends with 128) for CPU budgets: at 28x28 that is 3.7M
multiply-adds per sample through G and D, twice ``vanilla``'s 512 x 3 MLPs (64 would be
13.9M). The default run is 10,000 steps at batch 64 (the paper trained with batch 128): a dcgan
step is cheap (alone on the 2-core machine with torch's two threads, 2026-12-01: 2,000 steps
took 1 min 24 s, the 10,000-step default 7 min 3 s), and its FID kept falling long after 2,000. Seed 0, LeNet FID at N = 10,000
(``ganzoo eval``), one run resumed three times (two threads to step 2,000, one after): 287 at
2,000 steps, 211.7 at 6,000, 187.6 at 10,000, 174.7 at 14,000 (class KL 0.14-0.18 throughout:
every class, but 4s the rarest (118-282 of the 6,400-7,600 samples the classifier is confident
about) and 0s, 7s and 9s the most common). 10,000 leaves room under the 10-minute budget on a
slower or busier machine. ``--set pack=2`` (PacGAN) at 6,000 steps scored the same FID (212.5)
with half the class KL (0.090 against 0.184), one seed, and at the default 10,000 steps (seed 0,
one thread, as the bench below) 189.9 against 187.6, class KL 0.12 against 0.18, precision 0.39
against 0.45: better balance, no better digits. ``--set diffaugment=translation,cutout``
scored 285.8 at 6,000 steps (worse, at this budget). Over three seeds
at the default (the reference bench, one thread from the start, so runs other than the one
above): 187.6, 177.6, 183.3, with the live FID (N = 1,000) changing little after step 7,500:
more steps help this width only slowly.

Only for images: on vector data it refuses in one line (``vanilla`` is the MLP GAN for
2-D data). ``cgan --set arch=conv`` conditions these networks on the label.
"""

from __future__ import annotations

import ganzoo
from ganzoo.options import G_LOSS_NAMES, adam_options


def build_dcgan(info: ganzoo.DatasetInfo, c: dict) -> ganzoo.GAN:
    from ganzoo.convnets import ConvDiscriminator, ConvGenerator, check_conv_images  # torch, imported when a model is built
    from ganzoo.losses import G_LOSSES, d_minimax_loss
    from ganzoo.objectives import AdversarialObjective
    from ganzoo.optim import adam_optimizers

    check_conv_images(info, "dcgan", fix="try --dataset mnist; for vector data use vanilla")
    G = ConvGenerator(c["latent_dim"], info.shape, c["channels"])
    D = ConvDiscriminator(info.shape, c["channels"], norm="batch")
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
            name="dcgan",
            summary="Deep convolutional GAN (Radford 2016): strided (transposed) convs, batch norm, Adam(2e-4, 0.5); images only",
            build=build_dcgan,
            config={
                "latent_dim": ganzoo.Param(100, "size of z (100 in the paper)", min=1, max=65536),
                "channels": ganzoo.Param(32, "feature maps of D's first layer and G's last, doubled at each halving", min=1, max=4096),
                **adam_options(lr=2e-4, beta1=0.5, beta2=0.999),
                "g_loss": ganzoo.Param("non-saturating", "generator loss", choices=G_LOSS_NAMES),
            },
            presets={"image": {"steps": 10000, "batch_size": 64}},
            # 2,000 steps of two batches of 64 (256 kimg, its earlier default) already draw digit-like images; less is not measured.
            min_kimg={"image": 256},
        )
    )
