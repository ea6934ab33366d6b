"""ganzoo: a plugin-based GAN zoo on one shared trainer, with an evaluation suite.

The public API is what this package exports plus eight modules; everything else is internal
and may change (docs/plugins.md, "Public API", describes each name):

- for users: ``train``, ``resume``, ``load_run``, ``create_model``, ``Run``, and ``evaluate`` (score samples
  made anywhere: a folder of images, a ``.npy``/``.npz``, a tensor);
- for plugin authors: ``hookimpl``; the specs ``ModelSpec``, ``DatasetSpec``, ``MetricSpec``,
  their options ``Param`` and a metric's declared numbers ``MetricNumber``; the trainer's
  contract ``GenerativeModel`` (also named ``GAN``), ``Objective``, ``Phase``, ``PhaseLoss``, ``Batch`` (and ``Translation``, what an
  image-to-image model declares); the data ``Dataset``, ``DatasetInfo``, ``UInt8Images`` (streamed from disk), ``HorizontalFlip``; the errors ``GanzooError``,
  ``CheckpointError``, ``SpecError``;
- building blocks to compose, each listed in its module's ``__all__``: ``ganzoo.losses``,
  ``ganzoo.penalties``, ``ganzoo.objectives``, ``ganzoo.nn``, ``ganzoo.convnets``, ``ganzoo.optim``, ``ganzoo.options`` (the option schemas they share,
  without torch, for registering a model), and ``ganzoo.eval`` for metrics (``EvalContext``, ``MetricSkipped``). The hooks are documented in ``ganzoo/hookspecs.py``.
"""

import importlib
from pathlib import Path

from .config import Param
from .errors import CheckpointError, GanzooError
from .hookspecs import hookimpl
from .source_tree import use_source_tree
from .specs import DatasetSpec, MetricNumber, MetricSpec, ModelSpec, SpecError

# What needs torch is imported on first use (PEP 562), so that `import ganzoo`, the plugins'
# registration and the listing commands (`ganzoo --help`, `ganzoo models`) never load it.
_LAZY = {
    "Run": "api", "create_model": "api", "evaluate": "api", "load_run": "api", "resume": "api", "train": "api",
    "Dataset": "data", "DatasetInfo": "data", "HorizontalFlip": "data", "UInt8Images": "data",
    "GAN": "model", "GenerativeModel": "model", "Translation": "model", "Batch": "model", "Objective": "model", "Phase": "model", "PhaseLoss": "model",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if not name.startswith("_"):
        # A submodule, as `ganzoo.plugins.models()` after `import ganzoo` (which once imported them all).
        try:
            return importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module 'ganzoo' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "GAN", "Batch", "CheckpointError", "Dataset", "DatasetInfo", "DatasetSpec", "GanzooError", "GenerativeModel", "HorizontalFlip",
    "MetricNumber", "MetricSpec", "ModelSpec", "Objective", "Param", "Phase", "PhaseLoss", "Run", "SpecError", "Translation", "UInt8Images",
    "create_model", "evaluate", "hookimpl", "load_run", "resume", "train",
]

# A script beside a clone's ganzoo/ folder imports that folder: make its eval/ and plugins/ the ones it uses.
use_source_tree(__name__, Path(__file__).parent)
