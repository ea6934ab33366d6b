"""``wgan`` and ``wgan-gp``: Wasserstein GANs with two ways of keeping the critic Lipschitz.

``wgan`` (Arjovsky, Chintala & Bottou 2017, "Wasserstein GAN"): the critic f maximises
``E[f(x)] - E[f(G(z))]``, an estimate of the Earth-Mover distance when f is 1-Lipschitz,
which the paper enforces crudely by clipping every critic weight to [-0.01, 0.01] after
each step. Paper defaults kept: RMSprop (momentum-based optimisers were unstable with
clipping), 5 critic steps per generator step, clip 0.01. Changed: the learning rate is
2e-4 rather than 5e-5, because at 5e-5 our CPU-sized MLPs made no visible progress within
the 10-minute budget (with the paper's 5e-5 it is `--set lr=5e-5`).

``wgan-gp`` (Gulrajani et al. 2017, "Improved Training of Wasserstein GANs"): clipping
replaced by a penalty ``10 * E[(||grad f(x_hat)|| - 1)^2]`` on random interpolates of real
and fake samples, one interpolation coefficient per sample and the norm per sample over all
of its dimensions (:func:`ganzoo.penalties.gradient_penalty`). Paper defaults: lambda 10,
Adam(1e-4, betas (0, 0.9)), 5 critic steps, and no batch norm in the critic (the penalty is
per sample, batch norm would couple the samples).

Architectures: both papers trained DCGAN-style conv nets on images (WGAN also showed MLP
generators; WGAN-GP also a ResNet). ``--set arch=conv`` gives those conv players
(:mod:`ganzoo.convnets`): for ``wgan`` with batch norm in the critic as the paper's DCGAN
critic had, for ``wgan-gp`` with layer norm instead, as Gulrajani et al. recommend, since
batch norm would make each sample's penalty depend on the others.

``wgan-gp`` trains the conv players on images by default (its image preset: ``arch: conv``,
``n_critic: 1``, 8,000 steps of two batches, 1,024 kimg). Its paper used conv nets there, and
they are much better: the MLP default (2,000 steps of six batches) scored LeNet FID 193.5 +- 1.3
(3 seeds, the 2026-12-01 reference leaderboard). One critic step per generator
step departs from the paper's five, for the CPU budget: at equal CPU time (one thread, about 7
minutes, seed 0, MNIST, FID at N = 10,000; measured on 2026-12-01 on an Intel Xeon, where conv
rounding differs from the project's AMD machine) 1,600 steps at n_critic 5 scored 172.2, 3,600
at n_critic 2 111.9 and 6,000 at n_critic 1 95.2 (class KL 0.03, recall 0.83); n_critic 5 needed
twice that time (3,200 steps) for 101.4. On the project's AMD machine (2026-12-01, seed 0):
6,000 steps on one thread 88.9 (class KL 0.020, recall 0.81, coverage 0.67), and the default
``ganzoo run --model wgan-gp`` (8,000 steps, two threads alone on the machine, 8 min 7 s with
``--eval-every 1000``) 81.1 (class KL 0.012, precision 0.45, recall 0.83, coverage 0.71); the
live FID at N = 1,000 was still falling (128 at 6,000 steps, 101 at 7,000, 97 at 8,000): the
step count is set by the 10-minute budget, not by convergence. Tried and not adopted (in a scratch copy, n_critic 5, on the
Xeon): a generator EMA of decay 0.999, whose live FID at N = 1,000 was worse at every point to
2,400 steps (214 against 204 at 1,600; our guess: G's batch norm statistics do not average). ``wgan`` keeps the MLP players on images: its clipped critic's
blur is the weakness its paper's successor fixed, and the MLP budgets below were measured with it.
``--set arch=mlp --set n_critic=5`` trains wgan-gp as its earlier default did.

Budget-driven changes, from a sweep of 2,000-step MNIST runs (lr 5e-5, 2e-4, 1e-3 for wgan;
1e-4 and 2e-4 for wgan-gp, with the MLP players): wgan-gp on images uses lr 2e-4 (at the paper's
1e-4 the digits were visibly noisier at 2,000 steps; the conv players kept it, not swept again); wgan at lr 5e-5 still showed uniform noise at 2,000
steps and at 1e-3 diverged, hence 2e-4. On 2-D mixtures both use width 128 and larger
learning rates. For wgan-gp on 2-D data we follow the authors' toy-data script (gan_toy.py,
"smaller lambda seems to help for toy tasks"): lambda 0.1 and Adam beta1 0.5. With the
paper's lambda 10 an 8,000-step ring8 run ended as one blob inside the ring (2 of 8 modes);
with lambda 0.1 (or 1) 4,000 steps put samples on all 8 modes.
"""

