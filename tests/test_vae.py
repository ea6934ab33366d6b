"""vae: its ELBO's terms against independent formulas, the reparameterised gradient, sampling
from the prior through the shared interface, and training that raises the ELBO."""

from __future__ import annotations

import json

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

import ganzoo
from ganzoo.data import DatasetInfo
from ganzoo_plugins.vae import bernoulli_nll, gaussian_kl, gaussian_nll

IMAGES = DatasetInfo("digits", "image", (1, 28, 28))
RING = DatasetInfo("ring8", "vector", (2,))


def test_the_kl_term_is_the_closed_form_kl_to_the_standard_normal_prior():
    mu, logvar = torch.randn(5, 3), torch.randn(5, 3)
    expected = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(dim=1)
    assert torch.allclose(gaussian_kl(mu, logvar), expected, atol=1e-5)
    assert torch.allclose(gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3)), torch.zeros(2))  # q = prior: no cost


def test_the_reconstruction_terms_are_the_decoders_negative_log_likelihoods():
    decoded, real = torch.rand(4, 1, 3, 3) * 1.8 - 0.9, torch.rand(4, 1, 3, 3) * 2 - 1
    expected = -Bernoulli(probs=(decoded + 1) / 2, validate_args=False).log_prob((real + 1) / 2).flatten(1).sum(dim=1)  # soft targets: the same formula
    assert torch.allclose(bernoulli_nll(decoded, real), expected, atol=1e-4)
    points, means = torch.randn(6, 2), torch.randn(6, 2)
    assert torch.allclose(gaussian_nll(means, points, 0.3), -Normal(means, 0.3).log_prob(points).sum(dim=1), atol=1e-5)


@pytest.mark.parametrize("info", [IMAGES, RING], ids=["images", "points"])
def test_gradients_reach_the_encoder_through_the_sampled_latent(info):
    torch.manual_seed(0)
    gan = ganzoo.create_model("vae", info, channels=4) if info.kind == "image" else ganzoo.create_model("vae", info, width=8)
    real = torch.rand(8, *info.shape) * 2 - 1
    result = gan.objective.loss("ELBO", ganzoo.Batch(real, None, 0))
    assert set(result.scalars) == {"vae/reconstruction", "vae/kl", "vae/neg_elbo"}
    result.loss.backward()
    vae = gan.networks["G"]
    # z = mu + sigma * eps: the reconstruction term's gradient flows back into the encoder (not only the KL's)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in vae.encoder.parameters())
    assert all(p.grad is not None for p in vae.decoder.parameters())


def test_samples_are_the_decoder_applied_to_latents_from_the_prior():
    torch.manual_seed(0)
    gan = ganzoo.create_model("vae", IMAGES, channels=4)
    samples = gan.sample(5, generator=torch.Generator().manual_seed(3))
    z = torch.randn(5, gan.latent_dim, generator=torch.Generator().manual_seed(3))
    vae = gan.networks["G"].eval()
    assert samples.shape == (5, 1, 28, 28) and torch.allclose(samples, vae.decoder(z))
    assert not gan.supports_truncation


@pytest.mark.slow
def test_training_raises_the_elbo_and_logs_its_terms(tmp_path):
    run = ganzoo.train("vae", "ring8", steps=300, out=tmp_path / "vae", batch_size=64, log_every=25,
                       set={"width": 32, "depth": 2}, progress=False)
    lines = [json.loads(line) for line in (run.path / "metrics.jsonl").read_text().splitlines()]
    lines = [line for line in lines if "vae/neg_elbo" in line]
    first, last = lines[0]["vae/neg_elbo"], lines[-1]["vae/neg_elbo"]
    assert last < first - 10, (first, last)  # nats per sample: the bound rises as it trains
    assert lines[-1]["vae/kl"] > 0.1  # the latent is used, not collapsed onto the prior
    assert run.sample(16).shape == (16, 2)
