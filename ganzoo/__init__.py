"""ganzoo: a plugin-based GAN zoo on one shared trainer, with an evaluation suite.

The names exported here are the public API for users and plugin authors; everything
else is internal and may change.
"""

from .api import Run, create_model, load_run, resume, train
from .config import Param
from .data import Dataset, DatasetInfo
from .errors import CheckpointError, GanzooError
from .hookspecs import hookimpl
from .model import GAN, Batch, Objective, Phase, PhaseLoss
from .specs import DatasetSpec, MetricSpec, ModelSpec

__all__ = [
    "GAN", "Batch", "CheckpointError", "Dataset", "DatasetInfo", "DatasetSpec", "GanzooError",
    "MetricSpec", "ModelSpec", "Objective", "Param", "Phase", "PhaseLoss", "Run",
    "create_model", "hookimpl", "load_run", "resume", "train",
]
