"""Time a bench's evaluation the old way and the new way, on the same trained run folders, in one process.

A bench evaluates each entry twice over: live points during training (``CURVE_POINTS`` of
them, at live evaluation's N) and one final evaluation at the bench's N. This script trains
a small bench once (or reuses ``--out``), then replays exactly that evaluation on each run
folder, in rounds that alternate the two ways, each round from a cold feature cache (a
fresh ``GANZOO_CACHE`` and an empty process memory):

- old: what ``ganzoo bench`` did before: ``eval.png`` redrawn at every live point, and each
  metric computing alone and all its numbers (``share=False``);
- new: ``eval.png`` drawn at the last live point (``live_evaluation(curves_at_end=True)``),
  live points computing only the numbers declared live, metrics sharing their k-NN balls,
  and real features, their radii and KID's reference kernels kept for the whole bench.

Live points are replayed with the run's final generator at the planned steps (the live
metrics cost the same whatever the weights), in a scratch copy of the run folder so that
nothing in ``--out`` changes. The final numbers of the two ways are compared and must be
identical. Printed: CPU seconds (``time.process_time``; run with ``OMP_NUM_THREADS=1`` so
that they measure work, not how busy the machine is) and wall seconds, the medians over
rounds, and the old/new ratio of each.

    OMP_NUM_THREADS=1 python benchmarks/bench_eval.py            # vanilla on mnist and ring8, 2 seeds, 10 kimg, 3 rounds
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

WAYS = ("old", "new")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="bench-eval-runs", help="bench folder to train into, or reuse (default %(default)s)")
    parser.add_argument("--models", default="vanilla")
    parser.add_argument("--datasets", default="mnist,ring8")
    parser.add_argument("--seeds", default="2")
    parser.add_argument("--kimg", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each timing both ways (order alternating)")
    args = parser.parse_args()

    from ganzoo import plugins
    from ganzoo.bench.plan import parse_names, parse_seeds, plan

    out = Path(args.out)
    began = time.perf_counter()
    train(out, args.models, args.datasets, args.seeds, args.kimg)
    print(f"trained (or found) the bench in {out} in {time.perf_counter() - began:.0f} s")
    entries, _ = plan(parse_names(args.models, plugins.models(), "models"), parse_names(args.datasets, plugins.datasets(), "datasets"),
                      parse_seeds(args.seeds), args.kimg, out, {})
    import matplotlib.pyplot  # noqa: F401  imported before timing, so that neither way pays for it
    import ganzoo.eval.extractor  # noqa: F401  (torch-fidelity)

    times: dict[str, list[tuple[float, float]]] = {way: [] for way in WAYS}
    split: dict[str, list[dict[str, float]]] = {way: [] for way in WAYS}
    finals: dict[str, list] = {}
    with tempfile.TemporaryDirectory(prefix="bench-eval-") as scratch:
        for r in range(args.rounds):
            for way in WAYS if r % 2 == 0 else WAYS[::-1]:
                cpu, wall, parts, metrics = one_way(way, entries, Path(scratch))
                times[way].append((cpu, wall))
                split[way].append(parts)
                if finals.setdefault(way, metrics) != metrics:
                    raise SystemExit(f"the {way} way gave other final numbers in round {r + 1}")
                print(f"round {r + 1} {way}: {cpu:.1f} CPU s, {wall:.1f} wall s")
    same = json.dumps(finals["old"], sort_keys=True) == json.dumps(finals["new"], sort_keys=True)
    print(f"{len(entries)} entries ({args.models} on {args.datasets}, seeds {args.seeds}, {args.kimg:g} kimg); "
          f"live and final numbers identical both ways: {same}")
    for i, unit in enumerate(("CPU", "wall")):
        old, new = (statistics.median(t[i] for t in times[way]) for way in WAYS)
        print(f"{unit:>4} s, median of {args.rounds}: old {old:.1f}, new {new:.1f}, old/new {old / new:.2f}")
    for part in split["old"][0]:
        old, new = (statistics.median(p[part] for p in split[way]) for way in WAYS)
        print(f"  {part:<14} CPU s: old {old:.1f}, new {new:.1f}, old/new {old / new:.2f}")
    if not same:
        raise SystemExit("the final numbers differ between the two ways")


if __name__ == "__main__":
    main()
