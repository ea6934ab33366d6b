"""The results store of a bench folder: ``results.sqlite``, one row per (run, metric) with the full protocol.

Every row carries everything needed to say whether two numbers are comparable (model,
dataset, seed, budget, steps, batch size, the resolved config and its hash, the
evaluation protocol, wall-clock, parameter counts, ganzoo's version), so the rows of
several bench folders can be put together and grouped without looking anywhere else.
The ``trainings`` table records each training session a bench started (new or resumed),
which is how a re-run that trained nothing can be told apart from one that did.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ..errors import GanzooError, first_line

STORE_FILE = "results.sqlite"
REAL_DATA = "real data"  # the model name of the real-data floor rows

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    run TEXT NOT NULL,              -- the run folder, relative to the bench folder (or 'real:<dataset>:<hash>')
    metric TEXT NOT NULL,           -- the name eval.json gives the number (fid, modes, precision, ...)
    source TEXT NOT NULL,           -- the metric plugin that computed it (fid, mixture-modes, ...)
    value REAL,                     -- NULL: undefined (e.g. a KL with no high-quality sample)
    model TEXT NOT NULL,
    dataset TEXT NOT NULL,
    seed INTEGER NOT NULL,
    kimg REAL NOT NULL,             -- the budget: thousands of real images drawn by the trainer
    steps INTEGER NOT NULL,
    batch_size INTEGER NOT NULL,
    config_hash TEXT NOT NULL,      -- of the resolved config without seed and device: equal hash, same recipe
    config_json TEXT NOT NULL,
    eval_protocol_json TEXT NOT NULL,
    train_seconds REAL,             -- wall-clock of training (live evaluation included)
    eval_seconds REAL,
    params_json TEXT NOT NULL,      -- parameters per network, e.g. {"G": 12345, "D": 6789}
    ganzoo_version TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (run, metric)
);
CREATE TABLE IF NOT EXISTS trainings (
    run TEXT NOT NULL,
    from_step INTEGER NOT NULL,
    to_step INTEGER NOT NULL,
    seconds REAL NOT NULL,
    started_at TEXT NOT NULL
);
"""

COLUMNS = (
    "run", "metric", "source", "value", "model", "dataset", "seed", "kimg", "steps", "batch_size", "config_hash",
    "config_json", "eval_protocol_json", "train_seconds", "eval_seconds", "params_json", "ganzoo_version", "recorded_at",
)


