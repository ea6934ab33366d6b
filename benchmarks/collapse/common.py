"""What the collapse benchmarks share: seeds, spreads, the machine line, and the store of finished runs.

``results.jsonl`` in a benchmark's runs folder holds one line per finished run, keyed by
everything that decides its numbers, so the same command run again trains only what is missing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def parse_seeds(text: str) -> list[int]:
    """``--seeds`` as the bench reads it (``5`` -> seeds 0..4; ``0,3,7`` -> those), for argparse's ``type=``:
    a bad value (``0`` seeds, a word) is argparse's one-line error, exit 2."""
    from ganzoo.bench.plan import parse_seeds as bench_seeds
    from ganzoo.errors import GanzooError

    try:
        return bench_seeds(text)
    except GanzooError as exc:
        raise argparse.ArgumentTypeError("bad value " + str(exc).removeprefix("bad --seeds ")) from None


def parse_sets(items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings -> a dict, values read as JSON where they parse (``3``, ``true``, ``1e-4``)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set wants KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def summary(values: list[float]) -> tuple[float, float, float]:
    """(mean, sample std, standard error); NaNs (undefined numbers) dropped."""
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return math.nan, math.nan, math.nan
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, sd, sd / math.sqrt(len(values))


def fmt(mean: float, sd: float, digits: int) -> str:
    return "n/a" if math.isnan(mean) else f"{mean:.{digits}f} ± {sd:.{digits}f}"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return f"{cpu}, {os.cpu_count()} cores, no GPU used, torch {torch.__version__}, Python {platform.python_version()}"


def git_commit() -> str:
    """The checkout's short commit, with ``-dirty`` when its tracked files differ from it."""
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=HERE).stdout.strip()
    except OSError:
        return "unknown"


def load_store(store: Path) -> dict[str, dict[str, Any]]:
    """Finished runs by key."""
    done: dict[str, dict[str, Any]] = {}
    if store.exists():
        for line in store.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                done[r["key"]] = r
    return done


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _one_thread() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"


def run_pool(todo: list[dict[str, Any]], train_one, jobs: int, store: Path, done: dict[str, dict[str, Any]], name, describe) -> int:
    """Train ``todo`` in ``jobs`` spawned one-thread processes, appending each result to ``store`` and ``done``
    as it ends (so a stopped campaign resumes); ``name(job)`` and ``describe(result)`` make the progress
    lines. Returns the number of failed runs (each said in a line; the others go on)."""
    import concurrent.futures as futures
    import multiprocessing

    failures = 0
    with open(store, "a") as sink, futures.ProcessPoolExecutor(
        max_workers=jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_one_thread
    ) as pool:
        pending = {pool.submit(train_one, j): j for j in todo}
        for i, fut in enumerate(futures.as_completed(pending), 1):
            j = pending[fut]
            try:
                r = fut.result()
            except Exception as exc:  # one failed run is reported, the others go on
                failures += 1
                print(f"[{i}/{len(todo)}] {name(j)}: FAILED: {exc}", flush=True)
                continue
            done[r["key"]] = r
            sink.write(json.dumps(r) + "\n")
            sink.flush()
            print(f"[{i}/{len(todo)}] {name(r)}: {describe(r)}", flush=True)
    return failures
