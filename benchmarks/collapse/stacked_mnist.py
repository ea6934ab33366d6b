"""PacGAN's Table 2 on ganzoo: DCGAN against PacDCGAN2 (and 3, 4) on Stacked MNIST (1,000 modes).

Lin, Khetan, Fanti & Oh 2018, Table 2 (the VEEGAN setting; reference code
github.com/fjxmlzn/PacGAN, ``stacked_MNIST_experiments/VEEGAN_experiment``). Each row is
ganzoo's ``dcgan`` with ``--set pack=m`` (the ``wgan-gp`` row: ganzoo's WGAN-GP at its image
preset, the conv critic and one critic step per G step, beside them as the zoo's best-balanced
unconditional model; not in the paper's table); each (row, seed) is trained with :func:`ganzoo.train`
and scored on ``--n`` generated images (paper: 26,000) with the ``stacked-modes`` metric: each
channel classified by ganzoo's shipped MNIST LeNet, the digit triple is the mode, modes covered
of 1,000 and KL(generated mode histogram || uniform).

The paper's setting (``config.py``): carpedm20's TensorFlow DCGAN (64 feature maps), z ~ U(-1, 1)^100,
Adam(2e-4, beta1 0.5), a batch of 64 packs, 50 epochs of 128,000 stacked images from full MNIST
(100,000 steps), 10 trials, modes by the classifier's argmax. What differs here, and is written
into the outputs: ganzoo's dcgan (z ~ N(0, I), ``--channels``), the step budget, the training
set (``data.n`` stacked images from the 5,000 bundled digits unless ``--data-root`` holds full MNIST),
and the metric counts a sample only when all three channels are classified with confidence >= 0.9
(``eval/modes.py``), which can only lower the mode count against an argmax count.

    python benchmarks/collapse/stacked_mnist.py --seeds 5 --steps 100000 --data-root ~/mnist   # the paper's budget
    python benchmarks/collapse/stacked_mnist.py --seeds 1 --steps 20 --n 2600 --runs /tmp/sm --out /tmp/sm   # a smoke

Writes ``OUT/stacked_mnist.md`` (mean ± sample std beside the published numbers), ``.csv`` and
``.json``; finished runs are kept in ``--runs`` (``results.jsonl``), so the same command run
again trains only what is missing.
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

# Lin et al. 2018, Table 2: modes (of 1000) and KL; the PacDCGAN rows and "DCGAN (our implementation)"
# are mean ± standard error over 10 trials, the rows quoted from VEEGAN (Srivastava et al. 2017) one number.
PUBLISHED: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "dcgan": ((78.9, 6.46), (4.50, 0.127)),
    "pacdcgan2": ((1000.0, 0.0), (0.06, 0.003)),
    "pacdcgan3": ((1000.0, 0.0), (0.06, 0.003)),
    "pacdcgan4": ((1000.0, 0.0), (0.07, 0.005)),
}
QUOTED = "DCGAN 99 / 3.40, ALI 16 / 5.40, Unrolled GAN 48.7 / 4.32, VEEGAN 150 / 2.95 (modes / KL, VEEGAN's Table 2)"

# row -> (label, ganzoo model, pack)
ROWS: dict[str, tuple[str, str, int]] = {
    "dcgan": ("DCGAN", "dcgan", 1),
    "pacdcgan2": ("PacDCGAN2 (`pack=2`)", "dcgan", 2),
    "pacdcgan3": ("PacDCGAN3 (`pack=3`)", "dcgan", 3),
    "pacdcgan4": ("PacDCGAN4 (`pack=4`)", "dcgan", 4),
    "wgan-gp": ("WGAN-GP (`wgan-gp`'s image preset: conv, 1 critic step; not in the paper)", "wgan-gp", 1),
}

WGAN_GP_NOTE = """
  The `wgan-gp` row (not in the paper) is ganzoo's `wgan-gp` at its image preset: the same conv stacks with
  layer norm instead of batch norm in the critic, the Wasserstein loss with gradient penalty 10, Adam(2e-4,
  betas (0, 0.9)), one critic step per G step (the paper's five cost five times the CPU: `plugins/wgan.py`)."""


def train_one(job: dict[str, Any]) -> dict[str, Any]:
    """Train and score one (row, seed) in a worker process."""
    import torch

    torch.set_num_threads(job["threads"])
    import ganzoo

    out = Path(job["run_dir"])
    if out.exists():  # a run that died half-way starts again
        import shutil

        shutil.rmtree(out)
    start = time.time()
    options = {"data_root": job["data_root"]} if job["data_root"] else {}
    run = ganzoo.train(
        ROWS[job["row"]][1], "stacked-mnist", steps=job["steps"], batch_size=job["batch_size"], seed=job["seed"], out=out,
        set=job["sets"], progress=False, log_every=max(1, job["steps"] // 10), sample_every=job["steps"],
        checkpoint_every=job["steps"], device=job["device"], **options,
    )
    train_s = time.time() - start
    images = torch.cat([run.sample(min(2000, job["n"] - i), seed=job["seed"] * 1000 + i // 2000) for i in range(0, job["n"], 2000)])
    report = ganzoo.evaluate(images, dataset="stacked-mnist", metrics=["stacked-modes"], set={"data.n": 1000})  # real split unused
    m = report["metrics"]["stacked-modes"]
    return {**{k: job[k] for k in ("row", "seed", "steps", "batch_size", "n", "key")}, "sets": job["sets"],
            "modes": int(m["modes"]), "confident": float(m["confident"]),
            "kl": math.nan if m["kl"] is None else float(m["kl"]),
            "train_s": round(train_s, 1), "total_s": round(time.time() - start, 1), "commit": git_commit(),
            "finished": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")}


def score_real(n: int, data_root: str, extra: dict[str, Any]) -> dict[str, Any]:
    """The metric on ``n`` real stacked images: what it gives data with every mode.

    The stacks are a new draw (the training draw's ``data.seed`` + 1, the rows' other ``data.*``
    options) of the same digits the models train on. Confidence is below 100% and the KL above 0
    even here: some digits are ambiguous to the LeNet, and ``n`` draws over 1,000 modes are never
    exactly uniform (about 999 / (2 x confident draws) of KL from sampling alone).
    """
    import ganzoo
    from ganzoo.run.build import build_named_dataset
    from ganzoo.run.config import dataset_options

    data = {k: v for k, v in extra.items() if k.startswith("data.")}
    seed = int(data.get("data.seed", 0)) + 1
    sets = {**data, "data.n": n, "data.seed": seed, **({"data.root": data_root} if data_root else {})}
    images = build_named_dataset("stacked-mnist", dataset_options("stacked-mnist", sets)).x
    m = ganzoo.evaluate(images, dataset="stacked-mnist", metrics=["stacked-modes"], set={"data.n": 1000})["metrics"]["stacked-modes"]
    return {"n": n, "data_seed": seed, "modes": int(m["modes"]), "kl": float(m["kl"]), "confident": float(m["confident"])}


def write_outputs(args: argparse.Namespace, rows: list[str], results: list[dict[str, Any]], command: str,
                  started: str, loads: tuple[str, str], real: dict[str, Any]) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / "stacked_mnist"
    mine = sorted(results, key=lambda r: (rows.index(r["row"]), r["seed"]))
    with open(stem.with_suffix(".csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["row", "seed", "steps", "batch_size", "n", "modes", "kl", "confident", "train_s", "sets"])
        for r in mine:
            w.writerow([r["row"], r["seed"], r["steps"], r["batch_size"], r["n"], r["modes"], f"{r['kl']:.4f}",
                        f"{r['confident']:.4f}", r["train_s"], json.dumps(r["sets"], sort_keys=True)])
    table, agg = [], {}
    for row in rows:
        rs = [r for r in mine if r["row"] == row]
        modes, kl = summary([float(r["modes"]) for r in rs]), summary([r["kl"] for r in rs])
        conf = summary([r["confident"] for r in rs])
        agg[row] = {"n_seeds": len(rs), "modes": list(modes), "kl": list(kl), "confident": list(conf)}
        pub = PUBLISHED.get(row)
        published = f"{fmt(pub[0][0], pub[0][1], 1)} | {fmt(pub[1][0], pub[1][1], 3)}" if pub else "- | -"
        table.append(f"| {ROWS[row][0]} | {len(rs)} | {fmt(modes[0], modes[1], 1)} | {fmt(kl[0], kl[1], 2)} | "
                     f"{fmt(100 * conf[0], 100 * conf[1], 1)}% | {published} |")
    table.append(f"| Real stacked digits ({real['n']:,} new stacks: `data.seed={real['data_seed']}`) | - | {real['modes']} | "
                 f"{real['kl']:.3f} | {100 * real['confident']:.1f}% | | |")
    steps = sorted({r["steps"] for r in mine})
    ns = sorted({r["n"] for r in mine})
    per_seed = ["| row | seed | modes | KL | confident | train s |", "|---|---|---|---|---|---|"]
    per_seed += [f"| {r['row']} | {r['seed']} | {r['modes']} | {r['kl']:.3f} | {100 * r['confident']:.1f}% | {r['train_s']:.0f} |" for r in mine]
    sets = mine[0]["sets"] if mine else {}
    text = f"""# PacGAN Table 2, Stacked MNIST: ours beside the published numbers

Written by `benchmarks/collapse/stacked_mnist.py`. **Command:**

```bash
{command}
```

- Runs finished between {min((r['finished'] for r in mine), default='-')} and {max((r['finished'] for r in mine), default='-')} (UTC);
  {sum(r['total_s'] for r in mine) / 60:.1f} process-minutes in all (train + score); written by an invocation started {started}.
- Machine: {machine()}; {'load average not recorded (rewritten from stored runs by --report-only)' if args.report_only else f'load average {loads[0]} at the start, {loads[1]} at the end'}.
- Written at ganzoo commit {git_commit()}; runs trained at {', '.join(sorted({r.get('commit', 'a commit not recorded') for r in mine})) or '-'}; models {', '.join(f'`{m}`' for m in dict.fromkeys(ROWS[r][1] for r in rows))} with `--set {' '.join(f'{k}={v}' for k, v in sets.items() if k != 'pack')}`
  (+ the row's `pack`), {', '.join(map(str, steps))} steps, a batch of {args.packs_per_batch} packs
  (`batch_size` = {args.packs_per_batch} x pack); data: {args.data_root or 'the 5,000 bundled MNIST digits'}.
- Scored: {', '.join(f'{n:,}' for n in ns)} generated images (paper: 26,000), `stacked-modes` (LeNet per channel;
  a sample counts when all three channels are classified with confidence >= 0.9; modes of 1,000; KL to uniform).

Ours: mean ± sample std over seeds. Published: Lin et al. 2018, Table 2, mean ± standard error over 10 trials.
The last row is the same metric on real stacks: a new draw of the digits the models trained on, 4,000 of which
also trained the LeNet (so its confidence is optimistic). Its KL is what sampling alone leaves at its number of
confident samples; a row with fewer has a higher floor, about 999 / (2 x confident samples).

| row | seeds | modes (of 1000) | KL | confident samples | published modes | published KL |
|---|---|---|---|---|---|---|
{chr(10).join(table)}

Quoted in the paper from earlier work: {QUOTED}.

## How this differs from the paper's protocol

- **Budget.** Paper: 50 epochs of 128,000 images at a batch of 64 packs = 100,000 steps. Here {', '.join(map(str, steps))} steps.
- **Networks.** Paper: carpedm20's DCGAN-tensorflow (64 feature maps; at 28x28 D halves to 14, 7, 4, 2 with
  64-512 channels; z ~ U(-1, 1)^100), and its training loop updates G twice per D update ("to make sure
  that d_loss does not go to zero"). Here: ganzoo's `dcgan` (`channels` feature maps in D's first layer,
  28 -> 14 -> 7, z ~ N(0, I)^100), one G update per D update; PacDCGANm's D takes 3m channels in both.{WGAN_GP_NOTE if 'wgan-gp' in rows else ''}
- **Data.** Paper: 128,000 stacked images from full MNIST. Here: `data.n` stacked images from
  {args.data_root or "the 5,000 digits bundled with ganzoo (`--data-root` for full MNIST)"}.
- **Classifier and counting.** Paper: a Keras CNN (99.25% test accuracy), argmax per channel. Here: ganzoo's
  shipped LeNet and a confidence threshold of 0.9 on every channel, so unconfident samples count towards no mode.

## Per seed

{chr(10).join(per_seed)}
"""
    stem.with_suffix(".md").write_text(text)
    stem.with_suffix(".json").write_text(json.dumps({
        "command": command, "date": started, "machine": machine(), "commit": git_commit(),
        "summary": agg, "summary_fields": "[mean, sample std, standard error]",
        "published": {row: {"modes": p[0], "kl": p[1]} for row, p in PUBLISHED.items()},
        "published_fields": "[mean, standard error over 10 trials], Lin et al. 2018 Table 2",
        "real_data": real,
        "runs": mine,
    }, indent=1))
    print(f"wrote {stem}.md, .csv, .json")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[1:]))
    p.add_argument("--seeds", type=parse_seeds, default="5", help="a count N for seeds 0..N-1, or a list 0,3,7 (default 5)")
    p.add_argument("--rows", default="dcgan,pacdcgan2", help=f"rows to train, of {', '.join(ROWS)} (default dcgan,pacdcgan2)")
    p.add_argument("--steps", type=int, default=2000, help="generator steps per run (paper: 100,000; default 2000)")
    p.add_argument("--n", type=int, default=26_000, help="generated images scored per run (paper: 26,000)")
    p.add_argument("--packs-per-batch", type=int, default=64, help="D inputs per batch: batch_size = this x pack (paper: 64)")
    p.add_argument("--channels", type=int, default=64, help="the conv players' channels (paper's DCGAN: 64)")
    p.add_argument("--data-n", type=int, default=128_000, help="stacked training images drawn (paper: 128,000)")
    p.add_argument("--data-root", default="", help="folder with full MNIST's IDX files (default: the 5,000 bundled digits)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="more model options for every row (repeatable)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    p.add_argument("--jobs", type=int, default=2, help="runs at once, each a process (default 2)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    p.add_argument("--runs", default="runs/collapse-stacked", help="run folders and results.jsonl (default runs/collapse-stacked)")
    p.add_argument("--report-only", action="store_true", help="train nothing; write the outputs from results.jsonl")
    p.add_argument("--out", default=str(HERE), help="where stacked_mnist.md/.csv/.json go (default benchmarks/collapse)")
    args = p.parse_args()
    rows = [r.strip() for r in args.rows.split(",")]
    for r in rows:
        if r not in ROWS:
            p.error(f"unknown row {r!r} (valid: {', '.join(ROWS)})")
    extra = parse_sets(args.set)
    runs_dir = Path(args.runs)
    runs_dir.mkdir(parents=True, exist_ok=True)
    store = runs_dir / "results.jsonl"
    done = load_store(store)
    jobs = []
    for seed in args.seeds:
        for row in rows:
            pack = ROWS[row][2]
            sets = {"channels": args.channels, "data.n": args.data_n, **extra, "pack": pack}
            batch = args.packs_per_batch * pack
            key = json.dumps([row, seed, args.steps, batch, args.n, args.data_root, sets], sort_keys=True)
            jobs.append({"row": row, "seed": seed, "steps": args.steps, "batch_size": batch, "n": args.n, "sets": sets,
                         "key": key, "data_root": args.data_root, "device": args.device, "threads": args.threads,
                         "run_dir": str(runs_dir / f"{row}-s{seed}-{args.steps}steps")})
    todo = [] if args.report_only else [j for j in jobs if j["key"] not in done]
    command = "python benchmarks/collapse/stacked_mnist.py " + " ".join(shlex.quote(a) for a in sys.argv[1:] if a != "--report-only")
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    load0 = load_average()
    print(f"{len(jobs)} runs ({len(jobs) - len(todo)} already done in {store}), {args.jobs} at a time, {args.steps} steps each", flush=True)
    failures = run_pool(todo, train_one, args.jobs, store, done,
                        lambda j: f"{j['row']} seed {j['seed']}",
                        lambda r: f"{r['modes']}/1000 modes, KL {r['kl']:.3f}, {100 * r['confident']:.1f}% confident ({r['train_s']:.0f} s)")
    keys = {j["key"] for j in jobs}
    results = [r for k, r in done.items() if k in keys]
    if not results:  # nothing finished for these options (--report-only on another budget, or every run failed)
        raise SystemExit(f"stacked_mnist.py: no finished runs in {store} for these options: no table written")
    real = score_real(args.n, args.data_root, extra)
    write_outputs(args, rows, results, command, started, (load0, load_average()), real)
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
