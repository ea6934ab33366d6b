"""The DCGAN-style conv players (ganzoo.convnets), the dcgan model and every model's arch=conv: their defining properties."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import ganzoo
from ganzoo.convnets import ConvDiscriminator, ConvGenerator, conv_sizes
from ganzoo.data import DatasetInfo

CONV_MODELS = ("vanilla", "cgan", "wgan", "wgan-gp")


def images(channels: int = 1, size: int = 28, classes: int = 10) -> DatasetInfo:
    return DatasetInfo("toy", "image", (channels, size, size), num_classes=classes)


def _sides_of(module: nn.Module, kind: type, x: torch.Tensor, *args) -> list[int]:
    """The spatial side of every ``kind`` layer's output when ``module`` runs on ``x``."""
    sides, hooks = [], [m.register_forward_hook(lambda m, i, o: sides.append(o.shape[-1])) for m in module.modules() if isinstance(m, kind)]
    try:
        module(x, *args)
    finally:
        for h in hooks:
            h.remove()
    return sides


@pytest.mark.parametrize("size, stack", [(28, [7, 14, 28]), (32, [4, 8, 16, 32]), (64, [4, 8, 16, 32, 64])])
@pytest.mark.parametrize("channels", [1, 3])
def test_generator_builds_the_side_by_doubling_and_its_images_lie_in_minus_one_one(size, stack, channels):
    assert conv_sizes(size) == stack  # 28 natively from 7x7: no padding to 32
    torch.manual_seed(0)
    G = ConvGenerator(16, (channels, size, size), 4)
    with torch.no_grad():  # large weights drive tanh into saturation: the bound must still hold
        for p in G.parameters():
            p.mul_(50.0)
    z = torch.randn(8, 16)
    x = G(z)
    assert x.shape == (8, channels, size, size)
    assert x.abs().max() <= 1.0 and x.abs().max() > 0.99
    assert _sides_of(G, nn.ConvTranspose2d, z) == stack[1:]
    D = ConvDiscriminator((channels, size, size), 4)
    assert _sides_of(D, nn.Conv2d, x) == stack[::-1][1:]  # D walks the same sides back down
    assert D(x).shape == (8,)


def test_odd_sides_work_too():
    G, D = ConvGenerator(8, (3, 30, 30), 4), ConvDiscriminator((3, 30, 30), 4)
    assert conv_sizes(30) == [4, 8, 15, 30] and G(torch.randn(2, 8)).shape == (2, 3, 30, 30)
    assert _sides_of(D, nn.Conv2d, torch.zeros(2, 3, 30, 30)) == [15, 8, 4]


def _norm_after_each_conv(D: nn.Module) -> list[str | None]:
    layers = list(D.features)
    return [type(layers[i + 1]).__name__ if "Norm" in type(layers[i + 1]).__name__ else None
            for i, layer in enumerate(layers) if isinstance(layer, nn.Conv2d)]


def test_dcgan_has_no_batch_norm_on_ds_first_layer_and_batch_norm_on_the_others():
    gan = ganzoo.create_model("dcgan", images(3, 64, 0), channels=4)
    assert _norm_after_each_conv(gan.networks["D"]) == [None, "BatchNorm2d", "BatchNorm2d", "BatchNorm2d"]
    G = gan.networks["G"]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in G.modules()) == 4  # the projection and every hidden layer
    assert isinstance(list(G.net)[-1], nn.Tanh)
    assert all(isinstance(m, nn.LeakyReLU) and m.negative_slope == 0.2 for m in gan.networks["D"].modules() if "ReLU" in type(m).__name__)
    assert all(not isinstance(m, nn.LeakyReLU) for m in G.modules())


def test_dcgan_weights_start_from_the_papers_normal_and_adam_is_2e_4_beta1_half():
    gan = ganzoo.create_model("dcgan", images(1, 32, 0), channels=32)
    conv = [m.weight for m in gan.networks["D"].modules() if isinstance(m, nn.Conv2d)][-1]
    assert abs(conv.std().item() - 0.02) < 0.002 and abs(conv.mean().item()) < 0.002
    group = gan.optimizers["G"].param_groups[0]
    assert isinstance(gan.optimizers["G"], torch.optim.Adam) and group["lr"] == 2e-4 and group["betas"] == (0.5, 0.999)


def _cross_sample_gradient(D: nn.Module, n: int = 4, size: int = 16) -> float:
    """The largest |d D(x_i) / d x_j| over i != j, in training mode (where batch norm uses batch statistics)."""
    D.train()
    x = torch.randn(n, 1, size, size)
    jacobian = torch.autograd.functional.jacobian(lambda x: D(x), x)  # (n, n, 1, size, size)
    off_diagonal = ~torch.eye(n, dtype=torch.bool)
    return jacobian[off_diagonal].abs().max().item()


def test_wgan_gp_conv_critic_has_no_batch_norm_so_each_score_depends_on_its_own_sample_only():
    D = ganzoo.create_model("wgan-gp", images(1, 16, 0), arch="conv", channels=4).networks["D"]
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in D.modules())
    assert _cross_sample_gradient(D) == 0.0
    # The check can fail: wgan's conv critic keeps the DCGAN batch norm, which couples the samples.
    coupled = ganzoo.create_model("wgan", images(1, 16, 0), arch="conv", channels=4).networks["D"]
    assert _cross_sample_gradient(coupled) > 1e-6


