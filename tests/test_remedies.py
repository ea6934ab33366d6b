"""Collapse remedies every model gets without code (ganzoo/remedies.py): each one's defining property, its errors, and resume."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import ganzoo
from ganzoo import remedies
from ganzoo.config import Param
from ganzoo.data import DatasetInfo
from ganzoo.errors import GanzooError
from ganzoo.losses import d_minimax_loss, g_nonsaturating_loss
from ganzoo.model import Batch
from ganzoo.nn import MLPDiscriminator
from ganzoo.objectives import AdversarialObjective
from ganzoo.run.config import make_run_config
from ganzoo.specs import ModelSpec, SpecError

RING = DatasetInfo("ring8", "vector", (2,), num_classes=8)
IMAGES = DatasetInfo("toy", "image", (1, 8, 8))
SMALL = {"width": 16, "depth": 2, "latent_dim": 4}


class ConvD(nn.Module):
    """A discriminator of convolutions only (no nn.Linear)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 4, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(4, 1, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(torch.nn.functional.leaky_relu(self.conv1(x), 0.2)).flatten()


class ConvG(nn.Module):
    def __init__(self, shape) -> None:
        super().__init__()
        self.shape = tuple(shape)
        self.net = nn.Linear(4, self.shape[0] * self.shape[1] * self.shape[2])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(z)).view(-1, *self.shape)


class ConvToyPlugin:
    """``conv-toy``: a conv-only D, built for whatever channels the data has."""

    @ganzoo.hookimpl
    def register_models(self, register):
        def build(info, c):
            G, D = ConvG(info.shape), ConvD(info.shape[0])
            return ganzoo.GAN(
                networks={"G": G, "D": D},
                optimizers={"G": torch.optim.Adam(G.parameters(), 1e-3), "D": torch.optim.Adam(D.parameters(), 1e-3)},
                objective=AdversarialObjective(G, D, 4, d_minimax_loss, g_nonsaturating_loss),
                latent_dim=4,
            )

        register(ModelSpec(name="conv-toy", summary="conv-only D for the remedy tests", build=build))


@pytest.fixture
def conv_toy(register_plugin):
    register_plugin(ConvToyPlugin(), "conv-toy")
    return "conv-toy"


@pytest.fixture
def inner_inputs(monkeypatch):
    """What D's own (class) forward receives, after the remedies' input stages."""
    seen: list[torch.Tensor] = []
    for cls in (MLPDiscriminator, ConvD):
        original = cls.forward

        def recording(self, x, *args, original=original, **kwargs):
            seen.append(x.detach().clone())
            return original(self, x, *args, **kwargs)

        monkeypatch.setattr(cls, "forward", recording)
    return seen


# -- options ---------------------------------------------------------------------------------


def test_every_model_has_the_remedies_as_options_recorded_with_its_own():
    config = make_run_config("vanilla", "ring8", sets={"pack": 2, "spectral_norm": True})
    assert config.model_config["pack"] == 2 and config.model_config["spectral_norm"] is True
    assert config.model_config["mbstd"] == 0 and config.model_config["diffaugment"] == "none"
    for spec in ganzoo.plugins.models():
        if spec.discriminator:
            assert set(remedies.REMEDY_SCHEMA) <= set(make_run_config(spec.name, "mnist").model_config)


def test_a_config_written_before_the_remedies_builds_the_same_model():
    config = make_run_config("vanilla", "ring8", sets=SMALL)
    old = {k: v for k, v in config.model_config.items() if k not in remedies.REMEDY_SCHEMA}
    assert remedies.split(ganzoo.plugins.models().get("vanilla").config, old)[1] == {
        k: p.default for k, p in remedies.REMEDY_SCHEMA.items()}


def test_the_plugin_builder_gets_only_its_own_options(register_plugin):
    got = {}
    vanilla = ganzoo.plugins.models().get("vanilla")

    class Plugin:
        @ganzoo.hookimpl
        def register_models(self, register):
            def build(info, c):
                got.update(c)
                return vanilla.build(info, c)
            register(ModelSpec(name="own-options", summary="records its options", build=build, config=vanilla.config))

    register_plugin(Plugin(), "own-options")
    ganzoo.create_model("own-options", RING, spectral_norm=True, **SMALL)
    assert set(got) == set(vanilla.config)


def test_a_model_may_not_declare_a_remedy_as_its_own_option():
    with pytest.raises(SpecError, match="'pack' is a collapse remedy"):
        ModelSpec(name="clash", summary="x", build=lambda info, c: None, config={"pack": Param(1)})


