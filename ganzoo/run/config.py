"""Resolving a run's configuration (:class:`ganzoo.config.RunConfig`) from defaults, presets, a file and flags.

Values are layered, lowest first: the trainer's and the specs' defaults, the model's
preset for the dataset's kind, a YAML file (``--config``), then flags and ``--set``.
The resolved result is saved in the run folder (:class:`ganzoo.run.folder.RunFolder`);
passing that file back with ``--config`` reproduces the run.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any, Mapping

import yaml

from .. import plugins, remedies
from ..config import TRAINER_SCHEMA, RunConfig, resolve
from ..errors import GanzooError, first_line

DATA_PREFIX = "data."
MAX_SEED = TRAINER_SCHEMA["seed"].max


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML config file as a dict, with one-line errors for missing or malformed files."""
    try:
        data = yaml.safe_load(Path(path).read_bytes().decode("utf-8"))
    except OSError as exc:
        raise GanzooError(f"--config {path}: cannot read it ({exc.strerror or first_line(exc)})") from None
    except UnicodeDecodeError as exc:
        raise GanzooError(f"--config {path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})") from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise GanzooError(f"--config {path}: not valid YAML ({first_line(exc)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise GanzooError(f"--config {path}: expected a mapping of options, got {type(data).__name__}")
    try:
        check_config_keys(data)
    except GanzooError as exc:
        raise GanzooError(f"--config {path}: {exc}") from None
    return data


def check_config_keys(data: Mapping[str, Any]) -> None:
    """Refuse keys a config cannot have, and names that are not strings."""
    valid = [f.name for f in fields(RunConfig)]
    unknown = sorted(set(map(str, data)) - set(valid))
    if unknown:
        raise GanzooError(f"unknown key {unknown[0]!r} (valid: {', '.join(valid)})")
    for key in ("model", "dataset"):
        if key in data and data[key] is not None and not isinstance(data[key], str):
            raise GanzooError(f"{key} must be a name, got {data[key]!r}")


def make_run_config(
    model: str | None = None,
    dataset: str | None = None,
    file_values: Mapping[str, Any] | None = None,
    sets: Mapping[str, Any] | None = None,
    **trainer: Any,
) -> RunConfig:
    """Resolve and check every option of a run before anything is built.

    ``sets`` are ``--set`` pairs: plain keys are model options (the model's own and the
    collapse remedies every model has, :mod:`ganzoo.remedies`), ``data.``-prefixed keys
    dataset options. ``trainer`` holds trainer options and the dataset flags ``data_root``
    and ``download``; ``None`` values mean "not given".
    """
    file_values = dict(file_values or {})
    check_config_keys(file_values)
    sets = dict(sets or {})
    model = model or file_values.get("model")
    if not model:
        raise GanzooError("no model given (use --model NAME; `ganzoo models` lists them)")
    dataset = dataset or file_values.get("dataset") or "mnist"
    model_spec = plugins.models().get(model)
    data_spec = plugins.datasets().get(dataset)
    preset = dict(model_spec.presets.get(data_spec.kind, {}))

    trainer_values = {k: v for k, v in preset.items() if k in TRAINER_SCHEMA}
    trainer_values.update({k: file_values[k] for k in TRAINER_SCHEMA if k in file_values})
    given = {k: trainer.pop(k) for k in list(trainer) if k in TRAINER_SCHEMA}
    trainer_values.update({k: v for k, v in given.items() if v is not None})
    resolved_trainer = resolve(TRAINER_SCHEMA, trainer_values, "the trainer")

    model_values = {k: v for k, v in preset.items() if k not in TRAINER_SCHEMA and not k.startswith(DATA_PREFIX)}
    recorded = _mapping(file_values.get("model_config"), "model_config")
    given = {k: v for k, v in sets.items() if not k.startswith(DATA_PREFIX)}
    if not model_spec.discriminator:  # the collapse remedies change a discriminator: refused here, in one line
        recorded = remedies.without_remedies(model, recorded, recorded=True)
        remedies.without_remedies(model, {**model_values, **given})
    model_values.update(recorded)
    model_values.update(given)
    model_config = resolve(remedies.model_options(model_spec.config, model_spec.discriminator), model_values, f"model {model}")
    remedies.check(remedies.split(model_spec.config, model_config)[1], data_spec.kind, resolved_trainer["batch_size"])

    # A preset's dataset options apply where the dataset has them (mnist's size, not ring8's).
    data_values = {k[len(DATA_PREFIX):]: v for k, v in preset.items() if k.startswith(DATA_PREFIX) and k[len(DATA_PREFIX):] in data_spec.config}
    data_values.update(_mapping(file_values.get("dataset_config"), "dataset_config"))
    data_values.update({k[len(DATA_PREFIX):]: v for k, v in sets.items() if k.startswith(DATA_PREFIX)})
    for flag, key in (("data_root", "root"), ("download", "download")):
        value = trainer.pop(flag, None)
        if value in (None, False):
            continue
        if key not in data_spec.config:
            raise GanzooError(f"dataset {dataset} does not take --{flag.replace('_', '-')} (its options: {', '.join(data_spec.config) or 'none'})")
        data_values[key] = value
    if trainer:
        raise TypeError(f"unexpected trainer options {sorted(trainer)}")
    dataset_config = resolve(data_spec.config, data_values, f"dataset {dataset}", prefix=DATA_PREFIX)
    world_size = file_values.get("world_size", 1)  # a record of how the run was trained, kept as it is
    if type(world_size) is not int or world_size < 1:
        raise GanzooError(f"world_size must be a whole number >= 1 (the processes that train the run), got {world_size!r:.60}")
    return RunConfig(model=model, dataset=dataset, model_config=model_config, dataset_config=dataset_config, world_size=world_size, **resolved_trainer)


def dataset_options(dataset: str, sets: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The resolved options of ``dataset`` from ``data.``-prefixed ``--set`` pairs alone (no model, no preset).

    For scoring samples against a dataset, where no model is involved: a plain (model) key is an error.
    """
    spec = plugins.datasets().get(dataset)
    values = {}
    for key, value in (sets or {}).items():
        if not key.startswith(DATA_PREFIX):
            raise GanzooError(f"--set {key}: only dataset options (data.KEY=VALUE) apply when scoring samples (valid: {', '.join(DATA_PREFIX + k for k in spec.config) or 'none'})")
        values[key[len(DATA_PREFIX):]] = value
    return resolve(spec.config, values, f"dataset {dataset}", prefix=DATA_PREFIX)


def _mapping(value: Any, name: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise GanzooError(f"{name} must be a mapping of option: value, got {type(value).__name__}")
    return value
