"""Throughput of the shared trainer against a plain hand-written PyTorch loop.

Both train the same vanilla networks (built by the vanilla plugin's own builder) with
the same optimizers, batch size and in-memory data. The plain loop is what one writes by
hand: a D step on detached fakes, then a G step with the non-saturating loss, nothing else.
The trainer switches off gradients of the networks a phase does not train, so in its G
phase it skips D's weight gradients; ``--frozen-d`` gives the plain loop the same saving,
which isolates the trainer's bookkeeping cost.
The trainer runs as users run it: phases, scalar logging to metrics.jsonl, progress bar,
sample pictures at the default interval.

Timing: wall-clock between the trainer's first and last metrics line (taken by a sink
outside the trainer), against the same number of plain-loop steps. Rounds alternate the
two so that machine noise hits both; the ratio of the median throughputs is printed.
Target: >= 0.95. Two threads on two cores swing by +-15% between identical runs here;
``--threads 1`` gives steadier numbers.

    python benchmarks/trainer_overhead.py [--dataset mnist] [--steps 400] [--rounds 6] [--threads N]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import tempfile
import time
from pathlib import Path

import torch

from ganzoo import plugins
from ganzoo.api import build
from ganzoo.losses import d_minimax_loss, g_nonsaturating_loss
from ganzoo.runconfig import make_run_config
from ganzoo.trainer import Trainer


class _Clock:
    """A sink that notes when each metrics line arrives."""

    def __init__(self) -> None:
        self.times: list[tuple[int, float]] = []

    def log(self, record) -> None:
        self.times.append((record["step"], time.perf_counter()))

    def close(self) -> None:
        pass


def trainer_throughput(config, workdir: Path) -> float:
    gan, data = build(config, torch.device("cpu"))
    clock = _Clock()
    with contextlib.redirect_stderr(io.StringIO()):  # keep the progress bar's cost, not its output
        Trainer(gan, data, config, workdir, torch.device("cpu"), sinks=[clock], progress=True).fit()
    (s0, t0), (s1, t1) = clock.times[0], clock.times[-1]
    return (s1 - s0) / (t1 - t0)


def plain_throughput(config, steps: int, warmup: int, frozen_d: bool = False) -> float:
    gan, data = build(config, torch.device("cpu"))
    G, D = gan.networks["G"], gan.networks["D"]
    opt_g, opt_d = gan.optimizers["G"], gan.optimizers["D"]
    x, bs, latent = data.x, config.batch_size, gan.latent_dim
    perm, pos = torch.randperm(len(x)), 0

    def batch():
        nonlocal perm, pos
        if pos + bs > len(x):
            perm, pos = torch.randperm(len(x)), 0
        pos += bs
        return x[perm[pos - bs : pos]]

    for i in range(warmup + steps):
        if i == warmup:
            start = time.perf_counter()
        real = batch()
        fake = G(torch.randn(bs, latent)).detach()
        d_loss = d_minimax_loss(D(real), D(fake))
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        batch()  # the trainer draws a fresh real batch for the G phase too
        if frozen_d:
            D.requires_grad_(False)
        g_loss = g_nonsaturating_loss(D(G(torch.randn(bs, latent))))
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        if frozen_d:
            D.requires_grad_(True)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--steps", type=int, default=400, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--frozen-d", action="store_true",
                        help="the plain loop also skips D's weight gradients in the G step, as the trainer does")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    plugins.load_plugins()
    log_every = 50
    config = make_run_config("vanilla", args.dataset, steps=args.steps + log_every, log_every=log_every, device="cpu")
    print(f"vanilla on {args.dataset}: batch {config.batch_size}, {args.steps} timed steps per round, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, plain loop {'with' if args.frozen_d else 'without'} D frozen in the G step")
    ours, plain = [], []
    for r in range(args.rounds):
        # Alternate which goes first so that drifts in machine load fall on both equally.
        order = ("trainer", "plain") if r % 2 == 0 else ("plain", "trainer")
        for which in order:
            if which == "trainer":
                with tempfile.TemporaryDirectory() as tmp:
                    ours.append(trainer_throughput(config, Path(tmp) / "run"))
            else:
                plain.append(plain_throughput(config, args.steps, warmup=log_every, frozen_d=args.frozen_d))
        print(f"round {r + 1}: trainer {ours[-1]:7.1f} steps/s   plain loop {plain[-1]:7.1f} steps/s   ratio {ours[-1] / plain[-1]:.3f}")
    mo, mp = statistics.median(ours), statistics.median(plain)
    print(f"median throughput: trainer {mo:.1f} steps/s, plain loop {mp:.1f} steps/s")
    print(f"ratio trainer/plain (of medians): {mo / mp:.3f} (target >= 0.95)")


if __name__ == "__main__":
    main()