@pytest.mark.parametrize("sets, dataset, message", [
    ({"pack": 0}, "ring8", "bad value for pack: 0"),
    ({"pack": 3}, "ring8", "pack=3 needs a batch size divisible by 3"),
    ({"mbstd": 1}, "ring8", "valid: 0 = off, or a group size >= 2"),
    ({"diffaugment": "translation,colour"}, "mnist", "unknown augmentation 'colour'; valid: none, or a comma-separated list of color, translation, cutout"),
    ({"diffaugment": "color,color"}, "mnist", "named twice"),
    ({"diffaugment": "color"}, "ring8", "diffaugment augments images; this data is vector"),
    ({"spectral_norm": "yes"}, "ring8", "bad value for spectral_norm"),
])
def test_bad_remedy_values_are_one_line_errors_naming_the_valid_ones(sets, dataset, message):
    with pytest.raises(GanzooError, match=message.replace("(", r"\(")) as info:
        make_run_config("vanilla", dataset, sets=sets)
    assert "\n" not in str(info.value)


def test_the_cli_says_a_bad_remedy_in_one_line_and_exits_2(cli, tmp_path):
    code, out, err = cli("run", "--model", "cgan", "--dataset", "ring8", "--set", "pack=2", "--steps", "1", "--out", str(tmp_path / "r"))
    assert code == 2 and err.count("\n") == 1 and "pack=2 needs an unconditional model" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_the_model_listing_shows_the_remedies(cli):
    code, out, _ = cli("models", "wgan")
    assert code == 0 and "collapse remedies" in out
    assert all(key in out for key in remedies.REMEDY_SCHEMA)
    code, out, _ = cli("models", "wgan", "--json")
    assert code == 0 and list(json.loads(out)["remedies"]) == list(remedies.REMEDY_SCHEMA)


def test_remedies_off_leave_the_discriminator_as_the_plugin_built_it():
    torch.manual_seed(0)
    plain = ganzoo.create_model("vanilla", RING, **SMALL)
    torch.manual_seed(0)
    off = ganzoo.create_model("vanilla", RING, pack=1, mbstd=0, spectral_norm=False, diffaugment="none", **SMALL)
    assert "forward" not in vars(off.networks["D"])
    assert off.networks["D"].state_dict().keys() == plain.networks["D"].state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(off.networks["D"].state_dict().values(), plain.networks["D"].state_dict().values()))


# -- packing ---------------------------------------------------------------------------------


def test_packed_d_sees_packs_of_m_samples_each_all_real_or_all_fake(inner_inputs):
    torch.manual_seed(0)
    gan = ganzoo.create_model("vanilla", RING, pack=4, **SMALL)
    real = torch.full((16, 2), 100.0) + torch.randn(16, 2)  # reals far from anything G makes at initialisation
    gan.objective.loss("D", Batch(real, None, 0))
    assert [tuple(x.shape) for x in inner_inputs] == [(4, 8), (4, 8)]  # (n/m, m*d): one call on reals, one on fakes
    kinds = set()
    for x in inner_inputs:
        samples = x.view(4, 4, 2)  # packs, members, features
        for pack in samples:
            is_real = pack.abs().min(dim=1).values > 50
            assert is_real.all() or not is_real.any()  # never mixed
            kinds.add(bool(is_real.all()))
    assert kinds == {True, False}
    assert torch.equal(inner_inputs[0].view(16, 2), real)  # consecutive samples, concatenated in order


def test_packed_image_d_is_built_for_m_times_the_channels(conv_toy, inner_inputs):
    gan = ganzoo.create_model(conv_toy, IMAGES, pack=2)
    D = gan.networks["D"]
    assert D.conv1.in_channels == 2 and gan.objective.D is D
    assert {id(p) for p in D.parameters()} == {id(p) for g in gan.optimizers["D"].param_groups for p in g["params"]}
    x = torch.randn(6, 1, 8, 8)
    assert D(x).shape == (3,)
    assert inner_inputs[-1].shape == (3, 2, 8, 8) and torch.equal(inner_inputs[-1][1, 1], x[3, 0])
    with pytest.raises(GanzooError, match="not divisible by 2"):
        D(x[:5])


def test_pack_refuses_a_conditional_model():
    with pytest.raises(GanzooError, match="pack=2 needs an unconditional model"):
        ganzoo.create_model("cgan", RING, pack=2)


def test_packed_d_trains_in_the_g_phase_and_with_a_gradient_penalty():
    torch.manual_seed(0)
    gan = ganzoo.create_model("wgan-gp", RING, pack=2)
    real = torch.randn(8, 2)
    gan.objective.loss("D", Batch(real, None, 0)).loss.backward()
    gan.objective.loss("G", Batch(real, None, 0)).loss.backward()
    assert all(p.grad is not None for p in gan.networks["G"].parameters())


