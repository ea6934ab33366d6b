"""The shared trainer: phases, determinism, exact resume, Ctrl-C, run folder contents."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from torch import nn

import ganzoo
from ganzoo.training.checkpoint import load_checkpoint

TINY = dict(set={"width": 16, "depth": 1, "data.n": 512, "dropout": 0.3}, batch_size=32, progress=False)


def _weights(run_dir) -> dict[str, torch.Tensor]:
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    flat = {f"net.{n}.{k}": v for n, sd in state["networks"].items() for k, v in sd.items()}
    for n, sd in state["optimizers"].items():
        for pid, s in sd["state"].items():
            flat.update({f"opt.{n}.{pid}.{k}": v for k, v in s.items()})
    return flat


def _assert_bitwise_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs"


@pytest.mark.slow
def test_same_seed_same_weights_other_seed_other_weights(tmp_path):
    a = ganzoo.train("vanilla", "ring8", steps=15, out=tmp_path / "a", **TINY)
    b = ganzoo.train("vanilla", "ring8", steps=15, out=tmp_path / "b", **TINY)
    c = ganzoo.train("vanilla", "ring8", steps=15, out=tmp_path / "c", seed=1, **TINY)
    _assert_bitwise_equal(_weights(a.path), _weights(b.path))
    assert not torch.equal(_weights(a.path)["net.G.net.0.weight"], _weights(c.path)["net.G.net.0.weight"])


@pytest.mark.slow
def test_resume_continues_bitwise_exactly(tmp_path):
    # Dropout in D draws from the RNG, and 512 points / 32 per batch crosses several epochs:
    # both must be restored for the weights to match.
    whole = ganzoo.train("vanilla", "ring8", steps=40, out=tmp_path / "whole", log_every=5, **TINY)
    part = ganzoo.train("vanilla", "ring8", steps=17, out=tmp_path / "part", log_every=5, **TINY)
    resumed = ganzoo.resume(part.path, steps=40, progress=False)
    assert resumed.result.step == 40
    _assert_bitwise_equal(_weights(whole.path), _weights(resumed.path))
    # metrics.jsonl too is what the unbroken run wrote (but for wall-clock time).
    untimed = lambda run: [{k: v for k, v in r.items() if k != "time"} for r in run.metrics()]
    assert untimed(resumed) == untimed(whole)
    assert [r["step"] for r in whole.metrics()] == list(range(5, 45, 5))


@pytest.mark.slow
def test_a_run_config_reproduces_the_run(tmp_path):
    first = ganzoo.train("vanilla", "ring8", steps=12, out=tmp_path / "first", **TINY)
    again = ganzoo.train(config=first.path / "config.yaml", out=tmp_path / "again", progress=False)
    _assert_bitwise_equal(_weights(first.path), _weights(again.path))


@pytest.mark.slow
def test_resume_refuses_a_target_below_the_current_step_and_a_checkpoint_that_does_not_fit(tmp_path):
    run = ganzoo.train("vanilla", "ring8", steps=10, out=tmp_path / "r", **TINY)
    with pytest.raises(ganzoo.GanzooError, match="--steps 5 is below step 10"):
        ganzoo.resume(run.path, steps=5, progress=False)
    assert ganzoo.load_run(run.path).config.steps == 10  # config.yaml untouched
    config = (run.path / "config.yaml").read_text()
    (run.path / "config.yaml").write_text(config.replace("width: 16", "width: 24"))
    with pytest.raises(ganzoo.CheckpointError, match="does not fit the model built from config.yaml"):
        ganzoo.resume(run.path, steps=20, progress=False)
    with pytest.raises(ganzoo.CheckpointError, match="does not fit the model built from config.yaml"):
        ganzoo.load_run(run.path).sample(4)


@pytest.mark.slow
def test_sampling_a_run_needs_only_its_folder_not_its_dataset(tmp_path, mnist_idx):
    import shutil

    source = tmp_path / "mnist-files"
    mnist_idx(source, np.zeros((64, 28, 28)), np.zeros(64))
    run = ganzoo.train("vanilla", "mnist", steps=2, out=tmp_path / "m", batch_size=16, data_root=str(source),
                       progress=False, set={"width": 16, "depth": 1})
    shutil.rmtree(source)
    assert ganzoo.load_run(run.path).sample(3).shape == (3, 1, 28, 28)


def test_create_model_builds_from_a_dataset_description():
    info = ganzoo.DatasetInfo("toy", "vector", (3,))
    gan = ganzoo.create_model("vanilla", info, width=8)
    assert gan.sample(5).shape == (5, 3)
    with pytest.raises(ganzoo.GanzooError, match="unknown option 'widht'"):
        ganzoo.create_model("vanilla", info, widht=8)


@pytest.mark.slow
def test_resume_after_a_crash_drops_metrics_the_crashed_run_logged_past_its_checkpoint(tmp_path):
    run = ganzoo.train("vanilla", "ring8", steps=20, out=tmp_path / "r", log_every=5, **TINY)
    with open(run.path / "metrics.jsonl", "a") as f:  # lines written after the checkpoint, then a crash
        f.write(json.dumps({"step": 25, "loss/D": 9.0}) + "\n" + '{"step": 30, "loss')
    resumed = ganzoo.resume(run.path, steps=30, progress=False)
    assert [r["step"] for r in resumed.metrics()] == [5, 10, 15, 20, 25, 30]
    assert resumed.metrics()[4]["loss/D"] != 9.0


class _CountingObjective(ganzoo.Objective):
    """D phase 3 times per step; G phase every other step. Records what it saw."""

    def __init__(self, G, D):
        self.G, self.D = G, D
        self.phases = (ganzoo.Phase("D", "D", "D", repeats=3), ganzoo.Phase("G", "G", "G", every=2))
        self.calls = []

    def loss(self, phase, batch):
        self.calls.append((phase, batch.step, self.D[0].weight.requires_grad, self.G[0].weight.requires_grad))
        fake = self.G(torch.randn(len(batch.real), 4))
        if phase == "D":
            loss = self.D(batch.real).mean() - self.D(fake.detach()).mean()
        else:
            loss = -self.D(fake).mean()
        return ganzoo.PhaseLoss(loss, {"fake_mean": fake.mean()})


class _CountingPlugin:
    objective = None

    @ganzoo.hookimpl
    def register_models(self, register):
        def build(info, c):
            G, D = nn.Sequential(nn.Linear(4, info.dim)), nn.Sequential(nn.Linear(info.dim, 1))
            type(self).objective = _CountingObjective(G, D)
            return ganzoo.GAN(
                networks={"G": G, "D": D},
                optimizers={"G": torch.optim.SGD(G.parameters(), lr=0.01), "D": torch.optim.SGD(D.parameters(), lr=0.01)},
                objective=self.objective,
                latent_dim=4,
            )

        register(ganzoo.ModelSpec(name="counting", summary="test objective", build=build))


@pytest.mark.slow
def test_trainer_runs_declared_phases_and_updates_only_the_phase_network(tmp_path, register_plugin):
    register_plugin(_CountingPlugin(), "counting")
    run = ganzoo.train("counting", "ring8", steps=5, out=tmp_path / "c", batch_size=8, progress=False, log_every=1, set={"data.n": 64})
    calls = _CountingPlugin.objective.calls
    assert [(p, s) for p, s, *_ in calls] == [
        ("D", 0), ("D", 0), ("D", 0), ("G", 0),
        ("D", 1), ("D", 1), ("D", 1),
        ("D", 2), ("D", 2), ("D", 2), ("G", 2),
        ("D", 3), ("D", 3), ("D", 3),
        ("D", 4), ("D", 4), ("D", 4), ("G", 4),
    ]
    # While a phase runs, only its own network takes gradients.
    assert all(d_grad and not g_grad for p, _, d_grad, g_grad in calls if p == "D")
    assert all(g_grad and not d_grad for p, _, d_grad, g_grad in calls if p == "G")
    lines = run.metrics()
    assert [r["step"] for r in lines] == [1, 2, 3, 4, 5]
    assert lines[-1]["kimg"] == pytest.approx((15 + 3) * 8 / 1000)  # 15 critic batches + 3 generator batches
    assert "loss/G" in lines[0] and "loss/G" not in lines[1] and "fake_mean" in lines[0]


class _FrozenLayerPlugin:
    """vanilla with the generator's first layer frozen by the plugin, as for fine-tuning."""

    def __init__(self, vanilla: ganzoo.ModelSpec) -> None:
        self.vanilla = vanilla

    @ganzoo.hookimpl
    def register_models(self, register):
        vanilla = self.vanilla

        def build(info, c):
            gan = vanilla.build(info, c)
            gan.networks["G"].net[0].requires_grad_(False)
            return gan

        register(ganzoo.ModelSpec(name="frozen-first-layer", summary="vanilla, G's first layer frozen", build=build, config=vanilla.config, presets=vanilla.presets))


