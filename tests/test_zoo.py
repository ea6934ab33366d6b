"""Behaviour of the zoo's shared capabilities (EMA, conditioning, truncation refusal, presets) and its MLP models."""

from __future__ import annotations

import inspect
import math

import pytest
import torch
from torch import nn

import ganzoo
from ganzoo.data import DatasetInfo
from ganzoo.model import GAN
from ganzoo.nn import MLPDiscriminator, MLPGenerator
from ganzoo.objectives import AdversarialObjective
from ganzoo.losses import d_minimax_loss, g_nonsaturating_loss
from ganzoo.run.config import make_run_config


def _tiny_gan(ema_decay: float) -> GAN:
    G, D = nn.Linear(2, 3), nn.Linear(3, 1)
    objective = AdversarialObjective(G, D, 2, d_minimax_loss, g_nonsaturating_loss)
    opts = {"G": torch.optim.SGD(G.parameters(), lr=0.1), "D": torch.optim.SGD(D.parameters(), lr=0.1)}
    return GAN({"G": G, "D": D}, opts, objective, latent_dim=2, ema_decay=ema_decay)


def test_ema_weights_equal_the_expected_running_average_after_known_updates():
    gan = _tiny_gan(0.9)
    G, ema = gan.networks["G"], gan.networks["G_ema"]
    expected = G.weight.detach().clone()  # the EMA starts as a copy of G
    assert torch.equal(ema.weight, expected)
    for step, value in enumerate([1.0, -2.0, 5.0, 0.5, 3.0, 3.0, 3.0]):
        with torch.no_grad():
            G.weight.fill_(value)
        gan.update_ema(step)
        decay = min(0.9, (1 + step) / (10 + step))
        expected = decay * expected + (1 - decay) * value
        assert torch.allclose(ema.weight, expected)
    assert not ema.weight.requires_grad


def test_long_run_ema_decay_is_the_configured_one():
    gan = _tiny_gan(0.9)
    G, ema = gan.networks["G"], gan.networks["G_ema"]
    with torch.no_grad():
        G.weight.fill_(0.0)
        ema.weight.fill_(1.0)
    gan.update_ema(10_000)  # ramp (1 + t) / (10 + t) ~ 1 > 0.9
    assert torch.allclose(ema.weight, torch.full_like(ema.weight, 0.9))


