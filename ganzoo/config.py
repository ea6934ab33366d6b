"""Config schemas: typed options with defaults, validated before anything is built.

Models and datasets declare their options as ``{name: Param(default, help)}``. Values
come from (lowest to highest) the defaults, the spec's per-data-kind presets, a YAML
config file, and ``--set key=value``. Every value is checked here, so a typo fails
before training starts, in one line that names the key and what would be valid.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

import yaml

from .errors import GanzooError

_SCALAR_TYPES = (bool, int, float, str)


@dataclass(frozen=True)
class Param:
    """One option in a config schema. Its type is the type of ``default``."""

    default: Any
    help: str = ""
    choices: tuple | None = None
    min: float | None = None
    max: float | None = None

    @property
    def type(self) -> type:
        return type(self.default)

    def check(self, key: str, value: Any) -> Any:
        """Return ``value`` coerced to this option's type, or raise naming what is valid."""
        expected = self.type
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if expected is str and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if expected is float and isinstance(value, float) and not math.isfinite(value):
            raise GanzooError(f"bad value for {key}: {value!r} (expected a finite number)")
        if type(value) is not expected:
            valid = f"one of {', '.join(map(str, self.choices))}" if self.choices else f"a {expected.__name__}"
            raise GanzooError(f"bad value for {key}: {value!r} (expected {valid})")
        if self.choices is not None and value not in self.choices:
            raise GanzooError(
                f"bad value for {key}: {value!r} (valid: {', '.join(map(str, self.choices))})"
            )
        if self.min is not None and value < self.min:
            raise GanzooError(f"bad value for {key}: {value!r} (must be >= {self.min})")
        if self.max is not None and value > self.max:
            raise GanzooError(f"bad value for {key}: {value!r} (must be <= {self.max})")
        return value


Schema = Mapping[str, Param]

# The trainer's own options; a model's presets may set these per kind of data.
TRAINER_SCHEMA: dict[str, Param] = {
    "steps": Param(2000, "generator steps to train for", min=1),
    "batch_size": Param(64, "real samples per batch (per process when data-parallel)", min=1),
    "seed": Param(0, "seed for weights, latents and data order", min=0, max=2**31 - 1),
    "device": Param("auto", "auto (CUDA when present), cpu, cuda or cuda:N"),
    "sample_every": Param(500, "steps between sample pictures", min=1),
    "checkpoint_every": Param(1000, "steps between checkpoints", min=1),
    "log_every": Param(50, "steps between metrics.jsonl lines", min=1),
    "precision": Param("32", "32 (fp32), bf16 (bfloat16 autocast) or 16-mixed (fp16 autocast with gradient scaling; CUDA only)",
                       choices=("32", "bf16", "16-mixed")),
    "compile": Param("none", "torch.compile backend for every network: none, inductor (what --compile means), aot_eager or eager",
                     choices=("none", "inductor", "aot_eager", "eager")),
    "memory_format": Param("contiguous", "layout of the networks' 4-D weights (and so of their conv activations): contiguous (NCHW) "
                           "or channels_last (NHWC; what --channels-last means)", choices=("contiguous", "channels_last")),
}


@dataclass
class RunConfig:
    """A run's complete, resolved configuration: which model on which data, the trainer's
    options, and both option sets. Built and checked by :func:`ganzoo.run.config.make_run_config`;
    saved in and read from a run folder by :class:`ganzoo.run.folder.RunFolder`."""

    model: str
    dataset: str
    steps: int
    batch_size: int
    seed: int
    device: str
    sample_every: int
    checkpoint_every: int
    log_every: int
    precision: str = "32"
    compile: str = "none"
    memory_format: str = "contiguous"
    world_size: int = 1  # processes training it together (data-parallel); set when training starts, not an option
    model_config: dict[str, Any] = field(default_factory=dict)
    dataset_config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_schema(schema: Schema) -> None:
    """Raise ValueError if a schema is malformed (used when a plugin registers a spec)."""
    for key, param in schema.items():
        if not isinstance(param, Param):
            raise ValueError(f"option {key!r} must be a ganzoo.Param, got {type(param).__name__}")
        if not isinstance(param.default, _SCALAR_TYPES):
            raise ValueError(f"option {key!r} has a default of unsupported type {type(param.default).__name__}")
        try:
            param.check(key, param.default)
        except GanzooError as exc:
            raise ValueError(f"invalid default: {exc}") from None


def suggest(name: str, valid) -> str:
    """' (did you mean x?)' for the closest names in ``valid``, or ''."""
    close = difflib.get_close_matches(name, list(valid), n=3, cutoff=0.5)
    return f"; did you mean {' or '.join(close)}?" if close else ""


def resolve(schema: Schema, overrides: Mapping[str, Any], owner: str, prefix: str = "") -> dict[str, Any]:
    """Defaults of ``schema`` with ``overrides`` merged over them, each value checked.

    ``owner`` names whose options these are ("model vanilla") and ``prefix`` how the user
    spells their keys (``data.`` for dataset options), for error messages.
    """
    values = {key: param.default for key, param in schema.items()}
    valid = ", ".join(prefix + k for k in schema) or "none"
    for key, value in overrides.items():
        if not isinstance(key, str):
            raise GanzooError(f"option names of {owner} must be text, got {key!r} (valid: {valid})")
        if key not in schema:
            raise GanzooError(f"unknown option {prefix + key!r} for {owner} (valid: {valid}){suggest(prefix + key, [prefix + k for k in schema])}")
        values[key] = schema[key].check(prefix + key, value)
    return values


def parse_set(item: str) -> tuple[str, Any]:
    """Parse one ``key=value`` from ``--set``; the value is read as YAML (``1e-4``, ``true``, ``minimax``)."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise GanzooError(f"bad --set {item!r} (expected key=value, e.g. --set lr=0.0002)")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str):
        value = _number_or_str(value)
    return key, value


def _number_or_str(text: str) -> Any:
    # YAML 1.1 reads "1e-4" as a string; people mean a number.
    try:
        return float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        return text
