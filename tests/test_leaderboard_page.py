"""The leaderboard page a person reads (issue 18): one compact main table per dataset whose
columns the metrics' declarations pick, every other number in a details table, footnotes
for n/a, "within noise" and the real-data row, one colour per model across the page, no
machine paths in any of the three files, and in headless Chromium at 1,400 px no table wider
than the screen.

The bench folder is a synthetic results store with run folders holding live curves and
final pictures: nothing is trained, so every test but the Chromium one is fast.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import ganzoo
from ganzoo import MetricNumber, MetricSpec
from ganzoo.bench.html import model_colours
from ganzoo.bench.leaderboard import detail_columns, group_rows, main_columns
from ganzoo.bench.publish import write_leaderboard
from ganzoo.bench.store import REAL_DATA, Entry, Store, read_stores
from ganzoo.specs import SpecError

# mnist: (seed, fid, class_kl, classes, precision, kid); None: undefined for that seed.
MNIST = {
    "vanilla": [(0, 870.0, 0.30, 10, 0.90, 420.0), (1, 845.0, 0.25, 10, 0.91, 415.0), (2, 895.0, 0.36, 10, 0.89, 425.0)],
    "wgan": [(0, 1620.0, None, 0, 1.0, 487.9), (1, 1617.0, 2.303, 1, 1.0, 487.6), (2, 1611.0, 2.303, 1, 1.0, 487.2)],
    "cgan": [(0, 784.0, 0.24, 9, 0.89, 398.0)],  # one seed
}
REAL = (6.97, 7.8e-05, 10, 0.876, -2.748)  # KID below 0: an unbiased estimate of 0
# ring8: model: (reverse_kl, hq, modes) per seed
RING = {"vanilla": [(1.3, 0.004, 3), (0.9, 0.003, 4)], "cgan": [(0.1, 0.096, 8), (0.12, 0.09, 8)], REAL_DATA: [(0.0015, 0.99, 8)]}
# The third-party metric with three numbers (on mnist).
SHARP = {"sharp": 0.5, "sharp_min": 0.1, "sharp_max": 0.9}


def _sharp(ctx) -> dict[str, float]:
    return dict(SHARP)


class SharpMetric:
    """A metric plugin whose three numbers declare a quality role, a direction and nothing."""

    def __init__(self, role: str | None = "quality") -> None:
        self.role = role

    @ganzoo.hookimpl
    def register_metrics(self, register):
        register(MetricSpec("sharpness", "edge sharpness", ("image",), _sharp, numbers=(
            MetricNumber("sharp", "higher", role=self.role, help="mean edge strength"),
            MetricNumber("sharp_min", "higher"),
            MetricNumber("sharp_max"),
        )))


def _png(rgb: tuple[int, int, int]) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (24, 24), rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def _entry(run: str, model: str, dataset: str, seed: int, n: tuple[int, int]) -> Entry:
    return Entry(run=run, model=model, dataset=dataset, seed=seed, kimg=100.0, steps=782, batch_size=64, config_hash=f"{model}hash",
                 config={}, eval_protocol={"n_generated": n[0], "n_real": n[1], "seed": 0, "checkpoint": "last"},
                 train_seconds=21.6, eval_seconds=3.2, params={"G": 962_300, "D": 927_700}, ganzoo_version="test")


def _run_folder(bench: Path, run: str, curves: dict[str, list[float]], colour: tuple[int, int, int]) -> None:
    """A run folder with its live evaluation lines (``eval/<name>`` per kimg) and a final picture."""
    folder = bench / run
    folder.mkdir(parents=True)
    lines = [{"step": i + 1, "kimg": 25.0 * (i + 1), **{f"eval/{m}": v[i] for m, v in curves.items() if v[i] is not None}}
             for i in range(len(next(iter(curves.values()))))]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (folder / "final.png").write_bytes(_png(colour))


def _make_bench(folder: Path) -> Path:
    """Two datasets, three models with one or three seeds, a plugin metric, a real-data row with KID below 0, an n/a."""
    folder.mkdir()
    store = Store(folder)
    for model, seeds in MNIST.items():
        for seed, fid, class_kl, classes, precision, kid in seeds:
            run = f"runs/{model}-mnist-s{seed}"
            store.put(_entry(run, model, "mnist", seed, (10_000, 4_000)), [
                ("fid", "fid", fid), ("classes", "class_kl", class_kl), ("classes", "classes", classes), ("classes", "classes_total", 10),
                ("precision-recall", "precision", precision), ("precision-recall", "recall", 0.0), ("kid", "kid", kid),
                ("kid", "kid_std", 5.0), *(("sharpness", k, v) for k, v in SHARP.items())])
            # wgan's first seed has no class_kl at all: its first curve panel has no line of it.
            _run_folder(folder, run, {"fid": [fid + 300, fid], "class_kl": [None, class_kl] if model == "wgan" else [class_kl, class_kl],
                                      "sharp": [0.4, 0.5]}, (200, 200, 200))
    store.put(_entry("real:mnist:x", REAL_DATA, "mnist", 0, (1_000, 4_000)), [
        ("fid", "fid", REAL[0]), ("classes", "class_kl", REAL[1]), ("classes", "classes", REAL[2]), ("classes", "classes_total", 10),
        ("precision-recall", "precision", REAL[3]), ("precision-recall", "recall", 0.9), ("kid", "kid", REAL[4]), ("kid", "kid_std", 1.8)])
    for model, seeds in RING.items():
        for seed, (kl, hq, modes) in enumerate(seeds):
            run = f"real:ring8:{seed}" if model == REAL_DATA else f"runs/{model}-ring8-s{seed}"
            store.put(_entry(run, model, "ring8", seed, (2_500, 2_500)), [
                ("mixture-modes", "reverse_kl", kl), ("mixture-modes", "hq", hq), ("mixture-modes", "modes", modes),
                ("mixture-modes", "modes_total", 8)])
            if model != REAL_DATA:
                _run_folder(folder, run, {"reverse_kl": [kl * 2, kl], "modes": [modes, modes]}, (90, 90, 90))
    return folder


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> Path:
    folder = _make_bench(tmp_path_factory.mktemp("page") / "bench")
    # One picture is a link leading out of the bench folder: left out, with a note on the page.
    picture = folder / "runs" / "wgan-mnist-s0" / "final.png"
    picture.unlink()
    (folder.parent / "elsewhere.png").write_bytes(_png((0, 0, 0)))
    picture.symlink_to(folder.parent / "elsewhere.png")
    return folder


@pytest.fixture(scope="module")
def board(bench):
    """The leaderboard of ``bench``, written once for the module (drawing its pictures takes seconds), with the plugin installed."""
    from ganzoo import plugins

    plugins.load_plugins()
    plugins.pm.register(SharpMetric(), name="sharp-metric")
    try:
        out = bench.parent / "board"
        return write_leaderboard([bench], out), out
    finally:
        plugins.pm.unregister(name="sharp-metric")


def _section(page: str, dataset: str) -> str:
    return page.split(f'<section data-dataset="{dataset}">')[1].split("</section>")[0]


def _main_table(section: str) -> str:
    return section.split('<table class="main">')[1].split("</table>")[0]


def test_the_main_table_holds_the_declared_headline_numbers_and_the_rest_go_to_details(board, register_plugin):
    result, _ = board
    register_plugin(SharpMetric(), "sharp-metric")  # sharp declares quality too, but fid's rank puts fid first
    mnist, ring = result.groups["mnist"], result.groups["ring8"]
    # fid ranks and is quality; class_kl (diversity) outranks recall (diversity, unranked); classes is "covered out of".
    assert main_columns(mnist) == ["fid", "class_kl", "classes"]
    assert main_columns(ring) == ["reverse_kl", "hq", "modes"]  # reverse_kl ranks and is the diversity number
    assert detail_columns(mnist) == ["precision", "recall", "kid", "sharp", "sharp_min", "sharp_max"]
    head = next(line for line in result.markdown.splitlines() if line.startswith("| rank") and "fid" in line)
    assert head == "| rank | model | kimg | N | steps | batch | seeds | fid ↓ | class_kl ↓ | classes ↑ (of 10) | train s |"


def test_a_role_is_read_from_the_metrics_declaration(bench, register_plugin):
    rows = [r for r in read_stores([bench]) if r["source"] == "sharpness"]  # a dataset with only the plugin's numbers
    assert main_columns(group_rows(rows)["mnist"]) == []  # not installed: no role, so no headline
    register_plugin(SharpMetric("diversity"), "sharp-metric")
    assert main_columns(group_rows(rows)["mnist"]) == ["sharp"]


@pytest.mark.parametrize("number, message", [
    (MetricNumber("x", role="style"), "number x: role 'style' must be one of ('quality', 'diversity', None)"),
    (MetricNumber("x", "lower", minimum="0"), "number x: minimum '0' must be a number (or None)"),
])
def test_a_bad_role_or_minimum_is_refused_when_the_metric_is_made(number, message):
    with pytest.raises(SpecError, match=re.escape(message)):  # reported against the plugin that built it
        MetricSpec("my-metric", "a metric", ("vector",), _sharp, numbers=(number,))


def test_seeds_are_a_count_and_the_spread_a_second_line(board):
    result, out = board
    table = _main_table(_section((out / "leaderboard.html").read_text(), "mnist"))
    rows = {cells[1]: (cells, row) for row in re.findall(r'<tr class="model">(.*?)</tr>', table)
            if (cells := [re.sub(r"<[^>]+>", " ", c).strip() for c in row.split("</td>")[:-1]])}
    assert rows["vanilla"][0][6] == "3" and rows["cgan"][0][6] == "1"  # a count, not the seed numbers ("0" for one seed)
    assert '<td title="per seed: 870, 845, 895">870<small>± 25</small></td>' in rows["vanilla"][1]
    assert "<td>784</td>" in rows["cgan"][1]  # one seed: no ±, no tooltip
    assert "| 2 | vanilla | 100 | 10000/4000 | 782 | 64 | 3 | 870 ± 25 |" in result.markdown


def test_na_below_minimum_and_real_data_are_explained_in_footnotes(board):
    result, out = board
    page = (out / "leaderboard.html").read_text()
    mnist, ring = _section(page, "mnist"), _section(page, "ring8")
    assert "2.303<small>± 0</small><small>n/a for 1 of 3 seeds</small>" in mnist
    assert "n/a: the metric gave no number for that seed" in mnist and "n/a:" not in ring  # only where one occurs
    # KID's mean -2.748 is below its declared minimum 0: shown as 0 within noise, with the raw mean, and explained.
    assert "<td>0<small>within noise: -2.748</small></td>" in mnist
    assert "within noise: the mean of kid fell below the least value the true number can take (kid 0)" in mnist
    assert "| kid ↓ | 398 | 420 ± 5 | 487.6 ± 0.35 | 0 (within noise: -2.748) |" in result.markdown
    assert "† real data: held-out real samples scored as if generated" in mnist and "† real data" in ring
    assert "sharp_max |" in result.markdown and "sharp_max ↑" not in result.markdown  # no direction, no arrow
    assert "- precision ↑: share of samples inside some real sample's k-NN ball" in result.markdown


def test_precision_is_1_for_samples_collapsed_onto_one_spot_inside_the_data():
    """Why the reference page shows wgan on mnist with precision 1 ± 0 (recall 0, coverage 0.005): a real
    measurement, which precision's help line on the page explains, not a bug in the k-NN balls."""
    import torch

    from ganzoo.eval import prdc

    g = torch.Generator().manual_seed(0)
    real = torch.randn(500, 10, generator=g)
    collapsed = real[:1] + 1e-3 * torch.randn(500, 10, generator=g)  # every sample near one real point
    pr = prdc.precision_recall(collapsed, real)
    assert pr["precision"] == 1.0 and pr["recall"] <= 1 / 500  # at most the one real point the samples sit on
    assert prdc.density_coverage(collapsed, real)["coverage"] < 0.02  # coverage and recall tell the collapse
    assert prdc.precision_recall(collapsed + 8.0, real)["precision"] == 0.0  # the same spot outside the data: 0


