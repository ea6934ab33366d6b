"""ganzoo's built-in metrics, registered through the same ``register_metrics`` hook a third-party plugin uses.

| name               | data                     | numbers |
|--------------------|--------------------------|---------|
| fid                | 1-channel digit images   | fid, fid_floor, fid_at_floor_n (MNIST feature network) |
| is                 | 1-channel digit images   | is, is_std |
| kid                | 1-channel digit images   | kid, kid_std |
| precision-recall   | 1-channel digit images   | precision, recall (k = 3) |
| density-coverage   | 1-channel digit images   | density, coverage (k = 5) |
| classes            | 10-class digit images    | classes covered, class_kl, confident share, per-class counts |
| stacked-modes      | 3-channel stacked digits | modes (of 1000), kl, confident share |
| mixture-modes      | 2-D mixtures             | modes, hq, reverse_kl |
| mixture-prdc       | 2-D mixtures             | precision, recall, density, coverage in data space |
| inception          | RGB, or grey non-digits  | fid (with floor), is, kid, precision/recall, density/coverage with Inception-v3 (weights on disk) |
| image-to-image     | an image-to-image run    | l1, psnr of the outputs vs their targets, the same for the inputs (the baseline), fid_targets on digits |
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ganzoo

if TYPE_CHECKING:
    import torch

    from .context import EvalContext

# Registering these metrics (``ganzoo metrics``) imports no torch: each compute function imports
# the feature networks and the statistics it needs (fidelity, modes, prdc) when it runs.


def _digits(info) -> str | None:
    if info.shape[0] != 1:
        return f"the MNIST feature network reads 1-channel images; {info.name} has {info.shape[0]}"
    # A dataset says what its pictures show (DatasetInfo.extra["images_of"]; digits when it does not
    # say, as every run before it could): a digit classifier's features and classes mean nothing on clothes.
    shows = info.extra.get("images_of", "digits") if isinstance(info.extra, dict) else "digits"
    if shows != "digits":
        return f"the MNIST feature network was trained on digits; {info.name} holds {shows} (it needs a feature network for them)"
    return None


def _digit_classes(info) -> str | None:
    return _digits(info) or (None if info.num_classes == 10 else f"needs 10 digit classes; {info.name} has {info.num_classes}")


def _stacked(info) -> str | None:
    if info.shape[0] != 3 or info.num_classes != 1000:
        return f"needs 3-channel stacked digits with 1000 modes; {info.name} is {info.shape} with {info.num_classes} classes"
    return None


def _mixture(info) -> str | None:
    return None if info.centres and info.std else f"needs a mixture with known mode centres and std; {info.name} has none"


def _inception_data(info) -> str | None:
    if info.shape[0] == 3:
        return None
    if info.shape[0] == 1 and _digits(info):  # grey pictures that are not digits (clothes, your own): repeated to RGB
        return None
    if info.shape[0] == 1:
        return f"{info.name} holds digits, which the MNIST feature network evaluates (Inception-v3 is for RGB and other pictures)"
    return f"Inception-v3 reads RGB or grey images; {info.name} has {info.shape[0]} channels"


def _lenet_pair(ctx: EvalContext) -> tuple[torch.Tensor, torch.Tensor]:
    from .featurenet import lenet_net

    net = lenet_net()
    ctx.note(**net.protocol())
    return ctx.features(net, "fake")["features"], ctx.features(net, "real")["features"]


def _fid_floor(ctx: EvalContext, net, layer: str, fake: torch.Tensor, real: torch.Tensor) -> dict[str, float]:
    """The floor: held-out real images scored like a generator would be, against the same
    reference. FID is biased by N, so the generator is also scored at the floor's N."""
    from . import fidelity

    if ctx.heldout is None:
        return {}
    n = min(len(ctx.heldout), len(fake))
    if n < 2:  # a covariance needs two samples
        ctx.note(fid_floor_skipped=f"needs at least 2 held-out and 2 generated samples; got {len(ctx.heldout)} and {len(fake)}")
        return {}
    held = ctx.features(net, "heldout")[layer]
    ctx.note(fid_floor_n=n)
    return {"fid_floor": fidelity.fid(held[:n], real), "fid_at_floor_n": fidelity.fid(fake[:n], real)}


