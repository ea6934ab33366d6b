"""Tests of the LSGAN example plugin: found through its entry point, the least-squares game, and it trains."""

from __future__ import annotations

import importlib.metadata

import pytest
import torch

import ganzoo

INSTALL = "pip install -e examples/ganzoo-lsgan (from the ganzoo repository; the README's test command does this)"


@pytest.fixture(scope="module")
def lsgan():
    try:
        import ganzoo_lsgan
    except ImportError:
        pytest.fail(f"the example plugin ganzoo-lsgan is not installed: {INSTALL}", pytrace=False)
    return ganzoo_lsgan


def test_ganzoo_finds_it_through_its_entry_point(lsgan):
    entry_points = {ep.name: ep for ep in importlib.metadata.entry_points(group="ganzoo")}
    assert entry_points["lsgan"].dist.name == "ganzoo-lsgan" and entry_points["lsgan"].value == "ganzoo_lsgan"
    from ganzoo_lsgan_nets import LeastSquaresObjective  # the torch half, imported by the builder

    gan = ganzoo.create_model("lsgan", ganzoo.DatasetInfo("toy", "vector", (2,)))
    assert isinstance(gan.objective, LeastSquaresObjective)
    assert gan.networks["G"].net[0].out_features == 128  # the vector preset applied


def test_phases_are_the_least_squares_game(lsgan):
    torch.manual_seed(0)
    gan = ganzoo.create_model("lsgan", ganzoo.DatasetInfo("toy", "vector", (2,)), width=8)
    G, D = gan.networks["G"], gan.networks["D"]
    real = torch.randn(16, 2)
    batch = ganzoo.Batch(real, None, step=0)

    torch.manual_seed(1)
    d_phase = gan.objective.loss("D", batch)
    torch.manual_seed(1)  # the same latents the objective drew
    fake = G(torch.randn(16, gan.latent_dim))
    real_out, fake_out = D(real), D(fake)
    # a = 0, b = 1: D regresses real samples to 1 and fakes to 0 (no sigmoid anywhere).
    torch.testing.assert_close(d_phase.loss, 0.5 * ((real_out - 1) ** 2).mean() + 0.5 * (fake_out**2).mean())
    torch.testing.assert_close(d_phase.scalars["D(x)"], real_out.mean().detach())

    torch.manual_seed(2)
    g_phase = gan.objective.loss("G", batch)
    torch.manual_seed(2)
    # c = 1: G pulls D's output on fakes towards the real target.
    torch.testing.assert_close(g_phase.loss, 0.5 * ((D(G(torch.randn(16, gan.latent_dim))) - 1) ** 2).mean())


@pytest.mark.slow
def test_trains_on_images_and_samples_in_range(lsgan, tmp_path):
    run = ganzoo.train("lsgan", "mnist", steps=2, batch_size=8, out=tmp_path / "run", progress=False, set={"width": 16})
    assert run.metrics()[-1]["step"] == 2 and "D(G(z))" in run.metrics()[-1]
    samples = ganzoo.load_run(run.path).sample(4)
    assert samples.shape == (4, 1, 28, 28) and samples.abs().max() <= 1