@dataclass(frozen=True)
class Entry:
    """What every metric row of one run shares."""

    run: str
    model: str
    dataset: str
    seed: int
    kimg: float
    steps: int
    batch_size: int
    config_hash: str
    config: dict[str, Any]
    eval_protocol: dict[str, Any]
    train_seconds: float | None
    eval_seconds: float | None
    params: dict[str, int]
    ganzoo_version: str


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class Store:
    """``BENCH_DIR/results.sqlite``. Writes go through short transactions, so a crash never leaves half an entry."""

    def __init__(self, bench_dir: Path, create: bool = True) -> None:
        self.path = Path(bench_dir) / STORE_FILE
        if not create and not self.path.is_file():
            raise GanzooError(f"{bench_dir} is not a bench folder (no {STORE_FILE}); make one with ganzoo bench --out {bench_dir}")
        try:
            with closing(self._connect()) as db, db:
                db.executescript(SCHEMA)
                found = {row["name"] for row in db.execute("PRAGMA table_info(results)")}
        except sqlite3.DatabaseError as exc:
            raise GanzooError(f"{self.path}: not a readable results store ({first_line(exc)})") from None
        missing = [c for c in COLUMNS if c not in found]
        if missing:
            raise GanzooError(
                f"{self.path}: its results table has another schema (no column {', '.join(missing)}); "
                f"it was not written by this version of ganzoo bench"
            )

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30)
        db.row_factory = sqlite3.Row
        return db

    def put(self, entry: Entry, metrics: Iterable[tuple[str, str, float | None]]) -> None:
        """Replace ``entry.run``'s rows with ``(source, metric, value)`` for each metric."""
        shared = (
            entry.model, entry.dataset, entry.seed, entry.kimg, entry.steps, entry.batch_size, entry.config_hash,
            json.dumps(entry.config, sort_keys=True), json.dumps(entry.eval_protocol, sort_keys=True),
            entry.train_seconds, entry.eval_seconds, json.dumps(entry.params, sort_keys=True), entry.ganzoo_version, now(),
        )
        rows = [(entry.run, metric, source, value, *shared) for source, metric, value in metrics]
        with closing(self._connect()) as db, db:
            db.execute("DELETE FROM results WHERE run = ?", (entry.run,))
            db.executemany(f"INSERT INTO results ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})", rows)

    def has(self, run: str) -> bool:
        with closing(self._connect()) as db:
            return db.execute("SELECT 1 FROM results WHERE run = ? LIMIT 1", (run,)).fetchone() is not None

    def has_results(self) -> bool:
        with closing(self._connect()) as db:
            return db.execute("SELECT 1 FROM results LIMIT 1").fetchone() is not None

    def record_training(self, run: str, from_step: int, to_step: int, seconds: float) -> None:
        with closing(self._connect()) as db, db:
            db.execute("INSERT INTO trainings VALUES (?, ?, ?, ?, ?)", (run, from_step, to_step, seconds, now()))

    def trainings(self) -> list[dict[str, Any]]:
        with closing(self._connect()) as db:
            return [dict(r) for r in db.execute("SELECT * FROM trainings ORDER BY rowid")]

    def rows(self) -> list[dict[str, Any]]:
        """Every result row, with the JSON columns decoded and the bench folder it came from.

        Each value is checked against its column's type (SQLite stores any value in any
        column), so a damaged or hand-edited store is one line naming the row, not a crash later.
        """
        try:
            with closing(self._connect()) as db:
                rows = [dict(r) for r in db.execute(f"SELECT {', '.join(COLUMNS)} FROM results ORDER BY dataset, model, seed, rowid")]
        except sqlite3.DatabaseError as exc:
            raise GanzooError(f"{self.path}: not a readable results store ({first_line(exc)})") from None
        for r in rows:
            for key in ("config_json", "eval_protocol_json", "params_json"):
                try:
                    r[key.removesuffix("_json")] = json.loads(r.pop(key))
                except (TypeError, ValueError):
                    raise GanzooError(f"{self.path}: row {r['run']!r}/{r['metric']!r} has a {key} that is not JSON; the store is damaged") from None
            _check_row(self.path, r)
            r["bench"] = str(self.path.parent)
        return rows


_TEXT = (str,)
_NUMBER = (int, float)
# What each column must hold once read (None: NULL allowed).
ROW_TYPES: dict[str, tuple[tuple[type, ...], bool]] = {
    "run": (_TEXT, False), "metric": (_TEXT, False), "source": (_TEXT, False), "value": (_NUMBER, True),
    "model": (_TEXT, False), "dataset": (_TEXT, False), "seed": ((int,), False), "kimg": (_NUMBER, False),
    "steps": ((int,), False), "batch_size": ((int,), False), "config_hash": (_TEXT, False), "config": ((dict,), False),
    "eval_protocol": ((dict,), False), "train_seconds": (_NUMBER, True), "eval_seconds": (_NUMBER, True),
    "params": ((dict,), False), "ganzoo_version": (_TEXT, False), "recorded_at": (_TEXT, False),
}


def _check_row(path: Path, row: dict[str, Any]) -> None:
    for key, (types, nullable) in ROW_TYPES.items():
        value = row[key]
        if value is None and nullable:
            continue
        bad = isinstance(value, bool) or not isinstance(value, types)
        if isinstance(value, float) and not math.isfinite(value):
            bad = True  # an undefined number is stored as NULL
        if bad:
            want = {_TEXT: "text", _NUMBER: "a number", (int,): "a whole number", (dict,): "a JSON object"}[types]
            raise GanzooError(
                f"{path}: row {row.get('run')!r}/{row.get('metric')!r} has {key} = {value!r:.60}, not {want}; the store is damaged"
            )
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in row["params"].values()):
        raise GanzooError(f"{path}: row {row['run']!r}/{row['metric']!r} has params {row['params']!r:.60}, not counts; the store is damaged")


def read_stores(bench_dirs: Iterable[Path]) -> list[dict[str, Any]]:
    """The rows of several bench folders together (the same run folder named twice counts once)."""
    rows, seen = [], set()
    for folder in bench_dirs:
        folder = Path(folder)
        if not folder.is_dir():
            raise GanzooError(f"bench folder {folder} does not exist")
        key = folder.resolve()
        if key in seen:
            continue
        seen.add(key)
        rows += Store(folder, create=False).rows()
    return rows