def test_sampling_uses_the_ema_generator_when_there_is_one():
    gan = _tiny_gan(0.99)
    with torch.no_grad():
        gan.networks["G"].weight.fill_(1.0)
        gan.networks["G_ema"].weight.fill_(-1.0)
    z = torch.randn(4, 2, generator=torch.Generator().manual_seed(3))
    got = gan.sample(4, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(got, gan.networks["G_ema"](z))
    assert not torch.allclose(got, gan.networks["G"](z))
    assert _tiny_gan(0.0).sampling_generator is not None and "G_ema" not in _tiny_gan(0.0).networks


@pytest.mark.slow
def test_ema_is_checkpointed_and_a_run_without_ema_has_none(tmp_path):
    run = ganzoo.train("vanilla", "ring8", steps=3, out=tmp_path / "v", batch_size=32, progress=False, set={"width": 8, "depth": 1, "data.n": 64})
    assert "G_ema" not in run.load().gan.networks


@pytest.mark.slow
def test_after_step_runs_after_every_optimizer_step(tmp_path):
    calls = []

    class Recording(AdversarialObjective):
        def after_step(self, phase):
            calls.append(phase)

    G, D = MLPGenerator(2, (2,), 8, 1, tanh=False), MLPDiscriminator((2,), 8, 1)
    objective = Recording(G, D, 2, d_minimax_loss, g_nonsaturating_loss, d_repeats=3)
    gan = GAN({"G": G, "D": D}, {"G": torch.optim.SGD(G.parameters(), 0.1), "D": torch.optim.SGD(D.parameters(), 0.1)}, objective, 2)
    from ganzoo.data import Dataset, DatasetInfo
    from ganzoo.config import RunConfig
    from ganzoo.run.folder import RunFolder
    from ganzoo.training.trainer import Trainer

    data = Dataset(torch.randn(64, 2), DatasetInfo("toy", "vector", (2,)))
    trainer = Trainer(gan, data, RunConfig(model="x", dataset="toy", steps=2, batch_size=16, seed=0, device="cpu", sample_every=100, checkpoint_every=100, log_every=100), RunFolder(tmp_path), torch.device("cpu"), progress=False)
    trainer.train_step()
    trainer.train_step()
    assert calls == ["D", "D", "D", "G"] * 2


def test_conditional_generator_output_depends_on_the_label():
    G = MLPGenerator(8, (1, 4, 4), 16, 2, tanh=True, num_classes=10).eval()
    z = torch.randn(1, 8).repeat(10, 1)
    out = G(z, torch.arange(10))
    # Same z, ten labels: ten different images.
    assert all(not torch.allclose(out[i], out[j]) for i in range(10) for j in range(i + 1, 10))
    assert torch.equal(G(z[:2], torch.tensor([3, 3]))[0], G(z[:2], torch.tensor([3, 3]))[1])


def test_projection_discriminator_adds_the_label_embedding_inner_product():
    D = MLPDiscriminator((2,), 8, 2, num_classes=3)
    x = torch.randn(5, 2)
    features = D.net[:-1](x)
    for y in range(3):
        labels = torch.full((5,), y)
        expected = D.net[-1](features).squeeze(1) + features @ D.embed.weight[y]
        assert torch.allclose(D(x, labels), expected)


@pytest.mark.slow
def test_cgan_on_ring8_puts_each_label_on_its_own_mode(tmp_path):
    """The defining promise of a cGAN: asking for mode k gives points near centre k."""
    run = ganzoo.train("cgan", "ring8", steps=600, out=tmp_path / "c", progress=False, set={"width": 64, "data.n": 4096})
    run.load()
    centres = torch.tensor(run.info.centres, dtype=torch.float64)
    hits = 0
    for k in range(8):
        points = run.sample(200, label=k, seed=k)
        nearest = torch.cdist(points.double(), centres).argmin(dim=1)
        hits += (nearest == k).float().mean().item() > 0.9
    assert hits == 8


def test_cgan_refuses_unlabelled_data():
    from ganzoo.data import DatasetInfo

    with pytest.raises(ganzoo.GanzooError, match="cgan needs a labelled dataset"):
        ganzoo.create_model("cgan", DatasetInfo("toy", "vector", (2,)))


@pytest.mark.slow
def test_sample_label_draws_that_class_and_truncation_is_refused_without_a_mapping_network(cli, tmp_path):
    run = ganzoo.train("cgan", "ring8", steps=5, out=tmp_path / "c", batch_size=32, progress=False, set={"width": 8, "data.n": 64})
    code, out, err = cli("sample", str(run.path), "--label", "7", "--out", str(tmp_path / "seven.png"))
    assert code == 0 and (tmp_path / "seven.png").stat().st_size > 0
    code, out, err = cli("sample", str(run.path), "--label", "8")
    assert code == 2 and "bad --label 8 (valid: 0-7)" in err and len(err.strip().splitlines()) == 1
    code, out, err = cli("sample", str(run.path), "--truncation", "0.7")
    assert code == 2 and "--truncation needs a model with a truncation trick" in err and "Traceback" not in err
    code, out, err = cli("sample", str(run.path), "--truncation", "nan")
    assert code == 2 and "bad --truncation" in err


@pytest.mark.slow
def test_wgan_gp_penalises_the_critic_and_logs_the_wasserstein_estimate(tmp_path):
    run = ganzoo.train("wgan-gp", "ring8", steps=4, out=tmp_path / "g", batch_size=32, progress=False, log_every=2,
                       set={"width": 16, "data.n": 256, "n_critic": 2})
    last = run.metrics()[-1]
    assert {"critic/wasserstein", "penalty/gradient", "loss/D", "loss/G"} <= set(last)
    assert math.isclose(last["critic/wasserstein"], last["critic/real"] - last["critic/fake"], rel_tol=1e-5, abs_tol=1e-6)
    # Five phases a step (n_critic 2 -> 2 D batches + 1 G batch) of 32 samples each.
    assert last["kimg"] == pytest.approx(4 * 3 * 32 / 1000)


def test_a_preset_sets_dataset_options_only_where_the_dataset_has_them(register_plugin):
    spec = ganzoo.ModelSpec(
        name="needs-32", summary="test", build=lambda info, c: None,
        presets={"image": {"data.size": 32}, "vector": {"data.size": 32}},
    )

    class Plugin:
        @ganzoo.hookimpl
        def register_models(self, register):
            register(spec)

    register_plugin(Plugin(), "needs-32")
    assert make_run_config("needs-32", "mnist").dataset_config["size"] == 32
    assert make_run_config("needs-32", "mnist", sets={"data.size": 28}).dataset_config["size"] == 28
    assert "size" not in make_run_config("needs-32", "ring8").dataset_config


IMAGE_SHAPES = [(1, 28, 28), (1, 32, 32), (3, 32, 32), (3, 64, 64)]


def _template_spec() -> ganzoo.ModelSpec:
    """The model ``ganzoo new-plugin`` writes, rendered and registered into a throwaway list."""
    import dataclasses
    import types

    from ganzoo import scaffold

    files = scaffold.render("my-gan")
    nets = types.ModuleType("ganzoo_my_gan_nets")  # what the template's build imports, without installing it
    exec(compile(files["ganzoo_my_gan_nets.py"], "ganzoo_my_gan_nets.py", "exec"), nets.__dict__)
    module = types.ModuleType("ganzoo_my_gan")
    exec(compile(files["ganzoo_my_gan.py"], "ganzoo_my_gan.py", "exec"), module.__dict__)
    specs = []
    module.register_models(specs.append)
    spec = specs[0]
    return dataclasses.replace(spec, build=nets.build_gan)


def _image_model_specs():
    registry = ganzoo.plugins.models()
    builtin = [registry.get(name) for name in registry.names() if registry.owner(name).startswith("ganzoo_plugins")]
    return [spec for spec in builtin if "image" in spec.presets] + [_template_spec()]


@pytest.mark.parametrize("shape", IMAGE_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_every_image_model_and_the_template_draws_1_or_3_channels_at_28_32_and_64_pixels(shape):
    for spec in _image_model_specs():
        info = DatasetInfo("pictures", "image", shape, num_classes=2)
        preset = spec.presets["image"]
        config = {k: p.default for k, p in spec.config.items()}
        config.update({k: v for k, v in preset.items() if k in spec.config})
        try:
            gan = spec.build(info, config)
        except ganzoo.GanzooError as exc:
            # A model that grows by doubling cannot make 28 pixels; its image preset pads MNIST to 32.
            assert shape[1] == 28 and preset.get("data.size") == 32 and "data.size" in str(exc), (spec.name, exc)
            continue
        torch.manual_seed(0)
        labels = torch.tensor([0, 1, 1, 0])
        conditional = "labels" in inspect.signature(gan.networks["G"].forward).parameters
        if gan.translation is not None:  # an image-to-image model maps images to images: it has no latents
            images = gan.translate(torch.rand(4, *shape) * 2 - 1)[1]
        else:
            images = gan.sample(4, labels if conditional else None)
        assert images.shape == (4, *shape), spec.name
        # D judges real images of this shape in every phase (at a late step: a growing model has grown)
        real = torch.rand(4, *shape) * 2 - 1
        for phase in gan.objective.phases:
            loss = gan.objective.loss(phase.name, ganzoo.Batch(real, labels if conditional else None, 10**6)).loss
            assert torch.isfinite(loss), (spec.name, phase.name)
