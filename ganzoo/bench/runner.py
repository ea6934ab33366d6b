"""``ganzoo bench``: every (model, dataset, seed) on an equal budget of images seen, scored at one protocol.

The budget is ``kimg``: thousands of real images the trainer draws, the ``kimg`` column of
``metrics.jsonl``. Every phase repeat draws a batch, so a model with five critic steps per
generator step runs fewer generator steps for the same budget; wall-clock is recorded,
never budgeted. Each entry trains into ``BENCH_DIR/runs/NAME`` with live evaluation at
about ``CURVE_POINTS`` points (the metric-vs-kimg curves), is scored once by the
evaluation suite, and its numbers go to the results store (:mod:`ganzoo.bench.store`).

Re-running the same command is safe and cheap: finished entries are skipped, unfinished
ones resume from their checkpoints, and nothing that exists is overwritten except by the
entry's own next step. A model that cannot train on a dataset (cgan without labels,
image-only models on 2-D data) is reported in one line and skipped.

With ``jobs`` above 1 the entries run in worker processes (:mod:`ganzoo.bench.workers`), and
the results are what one process would store: a worker trains and evaluates an entry exactly
as :func:`_run_entry` does here, but what it would write to the store is sent back, and this
process alone writes ``results.sqlite`` (in the order entries finish), then the real-data rows
and the leaderboard at the end. Workers load plugins from the installed packages, so a model
registered only in this process (``plugins.pm.register`` in a script or test) needs ``jobs=1``.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .. import plugins
from ..config import RunConfig
from ..errors import GanzooError, first_line
from ..run import session
from ..run.folder import RunFolder
from ..run.run import MAX_SAMPLES, load_run
from ..training.wandb_sink import WandbSink, announce_wandb, check_wandb_mode, default_wandb_mode, log_wandb_table
from .plan import MAX_KIMG, Planned, budget_warning, config_hash, names_all, parse_names, parse_seeds, plan
from .store import REAL_DATA, STORE_FILE, Entry, Store
from .workers import Workers, entry_scope, parse_workers, worker_device

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
    jobs: int | None = None, devices: str | None = None,
) -> BenchResult:
    """Plan, train, evaluate and store every entry; then write the leaderboard into ``out``.

    ``jobs``: entries run at once, each in a worker process (default 1: in this process);
    ``devices``: one device per worker, such as ``cuda:0,cuda:1`` (see :mod:`ganzoo.bench.workers`).
    """
    start = time.perf_counter()
    out = Path(out)
    workers = parse_workers(jobs, devices)
    model_names = parse_names(models, plugins.models(), "models")
    dataset_names = parse_names(datasets, plugins.datasets(), "datasets")
    seed_list = parse_seeds(seeds)
    if not (isinstance(kimg, (int, float)) and 0 < kimg <= MAX_KIMG and math.isfinite(kimg)):
        raise GanzooError(f"bad --kimg {kimg} (valid: more than 0, at most {MAX_KIMG:g})")
    if eval_n is not None and not 2 <= eval_n <= MAX_SAMPLES:
        raise GanzooError(f"bad --eval-n {eval_n} (valid: 2 to {MAX_SAMPLES})")
    mode = check_wandb_mode(wandb) if wandb is not None else default_wandb_mode()
    if out.exists() and not out.is_dir():
        raise GanzooError(f"--out {out} is a file, not a bench folder")
    if out.is_dir() and any(out.iterdir()) and not (out / STORE_FILE).is_file():
        raise GanzooError(f"--out {out} is a folder with other things in it and no {STORE_FILE}; give a new folder or an existing bench folder")
    entries, skipped = plan(model_names, dataset_names, seed_list, kimg, out, dict(sets or {}), eval_n, every_model=names_all(models))
    for line in skipped:
        print(line, file=sys.stderr)
    if (warning := budget_warning(entries, kimg)) is not None:
        print(warning, file=sys.stderr)
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
    if len(workers) > 1:
        _run_in_workers(entries, workers[:len(entries)], store, out, mode, group, result, start)
    else:
        _run_here(entries, workers[0], store, out, mode, group, progress, result, start)
    if not result.interrupted and store.has_results():
        new_floors = _real_data_floors(entries, store)
        from .publish import write_leaderboard

        board = result.board = write_leaderboard([out], out)
        if mode != "off" and (result.trained or result.evaluated or new_floors):  # a re-run that changed nothing logs nothing
            log_wandb_table("leaderboard", board.columns, board.rows, mode, out, group)
    result.seconds = time.perf_counter() - start
    return result


def _run_here(
    entries: list[Planned], device: str | None, store: Store, out: Path, mode: str, group: str, progress: bool, result: BenchResult, start: float,
) -> None:
    """One entry after the other, in this process; ``device`` from --devices with one device, else each entry's own."""
    for i, entry in enumerate(entries, 1):
        if device is not None:
            entry.config.device = device
        print(_header(i, len(entries), entry, start), file=sys.stderr)
        try:
            stopped = _run_entry(entry, store, out, mode, group, progress, result)
        except Exception as exc:  # one failing entry (a user error or a plugin's bug) must not stop the others
            reason = _reason(exc)
            result.failed.append(f"{entry.name}: {reason}")
            print(f"  failed: {reason}", file=sys.stderr)
            continue
        if stopped is not None:
            print(f"interrupted at step {stopped}; checkpoint saved. Run the same ganzoo bench command to continue.", file=sys.stderr)
            result.interrupted = True
            break


