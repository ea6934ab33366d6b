"""The minimax and non-saturating losses against values computed by hand."""

from __future__ import annotations

import math

import torch

from ganzoo.losses import d_minimax_loss, g_minimax_loss, g_nonsaturating_loss


def _sigmoid(a: float) -> float:
    return 1 / (1 + math.exp(-a))


def test_discriminator_minimax_loss_matches_the_definition():
    real, fake = [2.0, -1.0], [0.5, -3.0]
    expected = -sum(math.log(_sigmoid(a)) for a in real) / 2 - sum(math.log(1 - _sigmoid(a)) for a in fake) / 2
    assert math.isclose(d_minimax_loss(torch.tensor(real), torch.tensor(fake)).item(), expected, rel_tol=1e-6)


def test_generator_losses_match_the_definitions():
    fake = [0.5, -3.0, 1.5]
    ns = -sum(math.log(_sigmoid(a)) for a in fake) / 3  # -E[log D(G(z))]
    mm = sum(math.log(1 - _sigmoid(a)) for a in fake) / 3  # E[log(1 - D(G(z)))]
    assert math.isclose(g_nonsaturating_loss(torch.tensor(fake)).item(), ns, rel_tol=1e-6)
    assert math.isclose(g_minimax_loss(torch.tensor(fake)).item(), mm, rel_tol=1e-6)


def test_at_the_optimum_the_discriminator_loss_is_log4():
    # D* = 1/2 everywhere when p_g = p_data: the game's value is -log 4.
    zeros = torch.zeros(10)
    assert math.isclose(d_minimax_loss(zeros, zeros).item(), math.log(4), rel_tol=1e-6)


def test_minimax_generator_loss_saturates_where_nonsaturating_does_not():
    # When D confidently rejects fakes (logit -10), log(1 - D) has almost no gradient.
    logits = torch.full((4,), -10.0, requires_grad=True)
    (g_mm,) = torch.autograd.grad(g_minimax_loss(logits), logits)
    (g_ns,) = torch.autograd.grad(g_nonsaturating_loss(logits), logits)
    assert g_mm.abs().max() < 1e-4 < g_ns.abs().min()


def test_losses_stay_finite_when_the_discriminator_saturates():
    big = torch.tensor([100.0, -100.0])
    for value in (d_minimax_loss(big, -big), d_minimax_loss(-big, big), g_nonsaturating_loss(big), g_minimax_loss(big)):
        assert torch.isfinite(value)


def test_wasserstein_hinge_and_least_squares_losses_match_their_definitions():
    from ganzoo.losses import (
        d_hinge_loss, d_least_squares_loss, d_wasserstein_loss, g_hinge_loss, g_least_squares_loss, g_wasserstein_loss,
    )

    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-3.0, 0.25])
    assert math.isclose(d_wasserstein_loss(real, fake).item(), (-3.0 + 0.25) / 2 - (2.0 + 0.5) / 2)
    assert math.isclose(g_wasserstein_loss(fake).item(), -(-3.0 + 0.25) / 2)
    # hinge: relu(1 - D(x)) is 0 for 2.0 and 0.5 for 0.5; relu(1 + D(G(z))) is 0 for -3 and 1.25 for 0.25
    assert math.isclose(d_hinge_loss(real, fake).item(), (0 + 0.5) / 2 + (0 + 1.25) / 2)
    assert math.isclose(g_hinge_loss(fake).item(), -(-3.0 + 0.25) / 2)
    assert math.isclose(d_least_squares_loss(real, fake).item(), 0.5 * ((1.0 + 0.25) / 2) + 0.5 * ((9.0 + 0.0625) / 2))
    assert math.isclose(g_least_squares_loss(fake).item(), 0.5 * ((16.0 + 0.5625) / 2))
