"""``ganzoo.GenerativeModel`` is the trainer's contract under its general name; ``ganzoo.GAN``, its first name, keeps working."""

from __future__ import annotations

import torch
from torch import nn

import ganzoo
from ganzoo.model import GAN, GenerativeModel


class _Still(ganzoo.Objective):
    phases = (ganzoo.Phase("G", "G", "G"),)

    def __init__(self, G: nn.Module) -> None:
        self.G = G

    def loss(self, phase: str, batch: ganzoo.Batch) -> ganzoo.PhaseLoss:
        return ganzoo.PhaseLoss(self.G(torch.randn(len(batch.real), 2)).pow(2).mean())


def _parts() -> dict:
    G = nn.Linear(2, 2)
    return dict(networks={"G": G}, optimizers={"G": torch.optim.SGD(G.parameters(), lr=0.1)}, objective=_Still(G), latent_dim=2)


def test_both_names_are_one_class_exported_from_ganzoo():
    assert ganzoo.GAN is ganzoo.GenerativeModel is GAN is GenerativeModel
    assert {"GAN", "GenerativeModel"} <= set(ganzoo.__all__)


def test_a_model_built_under_either_name_is_an_instance_of_both():
    for cls in (ganzoo.GAN, ganzoo.GenerativeModel):
        model = cls(**_parts())
        assert isinstance(model, ganzoo.GAN) and isinstance(model, ganzoo.GenerativeModel)
        assert model.sample(3).shape == (3, 2)


def test_a_plugin_subclass_of_the_old_name_is_a_generative_model():
    class OldStyle(ganzoo.GAN):  # a plugin written before the general name existed
        pass

    class NewStyle(ganzoo.GenerativeModel):
        pass

    assert issubclass(OldStyle, ganzoo.GenerativeModel) and issubclass(NewStyle, ganzoo.GAN)
    assert isinstance(OldStyle(**_parts()), ganzoo.GenerativeModel)


def test_the_built_in_models_return_what_the_trainer_accepts():
    info = ganzoo.DatasetInfo("ring8", "vector", (2,))
    for name in ("vanilla", "vae"):
        assert isinstance(ganzoo.create_model(name, info), ganzoo.GenerativeModel)
