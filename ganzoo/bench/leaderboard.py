"""The leaderboard: results-store rows aggregated over seeds, printed and exported.

Runs are grouped by what makes their numbers comparable: dataset, model, budget (kimg),
recipe (config hash) and evaluation N. Each group shows mean +- sample standard deviation
over its seeds. Each dataset also gets a "real data" row, held-out real samples scored as
if generated: the floor a perfect generator would reach. The files
(``leaderboard.md``, ``.csv``, ``.html``) are written by :mod:`ganzoo.bench.publish`.

Which numbers are columns, which way each is better and which one ranks the models come
from what each metric declares (:class:`ganzoo.MetricNumber`), found through the store's
``source`` column; a number whose metric is not installed is shown, unranked. So do the
columns of each dataset's compact main table (the ranking number, the headline number of
each declared ``role``, the "covered out of" number); every other shown number goes to a
details table after it, one row per number.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ..errors import GanzooError
from ..plugins import metric_number
from ..specs import MetricNumber
from .store import REAL_DATA


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
    ranked_by: str | None = None  # the number that orders the dataset's rows
    rank: int | None = None  # 1 = best among the rows of the same budget and evaluation N (real data: None)

    @property
    def is_real(self) -> bool:
        return self.model == REAL_DATA

    @property
    def seeds(self) -> list[int]:
        return sorted(r["seed"] for r in self.runs)

    @property
    def protocol(self) -> dict[str, Any]:
        return self.runs[0]["eval_protocol"]

    @property
    def n_text(self) -> str:
        """``N generated/N real`` of its evaluation: N-dependent numbers compare only at equal N."""
        return f"{self.protocol.get('n_generated')}/{self.protocol.get('n_real')}"

    def source(self, metric: str) -> str | None:
        """The metric plugin that gave the number ``metric`` (the store's ``source`` column)."""
        return next((r["sources"][metric] for r in self.runs if metric in r["sources"]), None)

    def values(self, metric: str) -> list[float]:
        return [r["metrics"][metric] for r in self.runs if r["metrics"].get(metric) is not None]

    def mean_std(self, metric: str) -> tuple[float, float] | None:
        vals = self.values(metric)
        if not vals:
            return None
        return statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0

    def cell_parts(self, metric: str, number: MetricNumber) -> "Cell":
        """The cell of ``metric`` in parts, so the page can set the spread and the notes apart from the mean."""
        ms = self.mean_std(metric)
        given = sum(1 for r in self.runs if metric in r["metrics"])
        missing = sum(1 for r in self.runs if metric in r["metrics"] and r["metrics"][metric] is None)
        if ms is None:
            return Cell("n/a" if given else "", "", missing, given)
        below = number.minimum is not None and ms[0] < number.minimum
        mean = fmt(number.minimum) if below else fmt(ms[0])
        spread = f"± {ms[1]:.2g}" if len(self.values(metric)) > 1 else ""
        return Cell(mean, spread, missing, given, ms[0] if below else None)

    def mean_of(self, key: str) -> float | None:
        vals = [r[key] for r in self.runs if r.get(key) is not None]
        return statistics.fmean(vals) if vals else None


@dataclass(frozen=True)
class Cell:
    """One leaderboard cell: mean over seeds, ``± std`` (empty for one seed), seeds without a number."""

    mean: str
    spread: str
    missing: int  # seeds whose metric gave no number (undefined): the mean and spread are over the others
    seeds: int  # seeds that have the metric at all
    below: float | None = None  # the raw mean, when it fell below the declared minimum and ``mean`` shows that minimum

    @property
    def notes(self) -> list[str]:
        """What the mean alone does not say: ``within noise: -2.748``, ``n/a for 1 of 3 seeds``."""
        notes = [f"within noise: {fmt(self.below)}"] if self.below is not None else []
        return notes + ([f"n/a for {self.missing} of {self.seeds} seeds"] if self.missing and self.mean != "n/a" else [])

    @property
    def text(self) -> str:
        """One line, for markdown: ``870 ± 27``, ``0 (within noise: -2.748)``, ``2.303 ± 0 (n/a for 1 of 3 seeds)``."""
        return " ".join(p for p in (self.mean, self.spread) if p) + "".join(f" ({note})" for note in self.notes)


def fmt(v: float | None) -> str:
    if v is None:
        return "n/a"
    if float(v).is_integer() and abs(v) < 1e6:
        return str(int(v))
    return f"{v:.4g}"


def declared(groups: list[Group], metric: str) -> MetricNumber:
    """What the metric plugin behind column ``metric`` declares about it (undeclared: shown, no direction)."""
    source = next((s for g in groups if (s := g.source(metric)) is not None), None)
    return metric_number(source, metric) if source is not None else MetricNumber(metric)


def column(groups: list[Group], source: str, key: str) -> str | None:
    """The column holding number ``key`` of metric ``source`` (the store writes ``source/key`` when an earlier metric gave ``key``)."""
    return next((m for g in groups for r in g.runs for m, s in r["sources"].items() if s == source and m.removeprefix(f"{source}/") == key), None)


def rankable(groups: Iterable[Group]) -> list[str]:
    """The columns of ``groups`` that can rank them: those declared with a direction."""
    groups = list(groups)
    return sorted(m for m in metric_columns(groups) if declared(groups, m).better)


def ranking_metric(groups: list[Group], rank_by: str | None = None) -> str | None:
    """``rank_by`` when these groups have it; else the present column with the smallest declared rank."""
    present = [m for m in metric_columns(groups) if any(g.values(m) for g in groups)]
    if rank_by in present:
        return rank_by
    ranked = [(n.rank, m) for m in present if (n := declared(groups, m)).rank is not None]
    return min(ranked)[1] if ranked else None


def group_rows(rows: Iterable[dict[str, Any]], rank_by: str | None = None) -> dict[str, list[Group]]:
    """Groups per dataset, each list ranked (real data last) by ``rank_by`` or the dataset's first-ranked number.

    ``rank_by`` must be a column declared with a direction; a dataset without it is ranked as by default.
    """
    runs: dict[tuple, dict[str, Any]] = {}
    for r in rows:
        run = runs.setdefault((r["bench"], r["run"]), {k: v for k, v in r.items() if k not in ("metric", "source", "value")} | {"metrics": {}, "sources": {}})
        run["metrics"][r["metric"]] = r["value"]
        run["sources"][r["metric"]] = r["source"]
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
    if rank_by is not None:
        valid = sorted({m for gs in by_dataset.values() for m in rankable(gs)})
        if rank_by not in valid:
            raise GanzooError(f"bad --rank-by {rank_by!r} (valid: {', '.join(valid) or 'none, no column declares which way is better'})")
    for dataset, gs in by_dataset.items():
        rank = ranking_metric(gs, rank_by)
        sign = -1.0 if rank and declared(gs, rank).better == "higher" else 1.0

        # Rows of another budget or evaluation N are never ranked against each other: most
        # numbers move with N (the README's caveat), so each (kimg, N) block has its own ranks.
        def order(g: Group, rank=rank, sign=sign):
            ms = g.mean_std(rank) if rank else None
            return (g.is_real, g.kimg, g.protocol.get("n_generated") or 0, sign * ms[0] if ms else float("inf"), g.model)

        gs.sort(key=order)
        blocks: dict[tuple, int] = {}
        for g in gs:
            g.ranked_by = rank
            if not g.is_real and rank is not None:
                block = (g.kimg, g.n_text)
                blocks[block] = g.rank = blocks.get(block, 0) + 1
        _note_dataset_options([g for g in gs if g.is_real])
        for model in {g.model for g in gs if not g.is_real}:
            _note_differences([g for g in gs if g.model == model])
    return dict(sorted(by_dataset.items()))


# Config fields that say how a run was kept, not what it trained: never what tells two recipes apart.
BOOKKEEPING = ("seed", "steps", "log_every", "sample_every", "checkpoint_every", "device", "compile", "memory_format")


def recipe_options(g: Group) -> dict[str, str]:
    """A group's recipe as flat ``option: value`` texts (``arch: conv``, ``data.size: 32``), bookkeeping left out."""
    config = g.runs[0].get("config") or {} if g.runs else {}
    flat = {k: v for k, v in config.items() if k not in BOOKKEEPING and not isinstance(v, dict)}
    flat |= config.get("model_config", {}) | {f"data.{k}": v for k, v in config.get("dataset_config", {}).items()}
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in flat.items()}


