"""``stylegan-lite``: a small style-based generator (Karras et al. 2019, "A Style-Based Generator
Architecture for GANs"; Karras et al. 2020, "Analyzing and Improving the Image Quality of
StyleGAN", i.e. StyleGAN2) at 32x32 by default; any square power-of-two size from 8 (``--set
data.size=64`` for your own pictures), 1 or 3 channels.

What "lite" keeps:

- a **mapping network** z -> w: pixel-normalised z through equalized-lr linear layers whose
  learning rate is scaled by 0.01 (the paper's ``lr_mul``), so w moves slowly;
- a **learned constant** 4x4 input; z enters only through the styles;
- **modulated convolutions with weight demodulation** (StyleGAN2): each layer's 3x3 weights
  are scaled per input channel by a style ``s = A(w)`` and then renormalised to unit norm per
  output channel, which replaces AdaIN and removes its droplet artefacts;
- **per-layer noise inputs** with a learned per-channel strength (initialised to zero);
- a **residual discriminator** with **minibatch standard deviation**, as in StyleGAN2;
- **style mixing regularisation**: with probability ``mixing_prob`` (0.9 in the paper) a
  training fake uses two latents z1, z2 and switches from w1 to w2 at a random crossover
  layer (drawn per sample), so that neighbouring layers' styles cannot rely on each other;
- the **non-saturating logistic loss** with **lazy R1**: the R1 penalty on real images is a
  separate phase on D that runs every ``r1_every`` (16) steps, its weight multiplied by 16
  so that its average strength matches R1 every step; D's Adam lr and betas are adjusted
  by ``c = 16/17`` as in the paper (section B of StyleGAN2);
- **equalized learning rate** everywhere, **generator EMA** (the core's ``GAN(ema_decay=...)``;
  samples come from the EMA generator) and the **truncation trick**: G tracks the mean w
  as a buffer (updated like batch-norm statistics: in training mode, from each batch's
  w of z1, ``w_avg <- lerp(mean w, w_avg, w_avg_beta)``; the styles read ``w - w_avg``, see
  below) and ``G(z, truncation=psi)`` uses ``w_avg + psi * (w - w_avg)``;
  ``ganzoo sample RUN --truncation 0.7`` uses it.

Noise at sampling: in training mode every noise input is fresh N(0, 1); in eval mode (all
sampling goes through ``GAN.sample``, which switches to eval) each layer uses one fixed noise
image stored as a buffer (``noise_const``, the "const" noise mode of NVlabs' generate.py).
Samples are therefore deterministic given z, and truncation 0 gives one image for every z.

Where it departs from StyleGAN2, and why. The paper's generator, built as described, collapsed
to one digit shape within a few hundred steps on the bundled digits under every learning
rate, R1 weight, batch size, channel count, augmentation and regulariser tried (about 60
runs over two sessions; ``benchmarks/stylegan_collapse.py`` reproduces them). The diagnosis:
the generator can turn down the part of each image that depends on z relative to a part
shared by every z, and at this budget it does so faster than the discriminator punishes it.
Two changes take those shared paths away; a third is for size:

- **the coarse layers' styles start with a small shared part.** Every style is an affine
  function of ``w - w_avg`` (a reparameterisation: the bias absorbs ``A(w_avg)``), so once
  ``w_avg`` has settled the bias is the style of the mean latent. (``w_avg`` starts at 0 and
  settles over the first few hundred steps, so early on the shared part is the bias plus
  ``A`` of the not-yet-tracked mean w; the runs below were made this way.) The paper
  initialises the bias at 1; then the generator can shrink the affine's weights until every
  z gets nearly the same style, and it did (the z-dependent spread of the styles fell from
  about 0.7 of their mean at initialisation to 0.3-0.45 by the collapse). Demodulation makes
  a conv ignore the overall scale of its style, so a style whose shared part is small cannot
  be turned down that way. The 4x4 and 8x8 convs, which
  lay out the digit, start with bias ``coarse_style_bias`` = 0.25; finer layers keep 1.
  (0 works as well against the collapse, but then truncation leaves those layers unchanged
  for psi > 0 and changes abruptly just above psi = 0; 0.25 keeps psi -> 0 gradual.) Without this
  change, the generator with the other two still fell to one or two classes by step 600-800.
- **one tRGB at 32x32 and nearest-neighbour upsampling** (StyleGAN1's topology without
  progressive growing) instead of StyleGAN2's skip outputs at every resolution with bilinear
  upsampling: with the skips, even a style-free version of this network fed z through a
  dense input collapsed, and with one tRGB and nearest upsampling it behaved like
  ProGAN-lite's generator. With the first change but the skips kept (bias 0, a 1-layer
  mapping), a run fell to one class around step 500 and recovered to 4-6 by step 1,600,
  against 9 without the skips.
- **a 2-layer mapping** (StyleGAN2-ADA's CIFAR-10 setting) instead of 8. A deeper random
  mapping concentrates w (4 layers: the participation ratio of its covariance falls from 124
  to 32 and its mean grows as large as its spread), and a 4-layer mapping made even
  ProGAN-lite's generator collapse; with the two changes above, though, a 4-layer mapping
  also kept 10 classes to step 1,600, so this one is for size rather than stability.

What the default run gives is in the README ("Models"): digit-like strokes, most of them
recognisable, all ten classes but unevenly drawn (class KL 0.27 at N = 10,000, seed 0); the reference
leaderboard in ``benchmarks/leaderboard/`` has the 2,700-step default over 3 seeds (FID 390.4 ± 14).
Single runs differ a lot: the same seed with a 1-layer mapping drew mostly 0s and 8s.

What it leaves out: progressive growing (StyleGAN1; StyleGAN2 drops it too), path length
regularisation of G, lazy G regularisation, the FIR blur filters (nearest-neighbour
upsampling and average pooling instead), StyleGAN2's skip generator (above), the 8-layer
512-wide mapping (2 layers, 128 wide here), conditioning, mixed precision, and ADA
augmentation.

Widths: ``capacity=cpu`` (the default) has 32 channels up to 16 px, halved at each doubling
above (16 at 32 px, 8 at 64 px); ``capacity=gpu`` has StyleGAN2-ADA's (``channel_base`` 16384,
``channel_max`` 512: 512 up to 32 px, 256 at 64 px). ``--set channels=N`` scales either
schedule (N at the coarse resolutions, the same halving above).

Defaults and why (for the bundled 5,000 MNIST digits at 32x32 on 2 CPU cores):
``capacity=cpu``, i.e. 32 channels at 4-16 px and 16 at 32 px, ``latent_dim`` = ``w_dim`` = 128, batch 32,
2,700 steps, trained ``channels_last`` (the image preset's ``memory_format``; ``--memory-format
contiguous`` trains NCHW): 8 min 5 s wall (7 min 59 s of training) with torch's default two
threads, alone on the 2-core machine on 2026-12-01 (the 32x32 convolutions dominate; 64 channels
runs 2.4 times slower). That run scored LeNet FID 417.1 at N = 10,000, class KL 0.27, 10 classes
(seed 0). The default was 1,600 steps, then 2,400 (NCHW), because the reference bench's live
curves showed FID still falling steeply at the end of all three seeds: those runs resumed to 2,400
steps scored 465.4, 421.2, 428.3 (seeds 0, 1, 2) against 528.1, 580.7 and 634.7 at 1,600, and
resumed to 3,200 steps 349.9, 370.4 and 262.9. Then channels_last made steps 1.13x faster
(``benchmarks/roofline.py --threads 2 --levers channels_last``, the same run), and the default
grew to 2,700 steps. Timings on this shared machine vary from one run to the next: 2,400 NCHW
steps took 9 min 6 s of training on 2026-11-30, while the channels_last run above reached step
2,400 after 6 min 56 s (1.31x, of which channels_last accounts for 1.13x); at the earlier run's
speed, with channels_last, the 2,700 steps would take about 9 minutes. ``d_steps`` (D steps per G step) is 1 as in the paper. Adam(2e-3, betas (0, 0.99)) for G and D as in StyleGAN2, with D's lr
and betas adjusted for lazy R1 as in its appendix B.
``r1_gamma`` 0.1: StyleGAN2-ADA uses 0.01-0.05 for low-resolution data; 1.0 and 10 did not
help here. ``mbstd_group`` 32 (the whole batch), as in StyleGAN2-ADA's CIFAR configuration.
``ema_decay`` 0.999 (the core ramps it up). ``mixing_prob`` 0.9 and ``r1_every`` 16 are the
paper's. ``--set coarse_style_bias=1`` restores the paper's initial style bias (the affines
still read ``w - w_avg``; with bias 1 the runs here collapsed); ``--set mapping_depth=8`` its
mapping depth. ``w_avg_beta`` matters for training too: the styles read ``w - w_avg``.
"""