@pytest.mark.slow
def test_a_parameter_the_plugin_froze_stays_frozen(tmp_path, register_plugin):
    register_plugin(_FrozenLayerPlugin(ganzoo.plugins.models().get("vanilla")), "frozen-first-layer")
    info = ganzoo.DatasetInfo("ring8", "vector", (2,))
    torch.manual_seed(0)  # as training seeds itself (seed 0) before building, so these are the initial weights
    before = ganzoo.create_model("frozen-first-layer", info, width=16, depth=1).networks["G"].state_dict()
    run = ganzoo.train("frozen-first-layer", "ring8", steps=5, out=tmp_path / "f", **TINY)
    after = {k[len("net.G."):]: v for k, v in _weights(run.path).items() if k.startswith("net.G.")}
    assert torch.equal(after["net.0.weight"], before["net.0.weight"]) and torch.equal(after["net.0.bias"], before["net.0.bias"])
    assert not torch.equal(after["net.2.weight"], before["net.2.weight"])  # the rest of G trained


@pytest.mark.slow
def test_run_folder_has_config_metrics_pictures_and_checkpoint(tmp_path):
    run = ganzoo.train("vanilla", "ring8", steps=20, out=tmp_path / "r", sample_every=10, log_every=10, **TINY)
    names = {p.relative_to(run.path).as_posix() for p in run.path.rglob("*") if p.is_file()}
    assert names == {"config.yaml", "dataset.json", "plugins.json", "metrics.jsonl", "final.png", "loss.png", "checkpoints/last.pt",
                     "checkpoints/last.json", "samples/step-0000010.png", "samples/step-0000020.png"}
    loaded = ganzoo.load_run(run.path)
    assert loaded.config.steps == 20 and loaded.config.model_config["width"] == 16
    assert loaded.sample(7).shape == (7, 2)
    # Reusing the same --out would overwrite a run: refused.
    with pytest.raises(ganzoo.GanzooError, match="holds a finished run"):
        ganzoo.train("vanilla", "ring8", steps=2, out=run.path, **TINY)