def test_every_model_has_one_colour_across_the_page(board):
    result, out = board
    page = (out / "leaderboard.html").read_text()
    colours = model_colours(result.groups)
    assert len(set(colours.values())) == len(colours) == 4  # cgan, vanilla, wgan, real data
    seen = re.findall(r'data-model="([^"]+)" style="background:(#[0-9a-f]{6})"', page)
    assert {m for m, _ in seen} == set(colours) and all(colours[m] == c for m, c in seen)
    # vanilla sits in both sections (tables, details, captions) with the one colour.
    assert page.count(f'data-model="vanilla" style="background:{colours["vanilla"]}"') == 6  # 2 tables and a caption per section
    assert f'border-color:{colours["vanilla"]}' in _section(page, "ring8") and f'border-color:{colours["vanilla"]}' in _section(page, "mnist")


def test_the_curves_have_one_legend_naming_every_model(bench, register_plugin, monkeypatch):
    import ganzoo.bench.html as page

    legends = []

    def keep(fig) -> bytes:
        import matplotlib.pyplot as plt

        if fig.legends:  # a curves figure (the coverage bars have their own legend)
            legends.append(([t.get_text() for t in fig.legends[0].get_texts()], [ax.get_title() for ax in fig.axes]))
        plt.close(fig)
        return b"png"

    monkeypatch.setattr(page, "_figure_png", keep)
    register_plugin(SharpMetric(), "sharp-metric")
    groups = group_rows(read_stores([bench]))
    files = page.Files()
    colours = model_colours(groups)
    page.curves_png(groups["mnist"], "mnist", files, colours, main_columns(groups["mnist"]))
    labels, titles = legends[-1]
    assert titles == ["fid ↓", "class_kl ↓"] and sorted(labels) == ["cgan", "vanilla", "wgan"]  # the legend is the figure's
    page.curves_png(groups["mnist"], "mnist", files, colours, ["class_kl"])  # wgan's first seed has no class_kl at kimg 25
    assert sorted(legends[-1][0]) == ["cgan", "vanilla", "wgan"]


