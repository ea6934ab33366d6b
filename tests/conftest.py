"""Shared fixtures: throwaway plugins registered for one test, and CLI runners (in-process and as a real process)."""

from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess
import sys
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

from ganzoo import plugins
from ganzoo.cli import main

@pytest.fixture
def register_plugin():
    """Register plugin objects in the one plugin manager; all are unregistered afterwards, even on failure."""
    added = []

    def register(plugin, name: str):
        plugins.load_plugins()
        plugins.pm.register(plugin, name=name)
        added.append(name)
        return plugin

    try:
        yield register
    finally:
        for name in added:
            plugins.pm.unregister(name=name)


def write_mnist_idx(folder, images, labels, gz: bool = False):
    """A folder of MNIST IDX files holding ``images`` (N, 28, 28) and ``labels`` (N,)."""
    folder.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if gz else open
    suffix = ".gz" if gz else ""
    with opener(folder / f"train-images-idx3-ubyte{suffix}", "wb") as f:
        f.write(struct.pack(">IIII", 2051, len(images), 28, 28) + np.asarray(images, dtype=np.uint8).tobytes())
    with opener(folder / f"train-labels-idx1-ubyte{suffix}", "wb") as f:
        f.write(struct.pack(">II", 2049, len(labels)) + np.asarray(labels, dtype=np.uint8).tobytes())


@pytest.fixture
def mnist_idx():
    """The IDX writer, as a fixture (test modules cannot import conftest under importlib mode)."""
    return write_mnist_idx


@pytest.fixture
def cli(capsys):
    """Run ``ganzoo ARGS`` in-process; returns (exit code, stdout, stderr)."""

    def run(*args: str):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", plugins.PluginWarning)
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's own exits
                code = exc.code
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def one_thread():
    """Torch on one thread for the test, as in the processes the tests start (OMP_NUM_THREADS=1).

    A run made in this process then matches theirs bit for bit, so a test that needs a process
    of its own only for the run it kills or interrupts can do the rest here, without paying a
    process start (importing torch and its compiler: about 5 s on 2 cores) for each.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture
def ganzoo_process():
    """Run ``ganzoo ARGS`` as its own process, which loads the installed entry points afresh; returns the CompletedProcess."""

    def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        env.pop(plugins.ENV_LOAD, None)
        return subprocess.run([sys.executable, "-m", "ganzoo.cli", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)

    return run


def _wandb_records(run_folder) -> list:
    """The records of an offline W&B run, read with W&B's own protobuf types from its ``.wandb`` log.

    The file is W&B's header (``:W&B``, magic, version: 7 bytes) then a LevelDB-style log:
    32 KiB blocks of chunks, each with a 7-byte header (CRC, length, type: 1 full, 2 first, 3 middle, 4 last).
    """
    from wandb.proto import wandb_internal_pb2

    data = next(run_folder.glob("run-*.wandb")).read_bytes()
    assert data[:4] == b":W&B"
    block, pos, pending, records = 32768, 7, b"", []
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # too little room left in a block for a header: padding
            pos += block - pos % block
            continue
        length, kind = int.from_bytes(data[pos + 4:pos + 6], "little"), data[pos + 6]
        if kind == 0:
            break
        pending += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def _as_dict(items) -> dict:
    """W&B's key/value records as a dict; keys are ``key`` or, in newer versions, a ``nested_key`` path."""
    out: dict = {}
    for item in items:
        path = [item.key] if item.key else list(item.nested_key)
        target = out
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = json.loads(item.value_json)
    return out


@pytest.fixture
def wandb_log():
    """Readers for what W&B wrote offline: ``records(run_folder)`` and ``as_dict(items)``."""
    return SimpleNamespace(records=_wandb_records, as_dict=_as_dict)
