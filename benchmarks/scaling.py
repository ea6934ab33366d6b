"""Data-parallel throughput: 1 process at the global batch against N processes sharing it.

Each configuration runs ``ganzoo run ... --nproc-per-node P`` with the same global batch
(per-process batch = global / P), so the data order is the same and only the split differs;
throughput is real images per second of training time (``kimg`` and ``time`` of the last
metrics line, so process start-up and the first import are not counted). Rounds alternate
the order of the configurations, and the median is printed with the ratio to 1 process,
measured in the same run (these machines are noisy).

On this 2-core CPU machine with gloo, expect a ratio near or below 1: two processes share two
cores that one process already uses (each rank gets OMP_NUM_THREADS = cores / P), and every
step adds a gradient all-reduce. The point here is that it runs; speed-ups need more cores
or GPUs (benchmarks/gpu_check.sh).

The last line compares the final weights of the 1- and P-process runs of the first round:
they differ by floating-point rounding of the averaged gradients, amplified by training (and
by the per-rank latents: a P-process run draws other latents than one process does); the
tests check the equivalence exactly where it must hold (tests/test_distributed.py).

    python benchmarks/scaling.py [--models vanilla:ring8,vanilla:mnist] [--steps 300] [--global-batch 64] [--procs 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch


def train(model: str, dataset: str, procs: int, steps: int, global_batch: int, out: Path) -> float:
    """Images per second of one run (training time only)."""
    args = [sys.executable, "-m", "ganzoo", "run", "--model", model, "--dataset", dataset, "--steps", str(steps),
            "--batch-size", str(global_batch // procs), "--log-every", str(steps), "--sample-every", str(steps),
            "--checkpoint-every", str(steps), "--out", str(out), "--quiet", "--device", "cpu"]
    if procs > 1:
        args += ["--nproc-per-node", str(procs)]
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    result = subprocess.run(args, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{result.stderr[-2000:]}")
    last = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    return last["kimg"] * 1000 / last["time"]


def max_difference(a: Path, b: Path) -> float:
    sa = torch.load(a / "checkpoints" / "last.pt", weights_only=True)["networks"]
    sb = torch.load(b / "checkpoints" / "last.pt", weights_only=True)["networks"]
    return max(float((sa[n][k].float() - sb[n][k].float()).abs().max()) for n in sa for k in sa[n] if sa[n][k].is_floating_point())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="vanilla:ring8,vanilla:mnist", help="MODEL:DATASET pairs")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--global-batch", type=int, default=64)
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    print(f"cpu cores: {os.cpu_count()}, torch {torch.__version__}, steps {a.steps}, global batch {a.global_batch}, rounds {a.rounds}")
    with tempfile.TemporaryDirectory() as tmp:
        for pair in a.models.split(","):
            model, dataset = pair.split(":")
            speeds: dict[int, list[float]] = {1: [], a.procs: []}
            for r in range(a.rounds):
                order = [1, a.procs] if r % 2 == 0 else [a.procs, 1]
                for procs in order:
                    speeds[procs].append(train(model, dataset, procs, a.steps, a.global_batch, Path(tmp) / f"{pair}-{r}-{procs}"))
            one, many = statistics.median(speeds[1]), statistics.median(speeds[a.procs])
            diff = max_difference(Path(tmp) / f"{pair}-0-1", Path(tmp) / f"{pair}-0-{a.procs}")
            print(f"{model} on {dataset}: 1 process {one:,.0f} img/s, {a.procs} processes {many:,.0f} img/s, "
                  f"ratio {many / one:.2f} (max |weight difference| after {a.steps} steps: {diff:.3g})")


if __name__ == "__main__":
    main()
