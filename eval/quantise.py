"""The one conversion from model-range images to the uint8 pixels every feature network sees.

Real and generated images both pass through here, so rounding and clamping can never
differ between them (a classic source of FID offsets). torch-fidelity also refuses float
images, so its extractors get exactly these bytes.
"""

from __future__ import annotations

import torch

FEATURE_DTYPE = torch.float64  # what feature extraction returns (and what the real-feature cache key records)

QUANTISATION = "uint8 = clamp(round((x + 1) * 127.5), 0, 255) for x in [-1, 1]"


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] (any float dtype, any device) -> uint8 on the CPU."""
    return images.detach().float().cpu().add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8)
