"""``ganzoo bench``: every (model, dataset, seed) on an equal budget of images seen, scored at one protocol.

The budget is ``kimg``: thousands of real images the trainer draws, the ``kimg`` column of
``metrics.jsonl``. Every phase repeat draws a batch, so a model with five critic steps per
generator step runs fewer generator steps for the same budget; wall-clock is recorded,
never budgeted. Each entry trains into ``BENCH_DIR/runs/NAME`` with live evaluation at
about ``CURVE_POINTS`` points (the metric-vs-kimg curves), is scored once by the
evaluation suite, and its numbers go to the results store (:mod:`ganzoo.results`).

Re-running the same command is safe and cheap: finished entries are skipped, unfinished
ones resume from their checkpoints, and nothing that exists is overwritten except by the
entry's own next step. A model that cannot train on a dataset (cgan without labels,
image-only models on 2-D data) is reported in one line and skipped.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from . import api, plugins
from .checkpoint import load_checkpoint
from .errors import GanzooError, first_line
from .model import Phase
from .results import REAL_DATA, STORE_FILE, Entry, Store
from .runconfig import RunConfig, make_run_config
from .runtime import resolve_device
from .tracking import WandbSink, announce_wandb, check_wandb_mode, default_wandb_mode, log_wandb_table, read_jsonl

RUNS = "runs"
CURVE_POINTS = 8  # live evaluations per run: enough for a curve, cheap next to training
MAX_KIMG = 100_000.0
MAX_SEEDS = 100


@dataclass
class Planned:
    """One (model, dataset, seed) of a bench, resolved before anything trains."""

    config: RunConfig
    kimg: float
    eval_every: int
    eval_n: int  # generated samples for the final evaluation
    params: dict[str, int]
    run_dir: Path

    @property
    def name(self) -> str:
        return self.run_dir.name

    def label(self) -> str:
        return f"{self.config.model} on {self.config.dataset}, seed {self.config.seed}"


# -- parsing the command line ----------------------------------------------------------------

def parse_names(text: str, registry, what: str) -> list[str]:
    """``a,b`` or ``all``; each name is checked (unknown names: one line with close matches)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise GanzooError(f"--{what} is empty (give names such as {', '.join(s.name for s in list(registry)[:2])}, or all)")
    if names == ["all"]:
        return [s.name for s in registry]
    return list(dict.fromkeys(registry.get(n).name for n in names))


