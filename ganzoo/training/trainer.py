"""The one trainer every model shares.

It runs the phases a model's objective declares, in order, every step; draws real
batches; logs the objective's named scalars; draws sample pictures from fixed latents;
writes checkpoints; and resumes from one exactly. It never knows which model it trains.

Exact resume: a checkpoint holds every source of change (weights, optimizer state,
objective state, torch's RNG, the batcher's shuffle state and position, the step), and
pictures use their own ``torch.Generator``, so a run stopped and resumed reaches the
same weights, bit for bit on CPU, as one never stopped.

Data-parallel (several processes started by torchrun, ``world``): every rank runs this
loop on its own share of each batch with its own latents; gradients are averaged by one
DDP wrapper per trained network (:mod:`ganzoo.training.distributed`); rank 0 alone writes
(metrics, pictures, checkpoints), and a checkpoint holds every rank's RNG state and
metrics window, so resuming with the same number of processes is exact too.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..config import RunConfig
from ..data import Batcher, Dataset
from ..errors import CheckpointError, GanzooError, first_line
from ..files import atomic_write
from ..model import GAN, Batch
from .callbacks import StepInfo, TrainerCallback
from .checkpoint import check_training_state
from .distributed import (
    SINGLE, DataParallel, World, any_rank, check_ranks_agree, earliest, gather_objects, mean_over_ranks, shared, unused_parameters_error,
)
from .divergence import DivergedError, FiniteWatch, check_on_nan, finite_update, nonfinite_scalars, nonfinite_tensor
from .precision import Precision
from .run_files import RunFiles
from .pictures import save_loss_curves, save_samples, save_translations
from .sinks import ScalarWindow, Sink


# During training the loss curve is redrawn at checkpoints at most this often: drawing it
# costs a fraction of a second, and metrics.jsonl already holds every number.
LOSS_PLOT_SECONDS = 60.0

# Pictures use latents from this offset of the run's seed, so the grid shows the same z
# throughout training and drawing it never touches the training RNG.
PICTURE_SEED_OFFSET = 1_000_003


def load_networks(gan: GAN, state: dict) -> None:
    """Copy a checkpoint's network weights into ``gan`` (strictly: every key must match)."""
    networks = state.get("networks") if isinstance(state, dict) else None
    if not isinstance(networks, dict):
        raise CheckpointError(f"the checkpoint has no 'networks' entry of weights (found {type(networks).__name__})")
    try:
        for name, net in gan.networks.items():
            if name not in networks:
                raise KeyError(f"no weights for network {name!r} (it has {', '.join(map(str, networks)) or 'none'})")
            net.load_state_dict(networks[name])
    except (KeyError, RuntimeError, TypeError, AttributeError, ValueError) as exc:
        raise _does_not_fit(exc) from None


def _does_not_fit(exc: BaseException) -> CheckpointError:
    return CheckpointError(f"the checkpoint does not fit the model built from config.yaml ({first_line(exc)})")


@dataclass
class TrainResult:
    step: int
    interrupted: bool
    skipped: int = 0  # steps so far in which --on-nan skip left an update out


