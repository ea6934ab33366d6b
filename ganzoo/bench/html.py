"""``leaderboard.html``: the leaderboard as one self-contained page (every picture a base64 data URI, no URL).

Written to be read in one screen of 1,400 px. Per dataset: the compact main table (the
numbers the metrics declare headline, ± on a small second line), footnotes for what needs
one, every other number in a ``<details>`` table with one row per number (more metrics make
it longer, never wider), metric-vs-kimg curves of the main numbers from the runs' live
evaluation scalars (``eval/*`` in metrics.jsonl; one shared legend), coverage bars (for a
number its metric declares "covered out of" another, such as modes of modes_total), and
each model's final picture with its name and headline numbers (sample grids for images,
scatter plots over the modes for 2-D mixtures). A model has one colour on the whole page.
A small inline script counts the pictures the browser could decode and writes the count
into the page, so a reader (or a test) sees at once whether any failed.
"""

from __future__ import annotations

import base64
import html
import io
import statistics
from pathlib import Path

from ..errors import GanzooError
from ..run.folder import RunFolder
from .leaderboard import (
    Group, arrow, cell, coverage_pair, declared, detail_columns, fmt, footnotes, main_columns, main_header, params_text, ranking_text,
    row_label,
)
from .store import REAL_DATA

LIVE_PREFIX = "eval/"
DETAIL_MODELS = 7  # rows of a dataset per details table: one column each, so a table stays inside a 1,400-px screen
REAL_COLOUR = "#555555"
# Matplotlib's tab10 without its grey (the real-data colour), then tab20's lighter shades.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf",
           "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5")

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; max-width: 1340px; }
table { border-collapse: collapse; margin: 0.5em 0 0.6em; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; white-space: nowrap; vertical-align: top; }
th:first-child, td:first-child { text-align: left; }
td.model, th.model { text-align: left; white-space: normal; max-width: 15em; }
td small, th small { display: block; color: #666; font-size: 11px; font-weight: normal; }
th small.help { white-space: normal; max-width: 24em; }
tr.real { background: #eef6ee; font-style: italic; }
.swatch { display: inline-block; width: 0.8em; height: 0.8em; border-radius: 2px; margin-right: 0.35em; vertical-align: -0.05em; }
.grids { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; } figcaption { font-size: 12px; text-align: center; max-width: 340px; }
img { max-width: 100%; }
img.grid { width: 260px; image-rendering: pixelated; border: 3px solid #ddd; }
img.scatter { width: 340px; border: 3px solid #ddd; }
.note, .footnotes { color: #555; font-size: 13px; }
.footnotes { margin: 0.2em 0 0.8em; padding-left: 1.2em; }
details { margin: 0.3em 0 1em; } summary { cursor: pointer; color: #335; font-size: 14px; }
"""

# Counts decoded pictures after load; the result is visible on the page (and in a DOM dump).
CHECK_SCRIPT = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  var el = document.getElementById('picture-check');
  el.textContent = ok + ' of ' + imgs.length + ' pictures shown';
  el.setAttribute('data-shown', ok); el.setAttribute('data-total', imgs.length);
});
"""


def model_colours(groups: dict[str, list[Group]]) -> dict[str, str]:
    """One colour per model for the whole page (tables, curves, bars, sample frames), so a model reads the same everywhere."""
    models = sorted({g.model for gs in groups.values() for g in gs if not g.is_real})
    colours = {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(models)}
    return colours | {REAL_DATA: REAL_COLOUR}


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _figure_png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buffer.getvalue()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


class Files:
    """The run files the page reads, each only from inside the bench folder whose store names its run.

    A results store is data, and a crafted one could name any path as a run (``../..``, an
    absolute path, a symlink leading out): the page would inline whatever picture lies there.
    So the run folder and every file read from it must resolve inside the bench folder; what
    does not is left out, with one line in ``notes`` (shown on the page and by the command).
    """

    def __init__(self) -> None:
        self.notes: list[str] = []

    def _refuse(self, note: str) -> None:
        if note not in self.notes:
            self.notes.append(note)

    def folder(self, run: dict) -> RunFolder | None:
        """The run's folder, or ``None`` (noted) when the store's path for it leads outside its bench folder."""
        bench, name = Path(run["bench"]), run["run"]
        relative = Path(name)
        if relative.is_absolute() or ".." in relative.parts or not self._inside(bench / relative, bench):
            # The bench folder by name: these notes go into the page, which must not carry the machine's paths.
            self._refuse(f"left out the pictures and curves of run {name!r} in {bench.name}: its path leads outside the bench folder")
            return None
        return RunFolder(bench / relative)

    def readable(self, run: dict, path: Path) -> bool:
        """Whether ``path`` (a file of the run's folder) exists and resolves inside the run's bench folder."""
        if not path.is_file():
            return False
        if not self._inside(path, Path(run["bench"])):
            self._refuse(f"left out {path.name} of run {run['run']!r}: it is a link leading outside the bench folder {Path(run['bench']).name}")
            return False
        return True

    @staticmethod
    def _inside(path: Path, bench: Path) -> bool:
        try:
            return path.resolve().is_relative_to(bench.resolve())
        except (OSError, RuntimeError):  # a symlink loop
            return False

    def runs(self, group: Group) -> list[tuple[dict, RunFolder]]:
        """The group's runs by seed, with the folders that may be read."""
        pairs = [(run, self.folder(run)) for run in sorted(group.runs, key=lambda r: r["seed"])]
        return [(run, folder) for run, folder in pairs if folder is not None]


def live_curves(group: Group, files: Files) -> dict[str, list[tuple[float, float]]]:
    """``{metric: [(kimg, mean over seeds)]}`` from the runs' live evaluation lines."""
    per_point: dict[str, dict[float, list[float]]] = {}
    for run, folder in files.runs(group):
        if not files.readable(run, folder.metrics_log):
            continue
        for record in folder.metrics():
            for key, value in record.items():
                if key.startswith(LIVE_PREFIX) and value is not None:
                    per_point.setdefault(key.removeprefix(LIVE_PREFIX), {}).setdefault(round(record["kimg"], 3), []).append(value)
    return {m: sorted((k, statistics.fmean(v)) for k, v in pts.items()) for m, pts in per_point.items()}


def curves_png(groups: list[Group], dataset: str, files: Files, colours: dict[str, str], which: list[str] | None = None,
               title: str = "live evaluation during training (mean over seeds)") -> bytes | None:
    """One panel per live number (those in ``which``, when given), one shared legend naming every model drawn."""
    curves = [(g, live_curves(g, files)) for g in groups if not g.is_real]
    metrics = [m for m in (which if which is not None else sorted({m for _, c in curves for m in c})) if any(m in c for _, c in curves)]
    if not metrics:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 3), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for g, c in curves:
            if c.get(metric):
                xs, ys = zip(*c[metric])
                ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.2, label=row_label(g), color=colours[g.model])
        ax.set_title(metric + arrow(declared(groups, metric)), fontsize=10)
        ax.set_xlabel("kimg")
        ax.grid(alpha=0.3)
    # One legend for the figure, from every panel: a model missing from the first panel is still named.
    handles = {label: h for ax in axes[0] for h, label in zip(*ax.get_legend_handles_labels())}
    fig.suptitle(f"{dataset}: {title}", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.88))
    fig.legend(handles.values(), handles.keys(), loc="upper center", bbox_to_anchor=(0.5, 0.94), ncol=min(len(handles), 6), fontsize=7, frameon=False)
    return _figure_png(fig)


def coverage_png(groups: list[Group], dataset: str, colours: dict[str, str]) -> bytes | None:
    pair = coverage_pair(groups)
    if pair is None:
        return None
    covered, total_key = pair
    shown = [g for g in groups if g.mean_std(covered)]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(3.5, 1.1 * len(shown) + 1.5), 3))
    means = [g.mean_std(covered)[0] for g in shown]
    stds = [g.mean_std(covered)[1] for g in shown]
    ax.bar(range(len(shown)), means, yerr=stds, capsize=4, color=[colours[g.model] for g in shown])
    ax.set_xticks(range(len(shown)), ["real data" if g.is_real else row_label(g) for g in shown], rotation=20, fontsize=8)
    total = next((g.mean_std(total_key)[0] for g in shown if g.mean_std(total_key)), None) if total_key else None
    if total:
        ax.axhline(total, color="tab:red", linestyle="--", linewidth=1, label=f"all {fmt(total)}")
        ax.legend(fontsize=7)
    ax.set_ylabel(f"{covered} covered")
    ax.set_title(f"{dataset}: {covered} covered (mean ± std over seeds)", fontsize=10)
    fig.tight_layout()
    return _figure_png(fig)


def _swatch(g: Group, colours: dict[str, str]) -> str:
    return f'<span class="swatch" data-model="{html.escape(g.model)}" style="background:{colours[g.model]}"></span>'


def _model_cell(g: Group, colours: dict[str, str], tag: str = "td") -> str:
    if g.is_real:  # the row's options (N, image size) on a small second line keep the column narrow
        detail = row_label(g).removeprefix("real data ").strip("()")
        return f'<{tag} class="model">{_swatch(g, colours)}real data<sup>†</sup><small>{html.escape(detail)}</small></{tag}>'
    return f'<{tag} class="model">{_swatch(g, colours)}{html.escape(row_label(g))}</{tag}>'


def _number_cell(groups: list[Group], g: Group, metric: str) -> str:
    c = cell(groups, g, metric)
    values = g.values(metric)
    title = f' title="per seed: {html.escape(", ".join(fmt(v) for v in values))}"' if len(values) > 1 else ""
    small = "".join(f"<small>{html.escape(t)}</small>" for t in [c.spread, *c.notes] if t)
    return f"<td{title}>{html.escape(c.mean)}{small}</td>"


def _head(groups: list[Group], metric: str, help_line: bool = False) -> str:
    number = declared(groups, metric)
    title = f' title="{html.escape(number.help)}"' if number.help else ""
    helper = f'<small class="help">{html.escape(number.help)}</small>' if help_line and number.help else ""
    name = metric + arrow(number) if help_line else main_header(groups, metric)
    return f"<th{title}>{html.escape(name)}{helper}</th>"


def _main_table(groups: list[Group], colours: dict[str, str]) -> str:
    main = main_columns(groups)
    head = ["<th>rank</th>", '<th class="model">model</th>', "<th>kimg</th>", "<th>N</th>", "<th>steps</th>", "<th>batch</th>",
            "<th>seeds</th>", *(_head(groups, m) for m in main), "<th>train s</th>"]
    body = []
    for g in groups:
        first, train = g.runs[0], g.mean_of("train_seconds")
        fixed = ["", g.n_text, "", "", ""] if g.is_real else [fmt(g.kimg), g.n_text, str(first["steps"]), str(first["batch_size"]), str(len(g.runs))]
        cells = [f"<td>{g.rank or ''}</td>", _model_cell(g, colours), *(f"<td>{html.escape(c)}</td>" for c in fixed)]
        cells += [_number_cell(groups, g, m) for m in main]
        cells.append(f"<td>{'' if g.is_real or train is None else f'{train:.0f}'}</td>")
        body.append(f"<tr class=\"{'real' if g.is_real else 'model'}\">" + "".join(cells) + "</tr>")
    return f'<table class="main"><thead><tr>{"".join(head)}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _details_tables(groups: list[Group], colours: dict[str, str]) -> str:
    """Every other number, one row each and one column per model: more metrics make it longer, never wider."""
    tables = []
    per_table = -(-len(groups) // -(-len(groups) // DETAIL_MODELS))  # as even as can be: 8 rows make 4 + 4, not 7 + 1
    for start in range(0, len(groups), per_table):
        part = groups[start : start + per_table]
        head = "<th>number</th>" + "".join(_model_cell(g, colours, "th") for g in part)
        rows = [f"<tr>{_head(groups, m, help_line=True)}{''.join(_number_cell(groups, g, m) for g in part)}</tr>" for m in detail_columns(groups)]
        rows.append("<tr><th>params</th>" + "".join(f"<td>{html.escape(params_text(g.runs[0]['params']))}</td>" for g in part) + "</tr>")
        rows.append("<tr><th>eval s</th>" + "".join(f"<td>{'' if (v := g.mean_of('eval_seconds')) is None else f'{v:.1f}'}</td>" for g in part) + "</tr>")
        tables.append(f'<table class="details"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')
    return "".join(tables)


def _img(png: bytes, alt: str, css: str = "", style: str = "") -> str:
    return f'<img{css}{style} alt="{html.escape(alt)}" src="{data_uri(png)}">'


def _headline_text(groups: list[Group], g: Group) -> str:
    return " · ".join(f"{m} {cell(groups, g, m).text}" for m in main_columns(groups) if g.values(m))


def _final_pictures(groups: list[Group], files: Files, colours: dict[str, str]) -> list[str]:
    figures, vector = [], False
    for g in groups:
        if g.is_real:
            continue
        first = files.runs(g)[:1]
        if not first:
            continue
        run, folder = first[0]
        final = folder.final_picture
        vector = vector or _kind(folder, run, files) == "vector"
        if files.readable(run, final):
            frame = f' style="border-color:{colours[g.model]}"'
            alt = f"{row_label(g)}, {fmt(g.kimg)} kimg, seed {run['seed']}"
            figures.append(f"<figure>{_img(final.read_bytes(), alt, ' class=scatter' if vector else ' class=grid', frame)}"
                           f"<figcaption>{_swatch(g, colours)}<b>{html.escape(row_label(g))}</b> ({fmt(g.kimg)} kimg, seed {run['seed']})"
                           f"<br>{html.escape(_headline_text(groups, g))}</figcaption></figure>")
    kind = "Scatter plots over the modes" if vector else "Final sample grids"
    return [f"<h3>{kind} (the first seed of each model)</h3>", f"<div class=\"grids\">{''.join(figures)}</div>"] if figures else []


def _dataset_section(dataset: str, groups: list[Group], files: Files, colours: dict[str, str]) -> str:
    main = main_columns(groups)
    notes = "".join(f"<li>{'† ' if note.startswith('real data') else ''}{html.escape(note)}</li>" for note in footnotes(groups))
    parts = [f"<h2>{html.escape(dataset)}</h2>", f'<p class="note">{html.escape(ranking_text(groups))}</p>', _main_table(groups, colours),
             f'<ul class="footnotes">{notes}</ul>' if notes else "",
             f"<details><summary>{f'All numbers: {n} more' if (n := len(detail_columns(groups))) else 'No other numbers'}, "
             "parameters and eval time, one row each</summary>"
             f"{_details_tables(groups, colours)}</details>", "<h3>Metrics against kimg</h3>"]
    curves = curves_png(groups, dataset, files, colours, main)
    parts.append(_img(curves, f"{dataset} curves") if curves else
                 '<p class="note">No live evaluation scalars of the main numbers in these runs (trained without --eval-every).</p>')
    live = sorted({m for g in groups if not g.is_real for m in live_curves(g, files)} - set(main))
    others = curves_png(groups, dataset, files, colours, live, "the other live numbers (mean over seeds)") if live else None
    if others:
        parts.append(f"<details><summary>Curves of the other live numbers</summary>{_img(others, f'{dataset} other curves')}</details>")
    coverage = coverage_png(groups, dataset, colours)
    if coverage:
        parts += ["<h3>Mode coverage</h3>", _img(coverage, f"{dataset} coverage")]
    parts += _final_pictures(groups, files, colours)
    return f'<section data-dataset="{html.escape(dataset)}">' + "\n".join(p for p in parts if p) + "</section>"


def _kind(folder: RunFolder, run: dict, files: Files) -> str | None:
    if not files.readable(run, folder.dataset_info_file):
        return None
    try:
        info = folder.read_dataset_info()
    except GanzooError:
        return None
    return info.kind if info else None


def render_html(groups: dict[str, list[Group]], sources: list[Path], markdown_text: str, files: Files | None = None) -> str:
    """The page; ``files`` (a :class:`Files`) collects notes on run files left out."""
    files = files if files is not None else Files()
    intro = [line for line in markdown_text.splitlines()[2:4]]  # the two lines that state the protocol
    colours = model_colours(groups)
    sections = "\n".join(_dataset_section(d, gs, files, colours) for d, gs in groups.items())
    intro += files.notes
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ganzoo leaderboard</title><style>{STYLE}</style></head>
<body>
<h1>ganzoo leaderboard</h1>
{''.join(f'<p class="note">{html.escape(line)}</p>' for line in intro)}
{sections}
<p class="note" id="picture-check">pictures not checked (scripts off)</p>
<script>{CHECK_SCRIPT}</script>
</body></html>
"""