def compute_fid(ctx: EvalContext) -> dict[str, float]:
    from . import fidelity
    from .featurenet import lenet_net

    fake, real = _lenet_pair(ctx)
    out = {"fid": fidelity.fid(fake, real)}
    if ctx.live:  # the rest are declared not live: eleven more Frechet distances a live point would throw away
        return out
    # FID falls with N as about a + b/N: the intercept of that line compares models evaluated at different N.
    out["fid_inf"], points = fidelity.fid_infinity(fake, real, ctx.seed)
    ctx.note(fid_inf_fit=points)
    out.update(_fid_floor(ctx, lenet_net(), "features", fake, real))
    return out


def compute_is(ctx: EvalContext) -> dict[str, float]:
    from . import fidelity
    from .featurenet import lenet_net

    net = lenet_net()
    ctx.note(**net.protocol(), is_splits=fidelity.IS_SPLITS)
    return fidelity.inception_score(ctx.features(net, "fake")["logits"])


def compute_kid(ctx: EvalContext) -> dict[str, float]:
    from . import fidelity
    from .featurenet import lenet_net

    fake, real = _lenet_pair(ctx)
    size = fidelity.kid_subset_size(len(fake), len(real))
    ctx.note(kid_subsets=fidelity.KID_SUBSETS, kid_subset_size=size)
    if not ctx.share:
        return fidelity.kid(fake, real)
    # The reference subsets depend on N generated too (both are drawn from one random stream).
    key = ("kid reference sums", len(fake), size, fidelity.KID_SUBSETS)
    return fidelity.kid_shared(fake, real, lambda compute: ctx.shared(key, compute, real=(lenet_net().name, "real")))


PRECISION_RECALL = "precision-recall"  # the metric's name: density/coverage's pass asks whether it runs too


def _neighbours(ctx: EvalContext, space: str, fake: torch.Tensor, real: torch.Tensor, real_net: str | None, recall: bool):
    """The k-NN balls precision/recall and density/coverage share in ``space`` (``None`` without sharing);
    the reference radii are kept for the process, keyed by the real features of ``real_net`` (None: the samples).
    ``recall``: precision/recall will ask too, so its first pass also decides recall."""
    from . import prdc

    if not ctx.share or len(real) <= max(k for k, _ in prdc.BOTH_BALLS):
        return None  # too few reference points for both balls: each metric alone, skipping with its own reason
    # Recall needs a k-th neighbour among the generated points: with too few, precision/recall skips
    # with its own reason, and density/coverage's pass must not try to decide it.
    recall_k = prdc.PR_K if recall and len(fake) > prdc.PR_K else None
    radii = ctx.shared(("radii", space), lambda: prdc.neighbour_radii(real, [k for k, _ in prdc.BOTH_BALLS]), real=(real_net, "real"))
    return ctx.shared(("neighbours", space, "fake"), lambda: prdc.Neighbours(fake, real, prdc.BOTH_BALLS, real_radii=radii, recall_k=recall_k))


def compute_pr(ctx: EvalContext) -> dict[str, float]:
    from . import prdc
    from .featurenet import lenet_net

    fake, real = _lenet_pair(ctx)
    ctx.note(pr_k=prdc.PR_K)
    return prdc.precision_recall(fake, real, shared=_neighbours(ctx, "lenet", fake, real, lenet_net().name, recall=True))


def compute_dc(ctx: EvalContext) -> dict[str, float]:
    from . import prdc
    from .featurenet import lenet_net

    fake, real = _lenet_pair(ctx)
    ctx.note(dc_k=prdc.DC_K)
    return prdc.density_coverage(fake, real, shared=_neighbours(ctx, "lenet", fake, real, lenet_net().name, recall=PRECISION_RECALL in ctx.running))


