"""The small frozen spec objects that plugins register: one per model, one per dataset.

A spec says what a thing is called, what it does in one line, which options it takes
(a config schema with defaults) and how to build it. The core only ever calls ``build``;
it never looks at a model's name to decide what to do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from .config import TRAINER_SCHEMA, Param, check_schema
from .errors import GanzooError

if TYPE_CHECKING:
    from .data import Dataset, DatasetInfo
    from .eval.context import EvalContext
    from .model import GAN

DATA_KINDS = ("image", "vector")

# Trainer options a model may suggest per data kind (toy data needs other budgets than images).
TRAINER_PRESET_KEYS = tuple(k for k in TRAINER_SCHEMA if k not in ("seed", "device"))

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def _check_name_and_summary(spec) -> None:
    if not isinstance(spec.name, str) or not NAME_PATTERN.match(spec.name):
        raise ValueError(f"name {spec.name!r} must be lower-case words joined by '-', e.g. 'my-gan'")
    if not isinstance(spec.summary, str) or not spec.summary.strip() or "\n" in spec.summary.strip():
        raise ValueError(f"{spec.name}: summary must be one non-empty line")


def _check_common(spec) -> None:
    _check_name_and_summary(spec)
    if not callable(spec.build):
        raise ValueError(f"{spec.name}: build must be callable")
    check_schema(spec.config)


@dataclass(frozen=True)
class ModelSpec:
    """A GAN variant.

    ``build(info, config)`` receives the dataset's :class:`DatasetInfo` and the resolved
    config (``config``'s defaults merged with the user's overrides) and returns a
    :class:`ganzoo.GAN`. ``presets`` maps a data kind (``"image"`` or ``"vector"``) to
    defaults that suit it: model options, the trainer's ``steps``/``batch_size``, and
    ``data.``-prefixed dataset options (``"data.size": 32``), applied to datasets that have them.
    """

    name: str
    summary: str
    build: Callable[["DatasetInfo", dict[str, Any]], "GAN"]
    config: Mapping[str, Param] = field(default_factory=dict)
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_common(self)
        for kind, preset in self.presets.items():
            if kind not in DATA_KINDS:
                raise ValueError(f"{self.name}: preset kind {kind!r} must be one of {DATA_KINDS}")
            for key, value in preset.items():
                if key in self.config:
                    try:
                        self.config[key].check(f"{self.name} preset {kind}.{key}", value)
                    except GanzooError as exc:
                        raise ValueError(str(exc)) from None
                elif key not in TRAINER_PRESET_KEYS and not key.startswith("data."):
                    raise ValueError(f"{self.name}: preset {kind}.{key} is neither a model option nor one of {TRAINER_PRESET_KEYS}")


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset. ``build(config)`` returns a :class:`ganzoo.Dataset` (tensors plus a self-description).

    ``kind`` (``"image"`` or ``"vector"``) is declared up front so that a model's presets
    for that kind apply before the data is loaded.
    """

    name: str
    summary: str
    kind: str
    build: Callable[[dict[str, Any]], "Dataset"]
    config: Mapping[str, Param] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_common(self)
        if self.kind not in DATA_KINDS:
            raise ValueError(f"{self.name}: kind {self.kind!r} must be one of {DATA_KINDS}")


@dataclass(frozen=True)
class MetricSpec:
    """An evaluation metric: ``compute(ctx)`` returns named numbers (``{"fid": 12.3, "fid_floor": 1.2}``).

    ``kinds`` lists the data kinds it applies to; ``applies(info)``, when given, returns a
    one-line reason why it does not fit a particular dataset (``None`` when it does).
    ``live`` marks metrics cheap enough to run during training (``ganzoo run --eval-every``).
    """

    name: str
    summary: str
    kinds: tuple[str, ...]
    compute: Callable[["EvalContext"], Mapping[str, float]]
    applies: Callable[["DatasetInfo"], str | None] | None = None
    live: bool = False

    def __post_init__(self) -> None:
        _check_name_and_summary(self)
        if not callable(self.compute):
            raise ValueError(f"{self.name}: compute must be callable")
        if self.applies is not None and not callable(self.applies):
            raise ValueError(f"{self.name}: applies must be callable or None")
        if not self.kinds or any(k not in DATA_KINDS for k in self.kinds):
            raise ValueError(f"{self.name}: kinds {self.kinds!r} must be a non-empty tuple of {DATA_KINDS}")

    def reason_not_applicable(self, info: "DatasetInfo") -> str | None:
        """Why this metric cannot evaluate data described by ``info``, or ``None``."""
        if info.kind not in self.kinds:
            return f"needs {' or '.join(self.kinds)} data; {info.name} is {info.kind} data"
        return self.applies(info) if self.applies else None
