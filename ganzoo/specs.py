"""The small frozen spec objects that plugins register: one per model, dataset and metric.

A spec says what a thing is called, what it does in one line, which options it takes
(a config schema with defaults) and how to build it. The core only ever calls ``build``;
it never looks at a model's name to decide what to do. A metric also declares its numbers
(:class:`MetricNumber`: which way is better, whether shown, whether live), and every
consumer reads those declarations instead of keeping a table of metric names.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from .config import TRAINER_SCHEMA, Param, check_schema
from .errors import GanzooError, SpecError
from .remedy_options import REMEDY_SCHEMA

if TYPE_CHECKING:
    from .data import Dataset, DatasetInfo
    from .eval.context import EvalContext
    from .model import GAN

DATA_KINDS = ("image", "vector")
TRAINS_ON = ("all", "train")  # what a model trains on: every sample, or the train part of the held-out split

# Trainer options a model may suggest per data kind (toy data needs other budgets than images); not
# the seed, nor how the machine computes (device, precision, compile), which the user picks for the machine.
# The memory format a model may suggest: its author can measure whether channels_last makes its
# convolutions faster (it changes their results by rounding only), and a flag or config file still overrides it.
TRAINER_PRESET_KEYS = tuple(k for k in TRAINER_SCHEMA if k not in ("seed", "device", "precision", "compile"))

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
NAME_RULE = "lower-case letters and digits in words joined by '-', starting with a letter, e.g. 'my-gan'"


def _fail(spec, problem: str) -> SpecError:
    return SpecError(f"{type(spec).__name__} {spec.name!r}: {problem}")


def _check_name_and_summary(spec) -> None:
    if not isinstance(spec.name, str) or not NAME_PATTERN.match(spec.name):
        raise _fail(spec, f"name must be {NAME_RULE}")
    if not isinstance(spec.summary, str) or not spec.summary.strip() or "\n" in spec.summary.strip():
        raise _fail(spec, "summary must be one non-empty line")


def _check_common(spec) -> None:
    _check_name_and_summary(spec)
    if not callable(spec.build):
        raise _fail(spec, f"build must be callable, got {type(spec.build).__name__}")
    if not isinstance(spec.config, Mapping):
        raise _fail(spec, f"config must map option names to ganzoo.Param, got {type(spec.config).__name__}")
    try:
        check_schema(spec.config)
    except ValueError as exc:
        raise _fail(spec, f"config: {exc}") from None


@dataclass(frozen=True)
class ModelSpec:
    """A GAN variant.

    ``build(info, config)`` receives the dataset's :class:`DatasetInfo` and the resolved
    config (``config``'s defaults merged with the user's overrides) and returns a
    :class:`ganzoo.GAN`. ``presets`` maps a data kind (``"image"`` or ``"vector"``) to
    defaults that suit it: model options, the trainer's ``steps``/``batch_size`` (and
    ``sample_every``, ``checkpoint_every``, ``log_every``, ``memory_format``), and
    ``data.``-prefixed dataset options (``"data.size": 32``), applied to datasets that have them.
    ``discriminator``: whether the built model trains a discriminator (a network other than
    the generator that a phase trains). The collapse remedies change one, so a model that
    declares ``False`` (a VAE) neither lists nor accepts them; declared here because listing
    a model's options builds nothing.
    ``trains_on``: ``"all"`` the data (the default), or ``"train"``, the train part of the
    split evaluation holds out from (:func:`ganzoo.data.stratified_split`), for a model
    whose evaluation scores it on held-out samples (an image-to-image model's pairs), so
    those are never seen in training. The run records which (``dataset.json``).
    ``min_kimg`` maps a data kind to the smallest budget, in thousands of real images drawn,
    at which the model's samples show anything recognisable with its presets; ``ganzoo bench``
    warns when ``--kimg`` is below it (a kind left out: no warning).
    """

    name: str
    summary: str
    build: Callable[["DatasetInfo", dict[str, Any]], "GAN"]
    config: Mapping[str, Param] = field(default_factory=dict)
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    discriminator: bool = True
    trains_on: str = "all"
    min_kimg: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_common(self)
        if not isinstance(self.discriminator, bool):
            raise _fail(self, f"discriminator must be True or False, got {self.discriminator!r}")
        if self.trains_on not in TRAINS_ON:
            raise _fail(self, f"trains_on must be one of {TRAINS_ON}, got {self.trains_on!r}")
        if not isinstance(self.min_kimg, Mapping):
            raise _fail(self, f"min_kimg must map a data kind to a budget in kimg, got {type(self.min_kimg).__name__}")
        for kind, kimg in self.min_kimg.items():
            if kind not in DATA_KINDS:
                raise _fail(self, f"min_kimg kind {kind!r} must be one of {DATA_KINDS}")
            if isinstance(kimg, bool) or not isinstance(kimg, (int, float)) or not 0 < kimg < float("inf"):
                raise _fail(self, f"min_kimg {kind} must be a positive number of kimg, got {kimg!r}")
        taken = [key for key in self.config if key in REMEDY_SCHEMA]
        if taken:
            raise _fail(self, f"config: option {taken[0]!r} is a collapse remedy every model has (reserved: {', '.join(REMEDY_SCHEMA)})")
        if not isinstance(self.presets, Mapping):
            raise _fail(self, f"presets must map a data kind to options, got {type(self.presets).__name__}")
        for kind, preset in self.presets.items():
            if kind not in DATA_KINDS:
                raise _fail(self, f"preset kind {kind!r} must be one of {DATA_KINDS}")
            if not isinstance(preset, Mapping):
                raise _fail(self, f"preset {kind} must map option names to values, got {type(preset).__name__}")
            for key, value in preset.items():
                if isinstance(key, str) and key.startswith("data."):
                    continue  # checked against the dataset in use, which is not known yet
                if key in self.config:
                    param = self.config[key]
                elif key in REMEDY_SCHEMA and self.discriminator:
                    param = REMEDY_SCHEMA[key]
                elif key in TRAINER_PRESET_KEYS:
                    param = TRAINER_SCHEMA[key]
                else:
                    raise _fail(self, f"preset {kind}.{key} is neither a model option, nor one of {TRAINER_PRESET_KEYS}, nor a data. option")
                try:
                    param.check(key, value)
                except GanzooError as exc:
                    raise _fail(self, f"preset {kind}: {exc}") from None


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
            raise _fail(self, f"kind {self.kind!r} must be one of {DATA_KINDS}")


BETTER = ("lower", "higher", None)
ROLES = ("quality", "diversity", None)
PATTERN_CHARS = "*?["


@dataclass(frozen=True)
class MetricNumber:
    """What a metric declares about one of the numbers its ``compute`` returns.

    ``name`` is the number's key, or a shell-style pattern for a family of numbers
    (``"class_*"``). ``better`` says which way is better: ``"lower"``, ``"higher"`` or
    ``None`` (neither: a count, a constant). ``shown``: a column in the leaderboard and on
    the main line of ``ganzoo eval``'s table (spreads, totals and per-class counts are not).
    ``live``: logged as ``eval/<name>`` during ``ganzoo run --eval-every`` when the metric
    is live. ``out_of`` names the number holding the total of a "covered / out of" pair
    (``MetricNumber("modes", "higher", out_of="modes_total")``), drawn as coverage bars.
    ``rank``: the number can rank a leaderboard and pick the best checkpoint by default;
    among the numbers present, the smallest rank wins (the built-in ``fid`` is 1).
    ``role``: ``"quality"`` (how good each sample is) or ``"diversity"`` (how much of the
    data the samples span): a dataset's headline number of each role is a column of the
    leaderboard's main table (the ranked one with the smallest rank, else the first), the
    rest go to its details. ``minimum``: the least value the true quantity can take (0 for a
    distance); an estimate below it (an unbiased estimator's noise, as KID's) is shown as that
    value "within noise". A number a metric does not declare is shown, has no direction and is live.
    """

    name: str
    better: str | None = None
    shown: bool = True
    live: bool = True
    out_of: str | None = None
    rank: int | None = None
    help: str = ""
    role: str | None = None
    minimum: float | None = None

    @property
    def is_pattern(self) -> bool:
        return any(c in self.name for c in PATTERN_CHARS)

    def check(self) -> str | None:
        """The first thing wrong with this declaration, or ``None``."""
        if not isinstance(self.name, str) or not self.name or any(c.isspace() for c in self.name):
            return f"number name {self.name!r} must be a non-empty string without spaces"
        if self.better not in BETTER:
            return f"number {self.name}: better {self.better!r} must be one of {BETTER}"
        for flag in ("shown", "live"):
            if not isinstance(getattr(self, flag), bool):
                return f"number {self.name}: {flag} must be True or False"
        if self.rank is not None:
            if isinstance(self.rank, bool) or not isinstance(self.rank, int) or self.rank < 1:
                return f"number {self.name}: rank {self.rank!r} must be a whole number from 1 (or None)"
            if self.better is None:
                return f"number {self.name}: a ranked number needs better='lower' or 'higher'"
            if self.is_pattern:
                return f"number {self.name}: a pattern cannot be ranked; rank one number"
        if self.out_of is not None and (not isinstance(self.out_of, str) or self.is_pattern or self.out_of == self.name):
            return f"number {self.name}: out_of must name another declared number (not a pattern)"
        if not isinstance(self.help, str):
            return f"number {self.name}: help must be a string"
        if self.role not in ROLES:
            return f"number {self.name}: role {self.role!r} must be one of {ROLES}"
        if self.minimum is not None and (isinstance(self.minimum, bool) or not isinstance(self.minimum, (int, float))):
            return f"number {self.name}: minimum {self.minimum!r} must be a number (or None)"
        return None


@dataclass(frozen=True)
class MetricSpec:
    """An evaluation metric: ``compute(ctx)`` returns named numbers (``{"fid": 12.3, "fid_floor": 1.2}``).

    ``kinds`` lists the data kinds it applies to; ``applies(info)``, when given, returns a
    one-line reason why it does not fit a particular dataset (``None`` when it does).
    ``live`` marks metrics cheap enough to run during training (``ganzoo run --eval-every``).
    ``numbers`` declares what ``compute`` returns (:class:`MetricNumber`); undeclared
    numbers are shown, have no direction and are live.
    """

    name: str
    summary: str
    kinds: tuple[str, ...]
    compute: Callable[["EvalContext"], Mapping[str, float]]
    applies: Callable[["DatasetInfo"], str | None] | None = None
    live: bool = False
    numbers: tuple[MetricNumber, ...] = ()

    def __post_init__(self) -> None:
        _check_name_and_summary(self)
        if not callable(self.compute):
            raise _fail(self, f"compute must be callable, got {type(self.compute).__name__}")
        if self.applies is not None and not callable(self.applies):
            raise _fail(self, "applies must be callable or None")
        if not self.kinds or any(k not in DATA_KINDS for k in self.kinds):
            raise _fail(self, f"kinds {self.kinds!r} must be a non-empty tuple of {DATA_KINDS}")
        if not isinstance(self.numbers, (tuple, list)) or not all(isinstance(n, MetricNumber) for n in self.numbers):
            raise _fail(self, "numbers must be a tuple of ganzoo.MetricNumber")
        object.__setattr__(self, "numbers", tuple(self.numbers))
        names = [n.name for n in self.numbers]
        for number in self.numbers:
            problem = number.check()
            if problem:
                raise _fail(self, problem)
            if names.count(number.name) > 1:
                raise _fail(self, f"number {number.name} is declared twice")
            if number.out_of is not None and number.out_of not in names:
                raise _fail(self, f"number {number.name}: out_of {number.out_of!r} is not declared (declared: {', '.join(names)})")

    def reason_not_applicable(self, info: "DatasetInfo") -> str | None:
        """Why this metric cannot evaluate data described by ``info``, or ``None``."""
        if info.kind not in self.kinds:
            return f"needs {' or '.join(self.kinds)} data; {info.name} is {info.kind} data"
        return self.applies(info) if self.applies else None

    def number(self, key: str) -> MetricNumber:
        """The declaration of the number ``key``: its own, else the first pattern it matches, else the default."""
        for number in self.numbers:
            if number.name == key:
                return number
        for number in self.numbers:
            if number.is_pattern and fnmatch.fnmatchcase(key, number.name):
                return number
        return MetricNumber(key)