# -- in worker processes (--jobs N) -------------------------------------------------------

class _Deferred:
    """A worker's stand-in for the results store: it keeps the writes for the parent, the one writer of the store."""

    def __init__(self, stored: bool) -> None:
        self.stored = stored  # whether the store held the entry's rows when it was handed out
        self.writes: list[tuple[str, tuple]] = []

    def has(self, run: str) -> bool:
        return self.stored

    def record_training(self, *args: Any) -> None:
        self.writes.append(("record_training", args))

    def put(self, *args: Any) -> None:
        self.writes.append(("put", args))

    def replay(self, store: Store) -> None:
        for method, args in self.writes:
            getattr(store, method)(*args)


@dataclass
class _Outcome:
    """What a worker sends back for one entry."""

    store: _Deferred = field(default_factory=lambda: _Deferred(False))
    trained: int = 0
    evaluated: int = 0
    stopped: int | None = None  # interrupted (Ctrl-C): the step its checkpoint holds
    aborted: bool = False  # interrupted outside the trainer's save-and-stop (a second Ctrl-C, or during evaluation)
    begun: bool = True  # False: a Ctrl-C came before it began, and it did not
    failed: str | None = None


def _entry_in_worker(entry: Planned, out: Path, mode: str, group: str, stored: bool, prefix: str) -> _Outcome:
    """:func:`_run_entry` in a worker process, without progress bars, on the worker's device."""
    outcome = _Outcome(_Deferred(stored))
    if worker_device() is not None:
        entry.config.device = worker_device()
    with entry_scope(prefix) as begin:
        if not begin:
            outcome.begun = False
            return outcome
        counts = BenchResult(0, 0, [], [], False, 0.0)
        try:
            outcome.stopped = _run_entry(entry, outcome.store, out, mode, group, False, counts)
            if outcome.stopped is not None:
                print(f"interrupted at step {outcome.stopped}; checkpoint saved", file=sys.stderr)
        except KeyboardInterrupt:
            outcome.aborted = True
        except Exception as exc:  # as in one process: the entry fails, the bench goes on
            outcome.failed = _reason(exc)
        outcome.trained, outcome.evaluated = counts.trained, counts.evaluated
    return outcome