def parse_seeds(text: str) -> list[int]:
    """``N`` means seeds 0..N-1; a comma-separated list (``0,5,7``) means exactly those seeds."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise GanzooError(f"bad --seeds {text!r} (valid: a count such as 3, or a list such as 0,5,7)") from None
    if "," not in text:
        if len(values) != 1 or not 1 <= values[0] <= MAX_SEEDS:
            raise GanzooError(f"bad --seeds {text!r} (valid: a count from 1 to {MAX_SEEDS}, or a list such as 0,5,7)")
        return list(range(values[0]))
    if not values or any(not 0 <= v <= api.MAX_SEED for v in values):
        raise GanzooError(f"bad --seeds {text!r} (valid: seeds from 0 to {api.MAX_SEED})")
    return list(dict.fromkeys(values))


# -- the budget ----------------------------------------------------------------------------

def steps_for_kimg(phases: Sequence[Phase], batch_size: int, kimg: float) -> int:
    """Generator steps after which the trainer has drawn at least ``kimg`` thousand real images.

    At step s every phase with ``s % every == 0`` draws ``repeats`` batches, so the count
    per step repeats with the least common multiple of the phases' intervals.
    """
    batches = math.ceil(kimg * 1000 / batch_size)
    period = math.lcm(*(p.every for p in phases))
    per_step = [sum(p.repeats for p in phases if s % p.every == 0) for s in range(period)]
    cycles, rest = divmod(batches, sum(per_step))
    steps = cycles * period
    while rest > 0:
        rest -= per_step[steps % period]
        steps += 1
    return max(1, steps)


def live_schedule(steps: int) -> dict[str, int]:
    """Log, picture, checkpoint and live-evaluation intervals giving about ``CURVE_POINTS`` points."""
    every = max(1, math.ceil(steps / CURVE_POINTS))
    log_every = max(1, every // 5)
    every = log_every * math.ceil(every / log_every)  # live evaluation must fall on a log line
    return {"log_every": log_every, "sample_every": every, "checkpoint_every": every, "eval_every": every}


def config_hash(config: RunConfig) -> str:
    """Equal for the runs of one recipe: everything but the seed and the device."""
    recipe = {k: v for k, v in config.to_dict().items() if k not in ("seed", "device")}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def parameter_counts(gan) -> dict[str, int]:
    # The EMA copy is the generator again; counting it would double the generator.
    return {name: sum(p.numel() for p in net.parameters()) for name, net in gan.networks.items() if name != gan.ema_name}


# -- planning --------------------------------------------------------------------------------

def plan(
    models: list[str], datasets: list[str], seeds: list[int], kimg: float, out: Path, sets: dict[str, Any], eval_n: int | None = None,
) -> tuple[list[Planned], list[str]]:
    """The entries to run, and one line for each (model, dataset) that cannot train together.

    Options that are wrong for a model (a ``--set`` key it does not have) are errors, not
    skips: they are the user's to fix. A model whose builder refuses the data is a skip.
    """
    from .eval.evaluate import DEFAULT_N

    entries, skipped = [], []
    device = resolve_device("cpu")
    for dataset in datasets:
        n = eval_n or DEFAULT_N[plugins.datasets().get(dataset).kind]
        for model in models:
            base = make_run_config(model, dataset, sets=sets, device="cpu")
            try:
                with _quiet_rng():
                    gan, _ = api.build(base, device)
            except GanzooError as exc:
                skipped.append(f"skip {model} on {dataset}: {exc}")
                continue
            except Exception as exc:  # a plugin's bug: that model is skipped, the others still run
                skipped.append(f"skip {model} on {dataset}: its builder raised {type(exc).__name__}: {first_line(exc)}")
                continue
            steps = steps_for_kimg(gan.objective.phases, base.batch_size, kimg)
            schedule = live_schedule(steps)
            eval_every = schedule.pop("eval_every")
            suffix = f"-set{config_hash(base)[:8]}" if sets else ""
            for seed in seeds:
                config = make_run_config(model, dataset, sets=sets, seed=seed, steps=steps, device="auto", **schedule)
                run_dir = out / RUNS / f"{model}-{dataset}-{kimg:g}kimg{suffix}-seed{seed}"
                entries.append(Planned(config, kimg, eval_every, n, parameter_counts(gan), run_dir))
    return entries, skipped


def _quiet_rng():
    import torch

    return torch.random.fork_rng(devices=[])  # planning builds models; it must not move the caller's RNG


# -- running ---------------------------------------------------------------------------------

@dataclass
class BenchResult:
    trained: int
    evaluated: int
    skipped: list[str]
    failed: list[str]
    interrupted: bool
    seconds: float
    board: Any = None  # the Leaderboard written at the end (None when nothing was stored)


def run_bench(
    models: str, datasets: str, seeds: str, kimg: float, out: str | Path = "bench", eval_n: int | None = None,
    wandb: str | None = None, sets: dict[str, Any] | None = None, progress: bool = True,
) -> BenchResult:
    """Plan, train, evaluate and store every entry; then write the leaderboard into ``out``."""
    start = time.perf_counter()
    out = Path(out)
    model_names = parse_names(models, plugins.models(), "models")
    dataset_names = parse_names(datasets, plugins.datasets(), "datasets")
    seed_list = parse_seeds(seeds)
    if not (isinstance(kimg, (int, float)) and 0 < kimg <= MAX_KIMG and math.isfinite(kimg)):
        raise GanzooError(f"bad --kimg {kimg} (valid: more than 0, at most {MAX_KIMG:g})")
    if eval_n is not None and not 2 <= eval_n <= api.MAX_SAMPLES:
        raise GanzooError(f"bad --eval-n {eval_n} (valid: 2 to {api.MAX_SAMPLES})")
    mode = check_wandb_mode(wandb) if wandb is not None else default_wandb_mode()
    if out.exists() and not out.is_dir():
        raise GanzooError(f"--out {out} is a file, not a bench folder")
    if out.is_dir() and any(out.iterdir()) and not (out / STORE_FILE).is_file():
        raise GanzooError(f"--out {out} is a folder with other things in it and no {STORE_FILE}; give a new folder or an existing bench folder")
    entries, skipped = plan(model_names, dataset_names, seed_list, kimg, out, dict(sets or {}), eval_n)
    for line in skipped:
        print(line, file=sys.stderr)
    if not entries:
        raise GanzooError("nothing to run: no model fits any of the datasets given")

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GanzooError(f"--out {out}: cannot create the bench folder ({exc.strerror or exc})") from None
    store = Store(out)
    if mode == "offline":
        announce_wandb(mode, out)
    group = out.resolve().name
    result = BenchResult(0, 0, skipped, [], False, 0.0)
    for i, entry in enumerate(entries, 1):
        print(f"[{i}/{len(entries)}] {entry.label()}: {entry.config.steps} steps = {kimg:g} kimg at batch {entry.config.batch_size} "
              f"({time.perf_counter() - start:.0f} s into the bench)", file=sys.stderr)
        try:
            done = _run_entry(entry, store, out, mode, group, progress, result)
        except Exception as exc:  # one failing entry (a user error or a plugin's bug) must not stop the others
            reason = str(exc) if isinstance(exc, GanzooError) else f"{type(exc).__name__}: {first_line(exc)}"
            result.failed.append(f"{entry.name}: {reason}")
            print(f"  failed: {reason}", file=sys.stderr)
            continue
        if not done:
            result.interrupted = True
            break
    if not result.interrupted and store.has_results():
        new_floors = _real_data_floors(entries, store)
        from .leaderboard import write_leaderboard

        board = result.board = write_leaderboard([out], out)
        if mode != "off" and (result.trained or result.evaluated or new_floors):  # a re-run that changed nothing logs nothing
            log_wandb_table("leaderboard", board.columns, board.rows, mode, out, group)
    result.seconds = time.perf_counter() - start
    return result


def _run_entry(entry: Planned, store: Store, out: Path, mode: str, group: str, progress: bool, result: BenchResult) -> bool:
    """Bring one entry up to date. False when training was interrupted (Ctrl-C)."""
    from .eval.evaluate import EVAL_FILE, evaluate

    rel = str(entry.run_dir.relative_to(out))
    config, run_dir = entry.config, entry.run_dir
    eval_file = run_dir / EVAL_FILE
    if store.has(rel) and _evaluated_at(eval_file, config.steps, entry.eval_n):
        print("  done earlier: skipped", file=sys.stderr)
        return True
    step = _reached_step(run_dir, config)
    if step == 0 and run_dir.exists():
        # Killed before its first checkpoint: nothing in it can be resumed, and the folder is
        # this bench's own attempt at this very entry (same recipe and seed).
        print("  an earlier attempt left no checkpoint: training afresh", file=sys.stderr)
        shutil.rmtree(run_dir)
    sink = None
    if mode != "off":
        wandb_config = {**config.to_dict(), "bench": {"kimg": entry.kimg, "params": entry.params, "config_hash": config_hash(config)}}
        sink = WandbSink(run_dir, wandb_config, mode, folder=out, group=group, finish_on_close=False)
        sink.start()  # a W&B that cannot start fails the entry here, before any training
    try:
        if step < config.steps:
            began = time.perf_counter()
            if step == 0:
                run = api.train(config=config.to_dict(), out=run_dir, progress=progress, sinks=[sink] if sink else None, eval_every=entry.eval_every)
            else:
                print(f"  resuming from step {step}", file=sys.stderr)
                run = api.resume(run_dir, progress=progress, sinks=[sink] if sink else None, eval_every=entry.eval_every)
            store.record_training(rel, step, run.result.step, time.perf_counter() - began)
            result.trained += 1
            if run.interrupted:
                print(f"interrupted at step {run.result.step}; checkpoint saved. Run the same ganzoo bench command to continue.", file=sys.stderr)
                return False
        if not _evaluated_at(eval_file, config.steps, entry.eval_n):
            began = time.perf_counter()
            report = evaluate(run_dir, n=entry.eval_n)
            eval_seconds = time.perf_counter() - began
            result.evaluated += 1
        else:
            report, eval_seconds = json.loads(eval_file.read_text()), None
        store.put(_entry_row(entry, rel, report, eval_seconds), _metric_rows(report))
        if sink:
            sink.log_final({f"final/{k}": v for _, k, v in _metric_rows(report)}, report["protocol"])
        numbers = ", ".join(f"{k} {v:.4g}" for source, k, v in _metric_rows(report) if v is not None and plugins.metric_number(source, k).shown)
        print(f"  {numbers}", file=sys.stderr)
    finally:
        if sink:
            sink.finish()
    return True


def _reached_step(run_dir: Path, config: RunConfig) -> int:
    """The step an existing run folder has reached (0 for none); refuses a folder made for another recipe."""
    if not run_dir.exists():
        return 0
    if not (run_dir / "config.yaml").is_file():
        raise GanzooError(f"{run_dir} exists but is not a run folder; move it away to train this entry")
    existing = api.load_run(run_dir).config
    if config_hash(existing) != config_hash(config) or existing.seed != config.seed:
        raise GanzooError(f"{run_dir} was trained with another config; move it away, or bench into another --out")
    if not (run_dir / "checkpoints" / "last.pt").is_file():
        return 0  # the same recipe, stopped before its first checkpoint
    return int(load_checkpoint(run_dir / "checkpoints" / "last.pt", map_location="cpu")["step"])


def _evaluated_at(eval_file: Path, steps: int, n: int) -> bool:
    """Whether ``eval.json`` scores the final step at the bench's protocol (last checkpoint, N, seed 0)."""
    if not eval_file.is_file():
        return False
    try:
        protocol = json.loads(eval_file.read_text())["protocol"]
    except (ValueError, KeyError, TypeError):
        return False
    return protocol.get("step") == steps and protocol.get("n_generated") == n and protocol.get("seed") == 0 and protocol.get("checkpoint") == "last"