from __future__ import annotations

import ganzoo
from ganzoo.options import adam_options, arch_options, mlp_player_options


def _gan(G, D, optimizer, c: dict, **regularisers) -> ganzoo.GAN:
    from ganzoo.losses import d_wasserstein_loss, g_wasserstein_loss
    from ganzoo.objectives import AdversarialObjective

    objective = AdversarialObjective(
        G, D, c["latent_dim"], d_wasserstein_loss, g_wasserstein_loss, d_repeats=c["n_critic"], logits=False, **regularisers
    )
    return ganzoo.GAN(
        networks={"G": G, "D": D},
        optimizers={"G": optimizer(G.parameters()), "D": optimizer(D.parameters())},
        objective=objective,
        latent_dim=c["latent_dim"],
    )


def build_wgan(info: ganzoo.DatasetInfo, c: dict) -> ganzoo.GAN:
    import torch  # here, not at registration: `ganzoo models` never waits for it

    from ganzoo.convnets import players

    G, D = players(info, c, "wgan")  # the paper's DCGAN critic kept its batch norm
    return _gan(G, D, lambda params: torch.optim.RMSprop(params, lr=c["lr"]), c, clip=c["clip"])


def build_wgan_gp(info: ganzoo.DatasetInfo, c: dict) -> ganzoo.GAN:
    import torch

    from ganzoo.convnets import players

    # Never batch norm in this critic: the penalty is per sample, and batch norm couples the samples.
    G, D = players(info, c, "wgan-gp", d_norm="layer")
    betas = (c["beta1"], c["beta2"])
    return _gan(G, D, lambda params: torch.optim.Adam(params, lr=c["lr"], betas=betas), c, gp_weight=c["gp_weight"])


def _common(lr: float) -> dict[str, ganzoo.Param]:
    return {
        **mlp_player_options(),
        **arch_options("mlp"),
        "n_critic": ganzoo.Param(5, "critic steps per generator step", min=1, max=100),
        "lr": ganzoo.Param(lr, "learning rate (G and critic)", min=0.0),
    }


@ganzoo.hookimpl
def register_models(register):
    register(
        ganzoo.ModelSpec(
            name="wgan",
            summary="Wasserstein GAN (Arjovsky 2017): critic with weight clipping, RMSprop, 5 critic steps",
            build=build_wgan,
            config={**_common(2e-4), "clip": ganzoo.Param(0.01, "critic weights are clamped to [-clip, clip]", min=0.0)},
            presets={
                "image": {"steps": 2000, "batch_size": 64},
                "vector": {"steps": 3000, "batch_size": 256, "width": 128, "g_batchnorm": False, "lr": 5e-4},
            },
            # At 100 kimg (the 2026-11-27 reference leaderboard): FID 1617 and almost no confident digits, 4.7 of 8 ring8 modes at 0.4% high
            # quality; its default runs (768 kimg on MNIST, 4,608 on ring8) draw digit-like shapes and a ring through all 8 modes.
            min_kimg={"image": 768, "vector": 4608},
        )
    )
    register(
        ganzoo.ModelSpec(
            name="wgan-gp",
            summary="WGAN-GP (Gulrajani 2017): critic with gradient penalty 10, Adam betas (0, 0.9); conv, 1 critic step on images",
            build=build_wgan_gp,
            config={
                **_common(1e-4),
                **adam_options(lr=1e-4, beta1=0.0, beta2=0.9),
                "gp_weight": ganzoo.Param(10.0, "gradient penalty weight lambda", min=0.0),
            },
            presets={
                "image": {"steps": 8000, "batch_size": 64, "lr": 2e-4, "arch": "conv", "n_critic": 1},
                # lambda 0.1 and beta1 0.5 on 2-D data, as in the authors' own toy-data script (gan_toy.py).
                "vector": {"steps": 4000, "batch_size": 256, "width": 128, "g_batchnorm": False, "lr": 3e-4, "beta1": 0.5, "gp_weight": 0.1},
            },
            # At 100 kimg (the 2026-11-27 reference leaderboard, MNIST with the MLP players): all 10 MNIST classes (the conv
            # default at 128 kimg, 1,000 steps: 10 classes, live class KL 0.09), but 3.7 of 8 ring8 modes at 0.3% high quality;
            # at 2,048 kimg all 8 ring8 modes and 20 of 25 grid25 ones (benchmarks/leaderboard, 3 seeds).
            min_kimg={"image": 100, "vector": 2048},
        )
    )