# -- minibatch standard deviation --------------------------------------------------------------


def test_mbstd_makes_a_samples_score_depend_on_the_rest_of_its_batch():
    torch.manual_seed(0)
    plain = ganzoo.create_model("vanilla", RING, **SMALL).networks["D"]
    D = ganzoo.create_model("vanilla", RING, mbstd=4, **SMALL).networks["D"]
    x = torch.randn(8, 2)
    y = x.clone()
    y[1:] *= 3  # the same first sample in a more spread batch
    assert not torch.allclose(D(x)[0], D(y)[0])
    assert torch.allclose(plain(x)[0], plain(y)[0])
    assert D.net[-1].in_features == SMALL["width"] + 1


def test_mbstd_keeps_the_parameters_its_optimizer_trains():
    gan = ganzoo.create_model("vanilla", RING, mbstd=4, **SMALL)
    D = gan.networks["D"]
    assert {id(p) for p in D.parameters()} == {id(p) for g in gan.optimizers["D"].param_groups for p in g["params"]}


def test_mbstd_needs_a_final_linear(conv_toy):
    with pytest.raises(GanzooError, match="mbstd=4 .* has none"):
        ganzoo.create_model(conv_toy, IMAGES, mbstd=4)


# -- spectral normalisation --------------------------------------------------------------------


