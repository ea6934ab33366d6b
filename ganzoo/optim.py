"""Optimizer options and optimizers shared by model plugins: one Adam rule for every network."""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from .options import adam_options  # noqa: F401 (re-exported; torch-free for registration)

__all__ = ["adam_options", "adam_optimizers"]


def adam_optimizers(networks: Mapping[str, nn.Module], c: Mapping[str, Any]) -> dict[str, torch.optim.Adam]:
    """One Adam per network (same names as ``networks``), all with ``c["lr"]`` and betas ``(c["beta1"], c["beta2"])``."""
    betas = (c["beta1"], c["beta2"])
    return {name: torch.optim.Adam(net.parameters(), lr=c["lr"], betas=betas) for name, net in networks.items()}