def _run_in_workers(
    entries: list[Planned], devices: list[str | None], store: Store, out: Path, mode: str, group: str, result: BenchResult, start: float,
) -> None:
    """Hand the entries to worker processes, one at a time each, and store what comes back, as it comes."""
    todo = list(enumerate(entries, 1))
    running: dict[Future, tuple[int, Planned]] = {}
    left: list[str] = []  # entries a Ctrl-C stopped or kept from starting

    def say_stopping() -> None:
        print(f"Ctrl-C: no more entries start; the {len(running)} running save a checkpoint and stop (Ctrl-C again to stop at once)",
              file=sys.stderr)

    with Workers(devices, say_stopping) as workers:
        while todo or running:
            while todo and not (workers.stopping or result.interrupted) and (slot := workers.idle_slot()) is not None:
                i, entry = todo.pop(0)
                prefix = f"[{i}/{len(entries)}] {entry.label()}: "
                print(_header(i, len(entries), entry, start), file=sys.stderr)
                if _done_earlier_here(entry, store, out):  # no worker needed to find that out
                    print(f"{prefix}done earlier: skipped", file=sys.stderr)
                    continue
                rel = str(entry.run_dir.relative_to(out))
                running[workers.submit(slot, _entry_in_worker, entry, out, mode, group, store.has(rel), prefix)] = (i, entry)
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                i, entry = running.pop(future)
                workers.finished(future)
                outcome = _outcome(future)
                outcome.store.replay(store)
                result.trained += outcome.trained
                result.evaluated += outcome.evaluated
                if outcome.failed is not None:
                    result.failed.append(f"{entry.name}: {outcome.failed}")
                    print(f"[{i}/{len(entries)}] {entry.label()}: failed: {outcome.failed}", file=sys.stderr)
                elif outcome.stopped is not None or outcome.aborted or not outcome.begun:
                    result.interrupted = True
                    left.append(entry.name)
        if workers.stopping:
            left += [entry.name for _, entry in todo]
            result.interrupted = result.interrupted or bool(left)
    if result.interrupted:
        print(f"interrupted with {len(left)} of {len(entries)} entries unfinished (one that started keeps its last checkpoint). "
              "Run the same ganzoo bench command to continue.", file=sys.stderr)


def _done_earlier_here(entry: Planned, store: Store, out: Path) -> bool:
    try:
        return _done_earlier(entry, store, out)
    except Exception:  # a damaged eval.json, say: the worker meets it again and fails the entry with its one line
        return False


def _outcome(future: Future) -> _Outcome:
    try:
        return future.result()
    except BrokenProcessPool as exc:  # its process died (kill -9, out of memory); its slot gets a fresh one
        return _Outcome(failed=f"its worker process died ({type(exc).__name__}: {first_line(exc)})")
    except KeyboardInterrupt:  # a Ctrl-C that reached the worker after the entry's own handling of it
        return _Outcome(aborted=True)
    except Exception as exc:  # the outcome could not come back (it would not pickle, say)
        return _Outcome(failed=_reason(exc))


def _header(i: int, total: int, entry: Planned, start: float) -> str:
    return (f"[{i}/{total}] {entry.label()}: {entry.config.steps} steps = {entry.kimg:g} kimg at batch {entry.config.batch_size} "
            f"({time.perf_counter() - start:.0f} s into the bench)")


def _reason(exc: Exception) -> str:
    return str(exc) if isinstance(exc, GanzooError) else f"{type(exc).__name__}: {first_line(exc)}"