def test_final_pictures_carry_the_model_name_and_its_headline_numbers(board):
    _, out = board
    section = _section((out / "leaderboard.html").read_text(), "ring8")
    caption = re.search(r"<figcaption>.*?<b>cgan</b>.*?<br>(.*?)</figcaption>", section)
    assert caption and caption[1] == "reverse_kl 0.11 ± 0.014 · hq 0.093 ± 0.0042 · modes 8 ± 0"
    # The live curves of numbers outside the main table (the plugin's sharp) wait in a details element.
    assert "<summary>Curves of the other live numbers</summary>" in _section((out / "leaderboard.html").read_text(), "mnist")
    assert "other live numbers" not in section


def test_no_file_names_a_machine_path(board):
    result, out = board
    assert result.notes == ["left out final.png of run 'runs/wgan-mnist-s0': it is a link leading outside the bench folder bench"]
    for path in result.files:
        text = path.read_text()
        for machine in {str(out.parent), str(out.parent.resolve()), "/tmp/", "/home/", "/root/"}:
            assert machine not in text, (path.name, machine)
    assert "From bench." in (out / "leaderboard.md").read_text() and html.escape(result.notes[0]) in (out / "leaderboard.html").read_text()
    with open(out / "leaderboard.csv") as f:
        assert {r["n_seeds"] for r in csv.DictReader(f)} == {"1", "2", "3"}


