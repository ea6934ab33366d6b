"""``ganzoo bench --jobs N``: entries in worker processes store exactly what one process stores.

One story on one tiny plan (vanilla and cgan on ring8, one seed, 12 steps each), told once per
module: a one-process bench for reference; a bench with two workers (--devices cpu,cpu) in which
one worker is killed and then Ctrl-C reaches the whole process group; --jobs 2 on the same
folder, which resumes both entries and must store the reference's rows exactly; and once more,
which must do nothing. Every bench trains at one thread per process (OMP_NUM_THREADS=1, which
caps a worker's cores // N), so the numbers must agree bit for bit. Then: the store's own
transactions lose no row when two processes write at once, and the parts that need no process
(lines, one-line errors, --help).
"""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pytest
import torch
import yaml

from ganzoo.bench.store import STORE_FILE, Entry, Store
from ganzoo.cli import main

PLAN = ["bench", "--models", "vanilla,cgan", "--datasets", "ring8", "--seeds", "1", "--kimg", "6", "--eval-n", "300",
        "--set", "width=16", "--set", "depth=1", "--set", "data.n=2000", "--quiet", "--wandb", "off"]
# Every column but the clock's (recorded_at, train_seconds, eval_seconds).
STEPS = 12  # 6 kimg at the 2-D batch of 256: 24 batches, two a step; a checkpoint, a picture and a live evaluation every 2 steps.
# Enough steps that cgan's run cannot end before the test's Ctrl-C reaches it: its worker may start well before
# vanilla's, whose first checkpoint the test waits for (with 6 steps, one CI run saw cgan finish first).
ROWS = ("SELECT run, metric, source, value, model, dataset, seed, kimg, steps, batch_size, config_hash, config_json, "
        "eval_protocol_json, params_json, ganzoo_version FROM results ORDER BY run, metric")


def ganzoo_bench(out: Path, *args: str, env: dict[str, str]) -> subprocess.Popen:
    # Its own session, so that a Ctrl-C can go to the bench and its workers together, as a terminal sends it.
    return subprocess.Popen([sys.executable, "-m", "ganzoo.cli", *PLAN, "--out", str(out), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)


def finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def rows(out: Path, sql: str = ROWS) -> list[tuple]:
    with sqlite3.connect(out / STORE_FILE) as db:
        return db.execute(sql).fetchall()


def worker_holding(parent: int, folder: Path) -> int:
    """The child process of ``parent`` that has ``folder`` open (a training process holds its run folder's lock)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == parent and any(
                os.readlink(fd) == str(folder) for fd in (stat.parent / "fd").iterdir()
            ):
                return int(stat.parent.name)
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
    raise AssertionError(f"no child of {parent} has {folder} open")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return {**os.environ, "OMP_NUM_THREADS": "1", "GANZOO_CACHE": str(tmp_path_factory.mktemp("cache"))}


def bench_here(out: Path, *args: str, env: dict[str, str]) -> int:
    """The bench in this process (its workers are processes of their own), on one thread as the workers are."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("GANZOO_CACHE", env["GANZOO_CACHE"])
            patch.setenv("OMP_NUM_THREADS", "1")  # the workers' cap, whatever cores // N is on this machine
            return main([*PLAN, "--out", str(out), *args])
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, env):
    """The plan benched by one process."""
    out = tmp_path_factory.mktemp("one") / "b"
    assert bench_here(out, env=env) == 0
    return out


@pytest.fixture(scope="module")
def stopped(tmp_path_factory, env):
    """Two workers, one device each: at their first checkpoints vanilla's worker is killed, then Ctrl-C reaches everyone."""
    out = tmp_path_factory.mktemp("two") / "b"
    proc = ganzoo_bench(out, "--devices", "cpu,cpu", env=env)
    deadline = time.monotonic() + 120
    while len(list(out.glob("runs/*/checkpoints/last.json"))) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, finish(proc)
    (vanilla,) = out.glob("runs/vanilla-*")
    os.kill(worker_holding(proc.pid, vanilla), signal.SIGKILL)
    os.killpg(proc.pid, signal.SIGINT)
    code, text, err = finish(proc)
    devices = {run.name.split("-")[0]: yaml.safe_load((run / "config.yaml").read_text())["device"] for run in out.glob("runs/*")}
    return out, code, text, err, devices


@pytest.fixture(scope="module")
def resumed(stopped, env):
    """The same command again, with two workers."""
    out, *_ = stopped
    return bench_here(out, "--jobs", "2", env=env)


