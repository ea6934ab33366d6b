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
    assert "--seeds" in lines[-1] and "valid:" in lines[-1] and repr(seeds) in lines[-1]
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize("name", ["pacgan_2d.py", "stacked_mnist.py"])
def test_reporting_with_no_finished_runs_says_so_and_writes_nothing(name, tmp_path):
    done = script(name, "--seeds", "2", "--report-only", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out"))
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines()[-1].endswith("no finished runs in " + str(tmp_path / "runs" / "results.jsonl")
                                                        + " for these options: nothing written")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
