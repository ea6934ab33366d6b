"""The Python API: everything the CLI does, callable from code.

    import ganzoo
    run = ganzoo.train("vanilla", "ring8", steps=500, out="runs/demo")
    run = ganzoo.load_run("runs/demo")
    points = run.sample(1000)
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Mapping

import torch

from . import plugins
from .checkpoint import load_checkpoint
from .config import TRAINER_SCHEMA, resolve
from .data import Dataset, DatasetInfo
from .errors import CheckpointError, GanzooError, first_line
from .files import atomic_write_text
from .model import GAN
from .plots import IMAGE_FORMATS, save_samples
from .runconfig import RunConfig, make_run_config, read_config_file
from .runtime import ProcessInfo, resolve_device
from .tracking import WandbSink, announce_wandb, check_wandb_mode, read_jsonl
from .trainer import Trainer, TrainResult, load_networks

DATA_INFO_FILE = "dataset.json"
MAX_SEED = TRAINER_SCHEMA["seed"].max
MAX_SAMPLES = 100_000


def build_dataset(config: RunConfig) -> Dataset:
    spec = plugins.datasets().get(config.dataset)
    with _building(f"dataset {spec.name}", config.dataset_config):
        dataset = spec.build(dict(config.dataset_config))
        json.dumps(dataset.info.to_dict())  # it is saved with every run
    if dataset.info.kind != spec.kind:
        raise GanzooError(f"dataset {spec.name} declares kind {spec.kind} but built {dataset.info.kind} data")
    return dataset


@contextmanager
def _building(what: str, config: Mapping[str, Any]):
    """Turn a builder's failure on valid-looking options (a size too large for memory, say) into one line."""
    try:
        yield
    except GanzooError:
        raise
    except (RuntimeError, ValueError, TypeError, OverflowError, MemoryError) as exc:
        options = ", ".join(f"{k}={v}" for k, v in config.items())
        raise GanzooError(f"{what} could not be built with {options or 'its defaults'}: {type(exc).__name__}: {first_line(exc)}") from None


def build_model(config: RunConfig, info: DatasetInfo, device: torch.device, process: ProcessInfo | None = None) -> GAN:
    """A freshly initialised GAN for ``config``; its weights depend only on the seed (and rank)."""
    process = process or ProcessInfo.from_env()
    torch.manual_seed(config.seed + process.rank)
    spec = plugins.models().get(config.model)
    with _building(f"model {spec.name}", config.model_config):
        return spec.build(info, dict(config.model_config)).to(device)


def build(config: RunConfig, device: torch.device, process: ProcessInfo | None = None) -> tuple[GAN, Dataset]:
    """The dataset and a freshly initialised GAN for ``config``."""
    dataset = build_dataset(config)
    return build_model(config, dataset.info, device, process), dataset


def create_model(name: str, info: DatasetInfo, **overrides: Any) -> GAN:
    """Build model ``name`` for data described by ``info``; ``overrides`` are checked against its schema."""
    spec = plugins.models().get(name)
    preset = {k: v for k, v in spec.presets.get(info.kind, {}).items() if k in spec.config}
    return spec.build(info, resolve(spec.config, {**preset, **overrides}, f"model {name}"))


