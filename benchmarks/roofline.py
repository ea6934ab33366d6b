"""FLOPs per training step over step time, against a matmul peak measured in the same run.

For every model with an image preset (the registry is iterated, so new models are included),
at its default image config on the default dataset (MNIST; batch size and widths from the
model's presets), this builds the run as ``ganzoo run`` does and drives the trainer's own
``Trainer.train_step`` (every phase the model's objective declares, forward and backward,
optimizer steps, EMA). It prints:

- GFLOP/step: ``torch.utils.flop_counter.FlopCounterMode`` around the steps of one period of
  the objective's phases (the least common multiple of their ``every``: 16 steps for a lazy
  R1 phase every 16, else 1), divided by the number of steps. The counter counts matmuls,
  convolutions and attention only (elementwise ops, norms and optimizer updates are not
  FLOPs to it), as in the usual model-FLOP-utilisation figures.
- ms/step: wall-clock of rounds of whole periods of steps after warm-up (a per-step median
  would leave out the periodic phases); the median over rounds.
- achieved GFLOP/s and its fraction of the peak: a 2048 x 2048 fp32 matmul (2 n^3 FLOPs),
  timed with the same thread count just before each model, so that drifts in machine load fall
  on both.

Every model is measured at the step its default schedule ends (the ``steps`` of its image
preset: for progan-lite that is past its growing schedule, i.e. its final 32 x 32 stage at
alpha 1; the others do not depend on the step), by setting the trainer's step counter.

``--levers`` then tries cheap ways to raise the figure, each as a ratio of step times against
the plain run measured in the same rounds (order alternates per round):

- ``threads``: one thread against the run's thread count (or, with ``--threads 1``, the
  machine's core count against one).
- ``channels_last``: every network's 4-D parameters converted to channels_last, as
  ``ganzoo run --channels-last`` does (``ganzoo.run.compilation.set_memory_format``, which this
  benchmark led to; no plugin change). A convolution whose
  weight is channels_last runs in channels_last and hands that format on, so inputs need no
  conversion (real batches are NCHW; the first conv converts them). Models without 4-D
  parameters (the MLPs) are unchanged and skipped.
- ``compile``: ``--compile inductor`` as the trainer applies it (``compile_networks``); the
  first steps' wall-clock (compilation and any recompilation, e.g. as progan-lite's schedule
  changes nothing past its end) is reported as compile time, and the steady state is timed after it.

    python benchmarks/roofline.py [--models vanilla,dcgan] [--steps 32] [--rounds 5] [--threads N] [--levers threads,channels_last,compile] [--lever-models dcgan] [--skip-table]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from ganzoo import plugins
from ganzoo.run.build import build
from ganzoo.run.compilation import compile_networks, set_memory_format
from ganzoo.run.config import make_run_config
from ganzoo.run.folder import RunFolder
from ganzoo.training.trainer import Trainer

LEVERS = ("threads", "channels_last", "compile")


def matmul_peak(n: int = 2048, repeats: int = 5) -> float:
    """FLOP/s of an n x n fp32 matmul at the current thread count (median of ``repeats``)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times)


class _GlobalOnly:
    """Stands in for FlopCounterMode's ModuleTracker, whose module hooks make ``autograd.grad`` fail
    inside a gradient penalty ("A leaf node was passed to _will_engine_execute_node ..."); the
    totals need no per-module attribution."""

    parents = {"Global"}

    def __enter__(self) -> None:
        pass

    def __exit__(self, *args) -> None:
        pass


def total_flop_counter() -> FlopCounterMode:
    counter = FlopCounterMode(display=False)
    counter.mod_tracker = _GlobalOnly()
    return counter


def image_models() -> list[str]:
    registry = plugins.models()
    return [name for name in registry.names() if "image" in registry.get(name).presets]


class Bench:
    """One model's trainer, ready to step from the end of its default schedule."""

    def __init__(self, model: str, dataset: str, workdir: Path, channels_last: bool = False, compile: str = "none") -> None:
        self.config = make_run_config(model, dataset, device="cpu")
        gan, data = build(self.config, torch.device("cpu"))
        self.convs = any(p.dim() == 4 for net in gan.networks.values() for p in net.parameters())
        set_memory_format(gan, "channels_last" if channels_last else "contiguous")
        compile_networks(gan, compile)
        with contextlib.redirect_stderr(io.StringIO()):
            self.trainer = Trainer(gan, data, self.config, RunFolder(workdir), torch.device("cpu"), sinks=[], progress=False)
        self.trainer.step = self.config.steps
        self.period = math.lcm(*(phase.every for phase in gan.objective.phases))

    def steps(self, n: int) -> float:
        """Seconds for ``n`` training steps."""
        start = time.perf_counter()
        for _ in range(n):
            self.trainer.train_step()
        return time.perf_counter() - start

    def flops_per_step(self) -> float:
        counter = total_flop_counter()
        with counter:
            self.steps(self.period)
        return counter.get_total_flops() / self.period

    def timed_steps(self, n: int) -> int:
        return max(1, round(n / self.period)) * self.period


