"""ganzoo: a plugin-based GAN zoo on one shared trainer, with an evaluation suite.

The public API is what this package exports plus seven modules; everything else is internal
and may change (docs/plugins.md, "Public API", describes each name):

- for users: ``train``, ``resume``, ``load_run``, ``create_model``, ``Run``, and ``evaluate`` (score samples
  made anywhere: a folder of images, a ``.npy``/``.npz``, a tensor);
- for plugin authors: ``hookimpl``; the specs ``ModelSpec``, ``DatasetSpec``, ``MetricSpec``,
  their options ``Param`` and a metric's declared numbers ``MetricNumber``; the trainer's
  contract ``GAN``, ``Objective``, ``Phase``, ``PhaseLoss``, ``Batch``; the data ``Dataset``, ``DatasetInfo``, ``UInt8Images`` (streamed from disk), ``HorizontalFlip``; the errors ``GanzooError``,
  ``CheckpointError``, ``SpecError``;
- building blocks to compose, each listed in its module's ``__all__``: ``ganzoo.losses``,
  ``ganzoo.penalties``, ``ganzoo.objectives``, ``ganzoo.nn``, ``ganzoo.convnets``, ``ganzoo.optim``, and ``ganzoo.eval`` for metrics
  (``EvalContext``, ``MetricSkipped``). The hooks are documented in ``ganzoo/hookspecs.py``.
"""

from .api import Run, create_model, evaluate, load_run, resume, train
from .config import Param
from .data import Dataset, DatasetInfo, HorizontalFlip, UInt8Images
from .errors import CheckpointError, GanzooError
from .hookspecs import hookimpl
from .model import GAN, Batch, Objective, Phase, PhaseLoss
from .specs import DatasetSpec, MetricNumber, MetricSpec, ModelSpec, SpecError

__all__ = [
    "GAN", "Batch", "CheckpointError", "Dataset", "DatasetInfo", "DatasetSpec", "GanzooError", "HorizontalFlip",
    "MetricNumber", "MetricSpec", "ModelSpec", "Objective", "Param", "Phase", "PhaseLoss", "Run", "SpecError", "UInt8Images",
    "create_model", "evaluate", "hookimpl", "load_run", "resume", "train",
]
