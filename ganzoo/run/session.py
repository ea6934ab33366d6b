"""Training a run, new or resumed, along one path: check, build, open sinks, then train.

Everything that can fail on bad input (options, names, the data, live-evaluation settings,
the files of the run being resumed, W&B) fails before a new run folder is made or an
existing one is touched. Training holds the folder (:meth:`RunFolder.claim`) from its checks
to its end, so two processes never train into one folder; a new run in a folder that a
killed run left without a checkpoint (state ``started``) clears it and starts afresh.

Under torchrun (data-parallel) every rank calls these functions; rank 0 alone reads and
writes the run folder and shares what the others need (the config, the checkpoint, or the
one-line error that stops them all), so other ranks, even on other machines, never touch it.
"""

from __future__ import annotations

import io
import sys
from contextlib import ExitStack, redirect_stderr

from pathlib import Path
from typing import Any, Callable, Mapping

from .. import plugins
from ..config import RunConfig
from ..data import Dataset
from ..errors import GanzooError, ReportedElsewhere
from ..training.callbacks import TrainerCallback
from ..training.distributed import World, any_rank, broadcast_object
from ..training.divergence import check_on_nan
from ..training.precision import check_precision
from ..training.sinks import Sink
from ..training.trainer import Trainer
from ..training.wandb_sink import WandbSink, announce_wandb, check_wandb_mode
from .build import build_dataset, build_model
from .compilation import compile_networks, set_memory_format
from .config import make_run_config, read_config_file
from .device import join_world, resolve_device
from .folder import STARTED, RunFolder
from .run import Run, load_run

# Made once the dataset is built, before the run folder is touched: (dataset, config) -> callbacks.
CallbackFactory = Callable[[Dataset, RunConfig], list[TrainerCallback]]


def on_rank_zero(world: World, make: Callable[[], Any]) -> Any:
    """``make()`` run by rank 0, its result on every rank; its :class:`GanzooError` raised on every rank."""
    if not world.distributed:
        return make()
    if world.main:
        try:
            value = make()
        except GanzooError as exc:
            broadcast_object(("error", str(exc)), world)
            raise
        except BaseException as exc:
            broadcast_object(("error", f"rank 0 failed: {type(exc).__name__}"), world)
            raise
        broadcast_object(("ok", value), world)
        return value
    kind, value = broadcast_object(None, world)
    if kind == "error":
        raise ReportedElsewhere(value)  # rank 0 prints it
    return value


def training_split(config: RunConfig, folder: RunFolder, resume: bool, world: World) -> str:
    """What the run trains on, ``"all"`` or ``"train"``: the model's declaration for a new run,
    and for a resumed one what it recorded (``"all"`` when it recorded nothing: it was made
    before runs did), so a run goes on drawing from what it started with."""
    if not resume:
        return plugins.models().get(config.model).trains_on
    recorded = on_rank_zero(world, folder.read_trained_on)
    return recorded["split"] if recorded else "all"


def training_data(config: RunConfig, world: World, split: str) -> Dataset:
    """The run's dataset, confined to its train split when ``split`` is ``"train"``.

    Every rank applies the same split to the same data, so data-parallel ranks draw from the
    same samples, as they draw the same order.
    """
    data = build_data(config, world)
    return data.train_split() if split == "train" else data


def build_data(config: RunConfig, world: World) -> Dataset:
    """The run's dataset. Data-parallel: each machine's local rank 0 builds it first, the others then.

    A dataset may fill a cache when it is first built (image-folder decodes every file,
    ``--download`` fetches); one process per machine does that work, and the machine's
    other ranks find it done. They build quietly: what a build says (files skipped) is said once.
    """
    if not world.distributed:
        return build_dataset(config)
    data, error = None, None
    if world.local_rank == 0:
        try:
            data = build_dataset(config)
        except GanzooError as exc:
            error = exc
    if any_rank(error is not None, world):  # every rank meets here, so the others wait for the first build
        raise error if error is not None else ReportedElsewhere("the dataset could not be built on another rank")
    if data is None:
        with redirect_stderr(io.StringIO()):
            data = build_dataset(config)
    return data


def new_run(
    model: str | None = None, dataset: str | None = None, *, out: str | Path | None = None,
    config: str | Path | Mapping[str, Any] | None = None, sets: Mapping[str, Any] | None = None, check_folder: bool = True,
    **options: Any,
) -> tuple[RunFolder, RunConfig]:
    """The folder and the checked config of a run about to start (nothing is written yet).

    ``check_folder=False`` checks the options alone (a launcher on a machine that may not hold the folder).
    """
    world = join_world()

    def make() -> tuple[Path, RunConfig]:
        file_values = read_config_file(config) if isinstance(config, (str, Path)) else dict(config or {})
        run_config = make_run_config(model, dataset, file_values=file_values, sets=sets, **options)
        run_config.world_size = world.size
        if not check_folder:
            return Path(out) if out is not None else Path("."), run_config
        return RunFolder.for_new_run(out, run_config.model, run_config.dataset).path, run_config

    path, run_config = on_rank_zero(world, make)
    return RunFolder(path), run_config


