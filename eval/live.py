"""Live evaluation during training (``ganzoo run --eval-every K``): the mode-collapse curve and the best checkpoint.

:class:`LiveEval` is a trainer callback. Every ``every`` steps it samples ``n`` images or
points from the generator (the EMA copy when there is one) with a fixed seed, computes
the cheap metrics that fit the data (those registered with ``live=True``: FID at a small
stated N, classes or modes covered, KL), and hands the numbers those metrics declare live
back to the trainer as named scalars ``eval/<name>``, which go to the metrics log and
every other sink like the losses. It redraws the run's evaluation curves (each live scalar
against the step) and keeps the run's best checkpoint: the full checkpoint of the step with
the best value of the chosen number so far (``--best-metric``: any live number declared
with a direction; by default the one with the smallest declared rank). FID can get much
worse late in training, so the last checkpoint is not always the one to keep.

Sampling uses its own ``torch.Generator``, every metric is deterministic, and each
evaluation runs in its own random-number scope (:func:`ganzoo.eval.rng.own_rng`: feature
extraction's DataLoader draws from torch's global generator, the trainer's), so training
ends with the same weights, bit for bit, with or without live evaluation, and a run with
live evaluation still resumes bit for bit; the best value so far is kept beside the best
checkpoint (:meth:`RunFolder.save_checkpoint`'s record) so that a resumed run keeps
comparing against it. It sees the trainer only through :class:`ganzoo.training.callbacks.StepInfo`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

from ganzoo.config import RunConfig
from ganzoo.data import Dataset
from ganzoo.errors import CheckpointError, GanzooError
from ganzoo.files import atomic_write
from ganzoo.run.session import CallbackFactory
from ganzoo.specs import MetricNumber, MetricSpec
from ganzoo.training.callbacks import StepInfo

from .context import EvalContext
from .evaluate import model_outputs, real_split, run_metrics, select_metrics, warn_failed
from .rng import own_rng

PREFIX = "eval/"
LIVE_N = {"image": 1000, "vector": 2500}  # 1,000 images: the floor's N with the bundled MNIST
LIVE_SEED = 0


def _is_live_scalar(spec: MetricSpec, key: str, value: Any) -> bool:
    return spec.number(key).live and (value is None or isinstance(value, (int, float)))


def declared_live_numbers(specs: list[MetricSpec]) -> dict[str, MetricNumber]:
    """The numbers the live metrics ``specs`` declare live, by name (not patterns: a family has no one value)."""
    out: dict[str, MetricNumber] = {}
    for spec in specs:
        for number in spec.numbers:
            if number.live and not number.is_pattern:
                out.setdefault(number.name, number)
    return out


def default_best_metric(numbers: dict[str, MetricNumber]) -> str | None:
    """The declared number with the smallest rank, or ``None`` when none is ranked."""
    ranked = [n for n in numbers.values() if n.rank is not None]
    return min(ranked, key=lambda n: n.rank).name if ranked else None


def live_evaluation(
    every: int | None, n: int | None = None, best_metric: str | None = None, curves_at_end: bool = False, share: bool = True,
) -> CallbackFactory:
    """The factory the run layer calls, once the dataset is built, to make the live-evaluation callback.

    ``curves_at_end``: draw ``eval.png`` at the run's last live evaluation only, not at each
    (``ganzoo bench``, whose page draws its own curves: drawing the figure cost more than
    computing the live metrics). ``share=False``: metrics share nothing and compute every number,
    live or not, as before (``benchmarks/bench_eval.py``'s baseline).
    """
    if every is None:
        raise GanzooError("--eval-n and --best-metric need --eval-every K")

    def make(data: Dataset, config: RunConfig) -> list[LiveEval]:
        if every < 1 or every % config.log_every:
            raise GanzooError(f"bad --eval-every {every} (valid: a multiple of --log-every {config.log_every})")
        return [LiveEval(data, every, n, best_metric, options=config.dataset_config,
                        last_step=config.steps if curves_at_end else None, share=share)]

    return make


class LiveEval:
    """Trainer callback: ``after_step(info)`` returns ``{"eval/<name>": value}`` every ``every`` steps."""

    def __init__(
        self, dataset: Dataset, every: int, n: int | None = None, best_metric: str | None = None, *,
        options: Mapping[str, Any], last_step: int | None = None, share: bool = True,
    ) -> None:
        if every < 1:
            raise GanzooError(f"bad --eval-every {every} (valid: 1 or more steps)")
        self.every = every
        self.last_step = last_step  # given: eval.png is drawn at the last live evaluation before it only
        self.info = dataset.info
        self.n = n or LIVE_N[self.info.kind]
        if not 2 <= self.n <= 100_000:
            raise GanzooError(f"bad --eval-n {self.n} (valid: 2 to 100000)")
        self.specs, _ = select_metrics(self.info, live=True)
        if not self.specs:
            raise GanzooError(f"--eval-every: no live metric fits dataset {self.info.name}")
        real, heldout, fields = real_split(dataset, options, self.n, self.n)
        # One context for the whole run: real features are computed once and kept in memory.
        self.base = EvalContext(self.info, real[:0], real, heldout, LIVE_SEED, real_fields=fields, share=share, live=share)
        # What the live metrics will report, known from their declarations before any of them runs.
        self.numbers = declared_live_numbers(self.specs)
        self.best_metric = best_metric
        valid = sorted(name for name, number in self.numbers.items() if number.better)
        if best_metric is not None and best_metric not in valid:
            raise GanzooError(f"bad --best-metric {best_metric!r} for {self.info.name} (valid: {', '.join(valid) or 'none, no live number declares which way is better'})")
        self._best: dict[str, Any] | None = None
        self._history: dict[str, list[tuple[int, float]]] = {}  # the curves' points so far

    def describe(self) -> dict[str, Any]:
        return {"every": self.every, "n": self.n, "seed": LIVE_SEED, "metrics": [s.name for s in self.specs], "best_metric": self._metric_name()}

    def _metric_name(self) -> str | None:
        return self.best_metric or default_best_metric(self.numbers)

    def on_fit_start(self, info: StepInfo) -> None:
        # A resumed run continues its curves and keeps comparing against its earlier best.
        self._history = {}
        for record in info.folder.metrics():
            for key, value in record.items():
                if key.startswith(PREFIX) and value is not None:
                    self._history.setdefault(key, []).append((record["step"], value))
        self._best = info.folder.checkpoint_record("best")
        if info.folder.has_checkpoint("best"):
            try:  # a best.pt that cannot be trusted is said, and replaced at the next live evaluation
                info.folder.load_checkpoint("best")
            except CheckpointError as exc:
                warnings.warn(f"{exc}; it is discarded and replaced at the next live evaluation", UserWarning, stacklevel=2)
                self._best = None

    def after_step(self, info: StepInfo) -> dict[str, float]:
        if info.step % self.every:
            return {}
        # Its own RNG scope, so that training draws the same latents with or without live evaluation.
        with own_rng():  # CUDA generators too when training runs on a GPU (CUDA is then initialised)
            scalars = self._evaluate(info)
        # Outside the scope: best.pt must hold the trainer's RNG state, not one sampling moved on.
        self._track_best(info, scalars)
        if self.last_step is None or info.step + self.every > self.last_step:
            save_eval_curves(self._history, info.folder.eval_picture, f"{info.title}: live evaluation, N={self.n}")
        return scalars

    def _evaluate(self, info: StepInfo) -> dict[str, float]:
        fake, pairs = model_outputs(info.gan, self.base.heldout, self.n, LIVE_SEED)  # what ganzoo eval scores, at live N
        ctx = replace(self.base, fake=fake, pairs=pairs, protocol={}, _memo={k: v for k, v in self.base._memo.items() if "fake" not in k})
        ran = run_metrics(ctx, self.specs, keep_going=True)
        self.base._memo.update({k: v for k, v in ctx._memo.items() if "fake" not in k})
        if ran.failed:
            # A metric's bug does not mend itself: training goes on without it, said once.
            warn_failed(ran.failed, f" at step {info.step}; training goes on, and this run's live evaluation leaves it out from now on")
            self.specs = [spec for spec in self.specs if spec.name not in ran.failed]
        results = ran.results
        # None is an undefined value (see run_metrics); it travels as NaN and is logged as null.
        specs = {spec.name: spec for spec in self.specs}
        scalars = {
            PREFIX + key: math.nan if value is None else float(value)
            for name, values in results.items() for key, value in values.items() if _is_live_scalar(specs[name], key, value)
        }
        for key, value in scalars.items():
            self._history.setdefault(key, [])
            if math.isfinite(value):
                self._history[key].append((info.step, value))
        return scalars

    # -- best checkpoint ---------------------------------------------------
    def _track_best(self, info: StepInfo, scalars: dict[str, float]) -> None:
        name = self._metric_name()
        if name is None or PREFIX + name not in scalars:
            return
        lower = self.numbers[name].better == "lower"
        # Undefined (a KL with no high-quality samples) counts as the worst value, so the
        # first evaluation always leaves a best checkpoint and any defined value beats it.
        worst = math.inf if lower else -math.inf
        value = scalars[PREFIX + name]
        value = value if math.isfinite(value) else worst
        best = self._best
        if best is not None and best.get("metric") == name:
            previous = best.get("value")
            previous = worst if not isinstance(previous, (int, float)) else previous
            if not (value < previous if lower else value > previous):
                return
        record = {
            "metric": name, "value": value if math.isfinite(value) else None,
            **{k: v for k, v in self.describe().items() if k != "best_metric"},
        }
        info.folder.save_checkpoint(info.snapshot(), "best", record=record)
        self._best = {**record, "step": info.step}


def save_eval_curves(points: dict[str, list[tuple[int, float]]], path: Path, title: str) -> Path:
    """One small panel per live scalar against the step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(points)
    fig, axes = plt.subplots(len(names), 1, figsize=(7, 2.2 * len(names)), dpi=100, squeeze=False, sharex=True)
    for ax, name in zip(axes[:, 0], names):
        xs, ys = zip(*points[name]) if points[name] else ((), ())
        ax.plot(xs, ys, marker="o", markersize=3, linewidth=1)
        ax.set_ylabel(name.removeprefix(PREFIX))
        ax.grid(alpha=0.3)
    axes[0, 0].set_title(title, fontsize=9)
    axes[-1, 0].set_xlabel("step")
    fig.tight_layout()
    try:
        return atomic_write(path, lambda f: fig.savefig(f, format="png"))
    finally:
        plt.close(fig)
