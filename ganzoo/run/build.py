"""Building what a run trains: its dataset and a freshly initialised model, from a resolved config."""

from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Any, Mapping

import torch

from .. import plugins, remedies
from ..config import RunConfig, resolve
from ..data import Dataset, DatasetInfo
from ..errors import GanzooError
from ..model import GAN


def build_dataset(config: RunConfig) -> Dataset:
    return build_named_dataset(config.dataset, config.dataset_config)


def build_named_dataset(name: str, options: Mapping[str, Any]) -> Dataset:
    """Dataset ``name`` built with resolved ``options`` (a run's ``dataset_config``, or :func:`ganzoo.run.config.dataset_options`)."""
    registry = plugins.datasets()
    spec = registry.get(name)
    with _building(f"dataset {spec.name} (plugin {registry.owner(spec.name)})", options):
        dataset = spec.build(dict(options))
        json.dumps(dataset.info.to_dict())  # it is saved with every run: fail here, not after training
    if dataset.info.kind != spec.kind:
        raise GanzooError(f"dataset {spec.name} declares kind {spec.kind} but built {dataset.info.kind} data")
    return dataset


@contextmanager
def _building(what: str, config: Mapping[str, Any]):
    """Turn any failure of a plugin's builder (a size too large for memory, a bug, even ``sys.exit()``) into one line.

    The builder is plugin code, so the line names the plugin; the cause stays chained for
    Python callers. A builder's own :class:`GanzooError` is already a one-line message.
    """
    try:
        with plugins.plugin_code(passes=(GanzooError,)):
            yield
    except plugins.PluginFault as fault:
        options = ", ".join(f"{k}={v}" for k, v in config.items())
        raise GanzooError(f"{what} could not be built with {options or 'its defaults'}: {fault}") from fault.original


def build_model(config: RunConfig, info: DatasetInfo, device: torch.device) -> GAN:
    """A freshly initialised GAN for ``config``; its weights depend only on the seed."""
    torch.manual_seed(config.seed)
    return _build_with_remedies(config.model, info, config.model_config, device)


def _build_with_remedies(name: str, info: DatasetInfo, options: Mapping[str, Any], device: torch.device | None = None) -> GAN:
    """The plugin's build with its own options (moved to ``device``), then the core's collapse remedies (:mod:`ganzoo.remedies`)."""
    registry = plugins.models()
    spec = registry.get(name)
    own, remedy_options = remedies.split(spec.config, options)

    def build_for(data: DatasetInfo) -> GAN:
        with _building(f"model {spec.name} (plugin {registry.owner(spec.name)})", own):
            gan = spec.build(data, dict(own))
            return gan if device is None else gan.to(device)  # inside: a builder that returns no GAN fails here, in one line

    gan = build_for(info)
    remedies.apply(gan, remedy_options, info, build_for)
    return gan


def build(config: RunConfig, device: torch.device) -> tuple[GAN, Dataset]:
    """The dataset and a freshly initialised GAN for ``config``."""
    dataset = build_dataset(config)
    return build_model(config, dataset.info, device), dataset


def create_model(name: str, info: DatasetInfo, **overrides: Any) -> GAN:
    """Build model ``name`` for data described by ``info``; ``overrides`` (its options and the
    collapse remedies of :mod:`ganzoo.remedies`) are checked against its schema."""
    spec = plugins.models().get(name)
    schema = remedies.model_options(spec.config, spec.discriminator)
    if not spec.discriminator:
        remedies.without_remedies(name, overrides)
    preset = {k: v for k, v in spec.presets.get(info.kind, {}).items() if k in schema}
    config = resolve(schema, {**preset, **overrides}, f"model {name}")
    remedies.check(remedies.split(spec.config, config)[1], info.kind)
    return _build_with_remedies(name, info, config)
