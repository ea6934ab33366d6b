"""stylegan-lite: the defining properties of its mechanisms, and truncation through the CLI."""

from __future__ import annotations

import pytest
import torch

import ganzoo
from ganzoo.data import Dataset, DatasetInfo
from ganzoo.penalties import r1_penalty
from ganzoo.config import RunConfig
from ganzoo.run.folder import RunFolder
from ganzoo.training.trainer import Trainer
from ganzoo_plugins.stylegan_lite import ModulatedConv2d, draw_crossover, mix_styles

IMAGES = DatasetInfo("toy", "image", (1, 32, 32))
# Small enough that a forward pass takes milliseconds.
TINY = dict(latent_dim=16, w_dim=16, mapping_depth=2, channels=4)


def _model(**overrides) -> ganzoo.GAN:
    torch.manual_seed(0)
    return ganzoo.create_model("stylegan-lite", IMAGES, **{**TINY, **overrides})


def test_demodulated_weights_have_unit_norm_per_output_channel_for_any_style():
    conv = ModulatedConv2d(6, 5, 3, w_dim=8)
    for scale in (0.01, 1.0, 100.0):
        weight = conv.modulated_weight(scale * torch.randn(4, 8))  # (n, out, in, k, k)
        norms = weight.flatten(2).norm(dim=2)
        assert torch.allclose(norms, torch.ones(4, 5), atol=1e-4)
    # ... and forward convolves each sample with exactly those weights.
    x, w = torch.randn(3, 6, 7, 7), torch.randn(3, 8)
    per_sample = torch.cat([torch.nn.functional.conv2d(x[i : i + 1], k, padding=1) for i, k in enumerate(conv.modulated_weight(w))])
    assert torch.allclose(conv(x, w), per_sample, atol=1e-5)


def test_truncation_zero_gives_one_image_for_every_z_and_one_gives_no_truncation():
    G = _model().networks["G"]
    with torch.no_grad():
        G.w_avg.copy_(G.mapping(torch.randn(4096, 16)).mean(dim=0))  # a settled running mean
    G.eval()  # sampling mode: each layer's noise is its fixed buffer, so images depend on z only
    z = torch.randn(6, 16)
    same = G(z, truncation=0.0)
    assert all(torch.allclose(same[0], same[i], atol=1e-6) for i in range(1, 6))
    assert torch.allclose(same[0], G.synthesis(G.w_avg.expand(1, G.num_ws, -1))[0], atol=1e-6)  # the image of the mean w
    plain = G(z)
    assert not torch.allclose(plain[0], plain[1])
    assert torch.allclose(G(z, truncation=1.0), plain, atol=1e-6)
    # A small psi pulls the images towards the mean image. (Not every psi does at init: the
    # coarse styles' mean is small, 0.25, and demodulation ignores their overall scale.)
    near = G(z, truncation=0.1)
    assert ((near - same).abs().mean() < (plain - same).abs().mean())


def test_sampling_is_deterministic_in_eval_mode_and_noisy_in_training_mode():
    G = _model().networks["G"]
    for conv in G.convs:
        conv.noise_strength.data.fill_(1.0)
    z = torch.randn(2, 16)
    G.eval()
    assert torch.equal(G(z), G(z))
    G.train()
    assert not torch.allclose(G(z), G(z))


