"""What a metric's ``compute(ctx)`` receives: the samples, the real data, and features computed once.

Metrics ask the context for features (``ctx.features(net, "fake")``) instead of running a
network themselves, so FID, KID, precision/recall and density/coverage share one pass
over the generated images, and real-data features come from the cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ganzoo.data import DatasetInfo

from .featurenet import FeatureNet
from .quantise import FEATURE_DTYPE, QUANTISATION, to_uint8
from .realcache import cached_features
from .versions import versions


class MetricSkipped(Exception):
    """Raised by a metric that cannot run here (missing weights, too few samples); the message is the reason."""


@dataclass
class EvalContext:
    """Inputs of one evaluation.

    ``fake``: the generated samples (CPU, model range). ``real``: the real reference
    samples (the train split). ``heldout``: real samples outside the reference, for the
    real-data floor. ``real_fields`` describes the real data for the feature cache key
    (:func:`ganzoo.eval.evaluate.real_split` makes them); without them real features are
    computed, never cached, since nothing would tell one dataset's entry from another's.
    ``protocol`` collects the fields metrics add with :meth:`note`. ``pairs``: for an
    image-to-image run (:class:`ganzoo.Translation`), the ``(inputs, targets)`` that ``fake``
    is the model's output for, row by row; ``None`` for every other run.
    """

    info: DatasetInfo
    fake: torch.Tensor
    real: torch.Tensor | None = None
    heldout: torch.Tensor | None = None
    seed: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    real_fields: dict[str, Any] = field(default_factory=dict)
    cache_folder: Path | None = None
    use_cache: bool = True
    inception_weights: str | None = None
    download_weights: bool = False  # fetch missing published weights (Inception) instead of skipping
    protocol: dict[str, Any] = field(default_factory=dict)
    pairs: tuple[torch.Tensor, torch.Tensor] | None = None
    _memo: dict = field(default_factory=dict, repr=False)

    def note(self, **fields: Any) -> None:
        """Add protocol fields (a metric's k, its N, its threshold) to the evaluation's record."""
        self.protocol.update(fields)

    def samples(self, which: str) -> torch.Tensor:
        tensor = {"fake": self.fake, "real": self.real, "heldout": self.heldout}[which]
        if tensor is None:
            raise MetricSkipped(f"no {which} samples available")
        return tensor

    def uint8(self, which: str) -> torch.Tensor:
        key = ("uint8", which)
        if key not in self._memo:
            self._memo[key] = to_uint8(self.samples(which))
        return self._memo[key]

    def features(self, net: FeatureNet, which: str) -> dict[str, torch.Tensor]:
        """float64 features of ``which`` (``fake``, ``real`` or ``heldout``), one layer per key."""
        key = ("features", net.name, which)
        if key in self._memo:
            return self._memo[key]

        def compute() -> dict[str, torch.Tensor]:
            from .extractor import extract  # torch-fidelity (and torchvision) load only when features are extracted

            images = self.uint8(which)
            if net.rgb and images.shape[1] == 1:
                images = images.expand(-1, 3, -1, -1).contiguous()
            return extract(images, net.name, list(net.layers), self.device, **net.kwargs)

        if which == "fake" or not self.use_cache or not self.real_fields:
            feats = compute()
        else:
            # Everything that changes the features: the data (dataset, every option, source,
            # size, split), N, the network and its weights, the layers, dtype, quantisation
            # and the libraries that compute them.
            fields = {
                **self.real_fields, "which": which, "n": len(self.samples(which)), **net.protocol(),
                "layers": list(net.layers), "dtype": str(FEATURE_DTYPE), "quantisation": QUANTISATION,
                "versions": versions(),
            }
            feats, hit = cached_features(fields, compute, self.cache_folder)
            self.protocol.setdefault("real_features_cached", {})[f"{net.name}/{which}"] = hit
        self._memo[key] = feats
        return feats
