"""``r3gan-lite``: the modern GAN baseline of Huang, Gokaslan, Kuleshov & Tompkin, "The GAN is
dead; long live the GAN! A Modern GAN Baseline" (NeurIPS 2024), R3GAN for short.

The paper's argument is that a well-behaved loss lets a GAN drop StyleGAN's bag of tricks.
Its recipe, and what this file takes from it:

- **the relativistic pairing loss (RpGAN)** with **zero-centred R1 and R2 penalties**: each
  real ``x`` is paired with one fake ``G(z)`` and D minimises
  ``softplus(-(D(x) - D(G(z)))) + gamma/2 * (||grad_x D(x)||^2 + ||grad_y D(y)||^2 at y = G(z))``,
  G minimises ``softplus(-(D(G(z)) - D(x)))`` (:func:`ganzoo.losses.d_relativistic_loss`,
  :func:`ganzoo.losses.g_relativistic_loss`). R1 penalises D's gradient on the reals, R2 the
  same on the fakes; R2 is :func:`ganzoo.penalties.r1_penalty` evaluated on fakes. Both run
  **every D step** (no lazy regularisation), in D's one phase, as in the reference code;
- **a ResNet with ResNeXt-style blocks and no normalisation**: each block is a 1x1 conv to
  ``expansion`` times the width, a 3x3 **grouped** conv (``group_width`` channels per group),
  a 1x1 conv back, LeakyReLU(0.2) after the first two, added to the identity path.
  **Fix-up style initialisation**: the first two convs start with He init scaled by
  ``L ** -1/4`` (L = blocks in the network, 3 layers per block: the reference's
  ``VarianceScalingParameter ** (-1 / (2 * 3 - 2))``), the **last conv of every block starts
  at zero**, so each block starts as its identity and the network as a plain chain of
  resampling and 1x1 transitions;
- **bilinear resampling** (the reference's [1, 2, 1] filter, which is the [1, 3, 3, 1]
  kernel: bilinear interpolation up, its adjoint as a low-pass 2x decimation down); width
  changes by 1x1 convs before upsampling in G and after downsampling in D;
- G starts from a **learned 4x4 basis** modulated per channel by a linear map of z (the
  reference's ``GenerativeBasis``) and ends with a 1x1 conv to pixels, no tanh; D starts with
  a 1x1 conv from pixels and ends with a per-channel 4x4 (depthwise) conv and a linear map to
  one logit, no output bias (RpGAN only sees differences of logits, so a bias would never move);
- **Adam with beta1 = 0**, plain PyTorch layers: no equalized learning rate, no mapping
  network, no style modulation, no noise inputs, no minibatch stddev, no path-length
  regularisation, no mixed-precision tricks; **an EMA of G** for sampling.

The reference's CIFAR-10 configuration (``train.py --preset CIFAR10`` in brownvc/R3GAN):
4 stages (4, 8, 16, 32 px) of 768 channels, 2 blocks per stage, expansion 2, 96 groups per
grouped conv (16 channels each), z of 64 numbers, batch 512, Adam betas (0, beta2), and four
cosine schedules over 20 M images: lr 2e-4 -> 5e-5, beta2 0.9 -> 0.99, gamma 0.05 -> 0.005,
EMA half-life 0 -> 5 M images; plus ADA-style augmentation whose probability rises 0 -> 0.55
(and x-flips of the dataset). Class-conditional there; unconditional here.

What "lite" changes, for a 10-minute run on 2 CPU cores:

- widths of ``channels`` (default 32) up to 16 px and half of it above (the 32 px stage
  costs the most), one block per stage instead of two, batch 32 instead of 512;
- **constant** betas and gamma at the schedules' starting values (betas (0, 0.9), gamma
  0.05), since a run of a few thousand steps is far from the 20 M images the schedules span;
  the core's EMA (decay ``ema_decay``, ramped up by the core) in place of the half-life
  schedule;
- **lr 1e-3** for G and D instead of 2e-4. On the bundled digits (seed 0, everything else
  default) the paper's 2e-4 still drew only soft blobs at steps 200, 400 and 500, with D far
  ahead (mean ``D(x) - D(G(z))`` 5.8 at step 500); gamma 1 instead of 0.05 at 2e-4 gave the same
  blobs at step 200. At 1e-3 the step-200 samples already had stroke-like curves (D still
  ahead, 4.9 at step 250), and by step 400 varied thin digit-like strokes (1, 2, 5, 0, 6, 9
  among them; ``ganzoo run --model r3gan-lite --steps 400 --set g_lr=1e-3 --set d_lr=1e-3
  --sample-every 200``, before 1e-3 became the default). A likely reason: with the blocks'
  last convs at zero, G starts as smooth bilinear blobs whose detail must grow from zero,
  which 2e-4 does slowly. Only these short runs back the choice; ``--set g_lr=2e-4 --set
  d_lr=2e-4`` restores the paper's. At 1e-3 the default run collapses in part (the reference
  bench: 8, 8 and 10 classes, class KL 0.49-0.66, recall 0.005-0.03); two probes at the full
  1,600 steps (seed 0, one thread, 2026-12-01) did not mend it: lr 5e-4 for both scored LeNet FID
  890 with 6 classes (class KL 1.04), ``gamma`` 1 scored 596.3 with 10 classes but class KL 0.94,
  against 595.3 and 0.66 with the defaults;
- no augmentation (digits are not flip- or rotation-invariant, and a short run does not
  overfit 5,000 digits), no conditioning, no fp16 stages;
- any square side ``r * 2**k`` with ``r`` in 4..7 (the networks start and end at ``r``
  pixels), so 28 (7 -> 14 -> 28), 32 and 64 all work; MNIST's preset pads it to 32 as the
  other conv models do.

Defaults and their cost (the bundled 5,000 MNIST digits padded to 32x32): ``channels`` 32
(16 at 32 px), one block per stage, ``group_width`` 16 (the paper's), z of 64, batch 32,
1,600 steps. D's phase costs about 2.5 times G's: two forwards and, for R1 and R2, a double
backward every step. Resampling is done by shifted slices of the separable filter rather than
a one-channel convolution over every (sample, channel) image, which made whole steps 1.41x
faster on one thread (old and new alternated in one process: 692-731 against 486-511 ms a
step, load about 3); before that change a step cost 3.0 stylegan-lite steps
(``benchmarks/roofline.py``, same run: 1,616 against 540 ms), so about 2.1 now.
Timed alone on the quiet 2-core machine (torch's two threads, 2026-12-01): ``ganzoo run
--model r3gan-lite --steps 400`` took 2 min 8 s (120.7 s of training, the same every 50
steps to a second), so the 1,600-step default takes about 8 minutes. ``channels_last`` barely
helps it (steps 0.97 of their time, ``roofline.py --levers channels_last``; grouped 3x3 convs),
so its preset keeps NCHW.
The paper's two blocks per stage (``--set blocks=2``) cost 1.77 times one block (measured before
that change).
``channels`` 16 with ``group_width`` 8 is about as cheap as stylegan-lite but collapsed: one
default-length run (seed 0, live evaluation at N = 1,000) covered 5 to 7 classes at steps 400-1,200
(class KL 0.8-1.8, FID 900-990), so it is not the default.
"""

