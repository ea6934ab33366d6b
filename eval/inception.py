"""The Inception-v3 path for RGB data, with weights on disk or fetched when asked.

It looks at ``--inception-weights PATH`` first, then at torch-fidelity's usual download
location under ``TORCH_HOME`` (``torch.hub.get_dir()/checkpoints``). Without them the
Inception metrics are skipped with a one-line reason naming the file and ``--download``;
with ``--download`` the file torch-fidelity publishes is fetched from torch-fidelity's own
URL into that place, and its SHA-256 prefix (the one in its name) is checked. The file must
load with ``torch.load(weights_only=True)``: a weights file that needs unpickling code is
refused before torch-fidelity (which loads it with ``weights_only=False``) sees it.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import torch

from ganzoo.errors import GanzooError, first_line

from .context import MetricSkipped
from .featurenet import FeatureNet
from .lenet import sha256_file

EXTRACTOR = "inception-v3-compat"
WEIGHTS_NAME = "weights-inception-2015-12-05-6726825d.pth"  # torch-fidelity's file name
WEIGHTS_SHA256_PREFIX = "6726825d"  # the hash in that name, which torch.hub checks
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


def download_weights(path: Path) -> None:
    """Fetch torch-fidelity's published Inception-v3 weights to ``path``, checking their hash prefix."""
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(URL_INCEPTION_V3, str(path), hash_prefix=WEIGHTS_SHA256_PREFIX, progress=True)
    except Exception as exc:  # no network, a proxy, a wrong hash: one line, and the way round it
        raise GanzooError(
            f"--download: could not fetch {URL_INCEPTION_V3} to {path} ({type(exc).__name__}: {first_line(exc)}); "
            "fetch that file elsewhere and pass --inception-weights PATH"
        ) from None


def inception_net(weights: str | None, download: bool = False) -> FeatureNet:
    """The Inception extractor with the weights found (or fetched, with ``download``), or :class:`MetricSkipped` saying where it looked."""
    path = Path(weights).expanduser() if weights else default_weights_path()
    if not path.is_file() and download:
        download_weights(path)
    if not path.is_file():
        where = f"--inception-weights {weights}" if weights else f"{path} (TORCH_HOME={os.environ.get('TORCH_HOME', 'unset')})"
        raise MetricSkipped(
            f"Inception-v3 weights not found at {where}; pass --inception-weights PATH, or --download to fetch {WEIGHTS_NAME} (needs internet)"
        )
    sha = _checked(str(path), path.stat().st_mtime)
    return FeatureNet(EXTRACTOR, sha, (FID_LAYER, IS_LAYER), {"feature_extractor_weights_path": str(path)}, rgb=True)
