"""Option schemas that model plugins share: the MLP players', Adam's, the conv players' and the channel schedules.

This module imports no torch, so a plugin can declare its options at registration (which
``ganzoo models`` and ``ganzoo --help`` wait for) and import torch only when it builds.
The networks and optimizers these options configure live in :mod:`ganzoo.nn`,
:mod:`ganzoo.convnets` and :mod:`ganzoo.optim`, which re-export these helpers.
"""

from __future__ import annotations

import math

from .config import Param

__all__ = [
    "G_LOSS_NAMES", "mlp_player_options", "mlp_player_presets", "adam_options", "arch_options",
    "CAPACITIES", "Widths", "capacity_options", "widths_for",
]

# The names of :data:`ganzoo.losses.G_LOSSES`, for a ``g_loss`` option's choices.
G_LOSS_NAMES = ("non-saturating", "minimax")


def mlp_player_options() -> dict[str, Param]:
    """The config options of the MLP players (``MLPGenerator``/``MLPDiscriminator``), shared by the MLP models."""
    return {
        "latent_dim": Param(64, "size of z", min=1, max=65536),
        "width": Param(512, "units per hidden layer", min=1, max=65536),
        "depth": Param(3, "hidden layers in G and in D", min=1, max=64),
        "g_batchnorm": Param(True, "batch norm in G's hidden layers (never in an MLP D)"),
    }


def mlp_player_presets() -> dict:
    """Per-data-kind presets of the MLP models: 5,000 steps on images; on 2-D data also a
    narrower, batch-norm-free network with lr 1e-3 (with which ``vanilla`` finds the ring's modes)."""
    return {
        "image": {"steps": 5000, "batch_size": 64},
        "vector": {"steps": 5000, "batch_size": 256, "width": 128, "g_batchnorm": False, "lr": 1e-3},
    }


def adam_options(lr: float, beta1: float, beta2: float) -> dict[str, Param]:
    """Config options ``lr``, ``beta1`` and ``beta2`` with these defaults, for :func:`ganzoo.optim.adam_optimizers`."""
    return {
        "lr": Param(lr, "Adam learning rate (G and D)", min=0.0),
        "beta1": Param(beta1, "Adam beta1", min=0.0, max=1.0),
        "beta2": Param(beta2, "Adam beta2", min=0.0, max=1.0),
    }


def arch_options(default: str = "mlp", channels: int = 32) -> dict[str, Param]:
    """The options ``arch`` (mlp or conv) and ``channels`` (the conv players' width), for :func:`ganzoo.convnets.players`."""
    return {
        "arch": Param(default, "players: mlp (width, depth) or conv (DCGAN-style, channels; images only)", choices=("mlp", "conv")),
        "channels": Param(channels, "arch=conv: feature maps of D's first layer and G's last, doubled at each halving", min=1, max=4096),
    }


CAPACITIES = ("cpu", "gpu")


class Widths(tuple):
    """A channel schedule: ``base`` feature maps up to ``full_until`` pixels, halved at each doubling above, at least ``floor``."""

    def __new__(cls, base: int, full_until: int, floor: int):
        return super().__new__(cls, (base, full_until, floor))

    def at(self, resolution: int, base: int | None = None) -> int:
        base_, full_until, floor = self
        base = base or base_
        halvings = max(0, int(math.log2(resolution / full_until))) if resolution > full_until else 0
        return max(min(floor, base), base >> halvings)


def capacity_options(widths: dict[str, Widths]) -> dict[str, Param]:
    """The ``capacity`` and ``channels`` options of a conv model whose widths follow ``widths[capacity]``.

    ``capacity=cpu`` is sized for a 2-core machine's minutes; ``capacity=gpu`` gives the
    paper's widths (512 feature maps at the coarse resolutions). ``channels`` scales
    either schedule: it replaces the coarse width and the halving above stays the same.
    """
    cpu, gpu = widths["cpu"], widths["gpu"]
    return {
        "capacity": Param("cpu", f"channel schedule: cpu ({cpu[0]} feature maps up to {cpu[1]} px, halved per doubling above) "
                                 f"or gpu (the paper's: {gpu[0]} up to {gpu[1]} px, halved above)", choices=CAPACITIES),
        "channels": Param(0, f"feature maps at the coarse resolutions, scaling the capacity's schedule (0: the capacity's own, cpu {cpu[0]}, gpu {gpu[0]})", min=0, max=4096),
    }


def widths_for(widths: dict[str, Widths], c: dict, resolutions) -> dict[int, int]:
    """Feature maps per resolution for a model config ``c`` holding the :func:`capacity_options`."""
    schedule = widths[c["capacity"]]
    return {res: schedule.at(res, c["channels"]) for res in resolutions}