@pytest.mark.parametrize("model, info", [("vanilla", RING), ("conv-toy", IMAGES)])
def test_spectral_norm_makes_each_layers_largest_singular_value_one(model, info, conv_toy):
    torch.manual_seed(0)
    gan = ganzoo.create_model(model, info, spectral_norm=True, **(SMALL if model == "vanilla" else {}))
    D = gan.networks["D"]
    x = torch.randn(8, *info.shape)
    for _ in range(5):  # a few power iterations (one per training forward)
        D(x)
    layers = [m for m in D.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    assert layers
    with torch.no_grad():
        for layer in layers:
            sigma = torch.linalg.matrix_norm(layer.weight.flatten(1), ord=2)
            assert sigma == pytest.approx(1.0, abs=1e-2)
    trained = {id(p) for g in gan.optimizers["D"].param_groups for p in g["params"]}
    assert {id(layer.parametrizations.weight.original) for layer in layers} <= trained


def test_spectral_norm_and_mbstd_compose():
    gan = ganzoo.create_model("vanilla", RING, spectral_norm=True, mbstd=2, pack=2, **SMALL)
    last = gan.networks["D"].net[-1]
    assert hasattr(last, "parametrizations") and last.in_features == SMALL["width"] + 1
    assert gan.networks["D"](torch.randn(8, 2)).shape == (4,)


# -- DiffAugment -------------------------------------------------------------------------------


def test_diffaugment_reaches_reals_and_fakes_and_lets_gradients_through_to_g(conv_toy, inner_inputs):
    torch.manual_seed(0)
    gan = ganzoo.create_model(conv_toy, IMAGES, diffaugment="color,translation,cutout")
    real = torch.rand(8, 1, 8, 8) * 2 - 1
    torch.manual_seed(1)
    gan.objective.loss("D", Batch(real, None, 0))
    seen_real, seen_fake = inner_inputs
    torch.manual_seed(1)
    with torch.no_grad():
        fake = gan.networks["G"](torch.randn(8, 4))  # the fakes that D phase made (its first draw is the latents)
    assert seen_real.shape == seen_fake.shape == real.shape
    assert not torch.allclose(seen_real, real) and not torch.allclose(seen_fake, fake)
    # G's phase: D sees augmented fakes, and the loss's gradient reaches G's output.
    G, D = gan.networks["G"], gan.networks["D"]
    fake = G(torch.randn(8, 4)).detach().requires_grad_(True)
    D(fake).sum().backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    assert not torch.equal(inner_inputs[-1], fake.detach())


def test_diffaugment_is_drawn_per_sample_and_only_in_training_mode(conv_toy, inner_inputs):
    gan = ganzoo.create_model(conv_toy, IMAGES, diffaugment="translation")
    D = gan.networks["D"]
    same = torch.randn(1, 1, 8, 8).expand(16, -1, -1, -1).contiguous()
    D(same)
    augmented = inner_inputs[-1]
    assert len({tuple(a.flatten().tolist()) for a in augmented}) > 1
    D.eval()
    D(same)
    assert torch.equal(inner_inputs[-1], same)


def test_translation_shifts_by_up_to_an_eighth_with_zeros_coming_in():
    torch.manual_seed(0)
    x = torch.arange(1, 1 + 16 * 16, dtype=torch.float).view(1, 1, 16, 16).repeat(64, 1, 1, 1)
    out = remedies.diff_augment(x, ("translation",))
    shifts = set()
    for image in out[:, 0]:
        nonzero = image.nonzero()
        top, left = nonzero.min(0).values.tolist()
        bottom, right = nonzero.max(0).values.tolist()
        dy, dx = (top or -(15 - bottom)), (left or -(15 - right))
        assert abs(dy) <= 2 and abs(dx) <= 2  # 16/8
        shifted = torch.roll(x[0, 0], (dy, dx), (0, 1))
        assert torch.equal(image[image != 0], shifted[image != 0])
        shifts.add((dy, dx))
    assert len(shifts) > 5


def test_cutout_zeroes_a_square_of_half_the_side_and_color_changes_each_image():
    torch.manual_seed(0)
    x = torch.ones(256, 3, 16, 16)
    holes = (remedies.diff_augment(x, ("cutout",))[:, 0] == 0).sum(dim=(1, 2))
    assert holes.max() == 64 and holes.min() >= 16  # 8x8, clipped at the borders to no less than 4x4
    colored = remedies.diff_augment(torch.rand(64, 3, 8, 8) * 2 - 1, ("color",))
    assert colored.shape == (64, 3, 8, 8) and colored.flatten(1).mean(1).std() > 0.1


def test_color_changes_each_image_of_a_pair_on_its_own_by_the_same_factors():
    # An image-to-image D judges (input, image) side by side: colour must not blend one into the other.
    torch.manual_seed(0)
    inputs, images = torch.zeros(8, 1, 4, 4), torch.rand(8, 1, 4, 4) * 2 - 1
    torch.manual_seed(1)
    paired = remedies.diff_augment(torch.cat([inputs, images], dim=1), ("color",), channels=1)
    torch.manual_seed(1)
    alone = remedies.diff_augment(images, ("color",), channels=1)
    # the all-zero input gets only the sample's brightness and contrast (its own mean), never the image's pixels
    assert torch.allclose(paired[:, 0].flatten(1).std(1), torch.zeros(8), atol=1e-6)
    torch.manual_seed(1)
    brightness = torch.rand(8) - 0.5
    assert torch.allclose(paired[:, 0, 0, 0], brightness, atol=1e-6)
    assert torch.equal(paired[:, 1], alone[:, 0])  # the image changes exactly as it would alone


# -- training and resuming ---------------------------------------------------------------------


TINY = dict(steps=20, batch_size=16, log_every=10, sample_every=20, checkpoint_every=10, seed=0, progress=False)


@pytest.mark.slow
def test_a_packed_run_trains_resumes_and_samples(tmp_path):
    run = ganzoo.train("vanilla", "ring8", out=tmp_path / "pack", set={"pack": 2, "width": 32, "data.n": 512}, **TINY)
    assert "pack: 2" in (run.path / "config.yaml").read_text()
    resumed = ganzoo.resume(run.path, steps=30, progress=False)
    assert resumed.result.step == 30 and not resumed.interrupted
    assert ganzoo.load_run(run.path).sample(8).shape == (8, 2)


@pytest.mark.slow
def test_every_remedy_at_once_on_images_trains_and_resumes_with_matching_checkpoint_keys(tmp_path):
    sets = {"pack": 2, "mbstd": 2, "spectral_norm": True, "diffaugment": "color,translation,cutout", "unroll": 1, "width": 16, "depth": 1, "data.size": 16}
    run = ganzoo.train("vanilla", "mnist", out=tmp_path / "all", set=sets, **{**TINY, "steps": 4, "checkpoint_every": 2, "sample_every": 4, "log_every": 2})
    state = torch.load(run.path / "checkpoints" / "last.pt", weights_only=True)
    assert any("parametrizations.weight.original" in key for key in state["networks"]["D"])
    resumed = ganzoo.resume(run.path, steps=6, progress=False)
    assert resumed.result.step == 6
    assert ganzoo.load_run(run.path).sample(4).shape == (4, 1, 16, 16)


class SharedOptimizerPlugin:
    """vanilla with one optimizer for G and D, and (as ``two-critics``) a second critic that a phase trains."""

    def __init__(self, vanilla: ModelSpec) -> None:
        self.vanilla = vanilla

    @ganzoo.hookimpl
    def register_models(self, register):
        vanilla = self.vanilla

        def shared(info, c):
            gan = vanilla.build(info, c)
            both = torch.optim.Adam([*gan.networks["G"].parameters(), *gan.networks["D"].parameters()])
            gan.optimizers = {"G": both, "D": both}
            return gan

        def two_critics(info, c):
            gan = vanilla.build(info, c)
            gan.networks["D2"] = MLPDiscriminator(info.shape, 8, 1)
            gan.optimizers["D2"] = torch.optim.Adam(gan.networks["D2"].parameters())
            gan.objective.phases = (*gan.objective.phases, ganzoo.Phase("D2", "D2", "D2"))
            return gan

        register(ModelSpec(name="shared-optimizer", summary="one optimizer for G and D", build=shared, config=vanilla.config))
        register(ModelSpec(name="two-critics", summary="two trained critics", build=two_critics, config=vanilla.config))


def test_a_model_that_does_not_fit_a_remedy_is_told_in_one_line(register_plugin):
    register_plugin(SharedOptimizerPlugin(ganzoo.plugins.models().get("vanilla")), "shared-optimizer")
    with pytest.raises(GanzooError, match="optimizer D also trains networks other than D"):
        ganzoo.create_model("shared-optimizer", RING, pack=2, **SMALL)
    with pytest.raises(GanzooError, match="train D, D2 besides the generator G"):
        ganzoo.create_model("two-critics", RING, spectral_norm=True, **SMALL)
    assert ganzoo.create_model("two-critics", RING, **SMALL)  # with every remedy off, nothing is asked of it


# -- models without a discriminator ------------------------------------------------------------


class NoDiscriminatorPlugin:
    """``only-g``: vanilla's generator trained alone by one phase, declared as having no discriminator."""

    def __init__(self, vanilla: ModelSpec) -> None:
        self.vanilla = vanilla

    @ganzoo.hookimpl
    def register_models(self, register):
        vanilla = self.vanilla

        def build(info, c):
            gan = vanilla.build(info, c)
            gan.networks.pop("D")
            gan.optimizers.pop("D")
            gan.objective.phases = (ganzoo.Phase("G", "G", "G"),)
            return gan

        register(ModelSpec(name="only-g", summary="no discriminator", build=build, config=vanilla.config, discriminator=False))


@pytest.mark.parametrize("model", ["vae", "only-g"])
def test_a_model_without_a_discriminator_neither_lists_nor_accepts_remedies(model, cli, register_plugin):
    register_plugin(NoDiscriminatorPlugin(ganzoo.plugins.models().get("vanilla")), "only-g")
    code, out, _ = cli("models", model)
    assert code == 0 and "has no discriminator" in out and not any(f"  {key} " in out for key in remedies.REMEDY_SCHEMA)
    code, out, _ = cli("models", model, "--json")
    assert code == 0 and json.loads(out)["remedies"] == {}
    assert not set(remedies.REMEDY_SCHEMA) & set(make_run_config(model, "ring8").model_config)
    for key, value in {"pack": 2, "spectral_norm": True, "unroll": 1, "mbstd": 0}.items():
        with pytest.raises(GanzooError, match=f"model {model} takes no {key}=.*change a discriminator, and {model} has none"):
            make_run_config(model, "ring8", sets={key: value})
    with pytest.raises(GanzooError, match="takes no pack=2"):
        ganzoo.create_model(model, RING, pack=2)


def test_the_cli_refuses_a_remedy_for_the_vae_in_one_line_and_exits_2(cli, tmp_path):
    code, out, err = cli("run", "--model", "vae", "--dataset", "ring8", "--set", "pack=2", "--steps", "1", "--out", str(tmp_path / "r"))
    assert code == 2 and err.count("\n") == 1 and "vae has none" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_a_vae_config_recorded_with_the_remedies_off_still_resolves():
    recorded = {**make_run_config("vae", "ring8").model_config, **{k: p.default for k, p in remedies.REMEDY_SCHEMA.items()}}
    config = make_run_config("vae", "ring8", file_values={"model_config": recorded})
    assert config.model_config == make_run_config("vae", "ring8").model_config
    with pytest.raises(GanzooError, match="takes no pack=2"):
        make_run_config("vae", "ring8", file_values={"model_config": {**recorded, "pack": 2}})


def test_a_spec_without_a_discriminator_may_not_preset_a_remedy():
    with pytest.raises(SpecError, match="preset vector.pack"):
        ModelSpec(name="no-d", summary="x", build=lambda info, c: None, presets={"vector": {"pack": 2}}, discriminator=False)
    with pytest.raises(SpecError, match="discriminator must be True or False"):
        ModelSpec(name="no-d", summary="x", build=lambda info, c: None, discriminator="no")