def _note_differences(same_model: list[Group]) -> None:
    """Tell apart rows of one model on one dataset: other budget, options (``arch=conv, n_critic=1``) or evaluation N.

    A recipe is named by the options that differ between the rows; by its hash only when no
    recorded option tells it apart (the steps and the rest of the bookkeeping follow the budget).
    """
    if len(same_model) < 2:
        return
    options = [recipe_options(g) for g in same_model]
    differing_options = sorted({k for o in options for k in o if len({o.get(k) for o in options}) > 1})
    aspects = {
        "kimg": lambda g, o: f"{fmt(g.kimg)} kimg",
        "options": lambda g, o: ", ".join(f"{k}={o.get(k, '-')}" for k in differing_options),
        "n": lambda g, o: f"N={g.protocol.get('n_generated')}",
    }
    differing = [name for name, text in aspects.items() if len({text(g, o) for g, o in zip(same_model, options)}) > 1]
    notes = [", ".join(aspects[name](g, o) for name in differing) for g, o in zip(same_model, options)]
    if len(set(zip(notes, (g.config_hash for g in same_model)))) > len(set(notes)):  # two recipes nothing recorded tells apart
        notes = [", ".join(filter(None, [f"recipe {g.config_hash[:8]}", note])) for g, note in zip(same_model, notes)]
    for g, note in zip(same_model, notes):
        g.note = note


