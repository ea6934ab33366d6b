"""Run folders under faults: their states and the command each takes, readers that refuse damaged
files in one line without changing the folder, divergence, a full disk, and kill -9 at random times."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

import ganzoo
from ganzoo.run.folder import COMPLETE, EMPTY, IN_USE, NOT_A_RUN, RESUMABLE, STARTED, RunFolder
from ganzoo.training import checkpoint
from ganzoo.training.checkpoint import load_checkpoint
from ganzoo.training.pictures import save_loss_curves
from ganzoo.training.sinks import read_jsonl

TINY = dict(set={"width": 16, "depth": 1, "data.n": 256}, batch_size=32, progress=False)
TINY_CLI = ["--model", "vanilla", "--dataset", "ring8", "--set", "width=16", "--set", "depth=1", "--set", "data.n=256",
            "--batch-size", "32", "--quiet"]


def _hashes(folder) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


def _one_line(code, err, *needles):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _started(folder) -> None:
    """What a run killed before its first checkpoint leaves: its config, metrics, pictures; no checkpoint."""
    shutil.rmtree(folder / "checkpoints")


# -- states ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    path = tmp_path_factory.mktemp("runs") / "done"
    ganzoo.train("vanilla", "ring8", steps=6, out=path, log_every=2, checkpoint_every=3, **TINY)
    return path


@pytest.fixture
def run_copy(finished, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(finished, copy)
    return copy


@pytest.mark.slow
def test_each_state_has_its_command(run_copy, tmp_path, cli):
    assert RunFolder(tmp_path / "absent").state() == EMPTY
    assert RunFolder(run_copy).state() == COMPLETE
    config = (run_copy / "config.yaml").read_text()
    (run_copy / "config.yaml").write_text(config.replace("steps: 6", "steps: 9"))
    assert RunFolder(run_copy).state() == RESUMABLE
    code, _, err = cli("run", *TINY_CLI, "--steps", "9", "--out", str(run_copy))
    _one_line(code, err, "stopped at step 6 of 9", f"--resume {run_copy}")

    _started(run_copy)
    assert RunFolder(run_copy).state() == STARTED
    code, _, err = cli("run", "--resume", str(run_copy))
    _one_line(code, err, "nothing to resume", "same --out", f"--out {run_copy}")
    dead = _dead_pid()
    (run_copy / f".metrics.jsonl.tmp-{dead}").write_text("half")
    live = run_copy / f".loss.png.tmp-{os.getppid()}"  # a writer that is still alive
    live.write_text("in flight")
    code, out, err = cli("run", *TINY_CLI, "--steps", "4", "--out", str(run_copy), "--log-every", "2")
    assert code == 0, err
    assert len([line for line in err.splitlines() if "starting it afresh" in line]) == 1
    assert [r["step"] for r in read_jsonl(run_copy / "metrics.jsonl")] == [2, 4]  # the old lines are gone
    assert not (run_copy / f".metrics.jsonl.tmp-{dead}").exists() and live.exists()
    assert RunFolder(run_copy).state() == COMPLETE

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert RunFolder(foreign).state() == NOT_A_RUN
    code, _, err = cli("run", *TINY_CLI, "--steps", "2", "--out", str(foreign))
    _one_line(code, err, "not a ganzoo run")
    assert (foreign / "notes.txt").read_text() == "mine" and len(list(foreign.iterdir())) == 1

    leftovers = tmp_path / "leftovers"  # killed while writing its very first file
    leftovers.mkdir()
    (leftovers / f".config.yaml.tmp-{dead}").write_text("model: van")
    assert RunFolder(leftovers).state() == EMPTY
    code, _, err = cli("run", *TINY_CLI, "--steps", "2", "--out", str(leftovers))
    assert code == 0, err and not list(leftovers.glob(".*tmp-*"))


def test_a_folder_being_trained_in_is_in_use(tmp_path):
    folder = RunFolder(tmp_path / "r")
    with folder.claim():
        other = RunFolder(tmp_path / "r")
        assert other.state() == IN_USE
        with pytest.raises(ganzoo.GanzooError, match="in use"):
            RunFolder.for_new_run(tmp_path / "r", "vanilla", "ring8")
        with pytest.raises(ganzoo.GanzooError, match="in use"):
            with other.claim():
                pass
    assert RunFolder(tmp_path / "r").state() == EMPTY


# -- damaged files ------------------------------------------------------------------------------
def _rngless(run):
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    del state["rng"]
    torch.save(state, run / "checkpoints" / "last.pt")


DAMAGE = {
    "config-not-utf8": ("config.yaml", lambda run: (run / "config.yaml").write_bytes(b"model: \xff\xfe\n"), "not UTF-8"),
    "config-a-list": ("config.yaml", lambda run: (run / "config.yaml").write_text("- 1\n- 2\n"), "expected a mapping"),
    "config-steps-four": ("config.yaml", lambda run: (run / "config.yaml").write_text((run / "config.yaml").read_text().replace("steps: 6", "steps: four")), "bad value for steps: 'four'"),
    "config-list-options": ("config.yaml", lambda run: (run / "config.yaml").write_text((run / "config.yaml").read_text().replace("dataset_config:", "dataset_config: [1, 2]\nx_config:")), "config.yaml"),
    "config-self-anchor": ("config.yaml", lambda run: (run / "config.yaml").write_text("a: &a {<<: *a}\n"), "config.yaml"),
    "config-bad-width": ("config.yaml", lambda run: (run / "config.yaml").write_text((run / "config.yaml").read_text().replace("width: 16", "width: four")), "bad value for width"),
    "dataset-not-utf8": ("dataset.json", lambda run: (run / "dataset.json").write_bytes(b"\xff{}"), "not UTF-8"),
    "dataset-shape-text": ("dataset.json", lambda run: (run / "dataset.json").write_text(json.dumps({**json.loads((run / "dataset.json").read_text()), "shape": ["two"]})), "damaged"),
}
RESUME_ONLY = {  # sampling reads neither the RNG state, nor the JSON, nor the metrics log
    "checkpoint-without-rng": ("last.pt", _rngless, "no 'rng' entry"),
    "metrics-not-utf8": ("metrics.jsonl", lambda run: (run / "metrics.jsonl").write_bytes(b'{"step": 2}\n\xff\xff\n{"step": 4}\n'), "line 2: not UTF-8"),
    "metrics-a-directory": ("metrics.jsonl", lambda run: ((run / "metrics.jsonl").unlink(), (run / "metrics.jsonl").mkdir()), "cannot read"),
    "metrics-step-text": ("metrics.jsonl", lambda run: (run / "metrics.jsonl").write_text('{"step": "four"}\n{"step": 6}\n'), "line 1"),
    "best-json-not-json": ("best.json", lambda run: (run / "checkpoints" / "best.json").write_text("[1, "), "damaged"),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(DAMAGE) + sorted(RESUME_ONLY))
def test_damaged_files_are_one_line_errors_that_change_nothing(name, run_copy, cli, tmp_path):
    file, damage, problem = {**DAMAGE, **RESUME_ONLY}[name]
    damage(run_copy)
    before = _hashes(run_copy)
    commands = [("run", "--resume", str(run_copy), "--steps", "8")]
    if name in DAMAGE:
        commands.append(("sample", str(run_copy), "--n", "4", "--out", str(tmp_path / "s.png")))
    for command in commands:
        code, _, err = cli(*command)
        _one_line(code, err, file, problem)
        assert _hashes(run_copy) == before, command
    assert not (tmp_path / "s.png").exists()


def test_metrics_log_reader_skips_only_a_torn_last_line(tmp_path):
    log = tmp_path / "m.jsonl"
    log.write_text('{"step": 1, "loss/D": 0.5}\n{"step": 2, "loss/D": nu')
    assert read_jsonl(log) == [{"step": 1, "loss/D": 0.5}]
    log.write_text('{"step": 1}\n{"step": 2, \n{"step": 3}\n')
    with pytest.raises(ganzoo.GanzooError, match="line 2: not JSON"):
        read_jsonl(log)
    log.write_text('[1, 2]\n')
    with pytest.raises(ganzoo.GanzooError, match="line 1: expected a JSON object"):
        read_jsonl(log)


def test_a_loss_plot_of_only_nulls_draws_nothing(tmp_path):
    assert save_loss_curves([{"step": 1, "loss/D": None}], tmp_path / "loss.png") is None
    assert not (tmp_path / "loss.png").exists()


def test_names_too_long_for_the_file_system_are_one_line_errors(cli, tmp_path):
    long = "n" * 300
    for args in (["run", *TINY_CLI, "--out", str(tmp_path / long)], ["run", "--resume", str(tmp_path / long)],
                 ["sample", str(tmp_path / long)], ["new-plugin", "long-one", "--dir", str(tmp_path / long)]):
        code, _, err = cli(*args)
        _one_line(code, err, "300 bytes", "limit")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_sample_out_too_long_is_refused_before_writing(finished, cli, tmp_path):
    code, _, err = cli("sample", str(finished), "--out", str(tmp_path / ("p" * 250 + ".png")))
    _one_line(code, err, "--out", "limit")
    assert list(tmp_path.iterdir()) == []


# -- divergence ---------------------------------------------------------------------------------
class _NanAt(ganzoo.Objective):
    """A tiny GAN whose D loss is NaN at the steps in ``NAN_STEPS`` (as ``Batch.step`` counts them, from 0)."""

    NAN_STEPS: set[int] = set()

    def __init__(self, G, D):
        self.G, self.D = G, D
        self.phases = (ganzoo.Phase("D", "D", "D"), ganzoo.Phase("G", "G", "G"))

    def loss(self, phase, batch):
        fake = self.G(torch.randn(len(batch.real), 2))
        if phase == "D":
            loss = (self.D(fake.detach()) - self.D(batch.real)).mean()
            if batch.step in self.NAN_STEPS:
                loss = loss * float("nan")
            return ganzoo.PhaseLoss(loss)
        return ganzoo.PhaseLoss(-self.D(fake).mean())


class _NanPlugin:
    @ganzoo.hookimpl
    def register_models(self, register):
        def build(info, c):
            G, D = nn.Linear(2, info.dim), nn.Linear(info.dim, 1)
            return ganzoo.GAN({"G": G, "D": D}, {"G": torch.optim.Adam(G.parameters(), lr=0.01), "D": torch.optim.Adam(D.parameters(), lr=0.01)},
                              _NanAt(G, D), latent_dim=2)

        register(ganzoo.ModelSpec(name="nan-at", summary="NaN loss at chosen steps", build=build))


NAN_CLI = ["--model", "nan-at", "--dataset", "ring8", "--set", "data.n=64", "--batch-size", "8", "--quiet",
           "--log-every", "2", "--checkpoint-every", "5"]


def _weights(run) -> dict[str, torch.Tensor]:
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    return {f"{n}.{k}": v for n, sd in state["networks"].items() for k, v in sd.items()}


@pytest.mark.slow
def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(cli, tmp_path, register_plugin, monkeypatch):
    register_plugin(_NanPlugin(), "nan-at")
    monkeypatch.setattr(_NanAt, "NAN_STEPS", {7})
    run = tmp_path / "r"
    code, _, err = cli("run", *NAN_CLI, "--steps", "20", "--out", str(run))
    _one_line(code, err, "diverged at step 8", "loss/D nan", "last.pt (step 5) is kept")
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 5
    assert all(torch.isfinite(w).all() for w in _weights(run).values())
    assert all(v is None or v == v for r in read_jsonl(run / "metrics.jsonl") for v in r.values())  # no NaN logged
    assert not (run / "final.png").exists()
    kept = _hashes(run / "checkpoints")
    code, _, err = cli("run", "--resume", str(run), "--steps", "20", "--quiet")  # the same NaN again: stops again, same checkpoint
    _one_line(code, err, "diverged at step 8")
    assert _hashes(run / "checkpoints") == kept
    code, _, err = cli("run", "--resume", str(run), "--steps", "7", "--quiet")  # up to just before it
    assert code == 0, err

    # skip: the step's D update is left out, counted, and the run goes on; resume stays bit-exact.
    code, _, err = cli("run", "--resume", str(run), "--steps", "12", "--on-nan", "skip", "--quiet")
    assert code == 0 and "1 of 12 steps had an update left out" in err, err
    lines = read_jsonl(run / "metrics.jsonl")
    assert [(r["step"], r.get("skipped")) for r in lines][-3:] == [(8, 1), (10, 1), (12, 1)]
    straight = tmp_path / "straight"
    code, _, err = cli("run", *NAN_CLI, "--steps", "12", "--out", str(straight), "--on-nan", "skip")
    assert code == 0, err
    a, b = _weights(run), _weights(straight)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_a_learning_rate_that_overflows_is_one_line(cli, tmp_path):
    for lr in ("1e30", "1e308"):
        code, _, err = cli("run", *TINY_CLI, "--steps", "30", "--set", f"lr={lr}", "--out", str(tmp_path / lr), "--checkpoint-every", "100")
        _one_line(code, err, "training diverged at step")
        assert not (tmp_path / lr / "checkpoints" / "last.pt").exists()


# -- a full disk ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_checkpoint_that_cannot_be_written_leaves_the_previous_one(tmp_path, cli, monkeypatch):
    run = tmp_path / "r"
    real_save, calls = torch.save, []

    def disk_fills(obj, f, *args, **kwargs):
        calls.append(obj["step"])
        if len(calls) < 2:
            return real_save(obj, f, *args, **kwargs)
        f.write(b"PK\x03\x04 some bytes")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoint.torch, "save", disk_fills)
    code, _, err = cli("run", *TINY_CLI, "--steps", "12", "--checkpoint-every", "4", "--out", str(run))
    _one_line(code, err, "last.pt", "No space left on device", "previous one (step 4) is intact")
    monkeypatch.undo()
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 4
    assert list(run.rglob(".*tmp-*")) == []
    code, _, err = cli("run", "--resume", str(run), "--quiet")
    assert code == 0, err


# -- kill -9 -------------------------------------------------------------------------------------
# Many small checkpoints, so that a kill often lands in the middle of writing one.
KILL_CLI = ["--set", "width=8", "--set", "depth=1", "--set", "data.n=128", "--batch-size", "16", "--log-every", "5",
            "--checkpoint-every", "5", "--sample-every", "1000000", "--quiet", "--steps", "200"]


def _ganzoo(*args) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "ganzoo.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _kill_each_at_its_moment(runs: list[tuple[subprocess.Popen, Path | None, float]], timeout: float = 60.0) -> None:
    """SIGKILL each ``(process, marker, delay)`` ``delay`` seconds after its marker file appears
    (after it starts if it has none; at once if it ended or the marker is ``timeout`` late).

    The processes run at the same time: the trials do not depend on each other, and each spends
    seconds starting on one core while the machines the suite runs on have another idle.
    """
    start = time.monotonic()
    due: dict[int, float] = {}
    left = set(range(len(runs)))
    while left:
        now = time.monotonic()
        for i in sorted(left):
            proc, marker, delay = runs[i]
            if i not in due and (marker is None or marker.exists() or proc.poll() is not None or now - start > timeout):
                due[i] = now + delay
            if i in due and now >= due[i]:
                proc.send_signal(signal.SIGKILL)
                proc.communicate(timeout=60)
                left.discard(i)
        time.sleep(0.002)


@pytest.mark.slow
def test_kill_9_at_random_times_then_follow_the_state_to_a_bit_exact_end(tmp_path, cli, one_thread):
    first = lambda folder: ["run", "--model", "vanilla", "--dataset", "ring8", "--out", str(folder), *KILL_CLI]
    # Only the killed runs need processes of their own; the unbroken run and the command each state
    # calls for run in this process, on one thread as the others: a process start is the slow part.
    unbroken = tmp_path / "unbroken"
    ganzoo.train("vanilla", "ring8", out=unbroken, progress=False, set={"width": 8, "depth": 1, "data.n": 128}, batch_size=16,
                 log_every=5, checkpoint_every=5, sample_every=1000000, steps=200)
    expected = _weights(unbroken)
    rng = random.Random(14)
    # When to kill: during start-up (nothing written), as the config appears (before the first
    # checkpoint), and at a random moment of training, when a checkpoint is written every 5 steps.
    # (benchmarks/fault_campaign.py kills at many more moments; each trial here costs a process start.)
    plans = [(None, 0.05), ("config.yaml", 0.0), ("metrics.jsonl", rng.uniform(0.0, 0.3))]
    folders = [tmp_path / f"t{trial}" for trial in range(len(plans))]
    _kill_each_at_its_moment([(_ganzoo(*first(folder)), marker and folder / marker, delay)
                              for folder, (marker, delay) in zip(folders, plans)])
    seen = []
    for trial, folder in enumerate(folders):
        state = RunFolder(folder).state()  # then do what the state says
        seen.append(state)
        assert state in (EMPTY, STARTED, RESUMABLE, COMPLETE), state
        command = first(folder) if state in (EMPTY, STARTED) else ["run", "--resume", str(folder), "--quiet"]
        code, _, err = cli(*command)
        assert code == 0, (trial, state, err)
        got = _weights(folder)
        assert got.keys() == expected.keys() and all(torch.equal(got[k], expected[k]) for k in got), (trial, state)
        assert list(folder.rglob(".*tmp-*")) == [], (trial, state)
    assert seen[0] == EMPTY, seen