@pytest.mark.slow
def test_image_runs_write_sample_grids(tmp_path):
    run = ganzoo.train("vanilla", "mnist", steps=3, out=tmp_path / "m", batch_size=16, progress=False,
                       set={"width": 32, "depth": 1})
    from PIL import Image

    grid = Image.open(run.path / "final.png")
    assert grid.size == (8 * 30 + 2, 8 * 30 + 2)  # 64 images of 28 px with 2 px padding
    samples = ganzoo.load_run(run.path).sample(5)
    assert samples.shape == (5, 1, 28, 28) and samples.min() >= -1 and samples.max() <= 1


def _cli(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "ganzoo.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_and_resume_matches_an_uninterrupted_run(tmp_path, cli, one_thread):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    opts = ["--dataset", "ring8", "--set", "width=16", "--set", "depth=1", "--set", "data.n=512", "--batch-size", "32",
            "--log-every", "1", "--checkpoint-every", "1000000", "--quiet"]
    proc = _cli("run", "--model", "vanilla", "--steps", "1000000", "--out", str(tmp_path / "int"), *opts, env=env)
    metrics = tmp_path / "int" / "metrics.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and not (metrics.exists() and metrics.stat().st_size > 0):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted at step" in err and "ganzoo run --resume" in err and "Traceback" not in err
    stopped_at = load_checkpoint(tmp_path / "int" / "checkpoints" / "last.pt")["step"]
    assert stopped_at >= 1
    target = stopped_at + 7
    # Only the interrupted run needs a process of its own (for the signal); the other two run
    # here, on one thread as it did: a process start would cost more than their training.
    code, _, err = cli("run", "--resume", str(tmp_path / "int"), "--steps", str(target), "--quiet")
    assert code == 0, err
    code, _, err = cli("run", "--model", "vanilla", "--steps", str(target), "--out", str(tmp_path / "straight"), *opts)
    assert code == 0, err
    _assert_bitwise_equal(_weights(tmp_path / "int"), _weights(tmp_path / "straight"))


