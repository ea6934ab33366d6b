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

import ganzoo

# The networks live in vae_nets, which imports torch: this module registers the model
# without it. These names, once defined here, still import from here.
_NETS = ("ConvEncoder", "VAE", "gaussian_kl", "bernoulli_nll", "gaussian_nll", "ELBOObjective")


def __getattr__(name: str):
    if name in _NETS:
        from ganzoo_plugins import vae_nets

        return getattr(vae_nets, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_vae(info: ganzoo.DatasetInfo, c: dict) -> ganzoo.GAN:
    from ganzoo_plugins.vae_nets import build_vae as build  # torch, imported when a model is built

    return build(info, c)


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
            discriminator=False,  # one network, one phase: nothing for the collapse remedies to change
            # Its default MNIST run (2,000 steps of 64: 128 kimg) draws soft digits of every class; at 2,048 kimg all 8
            # ring8 modes and 22 of 25 grid25 ones (benchmarks/leaderboard, 3 seeds); less is not measured.
            min_kimg={"image": 128, "vector": 2048},
        )
    )
