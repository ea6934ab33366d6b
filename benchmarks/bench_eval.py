"""Time a bench's evaluation the old way and the new way, on the same trained run folders.

A bench evaluates each entry twice over: live points during training (``CURVE_POINTS`` of
them, at live evaluation's N) and one final evaluation at the bench's N. This script trains
a small bench once (or reuses ``--out``), then replays exactly that evaluation on each run
folder, in rounds that alternate the two ways, each round in a fresh process from a cold
feature cache (a fresh ``GANZOO_CACHE``):

- old: what ``ganzoo bench`` did before issue 18's work, run by the code of ``--old-commit``
  (default: the commit before KID's kernels moved to torch and the k-NN passes were trimmed,
  exported with ``git archive``): ``eval.png`` redrawn at every live point, and each metric
  computing alone and all its numbers (``share=False``), with torch-fidelity's NumPy KID;
- new: this checkout's code: ``eval.png`` drawn at the last live point
  (``live_evaluation(curves_at_end=True)``), live points computing only the numbers declared
  live, metrics sharing their k-NN balls (recall decided in the same pass), real features,
  their radii and KID's reference kernels kept for the whole bench, KID's kernels in torch.

Each way runs in its own process with its own tree first on ``sys.path``, so the old way is
the old code, not today's code with a flag. Before timing, each process imports what a bench
process has imported by then (matplotlib, torch-fidelity, and ``torch._dynamo``, which torch
imports when a bench's first optimizer is built), so that neither way pays for it.

Live points are replayed with the run's final generator at the planned steps (the live
metrics cost the same whatever the weights), in a scratch copy of the run folder so that
nothing in ``--out`` changes. The numbers of the two ways are compared: every live and final
number must be identical, except KID's two, which must agree within ``fidelity.KID_RTOL`` /
``KID_ATOL`` (float64 rounding: torch's kernels round otherwise than NumPy's). Printed: CPU
seconds (``time.process_time``; run with ``OMP_NUM_THREADS=1`` so that they measure work,
not how busy the machine is) and wall seconds, the medians over rounds, and the old/new ratio of each.

    OMP_NUM_THREADS=1 python benchmarks/bench_eval.py            # vanilla on mnist and ring8, 2 seeds, 10 kimg, 3 rounds
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WAYS = ("old", "new")
OLD_COMMIT = "3c56cb1"  # main before KID in torch, byte-wise k-NN reductions, recall in the shared pass, LeNet pooling by strided maxima
ROOT = Path(__file__).resolve().parent.parent


def train(out: Path, models: str, datasets: str, seeds: str, kimg: float) -> None:
    from ganzoo.bench.runner import run_bench

    run_bench(models, datasets, seeds, kimg, out, wandb="off", progress=False)


def live_points(entry, share: bool, scratch: Path) -> list[dict[str, float]]:
    """Replay the entry's live evaluations, as the bench's trainer callback makes them, in a copy of its folder."""
    from ganzoo.eval.live import live_evaluation
    from ganzoo.run.build import build_dataset
    from ganzoo.run.folder import RunFolder
    from ganzoo.run.run import load_run
    from ganzoo.training.callbacks import StepInfo

    folder_path = scratch / entry.run_dir.name
    shutil.rmtree(folder_path, ignore_errors=True)
    shutil.copytree(entry.run_dir, folder_path)
    (folder_path / "checkpoints" / "best.pt").unlink(missing_ok=True)
    (folder_path / "checkpoints" / "best.json").unlink(missing_ok=True)
    run = load_run(folder_path).load("cpu")
    folder = RunFolder(folder_path)
    config = run.config
    [callback] = live_evaluation(entry.eval_every, curves_at_end=share, share=share)(build_dataset(config), config)
    state = folder.load_checkpoint("last")
    return [callback.after_step(StepInfo(step, run.gan, folder, f"{config.model} on {config.dataset}", lambda: state))
            for step in range(entry.eval_every, config.steps + 1, entry.eval_every)]


def one_way(way: str, entries: list, scratch: Path) -> tuple[float, float, dict[str, float], list]:
    """CPU and wall seconds of every entry's live points and final evaluation, CPU seconds per part
    (live points and final evaluation, per dataset), and the numbers (live and final)."""
    from ganzoo.eval import realcache
    from ganzoo.eval.evaluate import evaluate

    share = way == "new"
    cache = Path(tempfile.mkdtemp(prefix=f"cache-{way}-", dir=scratch))
    os.environ["GANZOO_CACHE"] = str(cache)
    realcache.forget()
    cpu, wall = time.process_time(), time.perf_counter()
    finals, parts = [], {}
    for entry in entries:
        began = time.process_time()
        live = live_points(entry, share, scratch)
        middle = time.process_time()
        report = evaluate(entry.run_dir, n=entry.eval_n, write=False, share=share)
        for part, seconds in (("live", middle - began), ("final", time.process_time() - middle)):
            parts[f"{entry.config.dataset} {part}"] = parts.get(f"{entry.config.dataset} {part}", 0.0) + seconds
        finals.append({"live": live, "final": report["metrics"]})
    seconds = time.process_time() - cpu, time.perf_counter() - wall
    shutil.rmtree(cache, ignore_errors=True)
    return *seconds, parts, finals


def child(args: argparse.Namespace) -> None:
    """One way, in this process, with the code of ``args.tree``; the result as JSON in ``args.result``."""
    sys.path.insert(0, str(Path(args.tree).resolve()))  # this tree's ganzoo (and, through it, its eval/ and plugins/)
    import ganzoo
    from ganzoo import plugins
    from ganzoo.bench.plan import parse_names, parse_seeds, plan

    assert Path(ganzoo.__file__).resolve().is_relative_to(Path(args.tree).resolve()), ganzoo.__file__
    entries, _ = plan(parse_names(args.models, plugins.models(), "models"), parse_names(args.datasets, plugins.datasets(), "datasets"),
                      parse_seeds(args.seeds), args.kimg, Path(args.out), {})
    import matplotlib.pyplot  # noqa: F401  imported before timing, so that neither way pays for it
    import torch
    import ganzoo.eval.extractor  # noqa: F401  (torch-fidelity)

    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # imports torch._dynamo, as a bench's training has by then
    cpu, wall, parts, finals = one_way(args.child, entries, Path(args.scratch))
    Path(args.result).write_text(json.dumps({"cpu": cpu, "wall": wall, "parts": parts, "finals": finals, "code": ganzoo.__file__}))


def same_numbers(old, new, path: str = "") -> list[str]:
    """Where the two ways' numbers differ: exactly, except KID's, within its tolerance."""
    from ganzoo.eval import fidelity

    if isinstance(old, dict) and isinstance(new, dict):
        if old.keys() != new.keys():
            return [f"{path}: keys {sorted(old)} != {sorted(new)}"]
        return [d for k in old for d in same_numbers(old[k], new[k], f"{path}/{k}")]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for i, (a, b) in enumerate(zip(old, new)) for d in same_numbers(a, b, f"{path}[{i}]")]
    if path.endswith(("/kid/kid", "/kid/kid_std")) and isinstance(old, float) and isinstance(new, float):
        return [] if fidelity.kid_close(old, new) else [f"{path}: {old!r} vs {new!r}"]
    both_nan = isinstance(old, float) and isinstance(new, float) and math.isnan(old) and math.isnan(new)  # undefined both ways
    return [] if old == new or both_nan else [f"{path}: {old!r} vs {new!r}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="bench-eval-runs", help="bench folder to train into, or reuse (default %(default)s)")
    parser.add_argument("--models", default="vanilla")
    parser.add_argument("--datasets", default="mnist,ring8")
    parser.add_argument("--seeds", default="2")
    parser.add_argument("--kimg", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each timing both ways (order alternating)")
    parser.add_argument("--old-commit", default=OLD_COMMIT, help="the code of the old way (default %(default)s)")
    parser.add_argument("--child", choices=WAYS, help=argparse.SUPPRESS)
    parser.add_argument("--tree", help=argparse.SUPPRESS)
    parser.add_argument("--scratch", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    out = Path(args.out).resolve()
    began = time.perf_counter()
    train(out, args.models, args.datasets, args.seeds, args.kimg)
    print(f"trained (or found) the bench in {out} in {time.perf_counter() - began:.0f} s")
    times: dict[str, list[tuple[float, float]]] = {way: [] for way in WAYS}
    split: dict[str, list[dict[str, float]]] = {way: [] for way in WAYS}
    finals: dict[str, list] = {}
    with tempfile.TemporaryDirectory(prefix="bench-eval-") as scratch:
        old_tree = Path(scratch) / "old-code"
        old_tree.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.old_commit], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old_tree)], input=archive, check=True)
        trees = {"old": old_tree, "new": ROOT}
        for r in range(args.rounds):
            for way in WAYS if r % 2 == 0 else WAYS[::-1]:
                result = Path(scratch) / f"{way}-{r}.json"
                subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", way, "--tree", str(trees[way]), "--scratch", scratch,
                                "--result", str(result), "--out", str(out), "--models", args.models, "--datasets", args.datasets,
                                "--seeds", args.seeds, "--kimg", str(args.kimg)], check=True, cwd=scratch)
                got = json.loads(result.read_text())
                times[way].append((got["cpu"], got["wall"]))
                split[way].append(got["parts"])
                if finals.setdefault(way, got["finals"]) != got["finals"]:
                    raise SystemExit(f"the {way} way gave other numbers in round {r + 1}")
                print(f"round {r + 1} {way}: {got['cpu']:.1f} CPU s, {got['wall']:.1f} wall s (code: {Path(got['code']).parent.parent})")
    differences = same_numbers(finals["old"], finals["new"])
    print(f"{len(finals['new'])} entries ({args.models} on {args.datasets}, seeds {args.seeds}, {args.kimg:g} kimg); old code {args.old_commit}; "
          f"live and final numbers the same both ways (KID within rel {kid_tolerance()}): {not differences}")
    for i, unit in enumerate(("CPU", "wall")):
        old, new = (statistics.median(t[i] for t in times[way]) for way in WAYS)
        print(f"{unit:>4} s, median of {args.rounds}: old {old:.1f}, new {new:.1f}, old/new {old / new:.2f}")
    for part in split["old"][0]:
        old, new = (statistics.median(p[part] for p in split[way]) for way in WAYS)
        print(f"  {part:<14} CPU s: old {old:.1f}, new {new:.1f}, old/new {old / new:.2f}")
    if differences:
        raise SystemExit("the numbers differ between the two ways:\n" + "\n".join(differences[:20]))


def kid_tolerance() -> str:
    from ganzoo.eval import fidelity

    return f"{fidelity.KID_RTOL:g}, abs {fidelity.KID_ATOL:g}"


if __name__ == "__main__":
    main()