def compute_classes(ctx: EvalContext) -> dict[str, float]:
    from . import modes
    from .featurenet import lenet_net

    net = lenet_net()
    ctx.note(**net.protocol(), class_confidence=modes.CONFIDENCE)
    return modes.class_coverage(ctx.features(net, "fake")["logits"], 10)


def compute_stacked(ctx: EvalContext) -> dict[str, float]:
    from . import modes
    from .extractor import extract
    from .featurenet import lenet_net

    net = lenet_net()
    ctx.note(**net.protocol(), class_confidence=modes.CONFIDENCE)
    images = ctx.uint8("fake")
    logits = [extract(images[:, c : c + 1].contiguous(), net.name, ["logits"], ctx.device)["logits"] for c in range(images.shape[1])]
    return modes.triple_coverage(logits)


def compute_mixture_modes(ctx: EvalContext) -> dict[str, float]:
    import torch

    from . import modes

    ctx.note(hq_stds=modes.HQ_STDS)
    return modes.mixture_modes(ctx.fake, torch.tensor(ctx.info.centres), ctx.info.std)


def compute_mixture_prdc(ctx: EvalContext) -> dict[str, float]:
    from . import prdc

    fake, real = ctx.samples("fake").flatten(1), ctx.samples("real").flatten(1)
    ctx.note(pr_k=prdc.PR_K, dc_k=prdc.DC_K)
    shared = _neighbours(ctx, "data", fake, real, None, recall=True)
    return {**prdc.precision_recall(fake, real, shared=shared), **prdc.density_coverage(fake, real, shared=shared)}


def compute_inception(ctx: EvalContext) -> dict[str, float]:
    from . import fidelity, prdc
    from .context import MetricSkipped
    from .inception import FID_LAYER, IS_LAYER, inception_net

    net = inception_net(ctx.inception_weights, ctx.download_weights)
    ctx.note(inception_network=net.name, inception_weights_sha256=net.weights_sha256)
    fake, real = ctx.features(net, "fake"), ctx.features(net, "real")
    out = {"fid": fidelity.fid(fake[FID_LAYER], real[FID_LAYER])}
    out.update(fidelity.inception_score(fake[IS_LAYER]))
    if min(len(fake[FID_LAYER]), len(real[FID_LAYER])) >= 2:
        out.update(fidelity.kid(fake[FID_LAYER], real[FID_LAYER]))
    out.update(_fid_floor(ctx, net, FID_LAYER, fake[FID_LAYER], real[FID_LAYER]))
    # Precision/recall and density/coverage in Inception's 2048-d pool features (Kynkaanniemi 2019,
    # Naeem 2020 use the same space); too few samples for k neighbours skips those numbers alone.
    for part, k, compute in (("precision_recall", prdc.PR_K, prdc.precision_recall), ("density_coverage", prdc.DC_K, prdc.density_coverage)):
        try:
            out.update(compute(fake[FID_LAYER], real[FID_LAYER]))
            ctx.note(**{f"inception_{part}_k": k})
        except MetricSkipped as reason:
            ctx.note(**{f"inception_{part}_skipped": str(reason)})
    return out


# Identical images have infinite PSNR; each image's PSNR is capped here so that a mean over
# images stays a number (and JSON, which has no infinity, keeps it).
PSNR_CAP_DB = 100.0


