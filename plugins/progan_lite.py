"""``progan-lite``: progressive growing of GANs (Karras, Aila, Laine & Lehtinen 2018,
"Progressive Growing of GANs for Improved Quality, Stability, and Variation").

Generator and critic start at 4x4 and grow by doubling to the data's size (4 -> 8 -> 16 ->
32 on MNIST padded to 32; on to 64 with ``--set data.size=64``, 1 or 3 channels). Each new resolution is faded in: for ``fade_steps`` steps the
output is ``lerp(upsample(toRGB_old(h)), toRGB_new(block_new(h)), alpha)`` with ``alpha``
rising linearly from 0 to 1 (and mirrored in the critic: the new fromRGB/block path is
blended with the old fromRGB on the average-pooled image), then the networks stabilise for
``stable_steps`` before the next doubling. Real images are shown to the critic at the
current resolution, faded between the two resolutions with the same alpha.

The schedule is a pure function of the training step (:func:`schedule`); the objective sets
it on G and D at every phase and both keep it in buffers (``stage``, ``alpha``), so
checkpoints and the EMA generator carry it, a loaded run samples at the stage it reached,
and a run resumed mid-fade continues with the same resolution and alpha. G always returns
images at the data's full size (its current stage nearest-upsampled), so sample grids and
``ganzoo sample`` work at any stage.

What "lite" keeps: progressive growing with continuous fade-in, faded reals, pixel norm
after every generator convolution (and on z), equalized learning rate in every layer
(:mod:`ganzoo.nn`), minibatch standard deviation before the critic's last block, the
WGAN-GP loss (lambda 10) with the drift term (epsilon 0.001), Adam(lr 1e-3, betas (0, 0.99)),
and an EMA of the generator for sampling (decay 0.999).

Widths: ``capacity=cpu`` (the default) has 32 channels at 4x4 and 8x8, halved at each doubling
above (16 at 16x16, 8 at 32x32 and 64x64); ``capacity=gpu`` has the paper's, 512 up to 32x32,
halved above (256 at 64x64). ``--set channels=N`` scales either schedule (N at the coarse
resolutions, the same halving above).

What it leaves out: 1024x1024 images (64x64 here at most in the tests); the paper's 800k images per
phase (here 250 steps of 32 images per fade and per stabilisation); batch sizes that shrink
with the resolution; the label conditioning of its CIFAR experiments; and its evaluation
machinery (sliced Wasserstein distance, MS-SSIM).

Default hyperparameters and why: the paper's losses, optimiser and EMA as above. One change:
**two critic steps per generator step** (the paper uses one; ``--set n_critic=1`` restores
it). With one, our small networks oscillated: at 4x4 the critic scored the fakes above the
reals on half the steps, and G's mean 4x4 image swung 0.66, 1.06, 0.66, 0.29 away from the
real one (mean absolute error per pixel, every 100 steps), while with two critic steps it
settled at 0.48, 0.22, 0.05, 0.07; in a 4 -> 8 -> 16 trial only two critic steps gave varied digit shapes.
Latent size 128 (the paper uses 512; a 32x32 digit needs far less). Batch size 32. The
schedule (4x4 for 250 steps, then each doubling fades in over 250 and stabilises for 250,
reaching 32x32 at step 1,500, 3,000 steps in all: 1,500 of them at 32x32) is sized for the
10-minute CPU budget: a step at 32x32 costs about six steps at 8x8. Trained ``channels_last``
(the image preset's ``memory_format``; ``--memory-format contiguous`` trains NCHW), which made
its 32x32 steps 1.17x faster (``benchmarks/roofline.py --threads 2 --levers channels_last``).
Timed alone on the 2-core machine on 2026-12-01 with torch's two threads: a 2,500-step NCHW run
took 8 min 14 s wall (8 min 1 s of training; FID 426.3, class KL 0.25); the 3,000-step
channels_last default took 6 min 30 s wall (6 min 25 s of training), and runs of 2,800 and 3,200
steps 6 min 53 s and 9 min 21 s, the second reaching step 3,000 after 8 min 35 s of training (its
32x32 steps ran 1.3x slower than the first's: this shared machine's speed varies from run to
run). The 3,000-step default run (seed 0) scored LeNet FID 374.7 at
N = 10,000, class KL 0.21, 10 classes. The default was 2,000 steps, then 2,500, because the
reference bench's live curves showed FID still falling steeply at its end: those runs resumed to
2,500 steps scored 425.5, 421.0 and 375.2 (seeds 0, 1, 2) against 502.7, 581.1 and 492.7 at 2,000.
At 64x64 the same schedule fades 64x64 in at steps 1,750-2,000 and stabilises there for the
last 1,000.
"""

from __future__ import annotations

import ganzoo
from ganzoo.options import Widths, adam_options, capacity_options

# Channel schedules: cpu is sized for the 10-minute CPU budget; gpu is the paper's
# (512 feature maps up to 32x32, halved at each doubling above: 256 at 64x64, 128 at 128x128).
WIDTHS = {"cpu": Widths(32, 8, 8), "gpu": Widths(512, 32, 16)}

# The networks live in progan_lite_nets, which imports torch: this module registers the model
# without it. These names, once defined here, still import from here.
_NETS = ("FIRST_RESOLUTION", "schedule", "fade_reals", "n_stages_for", "check_image_shape",
         "ProGenerator", "ProDiscriminator", "ProGANObjective")


def __getattr__(name: str):
    if name in _NETS:
        from ganzoo_plugins import progan_lite_nets

        return getattr(progan_lite_nets, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_progan_lite(info: ganzoo.DatasetInfo, c: dict) -> ganzoo.GAN:
    from ganzoo_plugins.progan_lite_nets import build_progan_lite as build  # torch, imported when a model is built

    return build(info, c, WIDTHS)


@ganzoo.hookimpl
def register_models(register):
    register(
        ganzoo.ModelSpec(
            name="progan-lite",
            summary="Progressive GAN (Karras 2018): grows from 4x4 to the data size with fade-in, equalized lr, pixel norm, mbstd, WGAN-GP + drift, EMA",
            build=build_progan_lite,
            config={
                "latent_dim": ganzoo.Param(128, "size of z", min=1, max=65536),
                **capacity_options(WIDTHS),
                "stable_steps": ganzoo.Param(250, "steps at each resolution after its fade-in (and at 4x4 first)", min=0),
                "fade_steps": ganzoo.Param(250, "steps over which each new resolution fades in", min=1),
                "gp_weight": ganzoo.Param(10.0, "gradient penalty weight lambda", min=0.0),
                "drift_weight": ganzoo.Param(0.001, "drift penalty epsilon on E[D(x)^2]", min=0.0),
                "n_critic": ganzoo.Param(2, "critic steps per generator step", min=1, max=100),
                "mbstd_group": ganzoo.Param(4, "group size of the minibatch standard deviation", min=1, max=1024),
                **adam_options(lr=1e-3, beta1=0.0, beta2=0.99),
                "ema_decay": ganzoo.Param(0.999, "decay of the generator's EMA used for sampling (0: off)", min=0.0, max=0.9999),
            },
            presets={"image": {"steps": 3000, "batch_size": 32, "data.size": 32, "memory_format": "channels_last"}},
            # 32x32 from step 1,500 of three batches of 32 (144 kimg); at 100 kimg it still draws 16x16 (the 2026-11-27 reference leaderboard).
            min_kimg={"image": 144},
        )
    )
