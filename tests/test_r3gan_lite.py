"""r3gan-lite: the RpGAN loss, R1 on reals and R2 on fakes, identity-initialised blocks without normalisation, shapes."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ganzoo
from ganzoo import plugins
from ganzoo.config import RunConfig
from ganzoo.data import Dataset, DatasetInfo
from ganzoo.nn import PixelNorm
from ganzoo.losses import d_minimax_loss, d_relativistic_loss, g_nonsaturating_loss, g_relativistic_loss
from ganzoo.run.folder import RunFolder
from ganzoo.training.trainer import Trainer
from ganzoo_plugins.r3gan_lite import R3GANObjective, ResidualBlock, downsample, upsample

# Small enough that a step takes milliseconds.
TINY = dict(latent_dim=8, channels=8, group_width=4)


def _model(shape=(1, 32, 32), **overrides) -> ganzoo.GAN:
    torch.manual_seed(0)
    return ganzoo.create_model("r3gan-lite", DatasetInfo("toy", "image", shape), **{**TINY, **overrides})


def softplus(a: float) -> float:
    return math.log1p(math.exp(a))


# -- the loss ---------------------------------------------------------------------


def test_rpgan_losses_match_the_formula_on_known_numbers():
    real, fake = torch.tensor([1.0, 0.0, -2.0]), torch.tensor([0.0, 2.0, -2.0])
    # D: softplus(-(D(x) - D(G(z)))) per pair; G: softplus(-(D(G(z)) - D(x))).
    d = (softplus(-1.0) + softplus(2.0) + softplus(0.0)) / 3
    g = (softplus(1.0) + softplus(-2.0) + softplus(0.0)) / 3
    assert math.isclose(d_relativistic_loss(real, fake).item(), d, rel_tol=1e-6)
    assert math.isclose(g_relativistic_loss(fake, real).item(), g, rel_tol=1e-6)


def test_rpgan_losses_see_only_the_paired_difference():
    torch.manual_seed(0)
    real, fake = torch.randn(16), torch.randn(16)
    for shift in (-5.0, 0.5, 30.0):
        assert torch.allclose(d_relativistic_loss(real + shift, fake + shift), d_relativistic_loss(real, fake), atol=1e-5)
        assert torch.allclose(g_relativistic_loss(fake + shift, real + shift), g_relativistic_loss(fake, real), atol=1e-5)
    # ...unlike the minimax losses, which score each output against a fixed threshold.
    assert not torch.allclose(d_minimax_loss(real + 0.5, fake + 0.5), d_minimax_loss(real, fake))
    assert not torch.allclose(g_nonsaturating_loss(fake + 0.5), g_nonsaturating_loss(fake))
    # Pairs, not all pairs: the same outputs paired differently give another loss.
    assert not torch.allclose(d_relativistic_loss(real, fake.flip(0)), d_relativistic_loss(real, fake))


# -- R1 on reals, R2 on fakes --------------------------------------------------------


class _QuadraticD(nn.Module):
    """``D(x) = sum(w * x^2) / 2 + b``: its input gradient is ``w * x``, known by hand."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.rand(shape) + 0.5)
        self.b = nn.Parameter(torch.tensor(0.3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (self.w * x.pow(2)).flatten(1).sum(dim=1) + self.b


def test_r1_is_taken_on_the_reals_and_r2_on_the_fakes_per_sample_over_all_dimensions():
    torch.manual_seed(0)
    shape = (2, 3, 3)
    D = _QuadraticD(shape)
    real, fake = torch.randn(5, *shape), 3 * torch.randn(5, *shape)  # far apart, so swapping them shows
    gamma = 0.7
    objective = R3GANObjective(lambda z: fake.clone(), D, latent_dim=4, gamma=gamma)
    result = objective.loss("D", ganzoo.Batch(real, None, 0))

    def zero_centred(x: torch.Tensor) -> torch.Tensor:
        return (D.w * x).detach().flatten(1).pow(2).sum(dim=1).mean()  # ||grad||^2 per sample, over channels and pixels

    r1, r2 = zero_centred(real), zero_centred(fake)
    assert torch.allclose(result.scalars["penalty/r1"], r1) and torch.allclose(result.scalars["penalty/r2"], r2)
    assert not torch.allclose(r1, r2, rtol=0.1)
    per_pixel = (D.w * real).detach().pow(2).mean()  # a norm averaged over pixels would be 18 times smaller
    assert not torch.allclose(result.scalars["penalty/r1"], per_pixel)
    with torch.no_grad():
        adversarial = F.softplus(-(D(real) - D(fake))).mean()
    assert torch.allclose(result.loss, adversarial + gamma / 2 * (r1 + r2))
    # The penalties train D: d/dw of gamma/2 * mean_i ||w * x_i||^2 is gamma * w * mean_i x_i^2, for reals and fakes.
    (total,) = torch.autograd.grad(result.loss, D.w)
    (adversarial_only,) = torch.autograd.grad(F.softplus(-(D(real) - D(fake))).mean(), D.w)
    expected = gamma * D.w.detach() * (real.pow(2) + fake.pow(2)).mean(dim=0)
    assert torch.allclose(total - adversarial_only, expected, rtol=1e-4, atol=1e-6)


def test_d_regularises_every_step_and_g_is_scored_against_the_reals_it_faces():
    gan = _model()
    assert [(p.name, p.network, p.every, p.repeats) for p in gan.objective.phases] == [("D", "D", 1, 1), ("G", "G", 1, 1)]
    G, D = gan.networks["G"], gan.networks["D"]
    real = torch.randn(4, 1, 32, 32)
    D.requires_grad_(False)  # as the trainer does in G's phase
    torch.manual_seed(1)
    result = gan.objective.loss("G", ganzoo.Batch(real, None, 0))
    torch.manual_seed(1)
    z = torch.randn(4, 8)
    assert torch.allclose(result.loss, F.softplus(-(D(G(z)) - D(real))).mean(), atol=1e-6)
    result.loss.backward()
    assert all(p.grad is not None for p in G.parameters())


# -- the networks -------------------------------------------------------------------


def test_each_residual_block_starts_as_the_identity_with_its_last_conv_zero():
    gan = _model()
    blocks = [m for name in ("G", "D") for m in gan.networks[name].modules() if isinstance(m, ResidualBlock)]
    assert len(blocks) == 2 * 4  # one per stage at 4, 8, 16, 32 px, in G and in D
    for block in blocks:
        assert torch.count_nonzero(block.conv3.weight) == 0
        assert block.conv1.weight.abs().sum() > 0 and block.conv2.weight.abs().sum() > 0
        channels = block.conv1.in_channels
        x = torch.randn(2, channels, 8, 8)
        assert torch.equal(block(x), x)
        assert block.conv2.groups == block.conv2.in_channels // 4  # grouped: group_width 4 channels per group
    # Trained away from zero, a block is no longer the identity.
    with torch.no_grad():
        blocks[0].conv3.weight.normal_()
    x = torch.randn(2, blocks[0].conv1.in_channels, 8, 8)
    assert not torch.allclose(blocks[0](x), x)


NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm, PixelNorm)


def test_g_and_d_have_no_normalisation_and_treat_each_sample_alone():
    gan = _model()
    for name in ("G", "D"):
        net = gan.networks[name]
        assert not [m for m in net.modules() if isinstance(m, NORMS)], name
        assert not [n for n, _ in net.named_parameters() if "orig" in n or "parametrizations" in n], name  # no spectral/weight norm
    G, D = gan.networks["G"], gan.networks["D"]
    z, x = torch.randn(6, 8), torch.randn(6, 1, 32, 32)
    assert torch.allclose(G(z)[:2], G(z[:2]), atol=1e-5)  # no statistic over the batch (batch norm, minibatch stddev)
    assert torch.allclose(D(x)[:2], D(x[:2]), atol=1e-5)


def test_resampling_is_bilinear():
    x = torch.randn(2, 3, 8, 8)
    up = upsample(x)
    bilinear = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert up.shape == (2, 3, 16, 16)
    assert torch.allclose(up[..., 1:-1, 1:-1], bilinear[..., 1:-1, 1:-1], atol=1e-6)  # zero padding differs at the border
    y = torch.randn(2, 3, 16, 16)
    down = downsample(y)
    antialiased = F.interpolate(y, scale_factor=0.5, mode="bilinear", antialias=True, align_corners=False)
    assert down.shape == (2, 3, 8, 8)
    assert torch.allclose(down[..., 1:-1, 1:-1], antialiased[..., 1:-1, 1:-1], atol=1e-6)


def test_resampling_is_the_reference_4x4_filter_including_the_border_and_its_double_backward():
    """The separable slices compute upfirdn2d's [1, 3, 3, 1] (transposed) convolution, zero-padded; R1/R2 differentiate it twice."""
    kernel = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=torch.float64)
    kernel = (kernel[:, None] * kernel[None, :] / 64)[None, None]

    def conv_up(x):
        n, c, h, w = x.shape
        return F.conv_transpose2d(x.reshape(n * c, 1, h, w), 4 * kernel, stride=2, padding=1).reshape(n, c, 2 * h, 2 * w)

    def conv_down(x):
        n, c, h, w = x.shape
        return F.conv2d(x.reshape(n * c, 1, h, w), kernel, stride=2, padding=1).reshape(n, c, h // 2, w // 2)

    for ours, reference, side in ((upsample, conv_up, 7), (downsample, conv_down, 14)):
        x = torch.randn(2, 3, side, side, dtype=torch.float64, requires_grad=True)
        assert torch.allclose(ours(x), reference(x), atol=1e-12)
        grads = []
        for f in (ours, reference):
            g, = torch.autograd.grad(f(x).pow(3).sum(), x, create_graph=True)
            grads.append(torch.autograd.grad(g.square().sum(), x)[0])
        assert torch.allclose(*grads, atol=1e-10)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [28, 32, 64])
