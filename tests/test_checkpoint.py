"""Checkpoints are atomic and never unpickle arbitrary objects."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import torch

from ganzoo.training import checkpoint
from ganzoo.training.checkpoint import load_checkpoint, save_checkpoint
from ganzoo.errors import CheckpointError


def test_round_trip(tmp_path):
    state = {"step": 3, "w": torch.arange(5.0), "nested": {"betas": (0.5, 0.9)}}
    save_checkpoint(state, tmp_path / "last.pt")
    loaded = load_checkpoint(tmp_path / "last.pt")
    assert loaded["step"] == 3 and torch.equal(loaded["w"], state["w"]) and loaded["nested"]["betas"] == (0.5, 0.9)


def test_a_write_interrupted_midway_leaves_the_previous_checkpoint_loadable(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint({"step": 1, "w": torch.ones(1000)}, path)
    real_save = torch.save

    def crash_halfway(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        f.truncate(f.tell() // 2)  # half the bytes made it to disk...
        raise OSError("disk full")  # ...then the write died

    monkeypatch.setattr(checkpoint.torch, "save", crash_halfway)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint({"step": 2, "w": torch.zeros(1000)}, path)
    monkeypatch.undo()
    loaded = load_checkpoint(path)
    assert loaded["step"] == 1 and torch.equal(loaded["w"], torch.ones(1000))
    assert sorted(os.listdir(tmp_path)) == ["last.pt"]  # no temporary file left behind


@pytest.mark.slow
def test_a_process_killed_before_the_rename_leaves_the_old_checkpoint(tmp_path):
    # A real kill -9 in the middle of save_checkpoint: after the new bytes are on disk, before the rename.
    script = f"""
import os, signal, torch
from ganzoo.training import checkpoint
path = {str(tmp_path / "last.pt")!r}
checkpoint.save_checkpoint({{"step": 1, "w": torch.ones(10)}}, path)
os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)
checkpoint.save_checkpoint({{"step": 2, "w": torch.zeros(10)}}, path)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert result.returncode == -signal.SIGKILL
    assert any(name.startswith(".last.pt.tmp-") for name in os.listdir(tmp_path))  # the new one was written...
    loaded = load_checkpoint(tmp_path / "last.pt")  # ...but last.pt is still the old, whole checkpoint
    assert loaded["step"] == 1 and torch.equal(loaded["w"], torch.ones(10))


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))  # unpickling would create this file


def test_a_checkpoint_holding_a_pickled_object_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": checkpoint.FORMAT, "step": 1, "x": _Payload(str(marker))}, path)
    with pytest.raises(CheckpointError, match="refusing to load .*pickled Python objects"):
        load_checkpoint(path)
    assert not marker.exists()


def test_corrupt_and_foreign_files_are_clear_errors(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"hello" * 50)
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(junk)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.ones(1)}, foreign)
    with pytest.raises(CheckpointError, match="not a ganzoo checkpoint"):
        load_checkpoint(foreign)
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt")
