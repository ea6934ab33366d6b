"""Optimizer options and optimizers shared by model plugins: one Adam rule for every network."""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from .config import Param

__all__ = ["adam_options", "adam_optimizers"]


def adam_options(lr: float, beta1: float, beta2: float) -> dict[str, Param]:
    """Config options ``lr``, ``beta1`` and ``beta2`` with these defaults, for :func:`adam_optimizers`."""
    return {
        "lr": Param(lr, "Adam learning rate (G and D)", min=0.0),
        "beta1": Param(beta1, "Adam beta1", min=0.0, max=1.0),
        "beta2": Param(beta2, "Adam beta2", min=0.0, max=1.0),
    }


def adam_optimizers(networks: Mapping[str, nn.Module], c: Mapping[str, Any]) -> dict[str, torch.optim.Adam]:
    """One Adam per network (same names as ``networks``), all with ``c["lr"]`` and betas ``(c["beta1"], c["beta2"])``."""
    betas = (c["beta1"], c["beta2"])
    return {name: torch.optim.Adam(net.parameters(), lr=c["lr"], betas=betas) for name, net in networks.items()}