class _SelfInterrupting(ganzoo.Objective):
    """Presses Ctrl-C at step 3; with ``twice`` it presses again while the step is still running."""

    def __init__(self, G, D, twice):
        self.G, self.D, self.twice = G, D, twice
        self.phases = (ganzoo.Phase("G", "G", "G"),)

    def loss(self, phase, batch):
        if batch.step == 3:
            os.kill(os.getpid(), signal.SIGINT)
            if self.twice:
                time.sleep(0.05)  # let the first handler run before the second signal
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)
        return ganzoo.PhaseLoss(self.D(self.G(torch.randn(len(batch.real), 2))).mean())


class _InterruptPlugin:
    @ganzoo.hookimpl
    def register_models(self, register):
        for twice in (False, True):
            def build(info, c, twice=twice):
                G, D = nn.Linear(2, info.dim), nn.Linear(info.dim, 1)
                return ganzoo.GAN({"G": G, "D": D}, {"G": torch.optim.SGD(G.parameters(), lr=0.1)},
                                  _SelfInterrupting(G, D, twice), latent_dim=2)
            register(ganzoo.ModelSpec(name="ctrl-c-twice" if twice else "ctrl-c-once", summary="presses Ctrl-C", build=build))


@pytest.mark.slow
def test_first_ctrl_c_finishes_the_step_and_saves_second_aborts_at_once(cli, tmp_path, register_plugin):
    register_plugin(_InterruptPlugin(), "interrupt")
    args = ["--dataset", "ring8", "--set", "data.n=64", "--batch-size", "8", "--steps", "100", "--quiet",
            "--checkpoint-every", "2", "--log-every", "1"]
    code, out, err = cli("run", "--model", "ctrl-c-once", "--out", str(tmp_path / "once"), *args)
    assert code == 130 and "stopping after this step" in err and "interrupted at step 4; checkpoint saved" in err
    assert load_checkpoint(tmp_path / "once" / "checkpoints" / "last.pt")["step"] == 4  # the step in progress finished
    # Live evaluation and --on-nan are not saved with the run, so the command to continue names them
    # (else best.pt stops moving and skipping falls back to stopping); defaults are left out.
    code, out, err = cli("run", "--model", "ctrl-c-once", "--out", str(tmp_path / "live"), *args,
                         "--eval-every", "50", "--eval-n", "300", "--on-nan", "skip", "--wandb", "off")
    assert code == 130 and err.strip().endswith(f"Continue with: ganzoo run --resume {tmp_path / 'live'} --eval-every 50 --eval-n 300 --on-nan skip")

    code, out, err = cli("run", "--model", "ctrl-c-twice", "--out", str(tmp_path / "twice"), *args)
    assert code == 130 and err.strip().endswith("ganzoo: interrupted") and "checkpoint saved" not in err
    assert "Traceback" not in err
    # Aborted inside step 3: the last checkpoint (step 2) is intact and no temporary file is left.
    assert load_checkpoint(tmp_path / "twice" / "checkpoints" / "last.pt")["step"] == 2
    assert [p.name for p in (tmp_path / "twice").rglob(".*tmp-*")] == []


@pytest.mark.slow
def test_resuming_a_finished_run_changes_nothing_in_its_metrics(tmp_path):
    run = ganzoo.train("vanilla", "ring8", steps=7, out=tmp_path / "r", log_every=5, **TINY)
    before = (run.path / "metrics.jsonl").read_text()
    assert [r["step"] for r in run.metrics()] == [5, 7]  # the last line is off the log grid
    ganzoo.resume(run.path, progress=False)
    after = [{k: v for k, v in r.items() if k != "time"} for r in ganzoo.load_run(run.path).metrics()]
    assert after == [{k: v for k, v in json.loads(line).items() if k != "time"} for line in before.splitlines()]


