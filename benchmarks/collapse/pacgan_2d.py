"""PacGAN's Table 1 on ganzoo: GAN against PacGAN2/3/4 (and other remedies) on ring8 and grid25.

Lin, Khetan, Fanti & Oh 2018, "PacGAN: The power of two samples in generative adversarial
networks", Table 1 (both mixtures are in that one table; its reference code is
github.com/fjxmlzn/PacGAN, ``synthetic_data_experiments/``). Each row is ganzoo's ``vanilla``
model with the paper-like MLPs set through ``--set`` options and one collapse remedy
(``ganzoo/remedies.py``); each (row, seed) is trained with :func:`ganzoo.train` and scored on
2,500 generated points with the ``mixture-modes`` metric (nearest centre, high quality within
3 std, a mode covered by one high-quality point, reverse KL of the high-quality mode histogram
to uniform), as the paper's ``MetricLogger`` does on its 2,500 logged points.

What follows the paper (``config.py`` of ``2DRing_GAN&PacGAN`` and ``2DGrid_GAN&PacGAN``):
z ~ N(0, I_2); G with batch norm + ReLU hidden layers 400 wide; Adam(1e-4, beta1 0.8) in the
paper (the learning rate here is an option, see ``--lr``); non-saturating G loss; a batch of
100 *packs*, so PacGANm draws ``100 m`` real and ``100 m`` fake points per step
(``--packs-per-batch``). What does not (written into every output too): G has 3 hidden layers,
not 4, and D is ganzoo's MLP (same width as G, LeakyReLU) rather than 3 maxout layers of 200
units with 5 pieces; and the step budget is a tiny fraction of the paper's 400 epochs of
100,000 points (400,000 steps at batch 100), because this runs on a shared 2-core CPU.

    python benchmarks/collapse/pacgan_2d.py --dataset ring8 --seeds 5
    python benchmarks/collapse/pacgan_2d.py --dataset grid25 --seeds 5 --rows gan,pacgan2,pacgan3,pacgan4

Writes ``OUT/DATASET.md`` (mean ± sample std over seeds beside the published mean ± standard
error), ``OUT/DATASET.csv`` (one line per run) and ``OUT/DATASET.json`` (per-seed numbers and
the protocol). Finished runs are kept in ``--runs`` (one line each in ``results.jsonl``), so
the same command run again trains only what is missing.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from common import HERE, run_pool, fmt, git_commit, load_average, load_store, machine, parse_seeds, parse_sets, summary

# Lin et al. 2018, Table 1: mean ± standard error over 10 trials (modes, high quality %, reverse KL).
PUBLISHED: dict[str, dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]]] = {
    "ring8": {
        "gan": ((6.3, 0.5), (98.2, 0.2), (0.45, 0.09)),
        "ali": ((6.6, 0.3), (97.6, 0.4), (0.36, 0.04)),
        "pacgan2": ((7.9, 0.1), (95.6, 2.0), (0.07, 0.03)),
        "pacgan3": ((7.8, 0.1), (97.7, 0.3), (0.10, 0.02)),
        "pacgan4": ((7.8, 0.1), (95.9, 1.4), (0.07, 0.02)),
    },
    "grid25": {
        "gan": ((17.3, 0.8), (94.8, 0.7), (0.70, 0.07)),
        "ali": ((24.1, 0.4), (95.7, 0.6), (0.14, 0.03)),
        "pacgan2": ((23.8, 0.7), (91.3, 0.8), (0.13, 0.04)),
        "pacgan3": ((24.6, 0.4), (94.2, 0.4), (0.06, 0.02)),
        "pacgan4": ((24.8, 0.2), (93.6, 0.6), (0.04, 0.01)),
    },
}

# Row name -> (label, remedy options). Every row packs m points per D input; only pacgan rows have m > 1.
ROWS: dict[str, tuple[str, dict[str, Any]]] = {
    "gan": ("GAN", {}),
    "pacgan2": ("PacGAN2 (`pack=2`)", {"pack": 2}),
    "pacgan3": ("PacGAN3 (`pack=3`)", {"pack": 3}),
    "pacgan4": ("PacGAN4 (`pack=4`)", {"pack": 4}),
    "mbstd": ("GAN + minibatch stddev (`mbstd=4`)", {"mbstd": 4}),
    "sn": ("GAN + spectral norm (`spectral_norm=true`)", {"spectral_norm": True}),
    # Not in the default --rows: each G step costs 5 D steps more (Metz et al. 2017 unrolled 5 on their mixtures too).
    "unroll": ("GAN + unrolled D (`unroll=5`)", {"unroll": 5}),
}

# The paper's networks and optimiser as far as ganzoo's vanilla MLPs can express them.
PAPER_SETS: dict[str, Any] = {"latent_dim": 2, "width": 400, "depth": 3, "g_batchnorm": True, "beta1": 0.8}
PAPER_LR = 1e-4
EVAL_N = 2500


def train_one(job: dict[str, Any]) -> dict[str, Any]:
    """Train and score one (row, seed) in a worker process; returns the run's numbers."""
    import torch

    torch.set_num_threads(1)
    import ganzoo

    out = Path(job["run_dir"])
    if out.exists():  # a run that died half-way: start it again rather than trust it
        import shutil

        shutil.rmtree(out)
    start = time.time()
    run = ganzoo.train(
        "vanilla", job["dataset"], steps=job["steps"], batch_size=job["batch_size"], seed=job["seed"], out=out,
        set=job["sets"], progress=False, log_every=job["steps"], sample_every=job["steps"],
        checkpoint_every=job["steps"], device="cpu",
    )
    train_s = time.time() - start
    points = run.sample(EVAL_N, seed=job["seed"])
    report = ganzoo.evaluate(points, dataset=job["dataset"], metrics=["mixture-modes"])
    m = report["metrics"]["mixture-modes"]  # reverse_kl is None (undefined) when no point is high quality
    return {**{k: job[k] for k in ("dataset", "row", "seed", "steps", "batch_size", "key")}, "sets": job["sets"],
            "modes": int(m["modes"]), "modes_total": int(m["modes_total"]), "hq": float(m["hq"]),
            "reverse_kl": math.nan if m["reverse_kl"] is None else float(m["reverse_kl"]), "train_s": round(train_s, 1), "total_s": round(time.time() - start, 1), "commit": git_commit(),
            "finished": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")}


def write_outputs(args: argparse.Namespace, dataset: str, rows: list[str], results: list[dict[str, Any]],
                  command: str, started: str, wall_s: float, loads: tuple[str, str]) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / dataset
    mine = sorted((r for r in results if r["dataset"] == dataset), key=lambda r: (rows.index(r["row"]) if r["row"] in rows else 99, r["seed"]))
    with open(stem.with_suffix(".csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["dataset", "row", "seed", "steps", "batch_size", "modes", "modes_total", "hq", "reverse_kl", "train_s", "sets"])
        for r in mine:
            w.writerow([r["dataset"], r["row"], r["seed"], r["steps"], r["batch_size"], r["modes"], r["modes_total"],
                        f"{r['hq']:.4f}", f"{r['reverse_kl']:.4f}", r["train_s"], json.dumps(r["sets"], sort_keys=True)])
    total = {"ring8": 8, "grid25": 25}[dataset]
    table = []
    agg = {}
    for row in rows:
        rs = [r for r in mine if r["row"] == row]
        modes, hq, kl = (summary([float(r[k]) for r in rs]) for k in ("modes", "hq", "reverse_kl"))
        agg[row] = {"n_seeds": len(rs), "seeds": [r["seed"] for r in rs],
                    "modes": modes, "hq_percent": tuple(100 * v for v in hq), "reverse_kl": kl,
                    "all_modes_runs": sum(r["modes"] == total for r in rs)}
        pub = PUBLISHED[dataset].get(row)
        pub_cells = (fmt(*pub[0], 1), fmt(*pub[1], 1) + "%", fmt(*pub[2], 2)) if pub else ("", "", "")
        table.append(
            f"| {ROWS[row][0]} | {len(rs)} | {fmt(modes[0], modes[1], 1)} | {fmt(100 * hq[0], 100 * hq[1], 1)}% | "
            f"{fmt(kl[0], kl[1], 2)} | {pub_cells[0]} | {pub_cells[1]} | {pub_cells[2]} |"
        )
    ali = PUBLISHED[dataset]["ali"]
    steps = sorted({r["steps"] for r in mine})
    lr = sorted({r["sets"].get("lr") for r in mine}, key=str)
    per_seed = ["| row | seed | modes | high quality | reverse KL | train s |", "|---|---|---|---|---|---|"]
    per_seed += [f"| {r['row']} | {r['seed']} | {r['modes']} | {100 * r['hq']:.1f}% | {r['reverse_kl']:.3f} | {r['train_s']:.0f} |" for r in mine]
    base = dict(PAPER_SETS, lr=lr[0] if len(lr) == 1 else lr)
    text = f"""# PacGAN Table 1, {dataset}: ours beside the published numbers

Written by `benchmarks/collapse/pacgan_2d.py`. **Command:**

```bash
{command}
```

- Date: runs finished between {min(r.get('finished', started) for r in mine)} and {max(r.get('finished', started) for r in mine)} (UTC),
  {args.jobs} processes at a time, one thread each; {sum(r['total_s'] for r in mine) / 60:.0f} process-minutes in all
  (train + score; written by an invocation started {started}).
- Machine: {machine()}; shared with other people's jobs ({'load average not recorded: these tables were rewritten from stored runs by --report-only' if args.report_only else f'load average {loads[0]} at the start, {loads[1]} at the end'}).
- Written at ganzoo commit {git_commit()}; runs trained at {', '.join(sorted({r.get('commit', 'a commit not recorded') for r in mine})) or '-'}; model `vanilla` with `--set {' '.join(f'{k}={v}' for k, v in base.items())}`
  (+ the row's remedy), {', '.join(map(str, steps))} steps, a batch of {args.packs_per_batch} packs
  (`batch_size` = {args.packs_per_batch} x pack), training seed = row seed, latent seed of the scored sample = row seed.
- Scored: {EVAL_N:,} generated points, `mixture-modes` (nearest centre; high quality within 3 std of it; a mode
  is covered by one high-quality point; reverse KL = KL(high-quality mode histogram || uniform over {total})).

Ours: mean ± sample standard deviation over the seeds. Published: Lin et al. 2018, Table 1, mean ± **standard
error** over 10 trials (divide our ± by sqrt(n) to compare spreads; the .json has it).

| row | seeds | modes (of {total}) | high quality | reverse KL | published modes | published high quality | published reverse KL |
|---|---|---|---|---|---|---|---|
{chr(10).join(table)}

Published ALI row, for reference (not run here): {fmt(*ali[0], 1)} modes, {fmt(*ali[1], 1)}%, reverse KL {fmt(*ali[2], 2)}.

## How this differs from the paper's protocol

- **Budget.** The paper trains 400 epochs of 100,000 points at a batch of 100 packs: 400,000 steps. Here:
  {', '.join(map(str, steps))} steps ({100 * steps[0] / 400_000:.2g}% of that), because {len(mine)} runs had to fit a
  shared 2-core CPU in about an hour. The high-quality share is what a short budget costs most: the generator
  has not yet pulled its points inside 3 std (3 x {0.01 if dataset == 'ring8' else 0.05}) of the centres.
- **Optimiser.** Adam lr {base['lr']}, beta1 0.8 (paper: lr 1e-4, beta1 0.8){'' if base['lr'] == PAPER_LR else ', a larger lr to move further in the short budget'}.
- **Networks.** Paper: G = 4 hidden layers of 400 (batch norm, ReLU, no biases), D = 3 maxout layers of 200 units
  x 5 pieces, weights N(0, 0.02). Here: ganzoo's vanilla MLPs, G = 3 hidden layers of 400 with batch norm and
  LeakyReLU 0.2, D = 3 hidden layers of 400 with LeakyReLU 0.2, PyTorch's default initialisation; PacGANm's D
  gets 2m inputs in both.
- **Datasets.** Same centres and std as the paper's configs (ring: 8 modes on the unit circle, std 0.01; grid:
  {{-4,-2,0,2,4}}^2, std 0.05). The paper draws a fresh stream of points per epoch; ganzoo trains on a fixed draw of
  50,000 points (`data.n`), the same for every run.
- **Seeds and spread.** {len(set(r['seed'] for r in mine))} seeds (paper: 10 trials); ± is the sample std here, the standard error there.
- **Metric.** The paper counts a point as high quality when strictly within 3 std, ganzoo when within or on it (`<=`);
  with continuous outputs these agree.

## Per seed

{chr(10).join(per_seed)}
"""
    stem.with_suffix(".md").write_text(text)
    stem.with_suffix(".json").write_text(json.dumps({
        "command": command, "date": started, "wall_s": round(wall_s, 1), "machine": machine(), "commit": git_commit(),
        "protocol": {"model": "vanilla", "sets": base, "steps": steps, "packs_per_batch": args.packs_per_batch, "eval_n": EVAL_N,
                     "metric": "mixture-modes", "hq_stds": 3},
        "summary": {row: {k: (list(v) if isinstance(v, tuple) else v) for k, v in a.items()} for row, a in agg.items()},
        "summary_fields": "modes / hq_percent / reverse_kl: [mean, sample std, standard error]",
        "published": {row: {"modes": p[0], "hq_percent": p[1], "reverse_kl": p[2]} for row, p in PUBLISHED[dataset].items()},
        "published_fields": "[mean, standard error over 10 trials], Lin et al. 2018 Table 1",
        "runs": mine,
    }, indent=1))
    print(f"wrote {stem}.md, .csv, .json")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[1:]))
    p.add_argument("--dataset", default="ring8", help="ring8, grid25, or both comma-separated (default ring8)")
    p.add_argument("--seeds", type=parse_seeds, default="5", help="a count N for seeds 0..N-1, or a list 0,3,7 (default 5)")
    p.add_argument("--rows", default="gan,pacgan2,pacgan3,pacgan4,mbstd,sn", help=f"rows to train, of {', '.join(ROWS)}")
    p.add_argument("--steps", type=int, default=2000, help="generator steps per run (paper: 400,000; default 2000)")
    p.add_argument("--lr", type=float, default=PAPER_LR, help=f"Adam learning rate, G and D (paper: {PAPER_LR})")
    p.add_argument("--packs-per-batch", type=int, default=100, help="D inputs per batch: batch_size = this x pack (paper: 100)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="more vanilla options for every row (repeatable)")
    p.add_argument("--jobs", type=int, default=2, help="runs at once, each a process at one thread (default 2)")
    p.add_argument("--runs", default="runs/collapse-2d", help="where run folders and results.jsonl go (default runs/collapse-2d)")
    p.add_argument("--report-only", action="store_true", help="train nothing; write the outputs from the runs already in results.jsonl")
    p.add_argument("--out", default=str(HERE), help="where DATASET.md/.csv/.json go (default benchmarks/collapse)")
    args = p.parse_args()

    datasets = [d.strip() for d in args.dataset.split(",")]
    rows = [r.strip() for r in args.rows.split(",")]
    for d in datasets:
        if d not in PUBLISHED:
            p.error(f"unknown dataset {d!r} (valid: {', '.join(PUBLISHED)})")
    for r in rows:
        if r not in ROWS:
            p.error(f"unknown row {r!r} (valid: {', '.join(ROWS)})")
    extra = parse_sets(args.set)

    runs_dir = Path(args.runs)
    runs_dir.mkdir(parents=True, exist_ok=True)
    store = runs_dir / "results.jsonl"
    done = load_store(store)

    jobs = []
    # Seeds outermost, so that a stopped invocation leaves every row with its first seeds.
    for seed in args.seeds:
        for d in datasets:
            for row in rows:
                remedy = ROWS[row][1]
                sets = {**PAPER_SETS, "lr": args.lr, **extra, **remedy}
                batch = args.packs_per_batch * remedy.get("pack", 1)
                key = json.dumps([d, row, seed, args.steps, batch, sets], sort_keys=True)
                run_dir = runs_dir / f"{d}-{row}-s{seed}-{args.steps}steps-lr{args.lr:g}"
                jobs.append({"dataset": d, "row": row, "seed": seed, "steps": args.steps, "batch_size": batch,
                             "sets": sets, "key": key, "run_dir": str(run_dir)})
    todo = [] if args.report_only else [j for j in jobs if j["key"] not in done]
    command = "python benchmarks/collapse/pacgan_2d.py " + " ".join(shlex.quote(a) for a in sys.argv[1:] if a != "--report-only")
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    load0 = load_average()
    print(f"{len(jobs)} runs ({len(jobs) - len(todo)} already done in {store}), {args.jobs} at a time, {args.steps} steps each", flush=True)
    t0 = time.time()
    failures = run_pool(todo, train_one, args.jobs, store, done,
                        lambda j: f"{j['dataset']} {j['row']} seed {j['seed']}",
                        lambda r: f"{r['modes']}/{r['modes_total']} modes, {100 * r['hq']:.1f}% high quality, reverse KL {r['reverse_kl']:.3f} ({r['train_s']:.0f} s)")
    keys = {j["key"] for j in jobs}
    results = [r for k, r in done.items() if k in keys]
    # A dataset with nothing finished for these options (--report-only on another budget, or every run failed) gets no table.
    empty = [d for d in datasets if not any(r["dataset"] == d for r in results)]
    load1 = load_average()
    for d in datasets:
        if d not in empty:
            write_outputs(args, d, rows, results, command, started, time.time() - t0, (load0, load1))
    if empty:
        raise SystemExit(f"pacgan_2d.py: no finished runs in {store} for {', '.join(empty)} with these options: no table written for it")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
