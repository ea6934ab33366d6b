"""Throughput of the shared trainer against a plain hand-written PyTorch loop.

Both train the same vanilla networks (built by the vanilla plugin's own builder) with
the same optimizers, batch size and in-memory data. The plain loop is the best one can
write by hand for this model: a D step on fakes made under ``no_grad``, then a G step with
D's parameters frozen (so no D weight gradients), nothing else. ``--naive`` instead times
the tutorial-style loop (fakes made with autograd and detached; D not frozen).
The trainer runs as users run it: phases, scalar logging to metrics.jsonl, progress bar,
sample pictures and checkpoints at the default intervals (every 500 and 1,000 steps, both
of which fall inside the default 1,000-step timing window).

Timing: wall-clock between the trainer's first and last metrics line (taken by a sink
outside the trainer), against the same number of plain-loop steps. Rounds alternate which
goes first, so that drifts in machine load fall on both; the ratio of the median
throughputs is printed. Target: >= 0.95. Two threads on two cores swing by +-15% between
identical runs here; ``--threads 1`` gives steadier numbers.

    python benchmarks/trainer_overhead.py [--dataset mnist] [--steps 1000] [--rounds 4] [--threads N] [--naive]
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
from ganzoo.run.build import build
from ganzoo.losses import d_minimax_loss, g_nonsaturating_loss
from ganzoo.run.config import make_run_config
from ganzoo.run.folder import RunFolder
from ganzoo.training.trainer import Trainer


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
    folder = RunFolder(workdir)
    folder.create()  # the trainer writes into a folder the run layer made
    with contextlib.redirect_stderr(io.StringIO()):  # keep the progress bar's cost, not its output
        Trainer(gan, data, config, folder, torch.device("cpu"), sinks=[clock], progress=True).fit()
    (s0, t0), (s1, t1) = clock.times[0], clock.times[-1]
    return (s1 - s0) / (t1 - t0)


def plain_throughput(config, steps: int, warmup: int, naive: bool = False) -> float:
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
        if naive:
            fake = G(torch.randn(bs, latent)).detach()
        else:
            with torch.no_grad():
                fake = G(torch.randn(bs, latent))
        d_loss = d_minimax_loss(D(real), D(fake))
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        batch()  # the trainer draws a fresh real batch for the G phase too
        if not naive:
            D.requires_grad_(False)
        g_loss = g_nonsaturating_loss(D(G(torch.randn(bs, latent))))
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        if not naive:
            D.requires_grad_(True)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--steps", type=int, default=1000, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--naive", action="store_true",
                        help="time the tutorial-style plain loop (fakes with autograd, D not frozen) instead")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    plugins.load_plugins()
    log_every = 50
    config = make_run_config("vanilla", args.dataset, steps=args.steps + log_every, log_every=log_every, device="cpu")
    print(f"vanilla on {args.dataset}: batch {config.batch_size}, {args.steps} timed steps per round, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, {'naive' if args.naive else 'optimised'} plain loop")
    ours, plain = [], []
    for r in range(args.rounds):
        # Alternate which goes first so that drifts in machine load fall on both equally.
        order = ("trainer", "plain") if r % 2 == 0 else ("plain", "trainer")
        for which in order:
            if which == "trainer":
                with tempfile.TemporaryDirectory() as tmp:
                    ours.append(trainer_throughput(config, Path(tmp) / "run"))
            else:
                plain.append(plain_throughput(config, args.steps, warmup=log_every, naive=args.naive))
        print(f"round {r + 1}: trainer {ours[-1]:7.1f} steps/s   plain loop {plain[-1]:7.1f} steps/s   ratio {ours[-1] / plain[-1]:.3f}")
    mo, mp = statistics.median(ours), statistics.median(plain)
    print(f"median throughput: trainer {mo:.1f} steps/s, plain loop {mp:.1f} steps/s")
    print(f"ratio trainer/plain (of medians): {mo / mp:.3f} (target >= 0.95)")


if __name__ == "__main__":
    main()