@pytest.mark.slow
def test_a_checkpoint_for_other_data_is_refused_on_resume(tmp_path):
    run = ganzoo.train("vanilla", "ring8", steps=5, out=tmp_path / "r", **TINY)
    config = (run.path / "config.yaml").read_text()
    for n in (256, 1024):
        (run.path / "config.yaml").write_text(config.replace("n: 512", f"n: {n}"))
        with pytest.raises(ganzoo.CheckpointError, match=f"data order covers 512 samples, the training data has {n}"):
            ganzoo.resume(run.path, steps=10, progress=False)


@pytest.mark.slow
def test_a_damaged_dataset_json_is_a_clear_error(tmp_path):
    run = ganzoo.train("vanilla", "ring8", steps=2, out=tmp_path / "r", **TINY)
    for text in ("{not json", '{"name": "ring8"}'):
        (run.path / "dataset.json").write_text(text)
        with pytest.raises(ganzoo.GanzooError, match="dataset.json is damaged"):
            ganzoo.load_run(run.path).sample(2)


@pytest.mark.slow
def test_a_checkpoints_step_is_read_without_loading_it_and_a_stale_record_is_not_believed(tmp_path, monkeypatch):
    from ganzoo.run import folder as folder_module
    from ganzoo.run.folder import RunFolder

    run = ganzoo.train("vanilla", "ring8", steps=12, out=tmp_path / "r", checkpoint_every=5, log_every=4, **TINY)
    folder = RunFolder(run.path)
    loads = []
    real_load = folder_module.load_checkpoint
    monkeypatch.setattr(folder_module, "load_checkpoint", lambda *a, **k: loads.append(a) or real_load(*a, **k))
    assert folder.checkpoint_step("last") == 12 and loads == []  # from the JSON beside it
    # A crash between the checkpoint's rename and its JSON's leaves the JSON of the previous
    # checkpoint: it no longer matches the file on disk, so the step comes from the checkpoint.
    stale = folder.checkpoint_record("last") | {"step": 10}
    state = folder.load_checkpoint("last")
    folder_module.save_checkpoint(state, folder.checkpoint_file("last"))  # the checkpoint alone, rewritten
    (folder.checkpoint_dir / "last.json").write_text(json.dumps(stale))
    loads.clear()
    assert folder.checkpoint_step("last") == 12 and len(loads) == 1
    assert folder.checkpoint_step("best") is None


class RecordingCallback:
    """A trainer callback written against ganzoo.training.callbacks alone."""

    def __init__(self) -> None:
        self.starts, self.steps, self.snapshot_steps = [], [], []

    def on_fit_start(self, info) -> None:
        self.starts.append((info.step, len(info.folder.metrics())))

    def after_step(self, info) -> dict[str, float]:
        self.steps.append(info.step)
        if info.step % 4 == 0:
            self.snapshot_steps.append(info.snapshot()["step"])
            return {"probe/step": float(info.step)}
        return {}


@pytest.mark.slow
def test_callbacks_see_the_declared_interface_and_their_numbers_are_logged(tmp_path):
    from ganzoo.run import session

    made = []

    def factory(data, config):
        made.append(RecordingCallback())
        return made[-1:]

    folder, config = session.new_run("vanilla", "ring8", out=tmp_path / "r", sets=TINY["set"], steps=8, log_every=4, batch_size=32)
    session.fit(folder, config, resume=False, progress=False, callbacks=factory)
    (first,) = made
    assert first.starts == [(0, 0)] and first.steps == list(range(1, 9)) and first.snapshot_steps == [4, 8]
    assert [r.get("probe/step") for r in folder.metrics()] == [4.0, 8.0]
    folder, config = session.existing_run(folder.path, steps=12)
    session.fit(folder, config, resume=True, progress=False, callbacks=factory)
    assert made[1].starts == [(8, 2)] and made[1].steps == [9, 10, 11, 12]


def test_a_half_set_launch_environment_is_refused_before_anything_is_made(tmp_path, cli, monkeypatch):
    # WORLD_SIZE alone (no RANK, no rendezvous address) is not a torchrun launch: say how to start one.
    monkeypatch.setenv("WORLD_SIZE", "2")
    for name in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    code, _, err = cli("run", "--model", "vanilla", "--dataset", "ring8", "--steps", "2", "--out", str(tmp_path / "r"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "WORLD_SIZE=2" in err and "--nproc-per-node" in err
    assert not (tmp_path / "r").exists()
