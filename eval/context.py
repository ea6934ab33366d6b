"""What a metric's ``compute(ctx)`` receives: the samples, the real data, and features computed once.

Metrics ask the context for features (``ctx.features(net, "fake")``) instead of running a
network themselves, so FID, KID, precision/recall and density/coverage share one pass
over the generated images, and real-data features come from the cache. With ``share`` (the
default) they also share what they derive (:meth:`EvalContext.shared`: the k-NN balls of
precision/recall and density/coverage), and real features and what derives from them alone
are kept for the process (:func:`ganzoo.eval.realcache.remembered`): a bench reads them once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TypeVar

import torch

from ganzoo.data import DatasetInfo

from .featurenet import FeatureNet
from .quantise import FEATURE_DTYPE, QUANTISATION, to_uint8
from .realcache import cache_dir, cache_key, cached_features, remembered
from .versions import versions


T = TypeVar("T")


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
    ``share=False`` turns off :meth:`shared` and the process memory, each metric then
    computing alone as before they existed (the baseline of ``benchmarks/bench_eval.py``; the numbers are the same).
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
    share: bool = True
    live: bool = False  # live evaluation: only the numbers declared live are kept, so a metric may leave out the others
    protocol: dict[str, Any] = field(default_factory=dict)
    running: tuple[str, ...] = ()  # the metrics this evaluation runs (set by run_metrics): one may do work for another in its pass
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
        elif self.share:
            fields = self._feature_fields(net, which)
            real_key = self._memo[("real key", net.name, which)] = self._in_folder(cache_key(fields))
            hits: list[bool] = []
            feats = remembered((real_key, "features"), lambda: self._cached(fields, compute, hits))
            self.protocol.setdefault("real_features_cached", {})[f"{net.name}/{which}"] = hits[0] if hits else True
        else:
            fields = self._feature_fields(net, which)
            feats, hit = cached_features(fields, compute, self.cache_folder)
            self.protocol.setdefault("real_features_cached", {})[f"{net.name}/{which}"] = hit
        self._memo[key] = feats
        return feats

    def _feature_fields(self, net: FeatureNet, which: str) -> dict[str, Any]:
        # Everything that changes the features: the data (dataset, every option, source,
        # size, split), N, the network and its weights, the layers, dtype, quantisation
        # and the libraries that compute them.
        return {
            **self.real_fields, "which": which, "n": len(self.samples(which)), **net.protocol(),
            "layers": list(net.layers), "dtype": str(FEATURE_DTYPE), "quantisation": QUANTISATION,
            "versions": versions(),
        }

    def _cached(self, fields: dict[str, Any], compute: Callable[[], dict[str, torch.Tensor]], hits: list[bool]) -> dict[str, torch.Tensor]:
        feats, hit = cached_features(fields, compute, self.cache_folder)
        hits.append(hit)
        return feats

    def shared(self, key: tuple, compute: Callable[[], T], real: tuple[str | None, str] | None = None) -> T:
        """``compute()`` once per evaluation for every metric that asks with ``key`` (which must name
        ``"fake"`` when the value depends on the generated samples: live evaluation keeps the rest).

        ``real=(network name, which)`` says the value depends on those real features alone
        (``(None, which)``: on the real samples themselves); it is then also kept for the process
        under their cache key. Without ``share``, nothing is shared: ``compute()`` each time.
        """
        if not self.share:
            return compute()
        memo_key = ("shared", *key)
        if memo_key not in self._memo:
            real_key = self._real_key(*real) if real is not None else None
            self._memo[memo_key] = remembered((real_key, *key), compute) if real_key else compute()
        return self._memo[memo_key]

    def _real_key(self, net_name: str | None, which: str) -> str | None:
        """The cache key of real features (or, with ``net_name`` None, of real samples), None when not cacheable."""
        if not self.use_cache or not self.real_fields or which == "fake":
            return None
        if net_name is not None:
            return self._memo.get(("real key", net_name, which))
        fields = {**self.real_fields, "which": which, "n": len(self.samples(which)), "space": "data", "versions": versions()}
        return self._in_folder(cache_key(fields))

    def _in_folder(self, key: str) -> str:
        # Kept per cache folder, so that evaluations given another folder (a test's own) start afresh.
        return f"{self.cache_folder or cache_dir()}/{key}"