def test_g_and_d_work_at_28_32_and_64_pixels_and_1_or_3_channels(channels, size):
    gan = _model((channels, size, size))
    G, D = gan.networks["G"], gan.networks["D"]
    images = G(torch.randn(3, 8))
    assert images.shape == (3, channels, size, size) and torch.isfinite(images).all()
    scores = D(images)
    assert scores.shape == (3,) and torch.isfinite(scores).all()
    result = gan.objective.loss("D", ganzoo.Batch(torch.randn(3, channels, size, size), None, 0))
    assert torch.isfinite(result.loss) and result.scalars["penalty/r1"] > 0


def test_it_refuses_vector_data_and_odd_sizes_in_one_line():
    with pytest.raises(ganzoo.GanzooError, match="r3gan-lite is for images; dataset ring8 has vector data") as err:
        ganzoo.create_model("r3gan-lite", DatasetInfo("ring8", "vector", (2,)))
    assert "\n" not in str(err.value)
    with pytest.raises(ganzoo.GanzooError, match=r"30x30 \(use --set data.size=32\)"):
        ganzoo.create_model("r3gan-lite", DatasetInfo("odd", "image", (1, 30, 30)))
    with pytest.raises(ganzoo.GanzooError, match="group_width 5 must divide a block.s width"):
        ganzoo.create_model("r3gan-lite", DatasetInfo("toy", "image", (1, 32, 32)), **{**TINY, "group_width": 5})


