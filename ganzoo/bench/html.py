"""``leaderboard.html``: the leaderboard as one self-contained page (every picture a base64 data URI, no URL).

Per dataset: the table, metric-vs-kimg curves from the runs' live evaluation scalars
(``eval/*`` in metrics.jsonl), coverage bars (for a number its metric declares "covered
out of" another, such as modes of modes_total), and each model's final picture side by
side (sample grids for images, scatter plots over the modes for 2-D mixtures). A small
inline script counts the pictures the browser could decode and writes the count into the
page, so a reader (or a test) sees at once whether any failed.
"""

from __future__ import annotations

import base64
import html
import io
import statistics
from pathlib import Path

from ..errors import GanzooError
from ..run.folder import RunFolder
from .leaderboard import Group, column, declared, fmt, metric_columns, params_text, ranking_text, row_label

LIVE_PREFIX = "eval/"

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.real { background: #eef6ee; font-style: italic; }
.grids { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; } figcaption { font-size: 12px; text-align: center; }
img.grid { width: 260px; image-rendering: pixelated; border: 1px solid #ddd; }
img.scatter { width: 340px; border: 1px solid #ddd; }
.note { color: #555; font-size: 13px; }
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
            self._refuse(f"left out the pictures and curves of run {name!r} in {bench}: its path leads outside the bench folder")
            return None
        return RunFolder(bench / relative)

    def readable(self, run: dict, path: Path) -> bool:
        """Whether ``path`` (a file of the run's folder) exists and resolves inside the run's bench folder."""
        if not path.is_file():
            return False
        if not self._inside(path, Path(run["bench"])):
            self._refuse(f"left out {path} of run {run['run']!r}: it is a link leading outside the bench folder {run['bench']}")
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


def curves_png(groups: list[Group], dataset: str, files: Files) -> bytes | None:
    curves = {row_label(g): live_curves(g, files) for g in groups if not g.is_real}
    metrics = sorted({m for c in curves.values() for m in c})
    if not metrics:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 3), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for model, c in curves.items():
            if c.get(metric):
                xs, ys = zip(*c[metric])
                ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.2, label=model)
        ax.set_title(metric, fontsize=10)
        ax.set_xlabel("kimg")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"{dataset}: live evaluation during training (mean over seeds)", fontsize=10)
    fig.tight_layout()
    return _figure_png(fig)


def coverage_pair(groups: list[Group]) -> tuple[str, str | None] | None:
    """``(covered, out of)``: the first column declared "covered out of" another, and the column of that total."""
    for covered in metric_columns(groups):
        out_of = declared(groups, covered).out_of
        if out_of and any(g.mean_std(covered) for g in groups):
            source = next(s for g in groups if (s := g.source(covered)) is not None)
            return covered, column(groups, source, out_of)
    return None


def coverage_png(groups: list[Group], dataset: str) -> bytes | None:
    pair = coverage_pair(groups)
    if pair is None:
        return None
    covered, total_key = pair
    shown = [g for g in groups if g.mean_std(covered)]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(3.5, 1.1 * len(shown) + 1.5), 3))
    means = [g.mean_std(covered)[0] for g in shown]
    stds = [g.mean_std(covered)[1] for g in shown]
    colors = ["tab:green" if g.is_real else "tab:blue" for g in shown]
    ax.bar(range(len(shown)), means, yerr=stds, capsize=4, color=colors)
    ax.set_xticks(range(len(shown)), ["real data" if g.is_real else row_label(g) for g in shown], rotation=20, fontsize=8)
    total = next((g.mean_std(total_key)[0] for g in shown if g.mean_std(total_key)), None) if total_key else None
    if total:
        ax.axhline(total, color="tab:red", linestyle="--", linewidth=1, label=f"all {fmt(total)}")
        ax.legend(fontsize=7)
    ax.set_ylabel(f"{covered} covered")
    ax.set_title(f"{dataset}: {covered} covered (mean ± std over seeds)", fontsize=10)
    fig.tight_layout()
    return _figure_png(fig)


def _table(groups: list[Group]) -> str:
    cols = metric_columns(groups)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["rank", "model", "kimg", "N", "steps", "batch", "seeds", *cols, "train s", "params"])
    body = []
    for g in groups:
        first = g.runs[0]
        train = g.mean_of("train_seconds")
        cells = [str(g.rank or ""), row_label(g)]
        cells += ["", g.n_text, "", "", ""] if g.is_real else [fmt(g.kimg), g.n_text, str(first["steps"]), str(first["batch_size"]), " ".join(map(str, g.seeds))]
        cells += [g.cell(m) for m in cols] + ["" if g.is_real or train is None else f"{train:.0f}", params_text(first["params"])]
        body.append(f"<tr class=\"{'real' if g.is_real else 'model'}\">" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _img(png: bytes, alt: str, css: str = "") -> str:
    return f'<img{css} alt="{html.escape(alt)}" src="{data_uri(png)}">'


def _dataset_section(dataset: str, groups: list[Group], files: Files) -> str:
    parts = [f"<h2>{html.escape(dataset)}</h2>", f'<p class="note">{html.escape(ranking_text(groups))}</p>', _table(groups)]
    curves = curves_png(groups, dataset, files)
    parts.append("<h3>Metrics against kimg</h3>")
    parts.append(_img(curves, f"{dataset} curves") if curves else '<p class="note">No live evaluation scalars in these runs (trained without --eval-every).</p>')
    coverage = coverage_png(groups, dataset)
    if coverage:
        parts += ["<h3>Mode coverage</h3>", _img(coverage, f"{dataset} coverage")]
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
            caption = f"{row_label(g)}, {fmt(g.kimg)} kimg, seed {g.seeds[0]}"
            css = " class=scatter" if vector else " class=grid"
            figures.append(f"<figure>{_img(final.read_bytes(), caption, css)}<figcaption>{html.escape(caption)}</figcaption></figure>")
    kind = "Scatter plots over the modes" if vector else "Final sample grids"
    if figures:
        parts += [f"<h3>{kind} (the first seed of each model)</h3>", f"<div class=\"grids\">{''.join(figures)}</div>"]
    return "<section>" + "\n".join(parts) + "</section>"


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
    sections = "\n".join(_dataset_section(d, gs, files) for d, gs in groups.items())
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