class Run:
    """A run folder: its config, its metrics, and (after :meth:`load`) its trained generator."""

    def __init__(self, path: Path, config: RunConfig, result: TrainResult | None = None) -> None:
        self.path = Path(path)
        self.config = config
        self.result = result
        self._gan: GAN | None = None
        self._info: DatasetInfo | None = None

    @property
    def interrupted(self) -> bool:
        return bool(self.result and self.result.interrupted)

    def metrics(self) -> list[dict[str, Any]]:
        path = self.path / "metrics.jsonl"
        return read_jsonl(path) if path.exists() else []

    def load(self, device: str = "cpu") -> "Run":
        """Load the last checkpoint's weights onto ``device``."""
        dev = resolve_device(device)
        info_file = self.path / DATA_INFO_FILE
        # Runs record what their data looked like, so sampling needs no dataset on disk.
        if info_file.is_file():
            try:
                info = DatasetInfo.from_dict(json.loads(info_file.read_text()))
            except (ValueError, KeyError, TypeError) as exc:
                raise GanzooError(f"{info_file} is damaged ({type(exc).__name__}: {first_line(exc)})") from None
        else:
            info = build_dataset(self.config).info
        with torch.random.fork_rng(devices=[]):  # loading a run must not reseed the caller's RNG
            gan = build_model(self.config, info, dev, ProcessInfo())
        path = self.path / "checkpoints" / "last.pt"
        state = load_checkpoint(path, map_location="cpu")
        try:
            load_networks(gan, state)
        except CheckpointError as exc:
            raise CheckpointError(f"{path}: {exc}") from None
        self._gan, self._info = gan, info
        return self

    @property
    def gan(self) -> GAN:
        if self._gan is None:
            self.load()
        return self._gan

    @property
    def info(self) -> DatasetInfo:
        if self._info is None:
            self.load()
        return self._info

    def sample(self, n: int, label: int | None = None, seed: int = 0, truncation: float | None = None) -> torch.Tensor:
        """``n`` generated samples (all of class ``label`` for a conditional model; ``truncation`` psi where supported)."""
        if not 1 <= n <= MAX_SAMPLES:
            raise GanzooError(f"bad --n {n} (valid: 1 to {MAX_SAMPLES})")
        if not 0 <= seed <= MAX_SEED:
            raise GanzooError(f"bad --seed {seed} (valid: 0 to {MAX_SEED})")
        labels = None
        if label is not None:
            if not self.gan.conditional:
                raise GanzooError(f"--label needs a conditional model; {self.config.model} in {self.path} is unconditional")
            if not 0 <= label < self.gan.num_classes:
                raise GanzooError(f"bad --label {label} (valid: 0-{self.gan.num_classes - 1})")
            labels = torch.full((n,), label, dtype=torch.long)
        if truncation is not None:
            if not (0.0 <= truncation <= 2.0):
                raise GanzooError(f"bad --truncation {truncation} (valid: 0 to 2; 1 means no truncation)")
            if not self.gan.supports_truncation:
                raise GanzooError(f"--truncation needs a model with a truncation trick (a mapping network); {self.config.model} in {self.path} has none")
        generator = torch.Generator().manual_seed(seed)
        return self.gan.sample(n, labels=labels, generator=generator, truncation=truncation).cpu()

    def save_samples(self, path: str | Path, n: int = 64, label: int | None = None, seed: int = 0, truncation: float | None = None) -> Path:
        """A grid (images) or scatter plot (2-D data) of ``n`` samples, written to ``path``."""
        path = Path(path)
        if path.is_dir():
            raise GanzooError(f"--out {path} is a folder; give a file name such as {path / 'samples.png'}")
        if path.suffix.lower() not in IMAGE_FORMATS:
            raise GanzooError(f"--out {path}: expected a picture file name ending in {', '.join(IMAGE_FORMATS)}")
        title = f"{self.config.model} on {self.config.dataset}" + (f", label {label}" if label is not None else "")
        title += f", truncation {truncation:g}" if truncation is not None else ""
        try:
            return save_samples(self.sample(n, label, seed, truncation), self.info, path, title)
        except OSError as exc:
            raise GanzooError(f"--out {path}: cannot write it ({exc.strerror or exc})") from None


def _run_dir_path(out: str | Path | None, config: RunConfig) -> Path:
    if out is not None:
        path = Path(out)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise GanzooError(f"--out {path} already exists and is not empty (use --resume {path} to continue it, or choose another --out)")
    else:
        base = Path("runs") / f"{config.model}-{config.dataset}-{time.strftime('%Y%m%d-%H%M%S')}"
        path, n = base, 2
        while path.exists():
            path, n = base.with_name(f"{base.name}-{n}"), n + 1
    return path


def _make_run_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GanzooError(f"--out {path}: cannot create the run folder ({exc.strerror or exc})") from None


