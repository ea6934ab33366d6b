"""The versions of the libraries an evaluation's numbers depend on: part of every protocol and of the real-feature cache key."""

from __future__ import annotations

import importlib.metadata

LIBRARIES = ("ganzoo", "torch", "torchvision", "torch-fidelity", "numpy", "scipy")


def versions() -> dict[str, str]:
    out = {}
    for dist in LIBRARIES:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out
