"""N is part of every number: FID extrapolated to N = infinity, and leaderboard rows of
different evaluation N never ranked against each other."""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from ganzoo.bench.store import REAL_DATA, Entry, Store
from ganzoo.eval import fidelity


def test_fid_infinity_removes_the_one_over_n_bias():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(20_000, 32, generator=g, dtype=torch.float64)
    fake = torch.randn(1_000, 32, generator=g, dtype=torch.float64)  # the same distribution: FID -> 0 as N grows
    at_n = fidelity.fid(fake, real)
    fid_inf, points = fidelity.fid_infinity(fake, real, seed=0)
    assert at_n > 0.1 and abs(fid_inf) < at_n / 4
    sizes = [n for n, _ in points]
    assert sizes[0] == 200 and sizes[-1] == 1000 and len(sizes) == fidelity.FID_INF_POINTS
    steps = [1 / a - 1 / b for a, b in zip(sizes, sizes[1:])]
    assert max(steps) / min(steps) < 1.1  # evenly spaced in 1/N
    assert abs(points[-1][1] - at_n) < 1e-9 * at_n  # the largest subset is the whole set (in another order)
    assert points[0][1] > points[-1][1] > fid_inf  # the bias falls with N (single subsets are noisy, so only the ends)
    assert fidelity.fid_infinity(fake[:40], real, seed=0) == (None, [])


def _row(store: Store, run: str, model: str, n: int, fid: float) -> None:
    entry = Entry(run=run, model=model, dataset="mnist", seed=0, kimg=4.0 if model != REAL_DATA else 0.0, steps=8, batch_size=64,
                  config_hash=f"{model}{n}", config={}, eval_protocol={"n_generated": n, "n_real": n, "seed": 0, "checkpoint": "last"},
                  train_seconds=1.0, eval_seconds=1.0, params={}, ganzoo_version="test")
    store.put(entry, [("fid", "fid", fid)])


def test_rows_of_different_n_are_ranked_apart_and_the_real_data_row_states_its_n(tmp_path, cli):
    bench = tmp_path / "bench"
    bench.mkdir()
    store = Store(bench)
    # At N = 1,000 every FID is higher (its bias): ranked together, b at 1,000 would look worse than a at 10,000.
    _row(store, "runs/a-big", "a", 10_000, 50.0)
    _row(store, "runs/b-big", "b", 10_000, 40.0)
    _row(store, "runs/a-small", "a", 1_000, 60.0)
    _row(store, "runs/b-small", "b", 1_000, 55.0)
    _row(store, "real:mnist:x", REAL_DATA, 1_000, 7.0)
    code, out, err = cli("leaderboard", str(bench), "--out", str(tmp_path / "board"))
    assert code == 0, err
    with open(tmp_path / "board" / "leaderboard.csv") as f:
        rows = [(r["rank"], r["model"].split(" (")[0], r["eval_n_generated"]) for r in csv.DictReader(f)]
    assert rows == [("1", "b", "1000"), ("2", "a", "1000"), ("1", "b", "10000"), ("2", "a", "10000"), ("", "real data", "1000")]
    assert "within each budget and evaluation N" in out
    assert "The real-data row is scored at N 1000/1000, the models at 1000/1000 and 10000/10000" in out
    table = [line for line in out.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| rank | model | kimg | N |") and "| 10000/10000 |" in table[2 + 2]
