"""Which feature network a metric uses, named with the hash of its weights (part of every protocol)."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import lenet


@dataclass(frozen=True)
class FeatureNet:
    """A torch-fidelity extractor name, its weights' SHA-256, the layers to extract and extra kwargs for it.

    ``rgb``: the network reads 3 channels, so grey images are given to it with their one
    channel repeated (as FID tools do for grey datasets).
    """

    name: str
    weights_sha256: str
    layers: tuple[str, ...]
    kwargs: dict = field(default_factory=dict, hash=False, compare=False)
    rgb: bool = False

    def protocol(self) -> dict:
        return {"feature_network": self.name, "feature_weights_sha256": self.weights_sha256}


def lenet_net() -> FeatureNet:
    from .extractor import FEATURE_LAYER, LOGITS_LAYER  # registers the extractor with torch-fidelity

    return FeatureNet(lenet.NAME, lenet.WEIGHTS_SHA256, (FEATURE_LAYER, LOGITS_LAYER))
