"""pix2pix-lite: each task's input is what it says (one hidden square, the average-pooled target,
the luminance), G maps an image to one of the target's shape, the L1 term is in G's loss with
its weight, the image-to-image metric's PSNR against hand computations, and a short run whose
pictures, ``ganzoo sample`` and ``ganzoo eval`` use the model's declared translation."""

from __future__ import annotations

import json
import math

import pytest
import torch
from PIL import Image

import ganzoo
from ganzoo.cli import main
from ganzoo.eval.builtin import PSNR_CAP_DB, compute_image_to_image
from ganzoo.eval.context import EvalContext, MetricSkipped
from ganzoo_plugins.pix2pix_lite_nets import HOLE_FILL, LUMA, downsample_input, greyscale_input, inpaint_input

DIGITS = ganzoo.DatasetInfo("digits", "image", (1, 28, 28))
RGB = ganzoo.DatasetInfo("rgb", "image", (3, 32, 32))
NOT_DIGITS = ganzoo.DatasetInfo("noise", "image", (1, 16, 16), extra={"images_of": "noise"})
SMALL = {"channels": 4}


def _targets(n: int, shape=(1, 28, 28), seed: int = 0) -> torch.Tensor:
    # Values in (0.1, 1): never the hole's grey, so every grey pixel of an input was hidden.
    return torch.rand(n, *shape, generator=torch.Generator().manual_seed(seed)) * 0.9 + 0.1


# -- the tasks' inputs -----------------------------------------------------------------------------


def test_inpaint_hides_exactly_one_square_per_image_and_leaves_the_target_untouched():
    targets = _targets(32)
    before = targets.clone()
    inputs = inpaint_input(targets, torch.Generator().manual_seed(1), hole=0.5)
    assert torch.equal(targets, before)
    hidden = inputs == HOLE_FILL
    assert torch.equal(inputs[~hidden], targets[~hidden])  # everything else is the target's
    corners = set()
    for mask in hidden[:, 0]:
        rows, cols = mask.any(dim=1).nonzero().flatten(), mask.any(dim=0).nonzero().flatten()
        assert len(rows) == len(cols) == 14  # round(0.5 * 28)
        assert rows.diff().eq(1).all() and cols.diff().eq(1).all()  # one contiguous block...
        assert mask.sum() == 14 * 14  # ...filled: a square
        corners.add((int(rows[0]), int(cols[0])))
    assert len(corners) > 10  # at random places


def test_inpaint_masks_come_from_the_generator_so_a_seed_fixes_the_held_out_pairs():
    targets = _targets(8)
    first = inpaint_input(targets, torch.Generator().manual_seed(3), hole=0.3)
    assert torch.equal(first, inpaint_input(targets, torch.Generator().manual_seed(3), hole=0.3))
    assert not torch.equal(first, inpaint_input(targets, torch.Generator().manual_seed(4), hole=0.3))


