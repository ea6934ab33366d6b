"""progan-lite: the growing schedule, fade-in of G, D and the reals, exact resume mid-fade,
equalized learning rate, minibatch standard deviation and sampling from the EMA generator."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import ganzoo
from ganzoo.training.checkpoint import load_checkpoint
from ganzoo.model import Batch
from ganzoo.nn import EqualizedConv2d, EqualizedLinear, MinibatchStdDev
from ganzoo_plugins.progan_lite import fade_reals, schedule

IMAGES16 = ganzoo.DatasetInfo("toy", "image", (1, 16, 16))
SMALL = {"channels": 8, "latent_dim": 8}
# 16x16 images grow 4 -> 8 -> 16: stage 0 for steps 0-1, 8x8 fades in over steps 2-5 and
# stabilises over 6-7, 16x16 fades in over 8-11 (alpha 0, 1/4, 1/2, 3/4) and stays from 12 on.
TINY_RUN = dict(set={**SMALL, "stable_steps": 2, "fade_steps": 4}, batch_size=8, log_every=1, progress=False)


class _ToyImages:
    """64 noise images of 16x16: training runs without the seconds it takes to parse the bundled MNIST."""

    @ganzoo.hookimpl
    def register_datasets(self, register):
        def build(config):
            x = torch.rand(64, *IMAGES16.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
            return ganzoo.Dataset(x, ganzoo.DatasetInfo("progan-toy", "image", IMAGES16.shape))

        register(ganzoo.DatasetSpec(name="progan-toy", summary="noise images for progan-lite's tests", kind="image", build=build))


@pytest.fixture
def toy_images(register_plugin) -> str:
    register_plugin(_ToyImages(), "progan-toy-images")
    return "progan-toy"


def _model(**overrides) -> ganzoo.GAN:
    torch.manual_seed(0)
    return ganzoo.create_model("progan-lite", IMAGES16, **{**SMALL, **overrides})


def _avg_pool(x: torch.Tensor, k: int) -> torch.Tensor:
    n, c, h, w = x.shape
    return x.reshape(n, c, h // k, k, w // k, k).mean(dim=(3, 5))


def _nearest_up(x: torch.Tensor, k: int) -> torch.Tensor:
    return x.repeat_interleave(k, dim=2).repeat_interleave(k, dim=3)


def test_alpha_rises_continuously_within_each_fade_and_the_resolution_doubles_on_schedule():
    stabilize, fade, n_stages = 7, 10, 4
    steps = range(0, stabilize + 3 * (stabilize + fade) + 20)
    progress = [schedule(s, stabilize, fade, n_stages) for s in steps]
    resolutions = [4 << stage for stage, _ in progress]
    doublings = [s for s in steps[1:] if resolutions[s] != resolutions[s - 1]]
    assert doublings == [stabilize + k * (stabilize + fade) for k in range(3)]
    assert all(resolutions[s] == 2 * resolutions[s - 1] for s in doublings)
    assert resolutions[-1] == 32  # the last stage stays
    for start in doublings:
        alphas = [progress[s][1] for s in range(start, start + fade + 1)]
        assert alphas[0] == 0.0 and alphas[-1] == 1.0
        assert all(0 < b - a <= 1 / fade + 1e-12 for a, b in zip(alphas, alphas[1:]))  # monotone, small steps
        assert all(progress[s][1] == 1.0 for s in range(start + fade, start + fade + stabilize))
    assert all(alpha == 1.0 for s, (_, alpha) in enumerate(progress) if s < stabilize)


def test_the_objective_sets_the_schedule_on_both_networks_and_logs_it():
    gan = _model(stable_steps=2, fade_steps=4)
    G, D = gan.networks["G"], gan.networks["D"]
    real = torch.rand(8, 1, 16, 16) * 2 - 1
    z = torch.randn(3, 8)
    for step in range(14):
        result = gan.objective.loss("G", Batch(real, None, step))
        stage, alpha = schedule(step, 2, 4, 3)
        for net in (G, D):
            assert (int(net.stage), float(net.alpha)) == (stage, pytest.approx(alpha))
        assert result.scalars["progan/alpha"].item() == pytest.approx(alpha)
        assert result.scalars["progan/resolution"].item() == 4 << stage
        assert G.at_stage(z).shape[-1] == 4 << stage
        assert G(z).shape == (3, 1, 16, 16)  # always the data's full size, for pictures and sampling


def test_a_new_resolution_fades_in_from_exactly_the_previous_networks():
    gan = _model()
    G, D = gan.networks["G"], gan.networks["D"]
    z = torch.randn(5, 8)
    real = torch.rand(8, 1, 16, 16) * 2 - 1
    for stage in (1, 2):
        G.grow_to(stage - 1, 1.0)
        D.grow_to(stage - 1, 1.0)
        before_g, before_d = G(z), D(fade_reals(real, stage - 1, 1.0))
        G.grow_to(stage, 0.0)
        D.grow_to(stage, 0.0)
        assert torch.equal(G(z), before_g)  # alpha 0: the new layers have no weight yet
        assert torch.allclose(D(fade_reals(real, stage, 0.0)), before_d, atol=1e-6)
        # In between, the output moves linearly with alpha, so small steps of alpha give small changes.
        G.grow_to(stage, 1.0)
        after = G(z)
        for alpha in (0.25, 0.5, 0.75):
            G.grow_to(stage, alpha)
            assert torch.allclose(G(z), torch.lerp(before_g, after, alpha), atol=1e-5)
        assert not torch.allclose(after, before_g, atol=1e-3)


def test_real_images_are_faded_between_two_resolutions_with_the_generators_alpha():
    real = torch.rand(8, 1, 16, 16) * 2 - 1
    expected = 0.7 * _nearest_up(_avg_pool(real, 4), 2) + 0.3 * _avg_pool(real, 2)
    assert torch.allclose(fade_reals(real, 1, 0.3), expected, atol=1e-6)
    assert torch.allclose(fade_reals(real, 2, 1.0), real)

    gan = _model(stable_steps=2, fade_steps=4)
    seen = []
    critic = gan.objective.D
    gan.objective.D = lambda x: seen.append(x.detach()) or critic(x)
    gan.objective.loss("D", Batch(real, None, 9))  # 16x16 fading in, alpha 1/4
    G = gan.networks["G"]
    assert (int(G.stage), float(G.alpha)) == (2, 0.25)
    assert torch.equal(seen[0], fade_reals(real, 2, float(G.alpha)))
    assert torch.allclose(seen[0], 0.75 * _nearest_up(_avg_pool(real, 2), 2) + 0.25 * real, atol=1e-6)
    assert seen[1].shape == real.shape  # the fakes, at the same resolution


def _state(run_dir) -> dict[str, torch.Tensor]:
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    flat = {f"net.{n}.{k}": v for n, sd in state["networks"].items() for k, v in sd.items()}
    for n, sd in state["optimizers"].items():
        for pid, s in sd["state"].items():
            flat.update({f"opt.{n}.{pid}.{k}": v for k, v in s.items()})
    return flat


@pytest.mark.slow
def test_a_run_resumed_mid_fade_matches_an_uninterrupted_one_bit_for_bit(tmp_path, toy_images):
    whole = ganzoo.train("progan-lite", toy_images, steps=14, out=tmp_path / "whole", **TINY_RUN)
    part = ganzoo.train("progan-lite", toy_images, steps=10, out=tmp_path / "part", **TINY_RUN)
    stopped = _state(part.path)
    # The checkpoint holds the stage and alpha of the last step trained (step 9), in G, D and the EMA copy.
    for net in ("G", "D", "G_ema"):
        assert (int(stopped[f"net.{net}.stage"]), float(stopped[f"net.{net}.alpha"])) == (2, 0.25)
    loaded = ganzoo.load_run(part.path)
    assert float(loaded.gan.sampling_generator.alpha) == 0.25 and loaded.sample(2).shape == (2, 1, 16, 16)

    resumed = ganzoo.resume(part.path, steps=14, progress=False)
    a, b = _state(whole.path), _state(resumed.path)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs"
    untimed = lambda run: [{k: v for k, v in r.items() if k != "time"} for r in run.metrics()]
    assert untimed(resumed) == untimed(whole)
    assert [r["progan/alpha"] for r in whole.metrics()[8:12]] == [0.0, 0.25, 0.5, 0.75]
    assert [r["progan/resolution"] for r in whole.metrics()] == [4] * 2 + [8] * 6 + [16] * 6


def _equalized_layers(gan: ganzoo.GAN):
    return [m for name in ("G", "D") for m in gan.networks[name].modules() if isinstance(m, (EqualizedConv2d, EqualizedLinear))]


def test_every_layer_has_an_equalized_learning_rate():
    gan = _model(channels=64)
    for name in ("G", "D"):
        assert not any(isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) for m in gan.networks[name].modules())
    layers = _equalized_layers(gan)
    x = {}
    for layer in layers:
        fan_in = layer.weight[0].numel()
        assert layer.scale == pytest.approx(1 / math.sqrt(fan_in))  # He's constant, applied at run time
        if layer.weight.numel() >= 1000:
            assert 0.9 < layer.weight.std().item() < 1.1  # stored weights are N(0, 1) whatever the fan-in
        if isinstance(layer, EqualizedConv2d):
            x = torch.randn(2, layer.weight.shape[1], 6, 6)
            ref = F.conv2d(x, layer.weight / math.sqrt(fan_in), layer.bias, padding=layer.padding)
        else:
            x = torch.randn(2, layer.weight.shape[1])
            ref = F.linear(x, layer.weight / math.sqrt(fan_in), layer.bias)
        assert torch.allclose(layer(x), ref, atol=1e-5)

    # The point of it: one Adam step moves every layer's effective weights by the same fraction
    # of their scale (lr), whatever the layer's fan-in.
    lr = 1e-3
    G, D = gan.networks["G"], gan.networks["D"]
    G.grow_to(2, 1.0)
    D.grow_to(2, 1.0)
    before = [layer.weight.detach().clone() * layer.scale for layer in layers]
    for name in ("D", "G"):
        gan.optimizers[name].zero_grad()
        gan.objective.loss(name, Batch(torch.rand(8, 1, 16, 16) * 2 - 1, None, 10**6)).loss.backward()
        gan.optimizers[name].step()
    trained = [(layer, old) for layer, old in zip(layers, before) if layer.weight.grad is not None]
    assert len(trained) == len(layers) - 4  # all but the toRGB and fromRGB layers of 4x4 and 8x8
    for layer, old in trained:
        relative = (layer.weight.detach() * layer.scale - old).abs().median() / old.std()
        assert relative.item() == pytest.approx(lr, rel=0.25)


def test_the_critic_sees_the_standard_deviation_across_its_minibatch_group():
    gan = _model(mbstd_group=4)
    D = gan.networks["D"]
    D.grow_to(2, 1.0)
    mbstd = next(m for m in D.modules() if isinstance(m, MinibatchStdDev))
    captured = {}
    mbstd.register_forward_hook(lambda module, inputs, output: captured.update(x=inputs[0], out=output))
    real = torch.rand(8, 1, 16, 16) * 2 - 1
    scores = D(real)
    features, out = captured["x"], captured["out"]
    # Batch 8 in groups of 4: sample i is grouped with i+2, i+4, i+6.
    group = features[[0, 2, 4, 6]]
    expected = (group.var(dim=0, unbiased=False) + 1e-8).sqrt().mean()
    assert torch.allclose(out[0, -1], expected.expand_as(out[0, -1]), atol=1e-6)
    assert torch.allclose(out[:, :-1], features)

    # So a sample's score depends on the other members of its group and on nobody else.
    changed_mate, changed_other = real.clone(), real.clone()
    changed_mate[2] = -changed_mate[2]
    changed_other[1] = -changed_other[1]
    assert not torch.allclose(D(changed_mate)[0], scores[0])
    assert torch.equal(D(changed_other)[0], scores[0])
    same = D(real[:1].expand(8, -1, -1, -1).contiguous())  # identical samples: zero spread
    assert captured["out"][:, -1].max().item() < 1e-3 and torch.allclose(same, same[0].expand(8))


@pytest.mark.slow
def test_samples_come_from_the_ema_generator(tmp_path, toy_images):
    run = ganzoo.train("progan-lite", toy_images, steps=6, out=tmp_path / "r", **TINY_RUN)
    gan = ganzoo.load_run(run.path).gan
    G, ema = gan.networks["G"], gan.networks["G_ema"]
    assert gan.sampling_generator is ema
    assert (int(ema.stage), float(ema.alpha)) == (int(G.stage), float(G.alpha)) == (1, 0.75)
    z = torch.randn(4, 8, generator=torch.Generator().manual_seed(5))
    ema.eval()
    G.eval()
    with torch.no_grad():
        assert torch.equal(run.sample(4, seed=5), ema(z))
        assert not torch.allclose(ema(z), G(z), atol=1e-4)


def test_non_image_data_and_sizes_it_cannot_grow_to_are_one_line_errors():
    with pytest.raises(ganzoo.GanzooError, match="progan-lite is for images"):
        ganzoo.create_model("progan-lite", ganzoo.DatasetInfo("ring8", "vector", (2,)))
    for shape in ((1, 28, 28), (1, 32, 16), (1, 4, 4)):
        with pytest.raises(ganzoo.GanzooError, match=r"--set data\.size=32") as err:
            ganzoo.create_model("progan-lite", ganzoo.DatasetInfo("mnist", "image", shape))
        assert "\n" not in str(err.value)
    assert ganzoo.create_model("progan-lite", ganzoo.DatasetInfo("rgb", "image", (3, 32, 32)), **SMALL).sample(2).shape == (2, 3, 32, 32)


def test_it_grows_to_64x64_rgb_with_the_capacitys_channel_schedule():
    info = ganzoo.DatasetInfo("faces", "image", (3, 64, 64))
    torch.manual_seed(0)
    gan = ganzoo.create_model("progan-lite", info, latent_dim=8, channels=8)
    G, D = gan.networks["G"], gan.networks["D"]
    assert [rgb.weight.shape[:2] for rgb in G.to_rgb] == [(3, 8)] * 5  # 4, 8, 16, 32, 64: floor 8 on the cpu schedule
    for net in (G, D):
        net.grow_to(4, 0.5)  # fading in 64x64
    z = torch.randn(4, 8)
    assert G.at_stage(z).shape == (4, 3, 64, 64) and G(z).shape == (4, 3, 64, 64)
    assert D(G.at_stage(z)).shape == (4,)
    widths = lambda **c: [rgb.weight.shape[1] for rgb in ganzoo.create_model("progan-lite", info, latent_dim=8, **c).networks["G"].to_rgb]
    assert widths() == [32, 32, 16, 8, 8]  # cpu: 32 at 4x4 and 8x8, halved above, at least 8
    assert widths(capacity="gpu") == [512, 512, 512, 512, 256]  # the paper's
    assert widths(channels=64) == [64, 64, 32, 16, 8]