def existing_run(
    run_dir: str | Path, steps: int | None = None, device: str | None = None, compile: str | None = None,
    world_size: int | None = None,
) -> tuple[RunFolder, RunConfig]:
    """The folder and config of a run to continue; ``steps`` may raise its target, ``device`` move it, ``compile`` change its backend.

    Its ``precision`` stays: it is part of what the run computes, and fp16's scaler state is in its checkpoint.
    ``world_size``: the processes that will resume it (default: this job's).
    """
    world = join_world()
    processes = world.size if world_size is None else world_size

    def make() -> tuple[Path, RunConfig]:
        run = load_run(run_dir)
        run.folder.check_resumable()
        cfg = run.config
        if cfg.world_size != processes:
            raise GanzooError(
                f"{run.folder} was trained by {cfg.world_size} process(es), not {processes}: each rank's random state and "
                f"share of the data are in its checkpoint, so resume it with the same number (ganzoo run --resume {run.folder} "
                f"--nproc-per-node {cfg.world_size})"
            )
        if steps is not None:
            cfg.steps = make_run_config(cfg.model, cfg.dataset, file_values=cfg.to_dict(), steps=steps).steps
        if device is not None:
            cfg.device = device
        if compile is not None:
            cfg.compile = make_run_config(cfg.model, cfg.dataset, file_values=cfg.to_dict(), compile=compile).compile
        return run.folder.path, cfg

    path, cfg = on_rank_zero(world, make)
    return RunFolder(path), cfg


def fit(
    folder: RunFolder, config: RunConfig, *, resume: bool, progress: bool = True, sinks: list[Sink] | None = None,
    callbacks: CallbackFactory | None = None, wandb: str = "off", on_nan: str = "stop",
) -> Run:
    """Train ``config`` into ``folder``: a new run (``resume=False``) or the continuation of its last checkpoint.

    ``on_nan`` is what a non-finite loss does: ``stop`` the run (a DivergedError; the last
    checkpoint stays the last good one) or ``skip`` the update (see :meth:`Trainer.train_step`).
    """
    world = join_world()
    on_rank_zero(world, lambda: (check_on_nan(on_nan), check_wandb_mode(wandb)))
    device = resolve_device(config.device, world)
    on_rank_zero(world, lambda: check_precision(config.precision, device))  # 16-mixed on a CPU: refused before anything is built or written
    data = training_data(config, world, training_split(config, folder, resume, world))
    gan = build_model(config, data.info, device)
    set_memory_format(gan, config.memory_format)  # before the optimizers hold state for the weights, and before compiling
    compile_networks(gan, config.compile)  # before the trainer sees the networks (and wraps any for DDP)
    made_callbacks: list[TrainerCallback] = []

    def make_callbacks() -> None:  # on rank 0 alone, which evaluates and writes; its errors stop every rank
        made_callbacks.extend(callbacks(data, config) if callbacks else [])

    on_rank_zero(world, make_callbacks)
    trainer = Trainer(gan, data, config, folder, device, sinks=list(sinks or []) if world.main else [], progress=progress,
                      callbacks=made_callbacks, on_nan=on_nan, world=world)
    def prepare_resume() -> dict | None:
        folder.check_resumable()
        folder.read_dataset_info()  # every file the run reads is checked before one is changed
        folder.metrics()
        for name in ("last", "best"):
            folder.checkpoint_record(name)
        state = folder.load_checkpoint("last")
        trainer.resume(state)
        if config.steps < trainer.step:
            raise GanzooError(f"--steps {config.steps} is below step {trainer.step} that {folder} has reached")
        trainer.extra_sinks += _wandb_sinks(wandb, folder, config)
        folder.remove_stale_temporary_files()
        folder.write_config(config)
        _record_plugins(folder, config)  # what trains it from here on (and a record for runs made before there was one)
        return state if world.distributed else None  # the other ranks resume from it too

    existed = world.main and folder.path.exists()

    def prepare_new() -> None:
        try:
            if folder.check_new_run_may_use() == STARTED:  # checked again: another process may have got there first
                folder.clear_started_run()
                print(f"{folder}: the run there stopped before its first checkpoint, so there is nothing to resume; starting it afresh", file=sys.stderr)
            folder.remove_stale_temporary_files()
            folder.write_config(config)  # first: from here on the folder is a run (started, then resumable)
            trainer.extra_sinks += _wandb_sinks(wandb, folder, config)
            folder.write_dataset_info(data.info, trained_on=data.trained_on())
            _record_plugins(folder, config)
        except BaseException:
            if not existed:  # W&B could not start, say: leave no folder behind
                _remove_new_folder(folder)
            raise

    # Rank 0 alone holds the folder, prepares it and reads the checkpoint; whatever fails there stops every rank.
    with ExitStack() as held:
        on_rank_zero(world, lambda: held.enter_context(folder.claim()))
        state = on_rank_zero(world, prepare_resume if resume else prepare_new)
        if resume and not world.main:
            trainer.resume(state)
        return Run(folder, config, trainer.fit())


def _record_plugins(folder: RunFolder, config: RunConfig) -> None:
    # So that a run whose plugin is later missing says which one to install or let load (load_run).
    folder.write_plugins({"model": plugins.origin("model", config.model), "dataset": plugins.origin("dataset", config.dataset)})


def _remove_new_folder(folder: RunFolder) -> None:
    # Only when it holds nothing but what this run wrote; otherwise (W&B made its own folder
    # in it, say) it stays "started", and a re-run with the same --out starts it afresh.
    ours = {folder.config_file.name, folder.dataset_info_file.name, folder.plugins_file.name}
    if {p.name for p in folder.path.iterdir()} <= ours:
        folder.clear_started_run()
        folder.path.rmdir()


def _wandb_sinks(mode: str, folder: RunFolder, config: RunConfig) -> list[Sink]:
    if check_wandb_mode(mode) == "off":
        return []
    announce_wandb(mode, folder.path)
    sink = WandbSink(folder.wandb_id_file, folder.path.name, config.to_dict(), mode, folder=folder.path)
    sink.start()  # a W&B that cannot start fails here, before any training
    return [sink]