@pytest.mark.parametrize("factor", [2, 4])
def test_a_super_resolution_input_is_the_average_pooled_target_at_the_targets_size(factor):
    targets = _targets(3)
    inputs = downsample_input(targets, None, factor)
    assert inputs.shape == targets.shape
    side = 28 // factor
    for i, j in [(0, 0), (side - 1, side - 1), (side // 2, 1)]:
        block = (slice(None), slice(None), slice(i * factor, (i + 1) * factor), slice(j * factor, (j + 1) * factor))
        mean = targets[block].mean(dim=(2, 3), keepdim=True)
        assert torch.allclose(inputs[block], mean.expand_as(inputs[block]), atol=1e-6)  # one value per block: its mean


def test_a_colorize_input_is_the_luminance_in_every_channel():
    targets = _targets(2, (3, 8, 8))
    inputs = greyscale_input(targets, None)
    luma = sum(w * targets[:, c] for c, w in enumerate(LUMA))
    for c in range(3):
        assert torch.allclose(inputs[:, c], luma, atol=1e-6)


def test_colorize_on_grey_images_and_an_odd_factor_are_one_line_errors():
    with pytest.raises(ganzoo.GanzooError, match=r"colorize needs RGB images; digits has 1 channel\(s\) \(try --dataset stacked-mnist"):
        ganzoo.create_model("pix2pix-lite", DIGITS, task="colorize", **SMALL)
    with pytest.raises(ganzoo.GanzooError, match="bad value for task: 'paint' .*valid: inpaint, super-resolution, colorize"):
        ganzoo.create_model("pix2pix-lite", DIGITS, task="paint", **SMALL)
    with pytest.raises(ganzoo.GanzooError, match=r"depth 3 .* digits is 28x28"):
        ganzoo.create_model("pix2pix-lite", DIGITS, depth=3, **SMALL)


# -- the model -------------------------------------------------------------------------------------


@pytest.mark.parametrize("info, task", [(DIGITS, "inpaint"), (DIGITS, "super-resolution"), (RGB, "colorize")])
def test_g_maps_an_input_to_an_output_of_the_targets_shape(info, task):
    gan = ganzoo.create_model("pix2pix-lite", info, task=task, **SMALL)
    targets = _targets(4, info.shape) * 2 - 1
    inputs, outputs = gan.translate(targets, torch.Generator().manual_seed(0))
    assert inputs.shape == outputs.shape == targets.shape
    assert outputs.abs().max() <= 1  # tanh: the model range


def test_a_translation_model_has_no_latents_to_sample_from_and_a_sampling_one_nothing_to_translate():
    with pytest.raises(ganzoo.GanzooError, match="maps images to images .*ganzoo sample RUN draws input"):
        ganzoo.create_model("pix2pix-lite", DIGITS, **SMALL).sample(2)
    with pytest.raises(ganzoo.GanzooError, match="not an image-to-image model"):
        ganzoo.create_model("dcgan", DIGITS, channels=4).translate(_targets(2))


def test_gs_loss_is_the_adversarial_term_plus_the_weighted_l1_term():
    targets = _targets(6) * 2 - 1
    losses = {}
    for weight in (0.0, 1.0, 100.0):
        torch.manual_seed(0)
        gan = ganzoo.create_model("pix2pix-lite", DIGITS, l1_weight=weight, **SMALL)
        torch.manual_seed(1)  # the same masks for each weight
        result = gan.objective.loss("G", ganzoo.Batch(targets, None, 0))
        l1, adversarial = result.scalars["pix2pix/l1"], result.scalars["pix2pix/adversarial"]
        assert torch.allclose(result.loss, adversarial + weight * l1)
        losses[weight] = (float(result.loss.detach()), float(l1))
    # The same networks and inputs: the weight alone moves the loss, by exactly weight * L1.
    assert losses[100.0][0] - losses[0.0][0] == pytest.approx(100 * losses[0.0][1], rel=1e-4)
    assert losses[0.0][1] > 0


def test_the_l1_weight_pulls_the_outputs_towards_the_targets():
    """A few G steps with D frozen: with lambda 100 the outputs' L1 falls; with lambda 0 G only chases D."""
    targets = _targets(16) * 2 - 1
    l1 = {}
    for weight in (0.0, 100.0):
        torch.manual_seed(0)
        gan = ganzoo.create_model("pix2pix-lite", DIGITS, l1_weight=weight, lr=5e-3, **SMALL)
        for _ in range(10):
            gan.optimizers["G"].zero_grad()
            torch.manual_seed(1)
            gan.objective.loss("G", ganzoo.Batch(targets, None, 0)).loss.backward()
            gan.optimizers["G"].step()
        torch.manual_seed(1)
        l1[weight] = float(gan.objective.loss("G", ganzoo.Batch(targets, None, 0)).scalars["pix2pix/l1"])
    assert l1[100.0] < 0.5 * l1[0.0]


@pytest.mark.parametrize("remedy", [{"pack": 2}, {"diffaugment": "translation,cutout"}, {"spectral_norm": True}], ids=str)
def test_the_collapse_remedies_apply_to_its_discriminator_of_pairs(remedy):
    """D takes an (input, image) pair as one tensor, as the remedies expect of a discriminator: pack=2 judges two pairs at once."""
    gan = ganzoo.create_model("pix2pix-lite", DIGITS, **remedy, **SMALL)
    batch = ganzoo.Batch(_targets(4) * 2 - 1, None, 0)
    for phase in ("D", "G"):
        assert torch.isfinite(gan.objective.loss(phase, batch).loss)
    if "pack" in remedy:
        assert gan.networks["D"](torch.zeros(4, 2, 28, 28)).shape[0] == 2


# -- the metric ------------------------------------------------------------------------------------


def _context(inputs, outputs, targets, info=NOT_DIGITS) -> EvalContext:
    return EvalContext(info, outputs, pairs=(inputs, targets))


def test_psnr_of_identical_images_is_capped_and_of_known_images_matches_the_formula():
    targets = torch.full((3, 1, 16, 16), -1.0)  # black: 0 in [0, 1]
    grey = torch.zeros_like(targets)  # 0.5 in [0, 1]: squared error 0.25 everywhere
    numbers = compute_image_to_image(_context(grey, targets.clone(), targets))
    assert numbers["psnr"] == PSNR_CAP_DB == 100.0 and numbers["l1"] == 0.0  # identical: infinite, capped
    assert numbers["psnr_input"] == pytest.approx(10 * math.log10(1 / 0.25))  # 6.02 dB
    assert numbers["l1_input"] == pytest.approx(0.5)
    half = targets.clone()
    half[:, :, :8] = 0.0  # half the pixels off by 0.5: MSE 0.125
    assert compute_image_to_image(_context(grey, half, targets))["psnr"] == pytest.approx(10 * math.log10(8))
    assert "fid_targets" not in numbers  # not digits: no MNIST features


def test_the_metric_scores_outputs_against_their_targets_with_fid_on_digits():
    targets = _targets(40) * 2 - 1
    numbers = compute_image_to_image(_context(targets, targets.clone(), targets, DIGITS))
    assert numbers["fid_targets"] == pytest.approx(0.0, abs=1e-6)


def test_the_metric_refuses_a_run_that_samples_from_latents_in_one_line():
    with pytest.raises(MetricSkipped, match=r"^needs an image-to-image run \(a model that declares ganzoo.Translation") as caught:
        compute_image_to_image(EvalContext(DIGITS, torch.zeros(2, 1, 28, 28)))
    assert "\n" not in str(caught.value)


# -- a run -----------------------------------------------------------------------------------------


class _Toy16:
    @ganzoo.hookimpl
    def register_datasets(self, register):
        def build(config):
            x = torch.rand(80, 1, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1  # 16 held out: a full picture of unseen pairs
            return ganzoo.Dataset(x, ganzoo.DatasetInfo("toy16", "image", (1, 16, 16), extra={"images_of": "noise"}))

        register(ganzoo.DatasetSpec(name="toy16", summary="noise images for pix2pix-lite", kind="image", build=build))


@pytest.mark.slow
def test_a_short_run_draws_triplets_samples_them_and_evaluates_on_held_out_pairs(tmp_path, register_plugin, capsys):
    register_plugin(_Toy16(), "toy16-images")
    run = ganzoo.train("pix2pix-lite", "toy16", steps=3, out=tmp_path / "run", batch_size=8, progress=False, set=SMALL)
    losses = [r for r in run.metrics() if "pix2pix/l1" in r]
    assert losses and all(math.isfinite(r["loss/G"]) for r in losses)
    # 16 triplets, 4 to a row: 12 images of 16 pixels across (and 2-pixel padding), 4 rows.
    assert Image.open(run.path / "final.png").size == (12 * 18 + 2, 4 * 18 + 2)

    out = tmp_path / "triplets.png"
    assert main(["sample", str(run.path), "--n", "5", "--out", str(out)]) == 0
    assert Image.open(out).size == (12 * 18 + 2, 2 * 18 + 2)  # 5 triplets: two rows
    assert main(["sample", str(run.path), "--label", "1", "--out", str(out)]) == 2
    assert "--label and --truncation need a model that samples from latents" in capsys.readouterr().err

    first = ganzoo.load_run(run.path)
    from ganzoo.eval.evaluate import evaluate

    report = evaluate(run.path, n=6, metrics=["image-to-image"], write=False)
    again = evaluate(run.path, n=6, metrics=["image-to-image"], write=False)
    numbers = report["metrics"]["image-to-image"]
    assert set(numbers) == {"l1", "psnr", "l1_input", "psnr_input"} and numbers == again["metrics"]["image-to-image"]
    assert report["protocol"]["n_generated"] == report["protocol"]["n_heldout"] == 6  # one output per held-out image
    assert "GAN.translate" in report["protocol"]["sampling"] and first.config.model == "pix2pix-lite"
    assert json.dumps(report)  # every number is JSON (the PSNR cap keeps infinity out)


@pytest.mark.slow
def test_live_evaluation_scores_its_outputs_for_the_held_out_images(tmp_path):
    # An image-to-image model samples from no latents: live evaluation must score what ganzoo eval
    # scores (its outputs for held-out images), not stop at the first point with GAN.sample's error.
    run = ganzoo.train("pix2pix-lite", "mnist", steps=2, batch_size=8, log_every=1, eval_every=2, eval_n=64,
                       out=tmp_path / "run", progress=False, set=SMALL)
    live = [r for r in run.metrics() if any(k.startswith("eval/") for k in r)]
    assert len(live) == 1 and live[0]["step"] == 2
    assert math.isfinite(live[0]["eval/fid"])
