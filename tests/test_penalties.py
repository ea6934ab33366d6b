"""Critic regularisers: gradient penalty, R1, drift and weight clipping, checked against hand-computed values,
and the penalties that differentiate twice under autocast and an fp16 gradient scale."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import ganzoo
from ganzoo.penalties import clip_weights_, drift_penalty, gradient_penalty, gradient_scale, interpolate, r1_penalty


def test_gradient_penalty_of_a_linear_critic_is_the_hand_computed_value():
    # f(x) = <w, x> has gradient w at every point, so the penalty is (||w|| - 1)^2 exactly,
    # with ||w|| taken over every non-batch dimension (here 2 x 3 = 6 numbers).
    w = torch.tensor([[1.0, 2.0, 0.0], [0.0, 2.0, 4.0]])
    critic = lambda x: (x * w).sum(dim=(1, 2))
    real, fake = torch.randn(5, 2, 3), torch.randn(5, 2, 3)
    expected = (math.sqrt(1 + 4 + 4 + 16) - 1) ** 2
    assert math.isclose(gradient_penalty(critic, real, fake).item(), expected, rel_tol=1e-6)


def test_gradient_penalty_takes_the_norm_per_sample_over_all_non_batch_dimensions():
    # f(x) = sum(x^2) / 2 has gradient x itself: the penalty is mean_i (||x_hat_i|| - 1)^2,
    # and it must differ from norms taken over channels only or over the whole batch.
    critic = lambda x: 0.5 * x.pow(2).sum(dim=(1, 2, 3))
    real, fake = torch.randn(6, 2, 3, 3), torch.randn(6, 2, 3, 3)
    points, _ = interpolate(real, fake, torch.Generator().manual_seed(7))
    per_sample = points.flatten(1).norm(dim=1)
    expected = ((per_sample - 1) ** 2).mean()
    got = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(7))
    assert torch.allclose(got, expected)
    per_channel = ((points.norm(dim=1) - 1) ** 2).mean()
    whole_batch = (points.norm() - 1) ** 2
    assert not torch.allclose(got, per_channel) and not torch.allclose(got, whole_batch)


def test_gradient_penalty_draws_one_alpha_per_sample():
    real, fake = torch.ones(64, 3, 4, 4), torch.zeros(64, 3, 4, 4)
    points, alpha = interpolate(real, fake, torch.Generator().manual_seed(0))
    # Each sample is one constant image alpha_i: a single alpha shared across its pixels...
    assert torch.equal(points, alpha.expand_as(points))
    assert torch.equal(points.amax(dim=(1, 2, 3)), points.amin(dim=(1, 2, 3)))
    # ...and the alphas differ between samples, spread over [0, 1].
    values = alpha.flatten()
    assert len(values.unique()) == 64 and values.min() < 0.1 and values.max() > 0.9


def test_gradient_penalty_is_differentiable_in_the_critic_weights():
    critic = torch.nn.Linear(4, 1)
    gp = gradient_penalty(lambda x: critic(x).squeeze(1), torch.randn(8, 4), torch.randn(8, 4), target=0.0)
    gp.backward()
    # d/dw ||w||^2 = 2w: the penalty trains the critic, it is not a constant.
    assert torch.allclose(critic.weight.grad, 2 * critic.weight.detach())


def test_r1_penalty_and_drift_match_their_definitions():
    w = torch.tensor([3.0, 4.0])
    real = torch.randn(10, 2, requires_grad=True)
    scores = real @ w
    assert math.isclose(r1_penalty(scores, real).item(), 25.0, rel_tol=1e-6)  # ||w||^2
    assert math.isclose(drift_penalty(torch.tensor([1.0, -3.0])).item(), 5.0)


@pytest.mark.slow
def test_clipped_weights_stay_within_the_bound_after_a_wgan_step(tmp_path):
    run = ganzoo.train("wgan", "ring8", steps=3, out=tmp_path / "w", batch_size=32, progress=False,
                       set={"width": 16, "depth": 2, "data.n": 256, "lr": 0.05, "clip": 0.02})
    D = run.load().gan.networks["D"]
    values = torch.cat([p.flatten() for p in D.parameters()])
    assert values.abs().max() <= 0.02
    # A learning rate of 0.05 pushes weights far past 0.02: many sit exactly at the bound.
    assert (values.abs() == 0.02).float().mean() > 0.3


def test_clip_weights_clamps_every_parameter():
    net = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Linear(3, 1))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(100)
    clip_weights_(net, 0.5)
    assert all(p.abs().max() <= 0.5 for p in net.parameters())


# -- under autocast (--precision) and an fp16 gradient scale ---------------------------------------

def _critic_and_data(seed: int):
    torch.manual_seed(seed)
    D = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(8 * 8 * 8, 1))
    return D, torch.randn(16, 1, 8, 8), torch.randn(16, 1, 8, 8)


def _penalties(D, real, fake):
    """The gradient penalty and R1 of critic ``D``, as functions of nothing (fixed interpolation coefficients)."""
    critic = lambda x: D(x).squeeze(1)

    def gp():
        return gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(1))

    def r1():
        x = real.clone().requires_grad_(True)
        return r1_penalty(critic(x), x)

    return {"gp": gp, "r1": r1}


@pytest.mark.parametrize("seed", [0, 1])
def test_gradient_penalty_and_r1_under_bf16_autocast_agree_with_fp32(seed):
    """bf16 keeps 8 bits of mantissa (about 0.4% per rounding): the penalties agree to 2%, their weight gradients to 5%."""
    D, real, fake = _critic_and_data(seed)
    for name, penalty in _penalties(D, real, fake).items():
        exact = penalty()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = penalty()
        assert low.dtype == torch.float32, name  # the norm is taken in fp32
        assert torch.allclose(low, exact, rtol=2e-2), (name, low, exact)
        grads = []
        for value in (exact, low):
            D.zero_grad()
            value.backward()
            grads.append([p.grad.clone() for p in D.parameters() if p.grad is not None])
        for g32, g16 in zip(*grads):
            assert (g16 - g32).norm() <= 5e-2 * g32.norm(), name


@pytest.mark.parametrize("scale", [1024.0, torch.tensor(65536.0), 3.0])
def test_the_scaled_input_gradient_gives_the_unscaled_penalty(scale):
    """Scores scaled by ``scale / n`` and the gradient divided by it again: with powers of two every step is exact."""
    D, real, fake = _critic_and_data(0)
    for name, penalty in _penalties(D, real, fake).items():
        plain = penalty()
        with gradient_scale(scale):
            scaled = penalty()
        if isinstance(scale, torch.Tensor) or scale == 1024.0:
            assert torch.equal(scaled, plain), name
        assert torch.allclose(scaled, plain, rtol=1e-6), name


def test_fp16_autocast_with_a_gradient_scale_agrees_with_fp32():
    """The path ``--precision 16-mixed`` takes (fp16 autocast, the scaler's 65536), here on the CPU, which torch allows."""
    D = nn.Sequential(nn.Linear(6, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
    real, fake = torch.randn(8, 6), torch.randn(8, 6)
    for name, penalty in _penalties(D, real, fake).items():
        exact = penalty()
        with torch.autocast("cpu", dtype=torch.float16), gradient_scale(torch.tensor(65536.0)):
            low = penalty()
        assert torch.isfinite(low) and torch.allclose(low, exact, rtol=2e-2), (name, low, exact)
