"""W&B as a trainer sink: ``ganzoo run --wandb offline`` (and its resume) read back from W&B's own files,
and the default mode, decided without a network call."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ganzoo.training.wandb_sink import default_wandb_mode

TINY = ["--dataset", "ring8", "--set", "width=16", "--set", "depth=1", "--set", "data.n=1000", "--batch-size", "64", "--log-every", "2", "--sample-every", "4", "--quiet"]


def ganzoo(args, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_DIR": str(tmp_path / "wb"), "WANDB_SILENT": "true"}
    env.pop("WANDB_API_KEY", None)
    env.pop("WANDB_MODE", None)
    return subprocess.run([sys.executable, "-m", "ganzoo.cli", *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.slow
def test_run_with_wandb_offline_logs_config_scalars_and_pictures_and_resume_continues_the_same_run(tmp_path, wandb_log):
    run_dir = tmp_path / "run"
    proc = ganzoo(["run", "--model", "vanilla", *TINY, "--steps", "4", "--out", str(run_dir), "--wandb", "offline"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "wandb sync" in proc.stderr and "Traceback" not in proc.stderr
    proc = ganzoo(["run", "--resume", str(run_dir), "--steps", "8", "--wandb", "offline"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    run_id = json.loads((run_dir / "wandb.json").read_text())["id"]
    folders = sorted((tmp_path / "wb" / "wandb").glob("offline-run-*"))
    assert len(folders) == 2 and all(f.name.endswith(run_id) for f in folders)  # one W&B run, continued
    steps, pictures = [], 0
    for folder in folders:
        records = wandb_log.records(folder)
        run = next(r.run for r in records if r.WhichOneof("record_type") == "run")
        assert wandb_log.as_dict(run.config.update)["model"] == "vanilla"
        for r in records:
            if r.WhichOneof("record_type") == "history":
                h = wandb_log.as_dict(r.history.item)
                steps += [h["_step"]] if "loss/D" in h else []
                pictures += "samples" in h
    jsonl = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps == [r["step"] for r in jsonl] == [2, 4, 6, 8]
    assert pictures == 2  # steps 4 and 8 (the final picture of each part lands on the same step)


@pytest.mark.slow
def test_plain_run_never_starts_wandb(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wb"))
    code, _, err = cli("run", "--model", "vanilla", *TINY, "--steps", "2", "--out", str(tmp_path / "run"))
    assert code == 0, err
    assert not (tmp_path / "wb").exists() and not (tmp_path / "run" / "wandb.json").exists()


def test_bad_wandb_mode_for_run_is_one_line(cli, tmp_path):
    code, _, err = cli("run", "--model", "vanilla", *TINY, "--steps", "2", "--out", str(tmp_path / "run"), "--wandb", "yes")
    assert code == 2 and "bad --wandb 'yes' (valid: online, offline, off)" in err
    assert not (tmp_path / "run").exists()


def test_default_mode_is_online_only_with_credentials(tmp_path, monkeypatch):
    for name in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    netrc = tmp_path / "netrc"
    monkeypatch.setenv("NETRC", str(netrc))
    assert default_wandb_mode() == "offline"  # no netrc file at all
    netrc.write_text("machine example.com login user password secret\n")
    assert default_wandb_mode() == "offline"
    netrc.write_text("machine api.wandb.ai login user password 0123456789abcdef\n")
    assert default_wandb_mode() == "online"
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert default_wandb_mode() == "offline"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert default_wandb_mode() == "off"
    monkeypatch.delenv("WANDB_MODE")
    netrc.unlink()
    monkeypatch.setenv("WANDB_API_KEY", "0123456789abcdef")
    assert default_wandb_mode() == "online"