def measure(models: list[str], dataset: str, steps: int, rounds: int, warmup: int, workdir: Path) -> list[dict]:
    rows = []
    for model in models:
        peak = matmul_peak()
        bench = Bench(model, dataset, workdir / model)
        bench.steps(warmup)
        flops = bench.flops_per_step()
        n = bench.timed_steps(steps)
        times = [bench.steps(n) / n for _ in range(rounds)]
        peak = statistics.median([peak, matmul_peak()])
        t = statistics.median(times)
        rows.append({"model": model, "batch": bench.config.batch_size, "step": bench.config.steps, "gflop": flops / 1e9,
                     "ms": t * 1e3, "gflops": flops / t / 1e9, "peak": peak / 1e9, "fraction": flops / t / peak})
        print(f"{model:14s} batch {rows[-1]['batch']:3d}  {rows[-1]['gflop']:8.3f} GFLOP/step  {rows[-1]['ms']:8.2f} ms/step  "
              f"{rows[-1]['gflops']:7.2f} GFLOP/s  peak {rows[-1]['peak']:6.1f} GFLOP/s  fraction {rows[-1]['fraction']:.3f}", flush=True)
    return rows


def compare(name: str, model: str, make: Callable[[str], tuple[Bench, Callable[[], None]]], steps: int, rounds: int, warmup: int) -> float:
    """Median over rounds of (lever step time / plain step time); each round alternates which goes first."""
    benches = {}
    for which in ("plain", "lever"):
        bench, enter = make(which)
        enter()
        first = time.perf_counter()
        bench.steps(warmup)
        setup = time.perf_counter() - first
        benches[which] = (bench, enter)
        if which == "lever" and name == "compile":
            print(f"    compile: first {warmup} steps (compilation) {setup:.1f} s", flush=True)
    n = benches["plain"][0].timed_steps(steps)
    ratios, per = [], {"plain": [], "lever": []}
    for r in range(rounds):
        order = ("plain", "lever") if r % 2 == 0 else ("lever", "plain")
        for which in order:
            bench, enter = benches[which]
            enter()
            per[which].append(bench.steps(n) / n)
        ratios.append(per["lever"][-1] / per["plain"][-1])
    plain, lever = statistics.median(per["plain"]), statistics.median(per["lever"])
    ratio = statistics.median(ratios)
    print(f"  {name:14s} {model:14s} plain {plain * 1e3:8.2f} ms/step  with lever {lever * 1e3:8.2f} ms/step  "
          f"time ratio lever/plain {ratio:.3f} (speed-up {1 / ratio:.2f}x)", flush=True)
    return ratio


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="", help="comma-separated model names (default: every model with an image preset)")
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--steps", type=int, default=32, help="timed steps per round (rounded to whole periods of the phases)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first (for compile: the compilation steps)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--levers", default="", help=f"comma-separated levers to try: {', '.join(LEVERS)}")
    p.add_argument("--lever-models", default="", help="models for the levers (default: --models)")
    p.add_argument("--skip-table", action="store_true", help="only try the levers")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    threads = torch.get_num_threads()
    plugins.load_plugins()
    models = a.models.split(",") if a.models else image_models()
    levers = [lever for lever in a.levers.split(",") if lever]
    for lever in levers:
        if lever not in LEVERS:
            raise SystemExit(f"unknown lever {lever!r}; choose from {', '.join(LEVERS)}")
    print(f"torch {torch.__version__}, {threads} threads, dataset {a.dataset}, {a.steps} timed steps x {a.rounds} rounds, "
          f"warm-up {a.warmup}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if not a.skip_table:
            measure(models, a.dataset, a.steps, a.rounds, a.warmup, workdir)
        lever_models = a.lever_models.split(",") if a.lever_models else models
        other_threads = 1 if threads > 1 else max(2, os.cpu_count() or 2)
        for lever in levers:
            print(f"lever {lever}:", flush=True)
            for model in lever_models:
                def make(which: str, model: str = model, lever: str = lever) -> tuple[Bench, Callable[[], None]]:
                    on = which == "lever"
                    bench = Bench(model, a.dataset, workdir / f"{lever}-{which}-{model}",
                                  channels_last=on and lever == "channels_last", compile="inductor" if on and lever == "compile" else "none")
                    count = other_threads if on and lever == "threads" else threads
                    return bench, lambda: torch.set_num_threads(count)
                if lever == "channels_last" and not make("plain")[0].convs:
                    print(f"  {lever:14s} {model:14s} skipped: no 4-D parameters (an MLP)", flush=True)
                    continue
                compare(lever, model, make, a.steps, a.rounds, a.warmup)
                torch.set_num_threads(threads)


if __name__ == "__main__":
    main()