def test_mnist_is_padded_to_32_by_the_preset():
    spec = plugins.models().get("r3gan-lite")
    assert spec.presets["image"]["data.size"] == 32


# -- training -----------------------------------------------------------------------


@pytest.mark.slow
def test_a_few_training_steps_run_both_phases_every_step_and_update_the_ema(tmp_path):
    gan = _model()
    ran = []
    loss = gan.objective.loss
    gan.objective.loss = lambda phase, batch: (ran.append((batch.step, phase)), loss(phase, batch))[1]
    data = Dataset(torch.rand(64, 1, 32, 32) * 2 - 1, DatasetInfo("toy", "image", (1, 32, 32)))
    config = RunConfig(model="r3gan-lite", dataset="toy", steps=3, batch_size=8, seed=0, device="cpu",
                       sample_every=1000, checkpoint_every=1000, log_every=1000)
    trainer = Trainer(gan, data, config, RunFolder(tmp_path), torch.device("cpu"), progress=False)
    before = {k: v.clone() for k, v in gan.networks["D"].state_dict().items()}
    for _ in range(3):
        trainer.train_step()
    assert ran == [(s, p) for s in range(3) for p in ("D", "G")]
    blocks = [m for m in gan.networks["G"].modules() if isinstance(m, ResidualBlock)]
    assert all(torch.count_nonzero(b.conv3.weight) > 0 for b in blocks)  # the zero-initialised convs learn
    assert any(not torch.equal(before[k], v) for k, v in gan.networks["D"].state_dict().items())
    G, ema = gan.networks["G"], gan.networks["G_ema"]
    assert gan.sampling_generator is ema and not torch.equal(G.basis.basis, ema.basis.basis)
    assert torch.isfinite(gan.sample(4)).all()
