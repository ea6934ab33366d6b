"""Building what a run trains: its dataset and a freshly initialised model, from a resolved config."""

from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Any, Mapping

import torch

from .. import plugins
from ..config import RunConfig, resolve
from ..data import Dataset, DatasetInfo
from ..errors import GanzooError, first_line
from ..model import GAN


def build_dataset(config: RunConfig) -> Dataset:
    return build_named_dataset(config.dataset, config.dataset_config)


def build_named_dataset(name: str, options: Mapping[str, Any]) -> Dataset:
    """Dataset ``name`` built with resolved ``options`` (a run's ``dataset_config``, or :func:`ganzoo.run.config.dataset_options`)."""
    spec = plugins.datasets().get(name)
    with _building(f"dataset {spec.name}", options):
        dataset = spec.build(dict(options))
        json.dumps(dataset.info.to_dict())  # it is saved with every run: fail here, not after training
    if dataset.info.kind != spec.kind:
        raise GanzooError(f"dataset {spec.name} declares kind {spec.kind} but built {dataset.info.kind} data")
    return dataset


@contextmanager
def _building(what: str, config: Mapping[str, Any]):
    """Turn a builder's failure on valid-looking options (a size too large for memory, say) into one line."""
    try:
        yield
    except GanzooError:
        raise
    except (RuntimeError, ValueError, TypeError, OverflowError, MemoryError) as exc:
        options = ", ".join(f"{k}={v}" for k, v in config.items())
        raise GanzooError(f"{what} could not be built with {options or 'its defaults'}: {type(exc).__name__}: {first_line(exc)}") from None


def build_model(config: RunConfig, info: DatasetInfo, device: torch.device) -> GAN:
    """A freshly initialised GAN for ``config``; its weights depend only on the seed."""
    torch.manual_seed(config.seed)
    spec = plugins.models().get(config.model)
    with _building(f"model {spec.name}", config.model_config):
        return spec.build(info, dict(config.model_config)).to(device)


def build(config: RunConfig, device: torch.device) -> tuple[GAN, Dataset]:
    """The dataset and a freshly initialised GAN for ``config``."""
    dataset = build_dataset(config)
    return build_model(config, dataset.info, device), dataset


def create_model(name: str, info: DatasetInfo, **overrides: Any) -> GAN:
    """Build model ``name`` for data described by ``info``; ``overrides`` are checked against its schema."""
    spec = plugins.models().get(name)
    preset = {k: v for k, v in spec.presets.get(info.kind, {}).items() if k in spec.config}
    return spec.build(info, resolve(spec.config, {**preset, **overrides}, f"model {name}"))