def _note_dataset_options(real: list[Group]) -> None:
    """Tell apart real-data rows of one dataset built with other options (MNIST at 28 and at 32 pixels)."""
    options = [g.runs[0]["config"].get("dataset_config", {}) for g in real]
    differing = sorted({k for o in options for k in o if len({json.dumps(x.get(k)) for x in options}) > 1})
    for g, o in zip(real, options):
        g.note = ", ".join(f"{k} {o.get(k)}" for k in differing)


def metric_columns(groups: list[Group]) -> list[str]:
    """The numbers their metrics declare shown, those with a rank first (in rank order)."""
    seen: dict[str, None] = {}
    for g in groups:
        for r in g.runs:
            for m in r["metrics"]:
                seen.setdefault(m, None)
    numbers = {m: declared(groups, m) for m in seen}
    shown = [m for m in seen if numbers[m].shown]
    ranked = sorted((m for m in shown if numbers[m].rank is not None), key=lambda m: numbers[m].rank)
    return ranked + [m for m in shown if m not in ranked]


def coverage_pair(groups: list[Group]) -> tuple[str, str | None] | None:
    """``(covered, out of)``: the first column declared "covered out of" another, and the column of that total."""
    for covered in metric_columns(groups):
        out_of = declared(groups, covered).out_of
        if out_of and any(g.mean_std(covered) for g in groups):
            source = next(s for g in groups if (s := g.source(covered)) is not None)
            return covered, column(groups, source, out_of)
    return None


def covered_total(groups: list[Group]) -> float | None:
    """The total of the "covered out of" pair, when every row that has it shares it (8 modes of ring8)."""
    pair = coverage_pair(groups)
    totals = {ms[0] for g in groups if pair and pair[1] and (ms := g.mean_std(pair[1]))}
    return totals.pop() if len(totals) == 1 else None


def main_header(groups: list[Group], metric: str) -> str:
    """A main column's name with its direction, and its total for the "covered out of" number: ``modes ↑ (of 25)``."""
    total = covered_total(groups) if (pair := coverage_pair(groups)) and pair[0] == metric else None
    return metric + arrow(declared(groups, metric)) + (f" (of {fmt(total)})" if total is not None else "")


def headline(groups: list[Group], role: str) -> str | None:
    """The dataset's headline number of ``role``: the present column declaring it with the smallest rank, else the first."""
    return next((m for m in metric_columns(groups) if declared(groups, m).role == role and any(g.values(m) for g in groups)), None)