def test_style_mixing_uses_two_latents_switching_at_the_crossover_layer():
    w1, w2 = torch.randn(3, 5), torch.randn(3, 5)
    ws = mix_styles(w1, w2, torch.tensor([1, 4, 8]), num_ws=8)
    for i, cut in enumerate([1, 4, 8]):
        assert all(torch.equal(ws[i, layer], w1[i] if layer < cut else w2[i]) for layer in range(8))

    G = _model().networks["G"].eval()
    z1, z2, z3 = torch.randn(3, 1, 16)
    mixed = lambda a, b, cut: G(a, z_mix=b, crossover=torch.tensor([cut]))
    # The image depends on both latents; crossover num_ws (no mixing) is the plain image of z1.
    assert not torch.allclose(mixed(z1, z2, 4), mixed(z1, z3, 4))
    assert not torch.allclose(mixed(z1, z2, 4), mixed(z3, z2, 4))
    assert torch.allclose(mixed(z1, z2, G.num_ws), G(z1), atol=1e-6)
    assert torch.allclose(mixed(z1, z2, 0), G(z2), atol=1e-6)
    # The crossover picks which layers see which w: an early switch hands more of the image to z2.
    assert not torch.allclose(mixed(z1, z2, 2), mixed(z1, z2, 6))


def test_each_style_slot_feeds_one_layer_in_order_convs_then_trgb():
    G = _model().networks["G"].eval()
    seen = []
    layers = [conv.conv for conv in G.convs] + [G.to_rgb.conv]
    hooks = [m.register_forward_hook(lambda m, args, out, i=i: seen.append((i, args[1]))) for i, m in enumerate(layers)]
    ws = torch.randn(2, G.num_ws, 16)
    G.synthesis(ws)
    for h in hooks:
        h.remove()
    assert G.num_ws == len(layers) == 8
    assert [i for i, _ in seen] == list(range(8))
    assert all(torch.allclose(w, ws[:, i] - G.w_avg) for i, w in seen)


def test_images_depend_on_w_only_relative_to_its_running_mean():
    G = _model().networks["G"].eval()
    ws = torch.randn(3, G.num_ws, 16)
    before = G.synthesis(ws)
    shift = torch.randn(16)
    G.w_avg += shift
    assert torch.allclose(G.synthesis(ws + shift), before, atol=1e-5)
    assert not torch.allclose(G.synthesis(ws), before, atol=1e-3)