@pytest.mark.slow
def test_the_page_fits_1400_px_and_keeps_colours_in_headless_chromium(board, tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    _, out = board
    page = (out / "leaderboard.html").read_text()
    assert "http://" not in page and "https://" not in page
    # A probe opens every <details> (a reader may) and measures after layout; it writes its findings into the DOM.
    probe = """<script>window.addEventListener('load', function () {
      document.querySelectorAll('details').forEach(function (d) { d.open = true; });
      var wide = [], colours = {};
      document.querySelectorAll('table').forEach(function (t, i) {
        if (t.scrollWidth > window.innerWidth || t.getBoundingClientRect().right > window.innerWidth) wide.push(i); });
      document.querySelectorAll('section').forEach(function (s) {
        s.querySelectorAll('.swatch').forEach(function (w) {
          var key = w.getAttribute('data-model');
          var seen = (colours[key] = colours[key] || {});
          (seen[getComputedStyle(w).backgroundColor] = seen[getComputedStyle(w).backgroundColor] || []).push(s.getAttribute('data-dataset')); }); });
      var out = document.createElement('pre'); out.id = 'probe';
      out.textContent = JSON.stringify({width: window.innerWidth, page: document.documentElement.scrollWidth, wide: wide,
                                        tables: document.querySelectorAll('table').length, colours: colours});
      document.body.appendChild(out); });</script>"""
    probed = tmp_path / "probe.html"
    probed.write_text(page.replace("</body>", probe + "</body>"))
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,1000"]
    dom = subprocess.run([*flags, "--dump-dom", probed.as_uri()], capture_output=True, text=True, timeout=120).stdout
    found = json.loads(re.search(r'<pre id="probe">(.*?)</pre>', dom)[1].replace("&quot;", '"'))
    assert found["width"] == 1400 and found["tables"] == 4  # two main tables, two details tables
    assert found["wide"] == [] and found["page"] <= 1400, found
    assert set(found["colours"]) == {"vanilla", "wgan", "cgan", REAL_DATA}
    assert all(len(by_colour) == 1 for by_colour in found["colours"].values()), found["colours"]  # one colour each, in every section
    (sections,) = found["colours"]["vanilla"].values()
    assert set(sections) == {"mnist", "ring8"}  # seen in both
    shown = re.search(r'data-shown="(\d+)" data-total="(\d+)"', dom)
    assert shown and int(shown[1]) == int(shown[2]) >= 7  # curves, coverage bars and the final pictures all decode
    subprocess.run([*flags, f"--screenshot={tmp_path / 'page.png'}", (out / "leaderboard.html").as_uri()], capture_output=True, timeout=120)
    assert (tmp_path / "page.png").stat().st_size > 10_000
