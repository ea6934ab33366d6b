"""The leaderboard: results-store rows aggregated over seeds, printed and exported.

Runs are grouped by what makes their numbers comparable: dataset, model, budget (kimg),
recipe (config hash) and evaluation N. Each group shows mean +- sample standard deviation
over its seeds. Each dataset also gets a "real data" row, held-out real samples scored as
if generated: the floor a perfect generator would reach. The files
(``leaderboard.md``, ``.csv``, ``.html``) are written by :mod:`ganzoo.bench.publish`.
"""

from __future__ import annotations

import json
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .store import REAL_DATA

# Left out of the tables (still in the store): per-class counts, constants, within-run spreads.
HIDDEN = re.compile(r"^class_\d+$|_total$|_std$")
# Lower is better for these; the first one a dataset has ranks its models.
RANK_BY = ("fid", "kl", "reverse_kl", "class_kl")


@dataclass
class Group:
    """The runs of one (dataset, model, kimg, recipe, evaluation N): the seeds of one leaderboard row."""

    dataset: str
    model: str
    kimg: float
    config_hash: str
    runs: list[dict[str, Any]] = field(default_factory=list)  # one per seed: the run's shared fields plus "metrics"
    note: str = ""  # what sets this row apart from the dataset's other rows of the same model (or real-data rows)
    repeats: int = 0  # runs of a seed this group already had (e.g. a bench folder given twice, as a copy): left out

    @property
    def is_real(self) -> bool:
        return self.model == REAL_DATA

    @property
    def seeds(self) -> list[int]:
        return sorted(r["seed"] for r in self.runs)

    @property
    def protocol(self) -> dict[str, Any]:
        return self.runs[0]["eval_protocol"]

    def values(self, metric: str) -> list[float]:
        return [r["metrics"][metric] for r in self.runs if r["metrics"].get(metric) is not None]

    def mean_std(self, metric: str) -> tuple[float, float] | None:
        vals = self.values(metric)
        if not vals:
            return None
        return statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0

    def cell(self, metric: str) -> str:
        ms = self.mean_std(metric)
        if ms is None:
            return "n/a" if any(metric in r["metrics"] for r in self.runs) else ""
        undefined = sum(1 for r in self.runs if metric in r["metrics"] and r["metrics"][metric] is None)
        text = fmt(ms[0]) + (f" ± {ms[1]:.2g}" if len(self.values(metric)) > 1 else "")
        return text + (f" ({undefined} n/a)" if undefined else "")

    def mean_of(self, key: str) -> float | None:
        vals = [r[key] for r in self.runs if r.get(key) is not None]
        return statistics.fmean(vals) if vals else None

    def run_dirs(self) -> list[Path]:
        return [Path(r["bench"]) / r["run"] for r in sorted(self.runs, key=lambda r: r["seed"])]


def fmt(v: float | None) -> str:
    if v is None:
        return "n/a"
    if float(v).is_integer() and abs(v) < 1e6:
        return str(int(v))
    return f"{v:.4g}"


def group_rows(rows: Iterable[dict[str, Any]]) -> dict[str, list[Group]]:
    """Groups per dataset, each list ranked by the dataset's first lower-is-better metric (real data last)."""
    runs: dict[tuple, dict[str, Any]] = {}
    for r in rows:
        run = runs.setdefault((r["bench"], r["run"]), {k: v for k, v in r.items() if k not in ("metric", "source", "value")} | {"metrics": {}})
        run["metrics"][r["metric"]] = r["value"]
    groups: dict[tuple, Group] = {}
    for run in runs.values():
        p = run["eval_protocol"]
        key = (run["dataset"], run["model"], run["kimg"], run["config_hash"], p.get("n_generated"), p.get("n_real"))
        group = groups.setdefault(key, Group(run["dataset"], run["model"], run["kimg"], run["config_hash"]))
        if run["seed"] in group.seeds:
            group.repeats += 1  # the same recipe and seed again: one seed must not count twice in mean and std
            continue
        group.runs.append(run)
    by_dataset: dict[str, list[Group]] = {}
    for g in groups.values():
        by_dataset.setdefault(g.dataset, []).append(g)
    for dataset, gs in by_dataset.items():
        rank = next((m for m in RANK_BY if any(g.values(m) for g in gs)), None)

        def order(g: Group, rank=rank):
            ms = g.mean_std(rank) if rank else None
            return (g.is_real, g.kimg, ms[0] if ms else float("inf"), g.model)

        gs.sort(key=order)
        _note_dataset_options([g for g in gs if g.is_real])
        for model in {g.model for g in gs if not g.is_real}:
            _note_differences([g for g in gs if g.model == model])
    return dict(sorted(by_dataset.items()))