class Trainer:
    """Train ``gan`` on ``dataset`` as ``config`` says, writing only through ``folder`` (:class:`RunFiles`)."""

    def __init__(
        self,
        gan: GAN,
        dataset: Dataset,
        config: RunConfig,
        folder: RunFiles,
        device: torch.device,
        sinks: list[Sink] | None = None,
        progress: bool = True,
        callbacks: list[TrainerCallback] | None = None,
        on_nan: str = "stop",
        world: World = SINGLE,
    ) -> None:
        self.gan = gan.to(device)
        self.world = world
        # Only parameters that take gradients when the trainer gets them are switched on and off
        # per phase: a parameter a plugin froze (requires_grad False) stays frozen.
        self._trainable = {name: [p for p in net.parameters() if p.requires_grad] for name, net in gan.networks.items()}
        self.info = dataset.info
        self.config = config
        self.folder = folder
        self.device = device
        try:
            self.batcher = Batcher(dataset, config.batch_size, config.seed, device, world.rank, world.size)
        except GanzooError as exc:
            raise shared(exc, world) from None
        self._unseen = dataset.unseen_index()  # pictures of pairs show images training never draws, when there are any
        self.extra_sinks = list(sinks or [])
        self.callbacks = list(callbacks or [])
        self.progress = progress
        self.on_nan = check_on_nan(on_nan)
        self.precision = Precision(config.precision, device, gan.optimizers)  # autocast, and fp16's gradient scalers
        self.step = 0
        self.images_seen = 0
        self.elapsed = 0.0
        self.skipped = 0  # steps in which --on-nan skip left an update out; checkpointed
        self._watch: FiniteWatch | None = None  # while fit() runs
        self._checked_step = -1  # the last step whose losses were checked finite
        self._saved_step: int | None = None  # the step of the last checkpoint on disk
        self.window = ScalarWindow()  # scalars since the last metrics line; checkpointed
        self._sinks: list[Sink] = []  # the open sinks, while fit() runs
        self._stop_requested = False
        self._last_plot = time.perf_counter()
        self._phase_keys: set[str] = set()  # window entries every rank adds (averaged over the ranks when logged)
        self.parallel: DataParallel | None = None
        if world.distributed:
            torch.manual_seed(world.seed(config.seed))  # the weights were built from the seed alone; latents differ per rank
            self.parallel = DataParallel(gan, [phase.network for phase in gan.objective.phases], device, world)

    # -- checkpoints -------------------------------------------------------
    def _rng_state(self) -> dict:
        rng = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return rng

    def state_dict(self, every_rank: bool = True) -> dict:
        """The training state; under data parallelism ``every_rank`` (a collective) adds each rank's RNG and window."""
        rng = self._rng_state()
        state = {
            "step": self.step,
            "images_seen": self.images_seen,
            "elapsed": self.elapsed,
            "networks": {name: net.state_dict() for name, net in self.gan.networks.items()},
            "optimizers": {name: opt.state_dict() for name, opt in self.gan.optimizers.items()},
            "objective": self.gan.objective.state_dict(),
            "batcher": self.batcher.state_dict(),
            "window": self.window.state_dict(),
            "rng": rng,
            "skipped": self.skipped,
            "world_size": self.world.size,
            "grad_scalers": self.precision.state_dict(),
        }
        if self.world.distributed and every_rank:
            state["ranks"] = gather_objects({"rng": rng, "window": self.window.state_dict()}, self.world)
            state["phase_keys"] = sorted(self._phase_keys)  # which window entries are averaged over the ranks
        return state

    def load_state_dict(self, state: dict) -> None:
        check_training_state(state)  # every entry present and of its type, before anything is changed
        trained_by = state.get("world_size", 1)
        if trained_by != self.world.size:
            raise CheckpointError(
                f"it was trained by {trained_by} process(es) and this is {self.world.size}: every rank's random state is in it, "
                f"so resume it with {trained_by} (ganzoo run --resume RUN --nproc-per-node {trained_by})"
            )
        own = {"rng": state["rng"], "window": state["window"]}
        if self.world.distributed:
            ranks = state.get("ranks")
            if not isinstance(ranks, list) or len(ranks) != self.world.size:
                raise CheckpointError("it has no per-rank state for each of the processes")
            own = ranks[self.world.rank]
        try:
            load_networks(self.gan, state)
            for name, opt in self.gan.optimizers.items():
                if name not in state["optimizers"]:
                    raise KeyError(f"no state for optimizer {name!r}")
                opt.load_state_dict(state["optimizers"][name])
            self.gan.objective.load_state_dict(state["objective"])
            self.batcher.load_state_dict(state["batcher"])
            self.window.load_state_dict(own["window"], self.device)
            self.precision.load_state_dict(state.get("grad_scalers", {}))
            torch.set_rng_state(own["rng"]["torch"].cpu())
            if "cuda" in own["rng"] and self.device.type == "cuda":
                torch.cuda.set_rng_state(own["rng"]["cuda"].cpu(), self.device)
        except (KeyError, RuntimeError, ValueError, TypeError, AttributeError, IndexError) as exc:
            raise _does_not_fit(exc) from None
        if self.world.distributed:
            self._phase_keys = set(state.get("phase_keys", []))
        self.step = int(state["step"])
        self.images_seen = int(state["images_seen"])
        self.elapsed = float(state["elapsed"])
        self.skipped = int(state.get("skipped", 0))

    def resume(self, state: dict | None = None) -> None:
        """Continue from the run folder's last checkpoint (``state``: that checkpoint, already read by rank 0)."""
        # Loaded on the CPU: state dicts copy themselves to their tensors' devices, and RNG states must be CPU tensors.
        if state is None:
            state = self.folder.load_checkpoint("last")
        try:
            self.load_state_dict(state)
        except CheckpointError as exc:
            raise CheckpointError(f"{self.folder.checkpoint_file('last')}: {exc}") from None
        self._saved_step = self.step

    def save(self) -> None:
        """Write the last checkpoint (every rank takes part; rank 0 writes it)."""
        state = self.finite_state_dict()
        if self.world.distributed:  # what is saved must be what every rank holds
            check_ranks_agree({key: state[key] for key in ("networks", "optimizers", "objective", "batcher")}, self.world)
        if self.world.main:
            self.folder.save_checkpoint(state, "last")
        self._saved_step = self.step

    def finite_state_dict(self, every_rank: bool = True) -> dict:
        """:meth:`state_dict`, after checking that the losses since the last check and the weights are finite.

        Raises :class:`DivergedError` otherwise: non-finite state is never saved, so the last
        checkpoint on disk stays the last good one. Under data parallelism ``every_rank`` is
        a collective (all ranks call it together); ``False`` reads this rank alone.
        """
        self.check_finite(collective=every_rank)
        state = self.state_dict(every_rank)
        where = nonfinite_tensor({"networks": state["networks"], "optimizers": state["optimizers"]})
        if (any_rank(where is not None, self.world) if every_rank else where is not None):
            error = DivergedError(f"training diverged: {where or 'the weights'} is not finite after step {self.step}; {self._kept()}")
            raise shared(error, self.world) if every_rank else error
        return state

    def check_finite(self, collective: bool = True) -> None:
        """Raise :class:`DivergedError` if a loss was not finite since the last check (the one host sync it costs).

        Under data parallelism a ``collective`` check (every rank calls it at the same step)
        raises on every rank when any rank saw a non-finite loss.
        """
        if self._watch is None:
            return
        bad = None if self._checked_step == self.step else self._watch.first_bad_step()
        if collective:
            bad = earliest(bad, self.world)
        if bad is None:
            self._checked_step = self.step
            return
        scalars = nonfinite_scalars(self.window.totals())
        what = ", ".join(f"{name} {value}" for name, value in scalars.items()) or "a loss"
        error = DivergedError(f"training diverged at step {bad}: a non-finite loss ({what} by step {self.step}); {self._kept()}")
        raise shared(error, self.world) if collective else error

    def _kept(self) -> str:
        if self._saved_step is None:
            return "no checkpoint had been written, so none was (try a lower learning rate, or --on-nan skip to leave such steps out)"
        return (f"{self.folder.checkpoint_file('last')} (step {self._saved_step}) is kept and nothing later was saved "
                "(try a lower learning rate, or --on-nan skip to leave such steps out)")

    def step_info(self) -> StepInfo:
        # Callbacks run on rank 0 alone, so their snapshot must not wait for the other ranks.
        return StepInfo(self.step, self.gan, self.folder, self.title, lambda: self.finite_state_dict(every_rank=False))

    @property
    def title(self) -> str:
        return f"{self.config.model} on {self.config.dataset}"

    # -- the loop ----------------------------------------------------------
    def train_step(self) -> None:
        """Run every phase due at this step; each phase updates only its own network.

        With ``on_nan="skip"`` a phase whose loss or gradients are not finite is not applied:
        its gradients are dropped before the optimizer step, which (like the objective's
        ``after_step``) is not taken; the step still draws its batches, so the data order
        stays that of an unbroken run, and counts in ``skipped``.
        """
        skip = self.on_nan == "skip"
        applied: torch.Tensor | None = None  # the sum of the losses applied in this step
        left_out = False
        for phase in self.gan.objective.phases:
            if self.step % phase.every:
                continue
            for name, params in self._trainable.items():
                for param in params:
                    param.requires_grad_(name == phase.network)
            optimizer = self.gan.optimizers[phase.optimizer]
            for _ in range(phase.repeats):
                real, labels = self.batcher.next()
                self.images_seen += len(real) * self.world.size
                optimizer.zero_grad(set_to_none=True)
                with self._synced(phase.network):
                    with self.precision.autocast(phase.optimizer):
                        result = self.gan.objective.loss(phase.name, Batch(real, labels, self.step))
                    self.precision.backward(result.loss, phase.optimizer)
                # Under an fp16 gradient scaler the gradients are its to check (see ganzoo.training.precision).
                checked = () if self.precision.scales_gradients else self._trainable[phase.network]
                # Gradients are averaged over the ranks, but a loss is each rank's own: decide together.
                if skip and any_rank(not finite_update(result.loss, checked), self.world):
                    optimizer.zero_grad(set_to_none=True)
                    left_out = True
                    continue
                try:
                    stepped = self.precision.step(optimizer, phase.optimizer)
                except RuntimeError as exc:
                    if "overflow" not in str(exc):
                        raise
                    raise DivergedError(
                        f"training diverged at step {self.step + 1}: the {phase.name} optimizer step overflowed ({first_line(exc)}); "
                        f"{self._kept()}"
                    ) from None
                if stepped:  # not when the fp16 scaler skipped the step for overflowing gradients: no divergence
                    self.gan.objective.after_step(phase.name)
                loss = result.loss.detach()
                applied = loss if applied is None else applied + loss
                self._add_scalar(f"loss/{phase.name}", loss)
                for key, value in result.scalars.items():
                    self._add_scalar(key, value.detach())
        for key, value in self.precision.scalars():
            self._add_scalar(key, value)
        if self.parallel is not None:
            self.parallel.sync_buffers()  # before the EMA copies them
        self.gan.update_ema(self.step)
        self.step += 1
        self.skipped += left_out
        if self._watch is not None and applied is not None:
            self._watch.observe(applied)

    def _add_scalar(self, key: str, value: torch.Tensor) -> None:
        self.window.add(key, value)
        self._phase_keys.add(key)

    @contextmanager
    def _synced(self, network: str):
        """Under data parallelism: route ``network`` through its DDP wrapper, and name a plugin's unused parameters."""
        if self.parallel is None:
            yield
            return
        try:
            with self.parallel.phase(network):
                yield
        except RuntimeError as exc:
            error = unused_parameters_error(exc)
            if error is None:
                raise
            raise shared(error, self.world) from exc

    def _window_means(self, pop: bool) -> dict[str, float]:
        """The window's means; under data parallelism the phases' scalars are averaged over the ranks (a collective)."""
        if self.world.distributed:
            sums = self.window.totals()
            keys = sorted(key for key in sums if key in self._phase_keys)
            if len(set(map(tuple, gather_objects(keys, self.world)))) > 1:  # else the reduction below would mix entries
                raise shared(GanzooError("the ranks logged different scalars (an objective's scalars must not depend on a rank's "
                                         "data); cannot average them"), self.world)
            averaged = [sums[key].clone() for key in keys]
            mean_over_ranks(averaged, self.world)
            means = self.window.means()
            for key, total in zip(keys, averaged):
                means[key] = float(total) / self.window.count(key)
            if pop:
                self.window.pop_means()
            return means
        return self.window.pop_means() if pop else self.window.means()

    def fit(self) -> TrainResult:
        """Train until ``config.steps``; Ctrl-C stops after the current step with a checkpoint saved."""
        cfg, main = self.config, self.world.main
        if self.world.distributed and self.parallel is None:
            raise RuntimeError("a data-parallel Trainer fits once (its DDP wrappers are closed at the end): make a new one")
        sinks: list[Sink] = [self.folder.open_metrics_log(self.step, cfg.log_every), *self.extra_sinks] if main else []
        self._sinks = sinks
        try:
            for callback in self.callbacks:
                callback.on_fit_start(self.step_info())
        except BaseException:
            for sink in sinks:  # opened above; the loop's own finally is not reached yet
                sink.close()
            self._sinks = []
            raise
        if self.progress and main:
            where = f"{self.world.size} processes" if self.world.distributed else str(self.device)
            print(f"{self.title}: steps {self.step}->{cfg.steps} on {where}, run folder {self.folder}", file=sys.stderr)
        bar = tqdm(
            total=cfg.steps, initial=self.step, unit="step", dynamic_ncols=True,
            desc=self.title, disable=not (self.progress and main), mininterval=0.5,
        )
        restore = self._catch_stop_signals()
        start, start_elapsed = time.perf_counter(), self.elapsed
        self._watch, self._checked_step = FiniteWatch(self.step, self.device), self.step
        try:
            while self.step < cfg.steps and not self._stop_all():
                self.train_step()
                bar.update(1)
                self.elapsed = start_elapsed + time.perf_counter() - start
                if self.callbacks:
                    self._run_callbacks()
                # Lines, pictures and checkpoints are where a divergence is looked for: the window's
                # means sync there anyway, and nothing non-finite is made to last.
                if self.step % cfg.log_every == 0:
                    self.check_finite()
                    self._log(sinks, bar, self._window_means(pop=True))
                if self.step % cfg.sample_every == 0:
                    self.check_finite()
                    if main:
                        self.save_pictures(self.folder.sample_picture(self.step))
                if self.step % cfg.checkpoint_every == 0:
                    self.save()
                    if main and time.perf_counter() - self._last_plot > LOSS_PLOT_SECONDS:
                        self._plot_losses()
            # A last line off the log grid (the final step, a stop) reports without emptying the
            # window: the checkpoint keeps it, so a resumed run logs what an unbroken one would.
            self.check_finite()
            unlogged = self._window_means(pop=False) if self.step % cfg.log_every else {}
            if unlogged:
                self._log(sinks, bar, unlogged)
            self.save()
            finished = self.step >= cfg.steps
            if main:
                self.save_pictures(self.folder.final_picture if finished else self.folder.sample_picture(self.step))
                if finished and self.step % cfg.sample_every:
                    # The loop drew none at this step (fewer steps than --sample-every, say): samples/ always
                    # ends with the final picture, so it is never missing or behind the run.
                    final = self.folder.final_picture
                    atomic_write(self.folder.sample_picture(self.step), lambda f: f.write(final.read_bytes()))
                self._plot_losses()
        finally:
            restore()
            bar.close()
            self._sinks = []
            self._watch = None
            if self.parallel is not None:
                self.parallel.close()
                self.parallel = None
            for s in sinks:
                s.close()
        return TrainResult(self.step, interrupted=self._stop_requested and self.step < cfg.steps, skipped=self.skipped)

    def _stop_all(self) -> bool:
        """Whether to stop now: a stop request (Ctrl-C) on any rank stops every rank at the same step."""
        # The handler may set the flag while any_rank waits on the other ranks (a signal's Python
        # handler runs when the C call returns): assigning the agreed value over it would lose that
        # request, and the job would train on to its end. The flag only ever turns on here.
        agreed = any_rank(self._stop_requested, self.world)
        self._stop_requested = self._stop_requested or agreed
        return agreed

    def _run_callbacks(self) -> None:
        if self.world.distributed:
            # Callbacks run on rank 0 alone: a divergence is raised at the next shared check, on
            # every rank together; until then a diverged model is not evaluated.
            if self._watch is not None and self._watch.first_bad_step() is not None:
                return
        else:
            self.check_finite()  # a callback may evaluate the model: never a diverged one
        info = self.step_info()
        for callback in self.callbacks:
            for key, value in callback.after_step(info).items():
                self.window.add(key, torch.tensor(float(value), device=self.device))

    def _log(self, sinks: list[Sink], bar, means: dict[str, float]) -> None:
        record = {"step": self.step, "kimg": self.images_seen / 1000, "time": round(self.elapsed, 3)}
        if self.on_nan == "skip" or self.skipped:
            record["skipped"] = self.skipped  # steps so far with an update left out
        record.update(means)
        for s in sinks:
            s.log(record)
        bar.set_postfix({k: f"{v:.3g}" for k, v in record.items() if k.startswith("loss/")}, refresh=False)

    # -- pictures ----------------------------------------------------------
    def picture_samples(self) -> torch.Tensor:
        """Samples from the same latents every time (64 images, or 2,500 points for 2-D data).

        A conditional image model with up to 16 classes draws one row per class instead.
        """
        n, labels = (64 if self.info.kind == "image" else 2500), None
        k = self.gan.num_classes
        if self.info.kind == "image" and 0 < k <= 16:
            n, labels = k * k, torch.arange(k * k) // k
        generator = torch.Generator().manual_seed(self.config.seed + PICTURE_SEED_OFFSET)
        return self.gan.sample(n, labels=labels, generator=generator)

    def save_pictures(self, path: Path) -> None:
        if self.gan.translation is not None:  # an image-to-image model: the same 16 real pairs every time
            save_translations(self.gan, self.batcher.x, path, 16, self.config.seed + PICTURE_SEED_OFFSET, among=self._unseen)
        else:
            save_samples(self.picture_samples(), self.info, path, f"{self.title}, step {self.step}")
        for sink in self._sinks:
            picture = getattr(sink, "picture", None)  # optional: only sinks that show pictures (W&B) have it
            if picture is not None:
                picture("samples", path, self.step)

    def _plot_losses(self) -> None:
        self._last_plot = time.perf_counter()
        save_loss_curves(self.folder.metrics(), self.folder.loss_picture, self.title)

    # -- Ctrl-C ------------------------------------------------------------
    def _catch_stop_signals(self):
        """First Ctrl-C: finish the step, save, stop. A second one interrupts at once.

        Under data parallelism SIGTERM (what torchrun's agent sends every rank when it is
        stopped) is a stop request too; a signal repeated within two seconds is the same request
        arriving by two ways (the terminal's process group, the agent), a later one aborts.
        """
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        distributed = self.world.distributed
        signals = (signal.SIGINT, signal.SIGTERM) if distributed else (signal.SIGINT,)
        previous = {signum: signal.getsignal(signum) for signum in signals}

        first = [0.0]

        def handler(signum, frame):
            if self._stop_requested:
                if distributed and time.monotonic() - first[0] < 2.0:
                    return
                raise KeyboardInterrupt
            first[0] = time.monotonic()
            self._stop_requested = True
            if self.world.main:
                print("\nstopping after this step to save a checkpoint (Ctrl-C again to abort at once)" if not distributed
                      else "\nstopping every rank after this step to save a checkpoint", file=sys.stderr)

        for signum in signals:
            signal.signal(signum, handler)

        def restore() -> None:
            for signum, action in previous.items():
                signal.signal(signum, action)
        return restore
