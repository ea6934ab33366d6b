"""A trained (or training) run as an object: its folder, its config, its metrics, and its generator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .. import plugins
from ..config import RunConfig
from ..data import DatasetInfo
from ..errors import CheckpointError, GanzooError
from ..files import check_path
from ..model import GAN
from ..training.pictures import IMAGE_FORMATS, save_samples, save_translations
from ..training.trainer import TrainResult, load_networks
from .build import build_dataset, build_model
from .config import MAX_SEED, make_run_config
from .device import resolve_device
from .folder import RunFolder

MAX_SAMPLES = 100_000


class Run:
    """A run folder: its config, its metrics, and (after :meth:`load`) its trained generator."""

    def __init__(self, folder: RunFolder, config: RunConfig, result: TrainResult | None = None) -> None:
        self.folder = folder
        self.config = config
        self.result = result
        self._gan: GAN | None = None
        self._info: DatasetInfo | None = None

    @property
    def path(self) -> Path:
        return self.folder.path

    @property
    def interrupted(self) -> bool:
        return bool(self.result and self.result.interrupted)

    def metrics(self) -> list[dict[str, Any]]:
        return self.folder.metrics()

    def load(self, device: str = "cpu", checkpoint: str = "last") -> "Run":
        """Load a checkpoint's weights (``last``, or ``best`` when live evaluation kept one) onto ``device``."""
        dev = resolve_device(device)
        # Runs record what their data looked like, so sampling needs no dataset on disk.
        info = self.folder.read_dataset_info() or build_dataset(self.config).info
        with torch.random.fork_rng(devices=[]):  # loading a run must not reseed the caller's RNG
            gan = build_model(self.config, info, dev)
        state = self.folder.load_checkpoint(checkpoint)
        try:
            load_networks(gan, state)
        except CheckpointError as exc:
            raise CheckpointError(f"{self.folder.checkpoint_file(checkpoint)}: {exc}") from None
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

    def save_samples(self, path: str | Path | None = None, n: int = 64, label: int | None = None, seed: int = 0,
                     truncation: float | None = None) -> Path:
        """A grid (images) or scatter plot (2-D data) of ``n`` samples, written to ``path``; the path written.

        Without ``path``: a new file in the run folder, ``samples/sample-nN-seedS.png`` (``-2``, ... when taken).
        """
        drawn = None
        if path is None:
            # Bad arguments fail before a name is taken.
            if self.gan.translation is None:
                drawn = self.sample(n, label, seed, truncation)
            else:
                self._check_translation_arguments(n, label, seed, truncation)
            path = self.folder.drawn_sample_picture(n, seed, label, truncation)
        path = check_path(path, "--out", room=len(".tmp-4194304") + 1)
        if path.is_dir():
            raise GanzooError(f"--out {path} is a folder; give a file name such as {path / 'samples.png'}, or {path}/ for one PNG per sample")
        if path.suffix.lower() not in IMAGE_FORMATS:
            raise GanzooError(f"--out {path}: expected a picture file name ending in {', '.join(IMAGE_FORMATS)}, a .npy name, or a folder name ending in / (one PNG per sample)")
        title = f"{self.config.model} on {self.config.dataset}" + (f", label {label}" if label is not None else "")
        title += f", truncation {truncation:g}" if truncation is not None else ""
        try:
            if self.gan.translation is not None:
                return self._save_translations(path, n, label, seed, truncation)
            return save_samples(self.sample(n, label, seed, truncation) if drawn is None else drawn, self.info, path, title)
        except OSError as exc:
            raise GanzooError(f"--out {path}: cannot write it ({exc.strerror or exc})") from None


    def _save_translations(self, path: Path, n: int, label: int | None, seed: int, truncation: float | None) -> Path:
        """An image-to-image model's picture: ``n`` input | output | target triplets of real images chosen by ``seed`` (held-out ones when the run never trained on them)."""
        self._check_translation_arguments(n, label, seed, truncation)
        data = build_dataset(self.config)
        trained_on = self.folder.read_trained_on()
        unseen = data.train_split().unseen_index() if trained_on and trained_on["split"] == "train" else None
        return save_translations(self.gan, data.x, path, n, seed, among=unseen)

    def _check_translation_arguments(self, n: int, label: int | None, seed: int, truncation: float | None) -> None:
        if label is not None or truncation is not None:
            raise GanzooError(f"--label and --truncation need a model that samples from latents; {self.config.model} in {self.path} maps images to images")
        if not 1 <= n <= MAX_SAMPLES:
            raise GanzooError(f"bad --n {n} (valid: 1 to {MAX_SAMPLES})")
        if not 0 <= seed <= MAX_SEED:
            raise GanzooError(f"bad --seed {seed} (valid: 0 to {MAX_SEED})")


def load_run(run_dir: str | Path) -> Run:
    """A run folder written by training (weights load on first use, or with ``.load(device)``)."""
    folder = RunFolder(run_dir).require_run()
    config = folder.read_config()
    # Re-check names and options: the plugin that made the run may be gone or changed.
    for kind, name, registry in (("model", config.model, plugins.models()), ("dataset", config.dataset, plugins.datasets())):
        if name not in registry:
            recorded = folder.read_plugins().get(kind)
            raise GanzooError(f"{folder.config_file}: {plugins.why_unregistered(kind, name, recorded)}")
    try:
        checked = make_run_config(config.model, config.dataset, file_values=config.to_dict())
    except GanzooError as exc:
        raise GanzooError(f"{folder.config_file}: {exc}") from None
    return Run(folder, checked)