def test_conditional_conv_players_depend_on_the_label():
    gan = ganzoo.create_model("cgan", images(3, 32), arch="conv", channels=4)
    G, D = gan.networks["G"].eval(), gan.networks["D"].eval()
    z = torch.randn(1, gan.latent_dim).repeat(10, 1)
    out = G(z, torch.arange(10))
    assert all(not torch.allclose(out[i], out[j]) for i in range(10) for j in range(i + 1, 10))
    x = torch.randn(1, 3, 32, 32).repeat(10, 1, 1, 1)
    scores = D(x, torch.arange(10))
    assert len(set(scores.tolist())) == 10
    features = D.features(x)  # the projection term: <embed(y), phi(x)> on D's last features
    torch.testing.assert_close(scores, D.head(features).squeeze(1) + (D.embed.weight * features).sum(dim=1))


@pytest.mark.parametrize("model", CONV_MODELS)
def test_arch_conv_builds_conv_players_and_the_default_follows_the_paper(model):
    """MLP stays the default on images only where the paper used MLPs: wgan-gp's image preset is conv (one critic step)."""
    info = images(1, 28)
    conv = ganzoo.create_model(model, info, arch="conv", channels=4)
    assert isinstance(conv.networks["G"], ConvGenerator) and isinstance(conv.networks["D"], ConvDiscriminator)
    x = conv.sample(4)
    assert x.shape == (4, 1, 28, 28) and x.abs().max() <= 1.0
    default = ganzoo.create_model(model, info)
    assert isinstance(default.networks["D"], ConvDiscriminator) == (model == "wgan-gp")
    if model == "wgan-gp":
        assert default.objective.phases[0].repeats == 1  # the budget-driven n_critic of its image preset (plugins/wgan.py)
        assert ganzoo.create_model(model, info, arch="mlp", n_critic=5).objective.phases[0].repeats == 5  # its earlier default, by --set
    on_points = ganzoo.create_model(model, DatasetInfo("toy", "vector", (2,), num_classes=8))
    assert not isinstance(on_points.networks["D"], ConvDiscriminator)  # 2-D data: MLPs for all


def _one_line_error(code, err, *fragments):
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err


@pytest.mark.parametrize("model", CONV_MODELS)
def test_arch_conv_on_vector_data_is_a_one_line_error(model, cli, tmp_path):
    code, _, err = cli("run", "--model", model, "--dataset", "ring8", "--set", "arch=conv", "--steps", "1", "--out", str(tmp_path / "r"))
    _one_line_error(code, err, f"{model} with arch=conv needs images", "ring8 has vector data", "arch=mlp")
    assert not (tmp_path / "r" / "checkpoints").exists()


def test_dcgan_refuses_vector_data_and_odd_shapes_in_one_line(cli, tmp_path):
    code, _, err = cli("run", "--model", "dcgan", "--dataset", "ring8", "--steps", "1", "--out", str(tmp_path / "r"))
    _one_line_error(code, err, "dcgan needs images", "try --dataset mnist")
    with pytest.raises(ganzoo.GanzooError, match="square images of at least 8x8; toy has 16x8"):
        ganzoo.create_model("dcgan", DatasetInfo("toy", "image", (1, 16, 8)))


class _TinyImages:
    """32 labelled noise images of 3x16x16: the conv models train on them in milliseconds a step."""

    @ganzoo.hookimpl
    def register_datasets(self, register):
        def build(config):
            g = torch.Generator().manual_seed(0)
            x = torch.rand(32, 3, 16, 16, generator=g) * 2 - 1
            return ganzoo.Dataset(x, ganzoo.DatasetInfo("tiny16", "image", (3, 16, 16), num_classes=4), torch.arange(32) % 4)

        register(ganzoo.DatasetSpec(name="tiny16", summary="labelled noise images for the conv tests", kind="image", build=build))


@pytest.mark.slow
def test_dcgan_and_the_conv_options_train_a_few_steps(register_plugin, tmp_path):
    register_plugin(_TinyImages(), "tiny16-images")
    small = {"steps": 3, "batch_size": 8, "log_every": 1, "progress": False}
    for model, options in [("dcgan", {"channels": 4, "latent_dim": 8}),
                           ("cgan", {"arch": "conv", "channels": 4, "latent_dim": 8}),
                           ("wgan-gp", {"arch": "conv", "channels": 4, "latent_dim": 8, "n_critic": 2})]:
        run = ganzoo.train(model, "tiny16", out=tmp_path / model, set=options, **small)
        losses = [v for line in run.metrics() for k, v in line.items() if k.startswith("loss/")]
        assert run.result.step == 3 and losses and all(math.isfinite(v) for v in losses), model
        samples = ganzoo.load_run(run.path).sample(4)
        assert samples.shape == (4, 3, 16, 16) and samples.abs().max() <= 1.0
