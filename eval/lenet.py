"""The MNIST feature network: a small LeNet-style classifier shipped with ganzoo.

Inception-v3 cannot be downloaded here and runs at about 5 images/s on a CPU, so MNIST
metrics use this network instead (a "Frechet classifier distance"). Its 128 penultimate
features feed FID, KID, precision/recall and density/coverage; its 10 logits feed the
Inception Score and the class counts of mode coverage. Scores are comparable only
between runs that used the same weights, so the weights' SHA-256 is checked on load and
written into every evaluation's protocol.

The weights are a safetensors file (tensors only, so loading it cannot run code).
``scripts/train_lenet.py`` reproduces them bit for bit.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from ganzoo.errors import GanzooError

NAME = "ganzoo-lenet-mnist"
WEIGHTS_FILE = Path(__file__).with_name("lenet_mnist.safetensors")
WEIGHTS_SHA256 = "da5c79b0ec8cc30b810377db11445fb631802bb419c42252a0fa3fcb96b501cc"
FEATURES = 128
CLASSES = 10
SIDE = 28


class LeNet(nn.Module):
    """conv5-pool-conv5-pool-fc128-fc10 on 28x28 inputs scaled to [-1, 1]."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5, padding=2)
        self.conv2 = nn.Conv2d(16, 32, 5, padding=2)
        self.fc1 = nn.Linear(32 * 7 * 7, FEATURES)
        self.fc2 = nn.Linear(FEATURES, CLASSES)
        self.dropout = nn.Dropout(0.3)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = _relu_pool(self.conv1(x))
        x = _relu_pool(self.conv2(x))
        return F.relu(self.fc1(x.flatten(1)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(features, logits)`` for images ``(N, 1, 28, 28)`` in [-1, 1]."""
        h = self.features(x)
        return h, self.fc2(self.dropout(h))


def _relu_pool(x: torch.Tensor) -> torch.Tensor:
    """ReLU, then 2x2 max pooling. Without gradients (feature extraction) it takes the maximum of the
    four strided quarters, then the ReLU (which commutes with a maximum) on a quarter of the values:
    six times faster on a CPU (torch 2.x) than ``max_pool2d``, and the same values (a maximum is
    exact; tested). With gradients it stays as trained, since a tie's gradient would be split otherwise."""
    if torch.is_grad_enabled() or x.shape[-1] % 2 or x.shape[-2] % 2:
        return F.max_pool2d(F.relu(x), 2)
    top = torch.maximum(x[..., 0::2, 0::2], x[..., 0::2, 1::2])
    return F.relu(torch.maximum(top, torch.maximum(x[..., 1::2, 0::2], x[..., 1::2, 1::2]), out=top))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_lenet() -> LeNet:
    """A fresh copy of the shipped network in eval mode (callers may move it to a GPU)."""
    net = LeNet()
    net.load_state_dict(_checked_state())
    return net.eval().requires_grad_(False)


@lru_cache(maxsize=1)
def _checked_state() -> dict[str, torch.Tensor]:
    """The weights, read once and only after their hash matched."""
    if not WEIGHTS_FILE.is_file():
        raise GanzooError(f"the MNIST feature network's weights are missing ({WEIGHTS_FILE}); reinstall ganzoo or run scripts/train_lenet.py")
    found = sha256_file(WEIGHTS_FILE)
    if found != WEIGHTS_SHA256:
        raise GanzooError(f"{WEIGHTS_FILE} has SHA-256 {found}, expected {WEIGHTS_SHA256}: the file is damaged or from another version")
    return load_file(WEIGHTS_FILE, device="cpu")


def to_lenet_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 images ``(N, 1, H, W)`` -> float ``(N, 1, 28, 28)`` in [-1, 1] as the network was trained.

    32x32 MNIST is 28x28 padded by 2 on each side, so it is cropped back; other sizes are resized.
    """
    x = images.float().div(127.5).sub(1.0)
    h, w = x.shape[-2:]
    if (h, w) == (32, 32):
        x = x[..., 2:30, 2:30]
    elif (h, w) != (SIDE, SIDE):
        x = F.interpolate(x, size=(SIDE, SIDE), mode="bilinear", antialias=True, align_corners=False)
    return x