def _note_differences(same_model: list[Group]) -> None:
    """Tell apart rows of one model on one dataset: other budget, recipe or evaluation N."""
    if len(same_model) < 2:
        return
    aspects = {
        "kimg": lambda g: f"{fmt(g.kimg)} kimg",
        "recipe": lambda g: f"recipe {g.config_hash[:8]}",
        "n": lambda g: f"N={g.protocol.get('n_generated')}",
    }
    differing = [name for name, text in aspects.items() if len({text(g) for g in same_model}) > 1]
    for g in same_model:
        g.note = ", ".join(aspects[name](g) for name in differing)


def _note_dataset_options(real: list[Group]) -> None:
    """Tell apart real-data rows of one dataset built with other options (MNIST at 28 and at 32 pixels)."""
    options = [g.runs[0]["config"].get("dataset_config", {}) for g in real]
    differing = sorted({k for o in options for k in o if len({json.dumps(x.get(k)) for x in options}) > 1})
    for g, o in zip(real, options):
        g.note = ", ".join(f"{k} {o.get(k)}" for k in differing)


def metric_columns(groups: list[Group]) -> list[str]:
    seen: dict[str, None] = {}
    for g in groups:
        for r in g.runs:
            for m in r["metrics"]:
                if not HIDDEN.search(m):
                    seen.setdefault(m, None)
    ranked = [m for m in RANK_BY if m in seen]
    return ranked + [m for m in seen if m not in ranked]


def params_text(params: dict[str, int]) -> str:
    return ", ".join(f"{name} {n / 1000:.1f}k" if n < 1_000_000 else f"{name} {n / 1e6:.2f}M" for name, n in params.items())


def row_label(g: Group) -> str:
    if g.is_real:
        return f"real data (held-out, N={g.protocol.get('n_generated')}{', ' + g.note if g.note else ''})"
    return f"{g.model} ({g.note})" if g.note else g.model


def csv_table(groups: dict[str, list[Group]]) -> tuple[list[str], list[list[Any]]]:
    metrics = list(dict.fromkeys(m for gs in groups.values() for m in metric_columns(gs)))
    columns = [
        "dataset", "model", "kimg", "steps", "batch_size", "n_seeds", "seeds", "config_hash", "eval_n_generated", "eval_n_real",
        "eval_seed", "checkpoint", "train_seconds_mean", "eval_seconds_mean", "params", "ganzoo_version",
    ] + [f"{m}_{s}" for m in metrics for s in ("mean", "std")]
    rows = []
    for gs in groups.values():
        for g in gs:
            p, first = g.protocol, g.runs[0]
            row = [
                g.dataset, row_label(g), g.kimg, first["steps"], first["batch_size"], len(g.runs), " ".join(map(str, g.seeds)),
                g.config_hash, p.get("n_generated"), p.get("n_real"), p.get("seed"), p.get("checkpoint", ""),
                _round(g.mean_of("train_seconds")), _round(g.mean_of("eval_seconds")), json.dumps(first["params"]), first["ganzoo_version"],
            ]
            for m in metrics:
                ms = g.mean_std(m)
                row += [ms[0], ms[1]] if ms else [None, None]
            rows.append(row)
    return columns, rows


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


def markdown(groups: dict[str, list[Group]], sources: list[Path]) -> str:
    lines = ["# ganzoo leaderboard", ""]
    lines.append(f"From {', '.join(str(s) for s in sources)}. Each row: mean ± sample standard deviation over its seeds.")
    lines.append("Budget: kimg = thousands of real images drawn by the trainer (every phase repeat draws a batch); "
                 "wall-clock is recorded, not budgeted. Lower is better for FID, KID and the KLs; higher for the rest.")
    for dataset, gs in groups.items():
        cols = metric_columns(gs)
        lines += ["", f"## {dataset}", ""]
        model_groups = [g for g in gs if not g.is_real]
        if model_groups:
            p = model_groups[0].protocol
            net = f", feature network {p['feature_network']} (sha256 {p['feature_weights_sha256'][:12]}...)" if "feature_network" in p else ""
            n_gen = sorted({g.protocol.get("n_generated") for g in model_groups}, key=str)
            n_real = sorted({g.protocol.get("n_real") for g in model_groups}, key=str)
            lines.append(f"Evaluation: N generated {' or '.join(map(str, n_gen))}, N real {' or '.join(map(str, n_real))}, "
                         f"latent seed {p.get('seed')}, {p.get('checkpoint')} checkpoint{net}; split: {p.get('real_split')}.")
            repeats = sum(g.repeats for g in gs)
            if repeats:
                lines.append(f"{repeats} run(s) repeating a recipe and seed already counted (a bench folder given twice?) are left out.")
            lines.append("")
        head = ["model", "kimg", "steps", "batch", "seeds", *cols, "train s", "params"]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for g in gs:
            first = g.runs[0]
            cells = [row_label(g), fmt(g.kimg) if not g.is_real else "", str(first["steps"]) if not g.is_real else "",
                     str(first["batch_size"]) if not g.is_real else "", str(len(g.runs)) if not g.is_real else "",
                     *(g.cell(m) for m in cols), fmt(_round(g.mean_of("train_seconds"))) if not g.is_real else "", params_text(first["params"])]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
