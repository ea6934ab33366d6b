"""The ``unroll=K`` collapse remedy (Metz et al. 2017): G's loss against D advanced K steps, the real D untouched."""

from __future__ import annotations

import copy

import pytest
import torch

import ganzoo
from ganzoo.data import DatasetInfo
from ganzoo.model import Batch
from ganzoo.unroll import UnrolledObjective

RING = DatasetInfo("ring8", "vector", (2,), num_classes=8)
SMALL = {"width": 16, "depth": 2, "latent_dim": 4}


def _as_in_the_g_phase(gan: ganzoo.GAN) -> None:
    """What the trainer does before a G phase: only the generator takes gradients, its own zeroed."""
    for name, net in gan.networks.items():
        net.requires_grad_(name == gan.generator)
    gan.optimizers["G"].zero_grad(set_to_none=True)


def _g_gradients(gan: ganzoo.GAN, objective, batch: Batch, rng: torch.Tensor) -> list[torch.Tensor]:
    _as_in_the_g_phase(gan)
    torch.set_rng_state(rng)
    objective.loss("G", batch).loss.backward()
    return [p.grad.clone() for p in gan.networks["G"].parameters()]


def _snapshot(gan: ganzoo.GAN) -> dict[str, torch.Tensor]:
    flat = {f"D.{k}": v.clone() for k, v in gan.networks["D"].state_dict().items()}
    for pid, state in gan.optimizers["D"].state_dict()["state"].items():
        flat.update({f"opt.{pid}.{k}": torch.as_tensor(v).clone() for k, v in state.items()})
    return flat


@pytest.mark.parametrize("model, sets", [
    ("vanilla", {}),
    ("vanilla", {"spectral_norm": True, "dropout": 0.3}),  # power-iteration buffers; dropout draws from the RNG
    ("wgan", {}),  # RMSprop and weight clipping after each D step
    ("wgan-gp", {}),  # a gradient penalty in D's loss
])
def test_g_gradient_is_against_d_advanced_k_steps_and_the_real_d_is_untouched(model, sets):
    K = 3
    torch.manual_seed(0)
    gan = ganzoo.create_model(model, RING, unroll=K, **SMALL, **sets)
    unrolled = gan.objective
    assert isinstance(unrolled, UnrolledObjective)
    inner, D, G = unrolled.inner, gan.networks["D"], gan.networks["G"]
    batch = Batch(torch.randn(32, 2), None, step=0)
    # One real D step first, so D's optimizer has state (moments, step counts) to keep or leak.
    D.requires_grad_(True)
    G.requires_grad_(False)
    inner.loss("D", batch).loss.backward()
    gan.optimizers["D"].step()
    inner.after_step("D")

    before, rng = _snapshot(gan), torch.get_rng_state()
    with_unroll = _g_gradients(gan, unrolled, batch, rng)
    after = _snapshot(gan)
    assert before.keys() == after.keys()
    for key in before:
        assert torch.equal(before[key], after[key]), f"the unrolled steps leaked into the real {key}"

    # By hand: a copy of D and of its optimizer, K plain D steps on the same batch, then G's loss against the copy.
    torch.set_rng_state(rng)
    D_copy = copy.deepcopy(D).requires_grad_(True)
    name_of = {id(p): name for name, p in D.named_parameters()}
    copied = dict(D_copy.named_parameters())
    # In the real optimizer's order (spectral normalisation moved D's weights after its biases).
    opt_copy = type(gan.optimizers["D"])([copied[name_of[id(p)]] for p in gan.optimizers["D"].param_groups[0]["params"]])
    opt_copy.load_state_dict(gan.optimizers["D"].state_dict())
    by_hand = copy.copy(inner)
    by_hand.D = D_copy
    for _ in range(K):
        opt_copy.zero_grad(set_to_none=True)
        by_hand.loss("D", batch).loss.backward()
        opt_copy.step()
        by_hand.after_step("D")
    D_copy.requires_grad_(False)
    hand_rng = torch.get_rng_state()
    _as_in_the_g_phase(gan)
    by_hand.loss("G", batch).loss.backward()
    expected = [p.grad.clone() for p in G.parameters()]
    for got, want in zip(with_unroll, expected):
        torch.testing.assert_close(got, want, rtol=0, atol=0)

    # Without unrolling (the same latents for G's loss), the gradient is another one.
    plain = _g_gradients(gan, inner, batch, hand_rng)
    assert any(not torch.equal(a, b) for a, b in zip(with_unroll, plain))


def test_unroll_zero_leaves_the_objective_as_the_plugin_built_it():
    gan = ganzoo.create_model("vanilla", RING, **SMALL)
    assert not isinstance(gan.objective, UnrolledObjective)
    assert isinstance(ganzoo.create_model("vanilla", RING, unroll=1, **SMALL).objective, UnrolledObjective)


def test_the_d_phase_is_the_plugins_own():
    torch.manual_seed(0)
    gan = ganzoo.create_model("vanilla", RING, unroll=2, **SMALL)
    batch = Batch(torch.randn(16, 2), None, step=0)
    rng = torch.get_rng_state()
    wrapped = gan.objective.loss("D", batch).loss
    torch.set_rng_state(rng)
    assert torch.equal(wrapped, gan.objective.inner.loss("D", batch).loss)
    assert gan.objective.phases == gan.objective.inner.phases


@pytest.mark.slow
def test_an_unrolled_run_resumes_bitwise_exactly(tmp_path):
    # Dropout in D draws from the RNG in the unrolled steps too; 128 points / 32 per batch crosses epochs.
    tiny = dict(set={"unroll": 2, "width": 16, "depth": 1, "data.n": 128, "dropout": 0.3}, batch_size=32, log_every=3, progress=False)
    whole = ganzoo.train("vanilla", "ring8", steps=9, out=tmp_path / "whole", **tiny)
    part = ganzoo.train("vanilla", "ring8", steps=4, out=tmp_path / "part", **tiny)
    resumed = ganzoo.resume(part.path, steps=9, progress=False)
    assert resumed.result.step == 9 and "unroll: 2" in (whole.path / "config.yaml").read_text()
    a = torch.load(whole.path / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(resumed.path / "checkpoints" / "last.pt", weights_only=True)
    for name in ("G", "D"):
        for key, value in a["networks"][name].items():
            assert torch.equal(value, b["networks"][name][key]), f"{name}.{key} differs"