def _metric_rows(report: dict[str, Any]) -> list[tuple[str, str, float | None]]:
    """``(metric plugin, number's name, value)``; a name an earlier plugin already gave is prefixed with its plugin."""
    rows, names = [], set()
    for source, values in report["metrics"].items():
        for key, value in values.items():
            if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
                continue
            name = f"{source}/{key}" if key in names else key
            names.add(name)
            rows.append((source, name, value))
    return rows


def _train_seconds(run_dir: Path) -> float | None:
    records = read_jsonl(run_dir / "metrics.jsonl") if (run_dir / "metrics.jsonl").is_file() else []
    return records[-1].get("time") if records else None


def _entry_row(entry: Planned, rel: str, report: dict[str, Any], eval_seconds: float | None) -> Entry:
    c = entry.config
    return Entry(
        run=rel, model=c.model, dataset=c.dataset, seed=c.seed, kimg=entry.kimg, steps=c.steps, batch_size=c.batch_size,
        config_hash=config_hash(c), config=c.to_dict(), eval_protocol=report["protocol"],
        train_seconds=_train_seconds(entry.run_dir), eval_seconds=eval_seconds, params=entry.params, ganzoo_version=plugins.ganzoo_version(),
    )


def _real_data_floors(entries: list[Planned], store: Store) -> int:
    """One 'real data' row per dataset setup: what a perfect generator would score at this protocol."""
    from .eval.evaluate import evaluate_real_data

    seen, added = {}, 0
    for entry in entries:
        key = json.dumps([entry.config.dataset, entry.config.dataset_config, entry.eval_n], sort_keys=True)
        seen.setdefault(key, entry)
    for key, entry in seen.items():
        config = entry.config
        digest = hashlib.sha256(key.encode()).hexdigest()[:8]
        run = f"real:{config.dataset}:{digest}"
        if store.has(run):
            continue
        began = time.perf_counter()
        report = evaluate_real_data(config, n=entry.eval_n)
        store.put(Entry(
            run=run, model=REAL_DATA, dataset=config.dataset, seed=0, kimg=0.0, steps=0, batch_size=0,
            config_hash=digest, config={"dataset": config.dataset, "dataset_config": config.dataset_config},
            eval_protocol=report["protocol"], train_seconds=None, eval_seconds=time.perf_counter() - began,
            params={}, ganzoo_version=plugins.ganzoo_version(),
        ), _metric_rows(report))
        added += 1
    return added
