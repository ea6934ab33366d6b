"""Live evaluation during training (``ganzoo run --eval-every K``): the mode-collapse curve and the best checkpoint.

:class:`LiveEval` is a trainer callback. Every ``every`` steps it samples ``n`` images or
points from the generator (the EMA copy when there is one) with a fixed seed, computes
the cheap metrics that fit the data (those registered with ``live=True``: FID at a small
stated N, classes or modes covered, KL), and hands the numbers those metrics declare live
back to the trainer as named scalars ``eval/<name>``, which go to ``metrics.jsonl`` and
every other sink like the losses. It redraws ``eval.png`` (each live scalar against the step) and keeps
``checkpoints/best.pt``: the full checkpoint of the step with the best value of the
chosen number so far (``--best-metric``: any live number declared with a direction; by
default the one with the smallest declared rank). FID can get much worse late in training,
so the last checkpoint is not always the one to keep.

Sampling uses its own ``torch.Generator`` and every metric is deterministic, so a run with
live evaluation still resumes bit for bit; the best value so far is kept in
``checkpoints/best.json`` so that a resumed run keeps comparing against it.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganzoo.checkpoint import save_checkpoint
from ganzoo.data import Dataset
from ganzoo.errors import GanzooError
from ganzoo.files import atomic_write, atomic_write_text
from ganzoo.specs import MetricNumber, MetricSpec
from ganzoo.tracking import read_jsonl

from .context import EvalContext
from .evaluate import draw_samples, real_split, run_metrics, select_metrics

if TYPE_CHECKING:
    from ganzoo.trainer import Trainer

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


class LiveEval:
    """Trainer callback: ``after_step(trainer)`` returns ``{"eval/<name>": value}`` every ``every`` steps."""

    def __init__(self, dataset: Dataset, every: int, n: int | None = None, best_metric: str | None = None) -> None:
        if every < 1:
            raise GanzooError(f"bad --eval-every {every} (valid: 1 or more steps)")
        self.every = every
        self.info = dataset.info
        self.n = n or LIVE_N[self.info.kind]
        if not 2 <= self.n <= 100_000:
            raise GanzooError(f"bad --eval-n {self.n} (valid: 2 to 100000)")
        self.specs, _ = select_metrics(self.info, live=True)
        if not self.specs:
            raise GanzooError(f"--eval-every: no live metric fits dataset {self.info.name}")
        real, heldout, fields = real_split(dataset, self.n, self.n)
        # One context for the whole run: real features are computed once and kept in memory.
        self.base = EvalContext(self.info, real[:0], real, heldout, LIVE_SEED, real_fields=fields)
        # What the live metrics will report, known from their declarations before any of them runs.
        self.numbers = declared_live_numbers(self.specs)
        self.best_metric = best_metric
        valid = sorted(name for name, number in self.numbers.items() if number.better)
        if best_metric is not None and best_metric not in valid:
            raise GanzooError(f"bad --best-metric {best_metric!r} for {self.info.name} (valid: {', '.join(valid) or 'none, no live number declares which way is better'})")
        self._best: dict[str, Any] | None = None
        self._loaded_for: Path | None = None

    def describe(self) -> dict[str, Any]:
        return {"every": self.every, "n": self.n, "seed": LIVE_SEED, "metrics": [s.name for s in self.specs], "best_metric": self._metric_name()}

    def _metric_name(self) -> str | None:
        return self.best_metric or default_best_metric(self.numbers)

    def after_step(self, trainer: "Trainer") -> dict[str, float]:
        if trainer.step % self.every:
            return {}
        fake = draw_samples(trainer.gan, self.n, LIVE_SEED)
        ctx = replace(self.base, fake=fake, protocol={}, _memo={k: v for k, v in self.base._memo.items() if "fake" not in k})
        results, _, _ = run_metrics(ctx, self.specs)
        self.base._memo.update({k: v for k, v in ctx._memo.items() if "fake" not in k})
        # None is an undefined value (see run_metrics); it travels as NaN and is logged as null.
        specs = {spec.name: spec for spec in self.specs}
        scalars = {
            PREFIX + key: math.nan if value is None else float(value)
            for name, values in results.items() for key, value in values.items() if _is_live_scalar(specs[name], key, value)
        }
        if trainer.process.is_main:
            self._track_best(trainer, scalars)
            self._plot(trainer, scalars)
        return scalars

    # -- best checkpoint ---------------------------------------------------
    def _best_file(self, trainer: "Trainer") -> Path:
        return trainer.run_dir / "checkpoints" / "best.json"

    def _track_best(self, trainer: "Trainer", scalars: dict[str, float]) -> None:
        name = self._metric_name()
        if name is None or PREFIX + name not in scalars:
            return
        lower = self.numbers[name].better == "lower"
        # Undefined (a KL with no high-quality samples) counts as the worst value, so the
        # first evaluation always leaves a best checkpoint and any defined value beats it.
        worst = math.inf if lower else -math.inf
        value = scalars[PREFIX + name]
        value = value if math.isfinite(value) else worst
        if self._loaded_for != trainer.run_dir:  # a resumed run compares against its earlier best
            path = self._best_file(trainer)
            self._best = json.loads(path.read_text()) if path.is_file() else None
            self._loaded_for = trainer.run_dir
        best = self._best
        if best is not None and best.get("metric") == name:
            previous = worst if best["value"] is None else best["value"]
            if not (value < previous if lower else value > previous):
                return
        save_checkpoint(trainer.state_dict(), trainer.run_dir / "checkpoints" / "best.pt")
        self._best = {
            "metric": name, "value": value if math.isfinite(value) else None, "step": trainer.step,
            **{k: v for k, v in self.describe().items() if k != "best_metric"},
        }
        atomic_write_text(self._best_file(trainer), json.dumps(self._best, indent=2) + "\n")

    # -- the curve -----------------------------------------------------------
    def _plot(self, trainer: "Trainer", latest: dict[str, float]) -> None:
        path = trainer.run_dir / "metrics.jsonl"
        records = [r for r in read_jsonl(path) if any(k.startswith(PREFIX) for k in r)] if path.exists() else []
        points = {k: [(r["step"], r[k]) for r in records if r.get(k) is not None] for k in latest}
        for k, v in latest.items():  # this step's values are not in metrics.jsonl yet
            points[k].append((trainer.step, v))
        save_eval_curves(points, trainer.run_dir / "eval.png", f"{trainer.config.model} on {trainer.config.dataset}: live evaluation, N={self.n}")


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