@pytest.mark.slow
def test_a_killed_worker_fails_its_entry_in_one_line_and_ctrl_c_stops_the_other_with_its_checkpoint(stopped):
    out, code, _, err, devices = stopped
    assert devices == {"vanilla": "cpu", "cgan": "cpu"}  # each trained on its worker's device (one-process bench: auto)
    assert code == 130 and "Traceback" not in err and "leaked" not in err, err
    died = [line for line in err.splitlines() if "BrokenProcessPool" in line]
    assert len(died) == 1 and died[0].startswith("[1/2] vanilla on ring8, seed 0: failed: its worker process died"), err
    assert "[2/2] cgan on ring8, seed 0: interrupted at step " in err and "interrupted with 1 of 2 entries unfinished" in err
    assert err.strip().splitlines()[-1].endswith("Run the same ganzoo bench command to continue.")
    assert not (out / "leaderboard.md").exists()
    assert rows(out) == []  # neither finished, so neither has rows
    [(run, start, stop)] = rows(out, "SELECT run, from_step, to_step FROM trainings")  # the killed worker's session never came back
    assert run.startswith("runs/cgan-") and start == 0 and 0 < stop < STEPS


@pytest.mark.slow
def test_jobs_2_resumes_both_and_stores_exactly_what_one_process_stores(reference, stopped, resumed):
    out, *_ = stopped
    assert resumed == 0
    # Every row, number and protocol as one process stored them: no row lost, none changed.
    assert rows(out) == rows(reference) and len(rows(out)) == 3 * 8  # two runs and the real-data floor, 8 numbers each
    # Both resumed from their checkpoints: cgan from where Ctrl-C stopped it, vanilla from its last one before the kill.
    sessions = rows(out, "SELECT run, from_step, to_step FROM trainings ORDER BY rowid")
    cgan = [(a, b) for run, a, b in sessions if run.startswith("runs/cgan-")]
    vanilla = [(a, b) for run, a, b in sessions if run.startswith("runs/vanilla-")]
    assert cgan == [(0, cgan[0][1]), (cgan[0][1], STEPS)] and len(vanilla) == 1 and 0 < vanilla[0][0] < STEPS == vanilla[0][1]
    assert (out / "leaderboard.md").read_text().count(f"| {STEPS} | 256 | 1 |") == 2


@pytest.mark.slow
def test_a_finished_bench_run_again_with_workers_does_nothing(stopped, resumed, env, cli, monkeypatch):
    out, *_ = stopped
    monkeypatch.setenv("GANZOO_CACHE", env["GANZOO_CACHE"])
    before = {p: p.stat().st_mtime_ns for p in [*out.glob("runs/*/checkpoints/*.pt"), *out.glob("runs/*/eval.json")]}
    trainings = rows(out, "SELECT COUNT(*) FROM trainings")
    code, text, err = cli(*PLAN, "--out", str(out), "--jobs", "2")
    assert code == 0, err
    assert err.count(": done earlier: skipped") == 2 and "0 trained, 0 evaluated" in text  # found by this process: no worker started
    assert rows(out, "SELECT COUNT(*) FROM trainings") == trainings
    assert {p: p.stat().st_mtime_ns for p in before} == before


def _entry(i: int) -> Entry:
    return Entry(run=f"runs/r{i}", model="m", dataset="d", seed=i, kimg=1.0, steps=1, batch_size=1, config_hash="h", config={},
                 eval_protocol={}, train_seconds=0.1, eval_seconds=0.1, params={"G": 1}, ganzoo_version="0")


@pytest.mark.slow
def test_two_processes_writing_the_store_at_once_lose_no_row(tmp_path):
    # ganzoo bench writes the store from one process only; its transactions would keep it whole even so.
    # Forked (not spawned like bench's workers): the writers touch nothing but SQLite, and start at once.
    store = Store(tmp_path)
    with ProcessPoolExecutor(2, mp_context=get_context("fork")) as pool:
        done = [pool.submit(store.put, _entry(i), [("s", "a", float(i)), ("s", "b", None)]) for i in range(100)]
        done += [pool.submit(store.record_training, f"runs/r{i}", 0, 1, 0.1) for i in range(100)]
        for future in done:
            future.result()
    assert rows(tmp_path, "SELECT COUNT(*), COUNT(DISTINCT run) FROM results") == [(200, 100)]
    assert rows(tmp_path, "SELECT COUNT(*) FROM trainings") == [(100,)]


def test_worker_lines_go_out_whole_behind_the_entry_label():
    from ganzoo.bench.workers import _Prefixed

    sink = io.StringIO()
    stream = _Prefixed(sink, "[2/4] vanilla on ring8, seed 1: ")
    stream.write("\nstopping after")
    stream.write(" this step\n  modes 8, hq 0.9\nno newline yet")
    stream.flush()
    assert sink.getvalue().splitlines() == [
        "[2/4] vanilla on ring8, seed 1: stopping after this step",
        "[2/4] vanilla on ring8, seed 1: modes 8, hq 0.9",
        "[2/4] vanilla on ring8, seed 1: no newline yet",
    ]


def test_bench_help_documents_jobs_and_devices(cli):
    code, out, _ = cli("bench", "--help")
    assert code == 0
    text = " ".join(out.split())
    assert "--jobs N" in text and "--devices LIST" in text and "set_num_threads" in text and "cuda:0,cuda:1" in text
