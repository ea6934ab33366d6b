"""The GAN/VAE contrast as one picture: each model's final samples (seed 0) per dataset, with its numbers.

Reads the run folders of finished benches (``ganzoo bench ... --out DIR``) and draws one row per
dataset, one column per model, each panel titled with precision / recall and coverage (and
FID, or modes and reverse KL) from the run's ``eval.json``:

    python benchmarks/gan_vs_vae.py BENCH_DIR [BENCH_DIR ...] --models vanilla,wgan-gp,vae \\
        --datasets mnist,ring8,grid25 --out benchmarks/leaderboard/gan-vs-vae.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def headline(metrics: dict) -> str:
    # Numbers by name, whichever metric gave them (images: precision-recall, 2-D: mixture-prdc).
    n = {k: v for numbers in metrics.values() for k, v in numbers.items()}
    lines = [f"precision {n.get('precision', float('nan')):.2f}  recall {n.get('recall', float('nan')):.2f}",
             f"coverage {n.get('coverage', float('nan')):.2f}"]
    if "fid" in n:
        lines[1] += f"  FID {n['fid']:.0f}"
    if "modes" in n:
        lines[1] += f"  modes {n['modes']}  high quality {n['hq']:.0%}"
    return "\n".join(lines)


def find_run(benches: list[Path], model: str, dataset: str, seed: int) -> Path | None:
    for bench in benches:
        for run in sorted((bench / "runs").glob(f"{model}-{dataset}-*kimg-seed{seed}")):
            if (run / "eval.json").exists() and (run / "final.png").exists():
                return run
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("benches", nargs="+", type=Path)
    parser.add_argument("--models", default="vanilla,wgan-gp,vae")
    parser.add_argument("--datasets", default="mnist,ring8,grid25")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("gan-vs-vae.png"))
    args = parser.parse_args()

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models, datasets = args.models.split(","), args.datasets.split(",")
    fig, axes = plt.subplots(len(datasets), len(models), figsize=(3.6 * len(models), 4.4 * len(datasets)), squeeze=False)
    for i, dataset in enumerate(datasets):
        for j, model in enumerate(models):
            ax = axes[i][j]
            ax.axis("off")
            run = find_run(args.benches, model, dataset, args.seed)
            if run is None:
                ax.set_title(f"{model} on {dataset}: no finished run", fontsize=9)
                continue
            evaluation = json.loads((run / "eval.json").read_text())
            kimg = run.name.split("-")[-2]
            ax.imshow(plt.imread(run / "final.png"))
            ax.set_title(f"{model} on {dataset} ({kimg}, seed {args.seed})\n{headline(evaluation['metrics'])}", fontsize=9)
    fig.tight_layout(h_pad=2.5)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
