"""The MNIST feature network as a torch-fidelity feature extractor, and feature extraction through it.

Registering it with torch-fidelity (``feature_extractor="ganzoo-lenet-mnist"``) lets
``torch_fidelity.calculate_metrics`` use it like Inception; ganzoo itself calls
torch-fidelity's batch loop (:func:`extract`) once per image set and reuses the features
for every metric. Features come out in float64 so that FID statistics are computed in
float64 (fp32 feature batching changes FID measurably).
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor
from torch_fidelity.utils import create_feature_extractor, get_featuresdict_from_dataset

from .quantise import FEATURE_DTYPE
from .lenet import NAME, load_lenet, to_lenet_input

FEATURE_LAYER = "features"  # 128 penultimate activations: FID, KID, precision/recall, density/coverage
LOGITS_LAYER = "logits"  # 10 class logits: Inception Score, class counts


class LeNetFeatureExtractor(FeatureExtractorBase):
    """torch-fidelity wrapper around :func:`ganzoo.eval.lenet.load_lenet` (input: uint8 ``(N, 1, H, W)``)."""

    def __init__(self, name: str, features_list: list[str], **kwargs) -> None:
        super().__init__(name, features_list)
        self.net = load_lenet()

    @staticmethod
    def get_provided_features_list():
        return (FEATURE_LAYER, LOGITS_LAYER)

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return {"isc": LOGITS_LAYER, "fid": FEATURE_LAYER, "kid": FEATURE_LAYER, "prc": FEATURE_LAYER}[metric]

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return torch.zeros(1, 1, 28, 28, dtype=torch.uint8)

    def forward(self, x):
        if x.dtype != torch.uint8 or x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"{NAME} expects uint8 images (N, 1, H, W), got {x.dtype} {tuple(x.shape)}")
        features, logits = self.net(to_lenet_input(x))
        out = {FEATURE_LAYER: features.double(), LOGITS_LAYER: logits.double()}
        return tuple(out[name] for name in self.features_list)


if NAME not in FEATURE_EXTRACTORS_REGISTRY:  # importing twice (importlib test mode) must not re-register
    register_feature_extractor(NAME, LeNetFeatureExtractor)


class UInt8Images(Dataset):
    """A tensor of uint8 images as the map-style dataset torch-fidelity iterates."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]


def extract(images: torch.Tensor, extractor: str, layers: list[str], device: torch.device | None = None, batch_size: int = 250, **kwargs) -> dict[str, torch.Tensor]:
    """Features of uint8 ``images`` from a registered torch-fidelity extractor, as float64 (FEATURE_DTYPE) CPU tensors."""
    cuda = device is not None and device.type == "cuda"
    fe = create_feature_extractor(extractor, list(layers), cuda=cuda, verbose=False, **kwargs)
    # save_cpu_ram=True means no DataLoader worker processes: the images are already in memory.
    feats = get_featuresdict_from_dataset(UInt8Images(images), fe, batch_size, cuda, True, False)
    return {k: v.to(FEATURE_DTYPE) for k, v in feats.items()}