from __future__ import annotations

import ganzoo
from ganzoo.options import Widths, capacity_options

# Channel schedules: cpu is sized for minutes on 2 cores (the finest layers cost the most);
# gpu is StyleGAN2-ADA's (channel_base 16384, channel_max 512: 512 up to 32 px, 256 at 64, ...).
WIDTHS = {"cpu": Widths(32, 16, 1), "gpu": Widths(512, 32, 16)}

# The networks live in stylegan_lite_nets, which imports torch: this module registers the model
# without it. These names, once defined here, still import from here.
_NETS = ("COARSE", "lrelu", "resolutions_up_to", "MappingNetwork", "ModulatedConv2d", "StyledConv", "ToRGB", "mix_styles",
         "draw_crossover", "StyleGenerator", "ResidualBlock", "StyleDiscriminator", "StyleGANObjective")


def __getattr__(name: str):
    if name in _NETS:
        from ganzoo_plugins import stylegan_lite_nets

        return getattr(stylegan_lite_nets, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_stylegan_lite(info: ganzoo.DatasetInfo, c: dict) -> ganzoo.GAN:
    from ganzoo_plugins.stylegan_lite_nets import build_stylegan_lite as build  # torch, imported when a model is built

    return build(info, c, WIDTHS)


@ganzoo.hookimpl
def register_models(register):
    register(
        ganzoo.ModelSpec(
            name="stylegan-lite",
            summary="StyleGAN2-lite (Karras 2019/2020) at 32x32 or 64x64: mapping net, modulated convs, noise, style mixing, lazy R1, truncation",
            build=build_stylegan_lite,
            config={
                "latent_dim": ganzoo.Param(128, "size of z", min=1, max=4096),
                "w_dim": ganzoo.Param(128, "size of w (the mapping network's width)", min=1, max=4096),
                "mapping_depth": ganzoo.Param(2, "layers in the mapping network", min=1, max=16),
                "coarse_style_bias": ganzoo.Param(0.25, "initial bias of the 4-8 px layers' style affines (the paper's is 1)"),
                **capacity_options(WIDTHS),
                "g_lr": ganzoo.Param(2e-3, "G's Adam learning rate", min=0.0),
                "d_lr": ganzoo.Param(2e-3, "D's Adam learning rate (scaled by r1_every/(r1_every+1) for lazy R1)", min=0.0),
                "beta1": ganzoo.Param(0.0, "Adam beta1", min=0.0, max=1.0),
                "beta2": ganzoo.Param(0.99, "Adam beta2", min=0.0, max=1.0),
                "r1_gamma": ganzoo.Param(0.1, "R1 weight gamma (the penalty is gamma/2 * E||grad D(x)||^2)", min=0.0),
                "r1_every": ganzoo.Param(16, "run the R1 phase every this many steps (lazy regularisation)", min=1, max=1000),
                "d_steps": ganzoo.Param(1, "D steps per G step", min=1, max=100),
                "mixing_prob": ganzoo.Param(0.9, "probability that a training fake mixes the styles of two latents", min=0.0, max=1.0),
                "mbstd_group": ganzoo.Param(32, "minibatch stddev group size in D (capped at the batch size)", min=1, max=1024),
                "ema_decay": ganzoo.Param(0.999, "decay of the generator's EMA (0: off)", min=0.0, max=0.9999),
                "w_avg_beta": ganzoo.Param(0.995, "decay of the running mean of w that the styles are centred on and truncation pulls towards", min=0.0, max=0.9999),
            },
            presets={"image": {"steps": 2700, "batch_size": 32, "data.size": 32, "memory_format": "channels_last"}},
            # At 100 kimg, after the collapse fix: 10 of 10 classes, FID 630 (the 2026-11-27 reference leaderboard's stylegan-lite rerun).
            min_kimg={"image": 100},
        )
    )