def main_columns(groups: list[Group]) -> list[str]:
    """The main table's numbers: the ranking one, the headline quality and diversity numbers, the "covered out of" one."""
    covered = coverage_pair(groups)
    picks = [groups[0].ranked_by if groups else None, headline(groups, "quality"), headline(groups, "diversity"), covered and covered[0]]
    return list(dict.fromkeys(m for m in picks if m))


def detail_columns(groups: list[Group]) -> list[str]:
    main = main_columns(groups)
    return [m for m in metric_columns(groups) if m not in main]


def arrow(number: MetricNumber) -> str:
    """The direction a number declares, as an arrow after its name (none for a count or a constant)."""
    return {"lower": " ↓", "higher": " ↑"}.get(number.better or "", "")


def source_names(sources: Iterable[Path]) -> str:
    """The bench folders by name alone: a page must not carry the machine's paths (a temporary folder, a home)."""
    return ", ".join(Path(s).resolve().name if Path(s).is_absolute() or str(s) in (".", "") else str(s) for s in sources)


def ranking_text(groups: list[Group]) -> str:
    ranked_by = groups[0].ranked_by if groups else None
    if ranked_by is None:
        return "Not ranked: no column declares a rank."
    text = f"Ranked by {ranked_by} ({declared(groups, ranked_by).better} is better) within each budget and evaluation N (column N: generated/real)."
    models = {g.n_text for g in groups if not g.is_real}
    for g in groups:
        if g.is_real and (len(models) > 1 or g.n_text not in models):
            text += (f" The real-data row is scored at N {g.n_text}, the models at {' and '.join(sorted(models))}:"
                     " its N-dependent numbers are a floor only for rows at its own N.")
            break
    return text


def directions_text(groups: dict[str, list[Group]]) -> str:
    """One sentence on which way each column is better, from the metrics' declarations."""
    ways: dict[str, str | None] = {}
    for gs in groups.values():
        for m in metric_columns(gs):
            ways.setdefault(m, declared(gs, m).better)
    parts = [f"{way} is better for {', '.join(m for m, w in ways.items() if w == way)}" for way in ("lower", "higher") if way in ways.values()]
    if None in ways.values():
        parts.append(f"no direction for {', '.join(m for m, w in ways.items() if w is None)}")
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "." if text else ""


def params_text(params: dict[str, int]) -> str:
    return ", ".join(f"{name} {n / 1000:.1f}k" if n < 1_000_000 else f"{name} {n / 1e6:.2f}M" for name, n in params.items())


def row_label(g: Group) -> str:
    if g.is_real:
        return f"real data (held-out, N={g.protocol.get('n_generated')}{', ' + g.note if g.note else ''})"
    return f"{g.model} ({g.note})" if g.note else g.model


