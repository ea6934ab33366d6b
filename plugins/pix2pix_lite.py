"""``pix2pix-lite``: image-to-image translation with a conditional GAN (Isola et al. 2017,
"Image-to-Image Translation with Conditional Adversarial Networks").

The generator maps an input image x to an output image G(x); the discriminator judges
(input, image) pairs patch by patch. G minimises the adversarial term plus an L1 term that
pulls G(x) towards the true target y, the paper's objective (its eq. 4)::

    D:  min  [ -log D(x, y) - log(1 - D(x, G(x))) ] / 2
    G:  min  -log D(x, G(x)) + lambda * |y - G(x)|_1          (lambda = 100)

The L1 term gets the low frequencies right (where the stroke is); the PatchGAN D, which
only sees local patches, penalises the blur that L1 alone gives.

Tasks that need no extra data: every pair is made from one real image, the batch's
``real``, which is the target; the input is derived from it by ``--set task=...``:

- ``inpaint``: a square of side ``hole`` (a fraction of the image side) at a random place in
  each image is set to grey (0 in the model range [-1, 1]); the rest is the target's.
- ``super-resolution``: the target average-pooled by ``factor`` (28x28 -> 7x7 for 4, 14x14
  for 2), shown to G upsampled back by pixel repetition, so input and output have one shape.
- ``colorize``: the target's luminance (ITU-R 601 weights) in all three channels; needs RGB
  images (``--dataset stacked-mnist`` or an RGB folder).

Where a mask falls is drawn from torch's RNG in training (which checkpoints save), and
from a seeded generator for pictures and ``ganzoo eval``, so held-out pairs are the same on
every evaluation. The model declares all this as a :class:`ganzoo.Translation`: the trainer's
pictures and ``ganzoo sample RUN`` show input | output | target triplets, and ``ganzoo eval
RUN`` scores its outputs on the held-out images (metric ``image-to-image``: L1 and PSNR of the
outputs and, as the baseline, of the inputs; FID of the outputs to their targets on digits).
It declares ``trains_on="train"``, so the trainer never draws those held-out images (20% of
each class): the scores are on images G has never seen.

D takes the (input, image) pair as one tensor, concatenated by channel, so the collapse
remedies every model has apply to it as to any discriminator (``pack=2`` judges two pairs at
once; ``diffaugment`` shifts and cuts the input and the image together, and changes their
colours each on its own by the same factors); ``mbstd`` is refused in one
line, since the PatchGAN has no final linear layer.

What "lite" leaves out: the paper's 8-level 256x256 U-Net with dropout as its noise (here
``depth`` levels, 2 by default for 28x28 digits, and no noise: G is deterministic, as the
paper found its noise mostly ignored), its 70x70 PatchGAN (here two strided convs and a
3x3 head: 7x7 patch logits on 28x28 images, each seeing about 18x18 pixels), instance
normalisation at test time, and its datasets (facades, maps, edges), which would need
downloads. The inputs are given with no mask channel: G finds the grey square itself.

Defaults: lambda 100, the D loss halved and Adam's beta1 0.5, as in the paper; Adam's learning
rate 1e-3 rather than its 2e-4, width 16 and 500 steps of 32 images, so that ``ganzoo run
--model pix2pix-lite --set task=inpaint`` (or ``super-resolution``) trains within 10 minutes
on one thread of a busy 2-core CPU: at 2e-4 G's outputs were still further from the targets
than the masked inputs after 100 steps (README, "Image-to-image").
"""

from __future__ import annotations

import ganzoo
from ganzoo.options import adam_options

TASKS = ("inpaint", "super-resolution", "colorize")


def build_pix2pix(info: ganzoo.DatasetInfo, c: dict) -> ganzoo.GAN:
    from ganzoo_plugins.pix2pix_lite_nets import build_pix2pix as build  # torch, imported when a model is built

    return build(info, c)


@ganzoo.hookimpl
def register_models(register):
    register(
        ganzoo.ModelSpec(
            name="pix2pix-lite",
            summary="Image-to-image cGAN (Isola et al. 2017): U-Net G, PatchGAN D, L1 + adversarial; --set task=inpaint|super-resolution|colorize",
            build=build_pix2pix,
            config={
                "task": ganzoo.Param("inpaint", "what G learns to undo: a hidden square, a downsampling, the colours", choices=TASKS),
                "hole": ganzoo.Param(0.5, "inpaint: side of the hidden square, as a fraction of the image side", min=0.05, max=1.0),
                "factor": ganzoo.Param(4, "super-resolution: downsampling factor (4: 28x28 from 7x7; 2: from 14x14)", choices=(2, 4)),
                "l1_weight": ganzoo.Param(100.0, "lambda, the weight of G's L1 term (the paper's 100; 0: adversarial alone)", min=0.0),
                "channels": ganzoo.Param(16, "feature maps of G's and D's first conv, doubled at each halving", min=1, max=4096),
                "depth": ganzoo.Param(2, "halvings in G's U-Net (the image side must divide by 2**depth)", min=1, max=8),
                **adam_options(lr=1e-3, beta1=0.5, beta2=0.999),
            },
            presets={"image": {"steps": 500, "batch_size": 32}},
            trains_on="train",  # ganzoo eval scores it on the held-out images: never train on them
            # After 100 steps (6.4 kimg: a D and a G batch of 32 per step) G's inpainting L1 already beat
            # the masked input's (0.13 against 0.23, README "Image-to-image"); the default is 32 kimg.
            min_kimg={"image": 6.4},
        )
    )
