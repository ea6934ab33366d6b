"""The Inception-v3 path for RGB data, used only when its weights are already on disk.

ganzoo never downloads them. It looks at ``--inception-weights PATH`` first, then at
torch-fidelity's usual download location under ``TORCH_HOME`` (``torch.hub.get_dir()/checkpoints``).
Without them the Inception metrics are skipped with a one-line reason. The file must
load with ``torch.load(weights_only=True)``: a weights file that needs unpickling code is
refused before torch-fidelity (which loads it with ``weights_only=False``) sees it.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import torch

from .context import MetricSkipped
from .featurenet import FeatureNet
from .lenet import sha256_file

EXTRACTOR = "inception-v3-compat"
WEIGHTS_NAME = "weights-inception-2015-12-05-6726825d.pth"  # torch-fidelity's file name
FID_LAYER, IS_LAYER = "2048", "logits_unbiased"


def default_weights_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_NAME


@lru_cache(maxsize=4)
def _checked(path: str, mtime: float) -> str:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise MetricSkipped(f"Inception weights {path} cannot be read as a plain state dict ({type(exc).__name__})") from None
    if not isinstance(state, dict) or "fc.weight" not in state:
        raise MetricSkipped(f"Inception weights {path} are not a torch-fidelity Inception-v3 state dict")
    return sha256_file(Path(path))


def inception_net(weights: str | None) -> FeatureNet:
    """The Inception extractor with the weights found, or :class:`MetricSkipped` saying where it looked."""
    path = Path(weights).expanduser() if weights else default_weights_path()
    if not path.is_file():
        where = f"--inception-weights {weights}" if weights else f"{path} (TORCH_HOME={os.environ.get('TORCH_HOME', 'unset')})"
        raise MetricSkipped(f"Inception-v3 weights not found at {where}; pass --inception-weights PATH to use them")
    sha = _checked(str(path), path.stat().st_mtime)
    return FeatureNet(EXTRACTOR, sha, (FID_LAYER, IS_LAYER), {"feature_extractor_weights_path": str(path)})