from __future__ import annotations

import ganzoo

# The networks live in r3gan_lite_nets, which imports torch: this module registers the model
# without it. These names, once defined here, still import from here.
_NETS = ("he_init_", "conv", "ResidualBlock", "upsample", "downsample", "sides", "stage_widths", "GenerativeBasis",
         "DiscriminativeBasis", "Generator", "Discriminator", "R3GANObjective", "check_image_shape", "LRELU_GAIN",
         "BASE_SIDES")


def __getattr__(name: str):
    if name in _NETS:
        from ganzoo_plugins import r3gan_lite_nets

        return getattr(r3gan_lite_nets, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_r3gan_lite(info: ganzoo.DatasetInfo, c: dict) -> ganzoo.GAN:
    from ganzoo_plugins.r3gan_lite_nets import build_r3gan_lite as build  # torch, imported when a model is built

    return build(info, c)


@ganzoo.hookimpl
def register_models(register):
    register(
        ganzoo.ModelSpec(
            name="r3gan-lite",
            summary="R3GAN (Huang et al. 2024): RpGAN loss with R1 + R2, ResNeXt-style G and D without normalisation, Adam beta1 0, EMA",
            build=build_r3gan_lite,
            config={
                "latent_dim": ganzoo.Param(64, "size of z (the paper's 64)", min=1, max=65536),
                "channels": ganzoo.Param(32, "width of the stages up to 16 px, halved at each doubling above", min=1, max=4096),
                "blocks": ganzoo.Param(1, "residual blocks per stage (the paper's CIFAR-10 config: 2)", min=1, max=64),
                "expansion": ganzoo.Param(2, "width multiplier inside a residual block", min=1, max=16),
                "group_width": ganzoo.Param(16, "channels per group of each block's 3x3 grouped conv (must divide each stage's channels * expansion; a narrower stage is one group)", min=1, max=4096),
                "gamma": ganzoo.Param(0.05, "R1 and R2 weight gamma (the D loss adds gamma/2 * (R1 + R2))", min=0.0),
                "g_lr": ganzoo.Param(1e-3, "G's Adam learning rate (the paper's starts at 2e-4; see the docstring)", min=0.0),
                "d_lr": ganzoo.Param(1e-3, "D's Adam learning rate (the paper's starts at 2e-4)", min=0.0),
                "beta1": ganzoo.Param(0.0, "Adam beta1", min=0.0, max=1.0),
                "beta2": ganzoo.Param(0.9, "Adam beta2", min=0.0, max=1.0),
                "ema_decay": ganzoo.Param(0.999, "decay of the generator's EMA used for sampling (0: off)", min=0.0, max=0.9999),
            },
            presets={"image": {"steps": 1600, "batch_size": 32, "data.size": 32}},
            # Its default MNIST run (1,600 steps of two batches of 32: 102.4 kimg) draws clean, if few, digit shapes.
            min_kimg={"image": 100},
        )
    )