def _run_entry(entry: Planned, store: Store | _Deferred, out: Path, mode: str, group: str, progress: bool, result: BenchResult) -> int | None:
    """Bring one entry up to date. The step training stopped at when it was interrupted (Ctrl-C), else None."""
    from ..eval.evaluate import evaluate
    from ..eval.live import live_evaluation

    rel = str(entry.run_dir.relative_to(out))
    config, folder = entry.config, RunFolder(entry.run_dir)
    if _done_earlier(entry, store, out):
        print("  done earlier: skipped", file=sys.stderr)
        return None
    step, existing = _reached_step(folder, config)
    if step > 0:  # a resumed run goes on computing as it began (a preset's memory format may have changed since)
        config = replace(config, memory_format=existing.memory_format, compile=existing.compile)
    if step == 0 and folder.path.exists():
        # Killed before its first checkpoint: nothing in it can be resumed, and the folder is
        # this bench's own attempt at this very entry (same recipe and seed).
        print("  an earlier attempt left no checkpoint: training afresh", file=sys.stderr)
        shutil.rmtree(folder.path)
    sink = None
    if mode != "off":
        wandb_config = {**config.to_dict(), "bench": {"kimg": entry.kimg, "params": entry.params, "config_hash": config_hash(config)}}
        sink = WandbSink(folder.wandb_id_file, folder.path.name, wandb_config, mode, folder=out, group=group, finish_on_close=False)
        sink.start()  # a W&B that cannot start fails the entry here, before any training
    try:
        if step < config.steps:
            began = time.perf_counter()
            if step > 0:
                print(f"  resuming from step {step}", file=sys.stderr)
            run = session.fit(
                folder, config, resume=step > 0, progress=progress, sinks=[sink] if sink else None,
                callbacks=live_evaluation(entry.eval_every, curves_at_end=True),
            )
            store.record_training(rel, step, run.result.step, time.perf_counter() - began)
            result.trained += 1
            if run.interrupted:
                return run.result.step
        report = folder.read_eval_report()
        if not _evaluated_at(report, config.steps, entry.eval_n):
            began = time.perf_counter()
            report = evaluate(folder.path, n=entry.eval_n)
            eval_seconds = time.perf_counter() - began
            result.evaluated += 1
        else:
            eval_seconds = None
        store.put(_entry_row(entry, rel, report, eval_seconds), _metric_rows(report))
        if sink:
            sink.log_final({f"final/{k}": v for _, k, v in _metric_rows(report)}, report["protocol"])
        numbers = ", ".join(f"{k} {v:.4g}" for source, k, v in _metric_rows(report) if v is not None and plugins.metric_number(source, k).shown)
        print(f"  {numbers}", file=sys.stderr)
        for name, reason in report.get("failed", {}).items():  # the others were stored; this one has no numbers
            print(f"  metric {name} failed ({reason})", file=sys.stderr)
    finally:
        if sink:
            sink.finish()
    return None


def _done_earlier(entry: Planned, store: Store | _Deferred, out: Path) -> bool:
    """Whether the store holds the entry's rows and its run is evaluated at its final step at the bench's protocol."""
    rel = str(entry.run_dir.relative_to(out))
    return store.has(rel) and _evaluated_at(RunFolder(entry.run_dir).read_eval_report(), entry.config.steps, entry.eval_n)


def _reached_step(folder: RunFolder, config: RunConfig) -> tuple[int, RunConfig | None]:
    """The step an existing run folder has reached (0 for none) and its config; refuses a folder made for another recipe."""
    if not folder.path.exists():
        return 0, None
    if not folder.is_run():
        raise GanzooError(f"{folder} exists but is not a run folder; move it away to train this entry")
    existing = load_run(folder.path).config
    if config_hash(existing) != config_hash(config) or existing.seed != config.seed:
        raise GanzooError(f"{folder} was trained with another config; move it away, or bench into another --out")
    return folder.checkpoint_step("last") or 0, existing  # none: the same recipe, stopped before its first checkpoint


def _evaluated_at(report: dict[str, Any] | None, steps: int, n: int) -> bool:
    """Whether a run's evaluation report scores the final step at the bench's protocol (last checkpoint, N, seed 0)."""
    protocol = report.get("protocol") if report else None
    if not isinstance(protocol, dict):
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


def _entry_row(entry: Planned, rel: str, report: dict[str, Any], eval_seconds: float | None) -> Entry:
    from ..eval.live import LIVE_N, LIVE_SEED

    c = entry.config
    # The curves' points were scored at live evaluation's own N (smaller than the final one), said beside the final protocol.
    live = {"n": LIVE_N[plugins.datasets().get(c.dataset).kind], "every": entry.eval_every, "seed": LIVE_SEED}
    return Entry(
        run=rel, model=c.model, dataset=c.dataset, seed=c.seed, kimg=entry.kimg, steps=c.steps, batch_size=c.batch_size,
        config_hash=config_hash(c), config=c.to_dict(), eval_protocol={**report["protocol"], "live_evaluation": live},
        train_seconds=RunFolder(entry.run_dir).train_seconds(), eval_seconds=eval_seconds, params=entry.params, ganzoo_version=plugins.ganzoo_version(),
    )


def _real_data_floors(entries: list[Planned], store: Store) -> int:
    """One 'real data' row per dataset setup: what a perfect generator would score at this protocol."""
    from ..eval.evaluate import evaluate_real_data

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