def test_coarse_styles_start_at_their_own_bias_and_the_others_at_one():
    G = _model(coarse_style_bias=0.4).networks["G"]  # not the default, so ignoring the option fails
    mean_styles = [conv.conv.affine(torch.zeros(1, 16))[0] for conv in G.convs]  # the styles of w = w_avg
    resolutions = [conv.noise_const.shape[-1] for conv in G.convs]
    assert resolutions == [4, 8, 8, 16, 16, 32, 32]
    for res, s in zip(resolutions, mean_styles):
        assert torch.allclose(s, torch.full_like(s, 0.4 if res <= 8 else 1.0))
    assert torch.allclose(G.to_rgb.conv.affine(torch.zeros(1, 16)), torch.ones(1, 4 // 2))


def test_truncation_is_continuous_at_zero():
    # With a zero style bias, demodulation would make a coarse layer ignore psi except at
    # exactly 0; the nonzero coarse_style_bias keeps psi -> 0 a continuous path to the mean image.
    G = _model().networks["G"]
    with torch.no_grad():
        G.w_avg.copy_(G.mapping(torch.randn(4096, 16)).mean(dim=0))  # a settled running mean
    G.eval()
    z = torch.randn(4, 16)
    mean_image = G(z, truncation=0.0)
    distances = [(G(z, truncation=psi) - mean_image).abs().mean().item() for psi in (1.0, 0.1, 0.01, 0.001)]
    assert distances[1:] == sorted(distances[1:], reverse=True)
    assert distances[2] < 0.1 * distances[0] and distances[3] < 0.01 * distances[0]


def test_crossover_is_drawn_per_sample_with_the_mixing_probability():
    torch.manual_seed(0)
    assert torch.equal(draw_crossover(100, 8, 0.0), torch.full((100,), 8))
    always = draw_crossover(1000, 8, 1.0)
    assert always.min() == 1 and always.max() == 7 and len(always.unique()) == 7
    assert abs((draw_crossover(4000, 8, 0.9) < 8).float().mean().item() - 0.9) < 0.03


def test_mean_w_buffer_tracks_the_running_average_of_w_in_training_only():
    G = _model(w_avg_beta=0.9).networks["G"]
    expected = torch.zeros(16)
    G.train()
    for _ in range(5):
        z = torch.randn(32, 16)
        with torch.no_grad():
            w = G.mapping(z)
            G(z, z_mix=torch.randn(32, 16), crossover=torch.full((32,), 3))  # z_mix does not count
        expected = 0.9 * expected + 0.1 * w.mean(dim=0)
        assert torch.allclose(G.w_avg, expected, atol=1e-6)
    G.eval()
    G(torch.randn(32, 16))
    assert torch.allclose(G.w_avg, expected, atol=1e-6)
    # It settles at the mean w over the latent distribution.
    G = _model(w_avg_beta=0.5).networks["G"]
    with torch.no_grad():
        for _ in range(40):
            G.styles(torch.randn(256, 16), track=True)
        mean_w = G.mapping(torch.randn(20000, 16)).mean(dim=0)
    assert torch.allclose(G.w_avg, mean_w, atol=0.1 * mean_w.abs().max().item())


def _trainer(gan: ganzoo.GAN, tmp_path) -> Trainer:
    data = Dataset(torch.rand(64, 1, 32, 32) * 2 - 1, IMAGES)
    config = RunConfig(model="stylegan-lite", dataset="toy", steps=40, batch_size=8, seed=0, device="cpu",
                       sample_every=1000, checkpoint_every=1000, log_every=1000)
    return Trainer(gan, data, config, RunFolder(tmp_path), torch.device("cpu"), progress=False)


@pytest.mark.slow
def test_lazy_r1_runs_every_16_steps_on_d_with_its_weight_scaled_by_16(tmp_path):
    gan = _model(r1_gamma=0.5)
    objective = gan.objective
    r1 = next(p for p in objective.phases if p.name == "R1")
    assert (r1.network, r1.optimizer, r1.every) == ("D", "D", 16)

    ran = []
    loss = objective.loss
    objective.loss = lambda phase, batch: (ran.append((batch.step, phase)), loss(phase, batch))[1]
    trainer = _trainer(gan, tmp_path)
    for _ in range(33):
        trainer.train_step()
    assert [step for step, phase in ran if phase == "R1"] == [0, 16, 32]
    assert sum(phase == "D" for _, phase in ran) == sum(phase == "G" for _, phase in ran) == 33

    real = torch.randn(8, 1, 32, 32)
    x = real.clone().requires_grad_(True)
    expected = 0.5 / 2 * 16 * r1_penalty(gan.networks["D"](x), x)
    assert torch.allclose(loss("R1", ganzoo.Batch(real, None, 0)).loss, expected)


@pytest.mark.slow
def test_samples_come_from_the_ema_generator(tmp_path):
    gan = _model()
    trainer = _trainer(gan, tmp_path)
    for _ in range(3):
        trainer.train_step()
    G, ema = gan.networks["G"], gan.networks["G_ema"]
    assert gan.sampling_generator is ema
    assert not torch.equal(G.const, ema.const)
    assert torch.equal(G.w_avg, ema.w_avg)  # buffers are copied, weights averaged
    z = torch.randn(4, 16, generator=torch.Generator().manual_seed(7))
    samples = gan.sample(4, generator=torch.Generator().manual_seed(7), truncation=0.7)
    assert torch.allclose(samples, ema.eval()(z, truncation=0.7))
    assert not torch.allclose(samples, G.eval()(z, truncation=0.7))


def test_it_refuses_other_image_sizes_and_vector_data():
    with pytest.raises(ganzoo.GanzooError, match=r"28x28 \(use --set data.size=32 or 64\)"):
        ganzoo.create_model("stylegan-lite", DatasetInfo("mnist", "image", (1, 28, 28)))
    with pytest.raises(ganzoo.GanzooError, match=r"48x48"):
        ganzoo.create_model("stylegan-lite", DatasetInfo("faces", "image", (3, 48, 48)))
    with pytest.raises(ganzoo.GanzooError, match="stylegan-lite is for images"):
        ganzoo.create_model("stylegan-lite", DatasetInfo("ring8", "vector", (2,)))


def _one_line_error(code, err, needle):
    assert code == 2 and len(err.strip().splitlines()) == 1 and needle in err, (code, err)


@pytest.mark.slow
def test_cli_samples_with_truncation_and_refuses_it_for_vanilla(cli, tmp_path):
    run = tmp_path / "sg"
    small = [f"--set={k}={v}" for k, v in TINY.items()]
    code, _, err = cli("run", "--model", "stylegan-lite", "--steps", "2", "--batch-size", "4", "--out", str(run), "--quiet", *small)
    assert code == 0, err
    code, _, err = cli("sample", str(run), "--n", "16", "--truncation", "0.7", "--out", str(tmp_path / "t.png"))
    assert code == 0, err
    assert (tmp_path / "t.png").stat().st_size > 500
    code, _, err = cli("sample", str(run), "--truncation", "3", "--out", str(tmp_path / "x.png"))
    _one_line_error(code, err, "bad --truncation 3")

    code, _, err = cli("run", "--model", "vanilla", "--dataset", "ring8", "--steps", "2", "--set", "width=8", "--set", "depth=1",
                       "--set", "data.n=64", "--batch-size", "8", "--out", str(tmp_path / "v"), "--quiet")
    assert code == 0, err
    code, _, err = cli("sample", str(tmp_path / "v"), "--truncation", "0.7", "--out", str(tmp_path / "v.png"))
    _one_line_error(code, err, "--truncation needs a model with a truncation trick")


def _widths(G) -> dict[int, int]:
    """Feature maps per resolution as built: each styled conv's output channels at its noise's resolution."""
    return {conv.noise_const.shape[-1]: conv.conv.weight.shape[0] for conv in G.convs}


def test_64x64_rgb_synthesis_adds_a_doubling_with_the_cpu_schedule_halving_above_16px():
    torch.manual_seed(0)
    gan = ganzoo.create_model("stylegan-lite", DatasetInfo("faces", "image", (3, 64, 64)), **{**TINY, "channels": 8})
    G, D = gan.networks["G"], gan.networks["D"]
    assert G.num_ws == 2 * 4 + 1 + 1  # one conv at 4x4, two per doubling to 64, one tRGB
    assert _widths(G) == {4: 8, 8: 8, 16: 8, 32: 4, 64: 2}
    assert D.from_rgb.weight.shape[:2] == (2, 3)  # D reads RGB into the 64x64 width
    z = torch.randn(3, TINY["latent_dim"])
    images = G(z)
    assert images.shape == (3, 3, 64, 64)
    assert D(images).shape == (3,)


def test_capacity_gpu_gives_the_papers_widths_and_channels_scales_a_schedule():
    info = DatasetInfo("faces", "image", (3, 64, 64))
    gpu = ganzoo.create_model("stylegan-lite", info, latent_dim=8, w_dim=8, capacity="gpu").networks["G"]
    assert _widths(gpu) == {4: 512, 8: 512, 16: 512, 32: 512, 64: 256}  # StyleGAN2-ADA: min(16384 / res, 512)
    half = ganzoo.create_model("stylegan-lite", info, latent_dim=8, w_dim=8, capacity="gpu", channels=64).networks["G"]
    assert _widths(half) == {4: 64, 8: 64, 16: 64, 32: 64, 64: 32}
    cpu = ganzoo.create_model("stylegan-lite", IMAGES, latent_dim=8, w_dim=8).networks["G"]
    assert _widths(cpu) == {4: 32, 8: 32, 16: 32, 32: 16}  # the default at 32x32, as before capacities existed
    with pytest.raises(ganzoo.GanzooError, match="capacity.*valid: cpu, gpu"):
        ganzoo.create_model("stylegan-lite", info, capacity="tpu")
