"""What benchmarks/gpu_check.sh runs: GPU throughput per model and precision, DDP scaling, exact resume on CUDA.

Throughput is real images per second between the first and the last metrics line of a run
(so start-up, the first steps and compilation are left out), at the model's own batch size
for MNIST. Every figure is printed as it is measured, with what made it; a section that
cannot run here (one GPU: no scaling) says so instead of printing a number.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import ganzoo


def throughput(run: Path) -> float:
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    first, last = lines[0], lines[-1]
    return (last["kimg"] - first["kimg"]) * 1000 / max(last["time"] - first["time"], 1e-9)


def single_device(models: list[str], steps: int, device: str, tmp: Path, deadline: float) -> None:
    print(f"\n== one {device} device: images/s (steps {steps}, log every {steps // 4}; compile time not counted) ==")
    variants = {"fp32": {"precision": "32"}, "bf16": {"precision": "bf16"}, "compile": {"precision": "32", "compile": "inductor"}}
    for model in models:
        row = []
        for name, options in variants.items():
            if time.monotonic() > deadline:
                row.append(f"{name} skipped (time budget)")
                continue
            began = time.monotonic()
            try:
                run = ganzoo.train(model, "mnist", out=tmp / f"{model}-{name}", steps=steps, log_every=max(1, steps // 4),
                                   sample_every=steps, checkpoint_every=steps, device=device, progress=False, **options)
                row.append(f"{name} {throughput(run.path):,.0f} img/s ({time.monotonic() - began:.0f} s)")
            except Exception as exc:  # a failure is a figure too
                row.append(f"{name} FAILED: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
        print(f"{model:14s} " + "; ".join(row), flush=True)


def scaling(model: str, steps: int, tmp: Path) -> None:
    n = torch.cuda.device_count()
    print(f"\n== data-parallel scaling ({n} GPU(s) visible) ==")
    if n < 2:
        print("not measured: one GPU (needs two or more)")
        return
    speeds = {}
    for procs in (1, 2):
        out = tmp / f"scale-{procs}"
        args = [sys.executable, "-m", "ganzoo", "run", "--model", model, "--dataset", "mnist", "--steps", str(steps),
                "--batch-size", str(64 // procs), "--log-every", str(steps // 4), "--sample-every", str(steps),
                "--checkpoint-every", str(steps), "--out", str(out), "--quiet"]
        if procs > 1:
            args += ["--nproc-per-node", str(procs)]
        result = subprocess.run(args, capture_output=True, text=True)
        if result.returncode != 0:
            print(f"{procs} GPU(s): FAILED: {result.stderr.strip().splitlines()[-1:]}")
            return
        speeds[procs] = throughput(out)
        print(f"{model} on {procs} GPU(s), global batch 64: {speeds[procs]:,.0f} img/s", flush=True)
    print(f"scaling 2 GPUs / 1 GPU: {speeds[2] / speeds[1]:.2f}")


def exact_resume(model: str, steps: int, device: str, tmp: Path) -> None:
    print(f"\n== exact resume on {device} with deterministic algorithms ({model}, {steps} steps vs {steps // 2} + resume) ==")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    common = dict(log_every=steps // 2, sample_every=steps, checkpoint_every=steps // 2, device=device, progress=False)
    whole = ganzoo.train(model, "mnist", out=tmp / "whole", steps=steps, **common)
    part = ganzoo.train(model, "mnist", out=tmp / "part", steps=steps // 2, **common)
    ganzoo.resume(part.path, steps=steps, device=device, progress=False)
    a = torch.load(whole.path / "checkpoints" / "last.pt", weights_only=True)["networks"]
    b = torch.load(part.path / "checkpoints" / "last.pt", weights_only=True)["networks"]
    same = all(torch.equal(a[n][k], b[n][k]) for n in a for k in a[n])
    worst = max(float((a[n][k].float() - b[n][k].float()).abs().max()) for n in a for k in a[n] if a[n][k].is_floating_point())
    print(f"bitwise identical: {same} (max |difference| {worst:.3g})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--models", default="vanilla,wgan-gp,progan-lite,stylegan-lite")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--budget", type=float, default=240.0, help="seconds for the throughput table before it skips the rest")
    a = p.parse_args()
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here (use --device cpu for a smoke test of this script)")
    name = torch.cuda.get_device_name() if a.device.startswith("cuda") else "cpu"
    print(f"device {name}; torch {torch.__version__}; ganzoo {ganzoo.plugins.ganzoo_version()}")
    os.environ.setdefault("GANZOO_LOAD_PLUGINS", "")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        single_device(a.models.split(","), a.steps, a.device, tmp, time.monotonic() + a.budget)
        if a.device.startswith("cuda"):
            scaling("stylegan-lite", a.steps, tmp)
        exact_resume("vanilla", max(4, a.steps // 2 * 2), a.device, tmp)


if __name__ == "__main__":
    main()