def csv_table(groups: dict[str, list[Group]]) -> tuple[list[str], list[list[Any]]]:
    metrics = list(dict.fromkeys(m for gs in groups.values() for m in metric_columns(gs)))
    columns = [
        "dataset", "rank", "model", "kimg", "steps", "batch_size", "n_seeds", "seeds", "config_hash", "eval_n_generated", "eval_n_real",
        "eval_seed", "checkpoint", "train_seconds_mean", "eval_seconds_mean", "params", "ganzoo_version",
    ] + [f"{m}_{s}" for m in metrics for s in ("mean", "std")]
    rows = []
    for gs in groups.values():
        for g in gs:
            p, first = g.protocol, g.runs[0]
            row = [
                g.dataset, g.rank, row_label(g), g.kimg, first["steps"], first["batch_size"], len(g.runs), " ".join(map(str, g.seeds)),
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


def cell(groups: list[Group], g: Group, metric: str) -> Cell:
    return g.cell_parts(metric, declared(groups, metric))


def footnotes(groups: list[Group]) -> list[str]:
    """What a reader needs to read a dataset's cells: the real-data row, n/a and "within noise", when they occur."""
    notes = []
    if any(g.is_real for g in groups):
        notes.append("real data: held-out real samples scored as if generated, at the N it names: "
                     "what a perfect generator would score there; not ranked.")
    cells = [(m, cell(groups, g, m)) for g in groups for m in metric_columns(groups)]
    below = list(dict.fromkeys(m for m, c in cells if c.below is not None))
    if below:
        notes.append(f"within noise: the mean of {', '.join(below)} fell below the least value the true number can take "
                     f"({', '.join(f'{m} {fmt(declared(groups, m).minimum)}' for m in below)}); "
                     "its estimate is unbiased, so it scatters around that value when the sets match: read it as that value.")
    if any(c.missing for _, c in cells):
        notes.append("n/a: the metric gave no number for that seed (undefined there, e.g. a KL over no confident sample); "
                     "mean and ± are over the seeds that have one.")
    return notes


def number_helps(groups: dict[str, list[Group]]) -> dict[str, MetricNumber]:
    """Each shown number of the page that declares a ``help``, once, with its declaration."""
    helps: dict[str, MetricNumber] = {}
    for gs in groups.values():
        for m in metric_columns(gs):
            if m not in helps and (number := declared(gs, m)).help:
                helps[m] = number
    return helps


def markdown(groups: dict[str, list[Group]], sources: list[Path]) -> str:
    lines = ["# ganzoo leaderboard", ""]
    lines.append(f"From {source_names(sources)}. Each row: mean ± sample standard deviation over its seeds.")
    lines.append("Budget: kimg = thousands of real images drawn by the trainer (every phase repeat draws a batch); "
                 f"wall-clock is recorded, not budgeted. {directions_text(groups)}".rstrip())
    for dataset, gs in groups.items():
        main = main_columns(gs)
        lines += ["", f"## {dataset}", ""]
        model_groups = [g for g in gs if not g.is_real]
        if model_groups:
            p = model_groups[0].protocol
            net = f", feature network {p['feature_network']} (sha256 {p['feature_weights_sha256'][:12]}...)" if "feature_network" in p else ""
            n_gen = sorted({g.protocol.get("n_generated") for g in model_groups}, key=str)
            n_real = sorted({g.protocol.get("n_real") for g in model_groups}, key=str)
            lines.append(f"Evaluation: N generated {' or '.join(map(str, n_gen))}, N real {' or '.join(map(str, n_real))}, "
                         f"latent seed {p.get('seed')}, {p.get('checkpoint')} checkpoint{net}; split: {p.get('real_split')}.")
            lines.append(ranking_text(gs))
            # Every bench scores the same real data: its repeats across bench folders are expected, not worth a line.
            repeats = sum(g.repeats for g in model_groups)
            if repeats:
                lines.append(f"{repeats} run(s) repeating a recipe and seed already counted (a bench folder given twice?) are left out.")
            lines.append("")
        head = ["rank", "model", "kimg", "N", "steps", "batch", "seeds", *(main_header(gs, m) for m in main), "train s"]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for g in gs:
            first = g.runs[0]
            cells = [str(g.rank or ""), row_label(g), fmt(g.kimg) if not g.is_real else "", g.n_text, str(first["steps"]) if not g.is_real else "",
                     str(first["batch_size"]) if not g.is_real else "", str(len(g.runs)) if not g.is_real else "",
                     *(cell(gs, g, m).text for m in main), fmt(_round(g.mean_of("train_seconds"))) if not g.is_real else ""]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", "All numbers, one row each:", ""]
        lines.append("| number | " + " | ".join(row_label(g) for g in gs) + " |")
        lines.append("|" + "---|" * (len(gs) + 1))
        for m in detail_columns(gs):
            lines.append(f"| {m}{arrow(declared(gs, m))} | " + " | ".join(cell(gs, g, m).text for g in gs) + " |")
        lines.append("| params | " + " | ".join(params_text(g.runs[0]["params"]) for g in gs) + " |")
        lines += [""] + [f"- {note}" for note in footnotes(gs)]
    helps = number_helps(groups)
    if helps:
        lines += ["", "## What the numbers are", ""] + [f"- {m}{arrow(n)}: {n.help}" for m, n in helps.items()]
    return "\n".join(lines).rstrip("\n") + "\n"