def psnr(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Each image's PSNR in dB, pixels read in [0, 1] (peak 1) from the model range [-1, 1], capped at ``PSNR_CAP_DB``."""
    import torch

    mse = ((outputs.float() - targets.float()) / 2).pow(2).flatten(1).mean(dim=1)
    return (10 * torch.log10(1.0 / mse)).clamp(max=PSNR_CAP_DB)


def compute_image_to_image(ctx: EvalContext) -> dict[str, float]:
    """An image-to-image run's outputs against their targets, and its inputs against the same targets (the
    baseline the model must beat); on digits, also the FID of the outputs to their targets."""
    from . import fidelity
    from .context import MetricSkipped
    from .extractor import extract
    from .featurenet import lenet_net
    from .quantise import to_uint8

    if ctx.pairs is None:
        raise MetricSkipped("needs an image-to-image run (a model that declares ganzoo.Translation, such as pix2pix-lite); this one samples from latents")
    inputs, targets = ctx.pairs
    outputs = ctx.fake.clamp(-1, 1)
    ctx.note(image_to_image_pairs=len(targets), psnr_cap_db=PSNR_CAP_DB, pixel_range="[0, 1] for l1 and psnr")
    out = {
        "l1": float((outputs - targets).abs().mean() / 2),
        "psnr": float(psnr(outputs, targets).mean()),
        "l1_input": float((inputs - targets).abs().mean() / 2),
        "psnr_input": float(psnr(inputs, targets).mean()),
    }
    if _digits(ctx.info) is None and len(targets) >= 2:
        net = lenet_net()
        ctx.note(**net.protocol())
        targets_features = extract(to_uint8(targets), net.name, ["features"], ctx.device)["features"]
        out["fid_targets"] = fidelity.fid(ctx.features(net, "fake")["features"], targets_features)
    return out


# What each metric's numbers are: every consumer (live evaluation's best checkpoint, the
# leaderboard's ranking, columns and coverage bars, ganzoo eval's table) reads these.
N = ganzoo.MetricNumber
LOWER, HIGHER = "lower", "higher"
FID = N("fid", LOWER, rank=1, role="quality", help="Frechet distance to the reference")
FID_NUMBERS = (
    FID,
    N("fid_floor", LOWER, live=False, help="held-out real data scored like a generator: the floor"),
    N("fid_at_floor_n", LOWER, live=False, help="the generator's FID at the floor's N"),
    N("fid_inf", LOWER, live=False, help="FID extrapolated to N = infinity (Chong & Forsyth 2020): comparable across N"),
)
IS_NUMBERS = (N("is", HIGHER, help="Inception Score"), N("is_std", shown=False, help="spread over the splits"))
KID_NUMBERS = (
    # Unbiased: when the sets match it scatters around 0 and goes below it half the time.
    N("kid", LOWER, minimum=0.0, help="kernel distance (unbiased MMD): around 0 when the sets match, so it can go below 0"),
    N("kid_std", shown=False, help="spread over the subsets"),
)
PR_NUMBERS = (
    # A sample counts as precise when it lies in some real sample's k-NN ball, however few
    # distinct samples there are: a generator collapsed onto a point inside the data scores 1.
    N("precision", HIGHER, help="share of samples inside some real sample's k-NN ball; samples that all land on one spot "
      "inside the real data (a collapsed generator, or noise the feature network maps to one place) score 1: read it with recall and coverage"),
    N("recall", HIGHER, role="diversity", help="share of real samples inside some generated sample's k-NN ball"),
)
DC_NUMBERS = (
    N("density", HIGHER, help="real k-NN balls holding each sample, per k; can exceed 1"),
    N("coverage", HIGHER, help="share of real samples whose k-NN ball holds a generated sample"),
)
CONFIDENT = N("confident", HIGHER, help="share of samples the classifier is confident about")
CLASS_NUMBERS = (
    N("classes", HIGHER, out_of="classes_total", help="classes with at least one confident sample"),
    N("classes_total", shown=False, live=False),
    N("class_kl", LOWER, rank=4, role="diversity", help="KL(confident class histogram || uniform)"),
    CONFIDENT,
    N("class_*", shown=False, live=False, help="confident samples per class"),
)
STACKED_NUMBERS = (
    N("modes", HIGHER, out_of="modes_total", help="digit triples with at least one confident sample"),
    N("modes_total", shown=False, live=False),
    N("kl", LOWER, rank=2, role="diversity", help="KL(confident triple histogram || uniform)"),
    CONFIDENT,
    N("channel_kl", LOWER, help="sum of each channel's KL(confident digit histogram || uniform): what unbalanced digits alone "
      "add to kl (all of it, but for sampling, when the channels are independent)"),
    N("channel_kl_*", LOWER, shown=False, live=False, help="one channel's KL(confident digit histogram || uniform)"),
)
MIXTURE_NUMBERS = (
    N("modes", HIGHER, out_of="modes_total", help="modes with at least one high-quality sample"),
    N("modes_total", shown=False, live=False),
    N("hq", HIGHER, role="quality", help="share of samples within 3 std of their nearest mode"),
    N("reverse_kl", LOWER, rank=3, role="diversity", help="KL(high-quality mode histogram || uniform)"),
)
IMAGE_TO_IMAGE_NUMBERS = (
    N("l1", LOWER, live=False, help="mean absolute error of the outputs to their targets, pixels in [0, 1]"),
    N("psnr", HIGHER, live=False, help="mean PSNR (dB) of the outputs to their targets, each image capped at 100"),
    # The inputs' numbers are the baseline, not the model's: no direction, so nothing ranks by them.
    N("l1_input", None, live=False, help="the same for the inputs (masked, downsampled, grey): the baseline"),
    N("psnr_input", None, live=False, help="the inputs' mean PSNR to the targets: the baseline"),
    N("fid_targets", LOWER, live=False, help="FID of the outputs to their own targets (MNIST features; digits only)"),
)
INCEPTION_NUMBERS = (FID, *FID_NUMBERS[1:3], *IS_NUMBERS, *KID_NUMBERS, *PR_NUMBERS, *DC_NUMBERS)

METRICS = [
    ganzoo.MetricSpec("fid", "Frechet distance of MNIST-classifier features, with the real-data floor", ("image",), compute_fid, _digits, live=True, numbers=FID_NUMBERS),
    ganzoo.MetricSpec("is", "Inception Score computed with the MNIST classifier's logits", ("image",), compute_is, _digits, numbers=IS_NUMBERS),
    ganzoo.MetricSpec("kid", "Kernel distance (unbiased MMD, cubic kernel) of MNIST-classifier features", ("image",), compute_kid, _digits, numbers=KID_NUMBERS),
    ganzoo.MetricSpec(PRECISION_RECALL, "Improved precision and recall (k=3) in MNIST-classifier feature space", ("image",), compute_pr, _digits, numbers=PR_NUMBERS),
    ganzoo.MetricSpec("density-coverage", "Density and coverage (k=5) in MNIST-classifier feature space", ("image",), compute_dc, _digits, numbers=DC_NUMBERS),
    ganzoo.MetricSpec("classes", "Digit classes covered by confident predictions, KL to uniform, per-class counts", ("image",), compute_classes, _digit_classes, live=True, numbers=CLASS_NUMBERS),
    ganzoo.MetricSpec("stacked-modes", "Stacked MNIST: digit triples covered (of 1000) and KL to uniform", ("image",), compute_stacked, _stacked, live=True, numbers=STACKED_NUMBERS),
    ganzoo.MetricSpec("mixture-modes", "Modes covered, share of high-quality samples and reverse KL on 2-D mixtures", ("vector",), compute_mixture_modes, _mixture, live=True, numbers=MIXTURE_NUMBERS),
    ganzoo.MetricSpec("mixture-prdc", "Precision, recall, density and coverage in data space", ("vector",), compute_mixture_prdc, numbers=PR_NUMBERS + DC_NUMBERS),
    ganzoo.MetricSpec("image-to-image", "L1 and PSNR of an image-to-image run's outputs on held-out pairs (and of its inputs), FID of outputs vs targets", ("image",), compute_image_to_image, numbers=IMAGE_TO_IMAGE_NUMBERS),
    ganzoo.MetricSpec("inception", "FID with floor, IS, KID, P/R, D/C with Inception-v3 (RGB or grey non-digit data; needs its weights on disk)", ("image",), compute_inception, _inception_data, numbers=INCEPTION_NUMBERS),
]


@ganzoo.hookimpl
def register_metrics(register):
    for spec in METRICS:
        register(spec)
