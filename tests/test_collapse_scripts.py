"""The collapse benchmarks' command lines (benchmarks/collapse/): bad input is one line, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each test starts a Python process

SCRIPTS = Path(__file__).resolve().parents[1] / "benchmarks" / "collapse"


def script(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPTS / name), *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", ["pacgan_2d.py", "stacked_mnist.py"])
@pytest.mark.parametrize("seeds", ["0", "three", "-1,2"])
def test_a_bad_seed_count_is_one_line_naming_what_is_valid(name, seeds, tmp_path):
    # "--seeds 0" once meant zero seeds: nothing trained, then a traceback while writing the table.
    done = script(name, f"--seeds={seeds}", "--report-only", "--runs", str(tmp_path), "--out", str(tmp_path))
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "--seeds: bad value" in lines[-1] and "valid:" in lines[-1] and repr(seeds) in lines[-1]
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize("name", ["pacgan_2d.py", "stacked_mnist.py"])
def test_reporting_with_no_finished_runs_says_so_and_writes_nothing(name, tmp_path):
    done = script(name, "--seeds", "2", "--report-only", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out"))
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(name + ": no finished runs in " + str(tmp_path / "runs" / "results.jsonl"))
    assert "no table written" in done.stderr
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_a_table_is_written_for_each_dataset_with_runs_and_the_other_is_named(tmp_path):
    """--dataset ring8,grid25 with only ring8 finished: ring8's table, and one line naming grid25."""
    import json

    runs = tmp_path / "runs"
    runs.mkdir()
    sets = {"beta1": 0.8, "depth": 3, "g_batchnorm": True, "latent_dim": 2, "lr": 0.0001, "width": 400}
    key = json.dumps(["ring8", "gan", 0, 20, 100, sets], sort_keys=True)
    (runs / "results.jsonl").write_text(json.dumps({
        "dataset": "ring8", "row": "gan", "seed": 0, "steps": 20, "batch_size": 100, "key": key, "sets": sets, "modes": 5,
        "modes_total": 8, "hq": 0.25, "reverse_kl": 0.5, "train_s": 1.0, "total_s": 1.0, "finished": "2026-12-01 08:00"}) + "\n")
    done = script("pacgan_2d.py", "--dataset", "ring8,grid25", "--seeds", "1", "--rows", "gan", "--steps", "20", "--report-only",
                  "--runs", str(runs), "--out", str(tmp_path / "out"))
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "for grid25 with these options" in done.stderr.strip().splitlines()[-1]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ring8.csv", "ring8.json", "ring8.md"]
    assert "| gan | 0 | 5 | 25.0% | 0.500 | 1 |" in (tmp_path / "out" / "ring8.md").read_text()  # the per-seed row


def test_the_wgan_gp_row_trains_wgan_gp_at_its_image_preset_beside_the_dcgan_row(tmp_path):
    """stacked_mnist.py: each row trains its own model; a row the paper has no number for says so."""
    import yaml

    runs, out = tmp_path / "runs", tmp_path / "out"
    done = script("stacked_mnist.py", "--rows", "dcgan,wgan-gp", "--seeds", "1", "--steps", "2", "--n", "100", "--data-n", "64",
                  "--channels", "4", "--jobs", "1", "--runs", str(runs), "--out", str(out))
    assert done.returncode == 0, done.stderr
    configs = {d.name: yaml.safe_load((d / "config.yaml").read_text()) for d in runs.iterdir() if d.is_dir()}
    assert {c["model"] for c in configs.values()} == {"dcgan", "wgan-gp"}
    wgan_gp = next(c for c in configs.values() if c["model"] == "wgan-gp")
    assert wgan_gp["dataset"] == "stacked-mnist" and wgan_gp["model_config"]["arch"] == "conv" and wgan_gp["model_config"]["n_critic"] == 1
    table = (out / "stacked_mnist.md").read_text()
    row = next(line for line in table.splitlines() if line.startswith("| WGAN-GP"))
    assert row.endswith("| - | - |")  # no published number beside it
    assert next(line for line in table.splitlines() if line.startswith("| DCGAN |")).endswith("| 78.9 ± 6.5 | 4.500 ± 0.127 |")
    assert "models `dcgan`, `wgan-gp`" in table
