"""Writing a leaderboard: aggregate the results stores of bench folders and write
``leaderboard.md``, ``leaderboard.csv`` and the self-contained ``leaderboard.html``."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import GanzooError, first_line
from ..files import atomic_write_text
from .html import Files, render_html
from .leaderboard import Group, csv_table, group_rows, markdown
from .store import read_stores


@dataclass
class Leaderboard:
    groups: dict[str, list[Group]]
    columns: list[str]  # the CSV's (and W&B table's) columns
    rows: list[list[Any]]
    markdown: str
    files: list[Path]
    notes: list[str]  # run files the page left out, one line each (see ganzoo.bench.html.Files)



def write_leaderboard(bench_dirs: list[Path], out: Path, html: bool = True, rank_by: str | None = None) -> Leaderboard:
    """Aggregate the stores of ``bench_dirs`` and write ``leaderboard.md``/``.csv``/``.html`` into ``out``.

    ``rank_by`` orders each dataset's rows by that column instead of the declared rank order.
    """
    rows = read_stores(bench_dirs)
    if not rows:
        raise GanzooError(f"no results in {', '.join(map(str, bench_dirs))} yet (run ganzoo bench first)")
    groups = group_rows(rows, rank_by)
    columns, table = csv_table(groups)
    text = markdown(groups, list(bench_dirs))
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GanzooError(f"--out {out}: cannot create it ({exc.strerror or exc})") from None
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    writer.writerows([["" if v is None else v for v in r] for r in table])
    pages = {"leaderboard.md": text, "leaderboard.csv": buffer.getvalue()}
    run_files = Files()
    if html:
        pages["leaderboard.html"] = render_html(groups, list(bench_dirs), text, run_files)
    files = []
    for name, content in pages.items():
        try:
            files.append(atomic_write_text(out / name, content))
        except OSError as exc:  # a folder one cannot write in (/proc/self, a read-only mount)
            raise GanzooError(f"--out {out}: cannot write {name} there ({exc.strerror or first_line(exc)}); give a folder you can write to") from None
    return Leaderboard(groups, columns, table, text, files, run_files.notes)