def train(
    model: str | None = None,
    dataset: str | None = None,
    *,
    out: str | Path | None = None,
    config: str | Path | Mapping[str, Any] | None = None,
    set: Mapping[str, Any] | None = None,
    progress: bool = True,
    sinks: list | None = None,
    eval_every: int | None = None,
    eval_n: int | None = None,
    best_metric: str | None = None,
    wandb: str = "off",
    **options: Any,
) -> Run:
    """Train ``model`` on ``dataset`` (default ``mnist``) into a new run folder and return the :class:`Run`.

    ``options`` are trainer options (``steps``, ``batch_size``, ``seed``, ``device``,
    ``sample_every``, ``checkpoint_every``, ``log_every``) and the dataset flags
    ``data_root``/``download``; ``set`` holds model options (``data.``-prefixed keys go to
    the dataset). ``config`` is a YAML file or a dict shaped like a run's ``config.yaml``.
    ``eval_every`` K evaluates cheap metrics every K steps (see :mod:`ganzoo.eval.live`).
    ``wandb`` (``online``, ``offline`` or ``off``) also logs the run to Weights & Biases.
    """
    file_values = read_config_file(config) if isinstance(config, (str, Path)) else dict(config or {})
    run_config = make_run_config(model, dataset, file_values=file_values, sets=set, **options)
    device = resolve_device(run_config.device)
    gan, data = build(run_config, device)
    run_dir = _run_dir_path(out, run_config)
    # Everything that can fail on bad input happens before the run folder is made.
    callbacks = _live_eval(data, run_config, eval_every, eval_n, best_metric)
    sinks = list(sinks or []) + _wandb_sinks(wandb, run_dir, run_config)
    trainer = Trainer(gan, data, run_config, run_dir, device, sinks=sinks, progress=progress, callbacks=callbacks)
    _make_run_dir(run_dir)
    run_config.save(run_dir / "config.yaml")
    atomic_write_text(run_dir / DATA_INFO_FILE, json.dumps(data.info.to_dict(), indent=2))
    return Run(run_dir, run_config, trainer.fit())


def _live_eval(data: Dataset, config: RunConfig, every: int | None, n: int | None, best_metric: str | None) -> list:
    if every is None:
        if n is not None or best_metric is not None:
            raise GanzooError("--eval-n and --best-metric need --eval-every K")
        return []
    if every < 1 or every % config.log_every:
        raise GanzooError(f"bad --eval-every {every} (valid: a multiple of --log-every {config.log_every})")
    from .eval.live import LiveEval  # the evaluation suite loads only when asked for

    return [LiveEval(data, every, n, best_metric)]


def _wandb_sinks(mode: str, run_dir: Path, config: RunConfig) -> list:
    if check_wandb_mode(mode) == "off":
        return []
    announce_wandb(mode, run_dir)
    sink = WandbSink(run_dir, config.to_dict(), mode)
    sink.start()  # a W&B that cannot start fails here, before any training
    return [sink]


def resume(
    run_dir: str | Path, *, steps: int | None = None, device: str | None = None, progress: bool = True, sinks: list | None = None,
    eval_every: int | None = None, eval_n: int | None = None, best_metric: str | None = None, wandb: str = "off",
) -> Run:
    """Continue a stopped run from its last checkpoint; ``steps`` may raise its target."""
    run = load_run(run_dir)
    cfg = run.config
    if steps is not None:
        cfg.steps = make_run_config(cfg.model, cfg.dataset, file_values=cfg.to_dict(), steps=steps).steps
    if device is not None:
        cfg.device = device
    dev = resolve_device(cfg.device)
    gan, data = build(cfg, dev)
    callbacks = _live_eval(data, cfg, eval_every, eval_n, best_metric)
    sinks = list(sinks or []) + _wandb_sinks(wandb, run.path, cfg)
    trainer = Trainer(gan, data, cfg, run.path, dev, sinks=sinks, progress=progress, callbacks=callbacks)
    trainer.resume()
    if cfg.steps < trainer.step:
        raise GanzooError(f"--steps {cfg.steps} is below step {trainer.step} that {run.path} has reached")
    cfg.save(run.path / "config.yaml")
    return Run(run.path, cfg, trainer.fit())


def load_run(run_dir: str | Path) -> Run:
    """A run folder written by :func:`train` (weights load on first use, or with ``.load(device)``)."""
    path = Path(run_dir)
    if not (path / "config.yaml").is_file():
        raise GanzooError(f"{path} is not a ganzoo run folder (no config.yaml)")
    config = RunConfig.load(path / "config.yaml")
    # Re-check names and options: the plugin that made the run may be gone or changed.
    checked = make_run_config(config.model, config.dataset, file_values=config.to_dict())
    return Run(path, checked)
