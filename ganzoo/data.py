"""Datasets as tensors with a self-description, and the deterministic batcher the trainer draws from.

Most datasets fit in memory (the bundled MNIST subset, full MNIST, 2-D mixtures), so a
dataset is one tensor of samples plus optional labels. A dataset larger than memory gives
:class:`UInt8Images` instead: a uint8 array (typically a memory-mapped ``.npy``) whose rows
are converted to floats in [-1, 1] only when a batch asks for them. The batcher shuffles
with its own ``torch.Generator``, so its position can be saved and restored exactly, and so
drawing batches never disturbs the RNG the models use; a dataset's :class:`Augment` draws
from that same generator, so augmented batches resume exactly too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

import numpy as np
import torch

from .errors import GanzooError, SpecError

# The one train / held-out split: evaluation scores against it, and a model that declares
# ``ModelSpec(trains_on="train")`` trains on its train part alone (here, in the core, because
# the training layers may not import ganzoo.eval; ganzoo.eval.splits re-exports it).
HELDOUT_FRACTION = 0.2
SPLIT_SEED = 0


def stratified_split(labels: torch.Tensor | None, n: int, fraction: float = HELDOUT_FRACTION, seed: int = SPLIT_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices ``(train, heldout)``: ``fraction`` of every class held out (of all samples when unlabelled).

    Same labels and seed give the same split on every machine.
    """
    generator = torch.Generator().manual_seed(seed)
    if labels is None:
        labels = torch.zeros(n, dtype=torch.long)
    train, heldout = [], []
    for c in torch.unique(labels).tolist():  # sorted, so the draw order is fixed
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=generator)]
        k = round(fraction * len(idx))
        heldout.append(idx[:k])
        train.append(idx[k:])
    return torch.cat(train).sort().values, torch.cat(heldout).sort().values


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know to build for a dataset.

    ``kind`` is ``"image"`` (samples ``(C, H, W)`` in [-1, 1]) or ``"vector"`` (samples
    ``(D,)``). Mixtures also give their mode ``centres`` (one row per mode) and ``std``.
    ``centres`` may be given as any table of numbers (a tensor, an array, nested lists) and
    is stored as a tuple of tuples of floats, ``std`` as a float: the info is saved with the
    run as JSON and compared by value, which a tensor would break far from where it came in.
    """

    name: str
    kind: Literal["image", "vector"]
    shape: tuple[int, ...]
    num_classes: int = 0
    centres: tuple[tuple[float, ...], ...] | None = None
    std: float | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A frozen dataclass: normalising a field means setting it past the freeze, once, here.
        if self.centres is not None:
            object.__setattr__(self, "centres", _centres(self.name, self.centres))
        if self.std is not None:
            object.__setattr__(self, "std", _scalar(self.name, self.std))

    def to_dict(self) -> dict:
        return {
            "name": self.name, "kind": self.kind, "shape": list(self.shape), "num_classes": self.num_classes,
            "centres": [list(c) for c in self.centres] if self.centres else None, "std": self.std, "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "DatasetInfo":
        centres = tuple(tuple(c) for c in d["centres"]) if d.get("centres") else None
        return cls(d["name"], d["kind"], tuple(d["shape"]), d.get("num_classes", 0), centres, d.get("std"), d.get("extra") or {})

    @property
    def dim(self) -> int:
        """Number of values in one sample (what an MLP sees)."""
        n = 1
        for s in self.shape:
            n *= s
        return n


def _centres(name: str, centres: object) -> tuple[tuple[float, ...], ...]:
    """``centres`` as a tuple of equal-length tuples of floats, or a one-line :class:`SpecError` naming the type expected."""
    expected = "one row of floats per mode, e.g. ((1.0, 0.0), (0.0, 1.0)), or a 2-D tensor or array"
    try:
        rows = tuple(tuple(float(v) for v in row) for row in centres)
    except (TypeError, ValueError):
        raise SpecError(f"DatasetInfo {name!r}: bad centres of type {type(centres).__name__} (valid: {expected})") from None
    if not rows or len({len(row) for row in rows}) != 1 or not rows[0]:
        shape = [len(row) for row in rows]
        raise SpecError(f"DatasetInfo {name!r}: bad centres, rows of lengths {shape} (valid: {expected}, all rows of one length)")
    return rows


def _scalar(name: str, std: object) -> float:
    try:
        return float(std)
    except (TypeError, ValueError, RuntimeError):  # RuntimeError: a tensor of more than one value
        raise SpecError(f"DatasetInfo {name!r}: bad std of type {type(std).__name__} (valid: one float)") from None


class UInt8Images:
    """Images stored as uint8 ``(N, C, H, W)`` (0-255), read as float ``(n, C, H, W)`` in [-1, 1] by indexing.

    ``array`` is usually ``np.load(path, mmap_mode="r")``. Its rows are then read from the
    file with ``os.pread``, only those asked for, never through the mapping: pages touched
    through a mapping (and the kernel maps neighbours of each one) count as the process's
    resident memory, so a long run would appear to hold the whole file; read pages stay in
    the kernel's page cache instead. An in-memory array is indexed directly. Indexing with an
    integer tensor, a slice or an int gives a float tensor on the CPU; :meth:`to` is the
    batcher's way in and keeps the rows where they are (they move to the device batch by batch).
    """

    dtype = torch.float32

    def __init__(self, array: np.ndarray):
        if array.dtype != np.uint8 or array.ndim != 4:
            raise ValueError(f"UInt8Images needs a uint8 array (N, C, H, W), got {array.dtype} {array.shape}")
        self.array = array
        mapped = isinstance(array, np.memmap) and array.filename is not None and array.flags.c_contiguous
        self._file = (array.filename, array.offset) if mapped else None

    @property
    def shape(self) -> torch.Size:
        return torch.Size(self.array.shape)

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, index) -> torch.Tensor:
        if isinstance(index, torch.Tensor):
            index = index.cpu().numpy()
        if self._file is None:
            rows = np.array(self.array[index], dtype=np.uint8)  # a copy of just these rows
        else:
            rows = self._read(self._positions(index))
        return torch.from_numpy(rows).float().div_(127.5).sub_(1.0)

    def _positions(self, index) -> np.ndarray:
        """The row numbers ``index`` selects, without an index array as long as the dataset (this runs every batch)."""
        n = len(self.array)
        if isinstance(index, slice):
            return np.arange(*index.indices(n))
        which = np.asarray(index)
        if which.dtype == bool:
            return np.flatnonzero(which)
        if which.size and (which.min() < -n or which.max() >= n):
            raise IndexError(f"row index out of range for {n} images")
        return np.where(which < 0, which + n, which)

    def _read(self, which: np.ndarray) -> np.ndarray:
        filename, offset = self._file
        row_shape = self.array.shape[1:]
        row_bytes = int(np.prod(row_shape))
        flat = np.asarray(which).reshape(-1)
        out = np.empty((len(flat), row_bytes), dtype=np.uint8)
        with open(filename, "rb") as f:
            for j, i in enumerate(flat.tolist()):
                if os.preadv(f.fileno(), [memoryview(out[j])], offset + i * row_bytes) != row_bytes:
                    raise OSError(f"{filename}: short read at row {i}")
        return out.reshape(np.shape(which) + tuple(row_shape))

    def to(self, device: torch.device) -> "UInt8Images":
        return self


class Augment(Protocol):
    """A random augmentation applied to every batch: ``draws`` uniform numbers per sample decide it.

    The batcher draws them from its own generator for the whole global batch (every rank the
    same numbers, each keeping its share), so an augmented run resumes exactly and data
    parallelism sees the batches one process would.
    """

    draws: int

    def __call__(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """``x`` a batch ``(B, ...)``, ``u`` uniform ``(B, draws)`` on the same device; returns the augmented batch."""


class HorizontalFlip:
    """Mirror each image left-right with probability ``p``."""

    draws = 1

    def __init__(self, p: float = 0.5):
        self.p = p

    def __call__(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        flip = (u[:, 0] < self.p).view(-1, *([1] * (x.dim() - 1)))
        return torch.where(flip, x.flip(-1), x)


@dataclass
class Dataset:
    """Samples ``x`` (first dimension is the sample index), optional integer ``labels``, ``info``,
    and an optional ``augment`` the batcher applies to every batch.

    ``x`` is a tensor, or :class:`UInt8Images` for image data read from disk as needed; either
    way ``dataset.x[index]`` gives float samples for an integer tensor of indices.
    ``train_index``: the indices the batcher draws from (``None``: all); set by
    :meth:`train_split`, while ``x`` keeps every sample (evaluation and pictures read them).
    """

    x: torch.Tensor | UInt8Images
    info: DatasetInfo
    labels: torch.Tensor | None = None
    augment: Augment | None = None
    train_index: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if tuple(self.x.shape[1:]) != tuple(self.info.shape):
            raise ValueError(f"dataset {self.info.name}: samples have shape {tuple(self.x.shape[1:])}, info says {self.info.shape}")
        if self.labels is not None and len(self.labels) != len(self.x):
            raise ValueError(f"dataset {self.info.name}: {len(self.labels)} labels for {len(self.x)} samples")

    def __len__(self) -> int:
        return len(self.x)

    def train_split(self) -> "Dataset":
        """This dataset with training confined to the train part of :func:`stratified_split` (the held-out part is never drawn)."""
        return replace(self, train_index=stratified_split(self.labels, len(self))[0])

    def unseen_index(self) -> torch.Tensor | None:
        """The indices training never draws (sorted), or ``None`` when it draws from every sample."""
        if self.train_index is None:
            return None
        unseen = torch.ones(len(self), dtype=torch.bool)
        unseen[self.train_index.cpu()] = False
        return torch.nonzero(unseen).flatten()

    def trained_on(self) -> dict:
        """What training draws from, as a run records it: the split's name and how many samples of how many."""
        if self.train_index is None:
            return {"split": "all", "samples": len(self), "dataset_size": len(self)}
        return {
            "split": "train", "samples": len(self.train_index), "dataset_size": len(self),
            "heldout": f"stratified by label, {HELDOUT_FRACTION:.0%} per class, seed {SPLIT_SEED}",
        }


class Batcher:
    """Endless shuffled batches (a new permutation each epoch), resumable from ``state_dict``.

    In data-parallel training every rank keeps the same order (same seed) and takes its own
    ``batch_size`` slice of each global batch of ``batch_size * world_size``: together the
    ranks see exactly the batches one process with the global batch size would.

    A tensor dataset moves to the device whole, once; :class:`UInt8Images` stays where it is
    and each batch's rows are read, converted and moved as they are drawn. A dataset's
    ``augment`` draws from this batcher's generator (see :class:`Augment`).

    With a ``train_index`` the permutations are of positions in it, mapped to sample indices
    as each batch is drawn: the saved state is the same kind of thing, and resumes as exactly.
    """

    def __init__(self, dataset: Dataset, batch_size: int, seed: int, device: torch.device, rank: int = 0, world_size: int = 1):
        global_batch = batch_size * world_size
        self._n = len(dataset) if dataset.train_index is None else len(dataset.train_index)
        if global_batch > self._n:
            per_process = f" ({batch_size} per process x {world_size} processes)" if world_size > 1 else ""
            which = "" if dataset.train_index is None else " in the train split"
            raise GanzooError(
                f"batch size {global_batch}{per_process} is larger than the {self._n} samples{which} of dataset {dataset.info.name}"
                f" (use --batch-size {self._n // world_size} or less)"
            )
        self.x = dataset.x.to(device)
        pool_device = self.x.device if isinstance(self.x, torch.Tensor) else torch.device("cpu")
        self._pool = None if dataset.train_index is None else dataset.train_index.to(pool_device)
        self.device = device
        self.labels = dataset.labels.to(device) if dataset.labels is not None else None
        self.augment = dataset.augment
        self.batch_size = batch_size
        self.global_batch = global_batch
        self._shard = slice(rank * batch_size, (rank + 1) * batch_size)
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch = 0
        self.position = 0
        self._new_epoch_order(torch.randperm(self._n, generator=self.generator))

    def _new_epoch_order(self, permutation: torch.Tensor) -> None:
        self._permutation = permutation.cpu()
        self._order = permutation.to(self.x.device) if isinstance(self.x, torch.Tensor) else self._permutation

    def next(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """This rank's share of the next global batch."""
        if self.position + self.global_batch > len(self._order):
            self.epoch += 1
            self.position = 0
            self._new_epoch_order(torch.randperm(self._n, generator=self.generator))
        index = self._order[self.position : self.position + self.global_batch][self._shard]
        if self._pool is not None:
            index = self._pool[index]
        self.position += self.global_batch
        x = self.x[index].to(self.device, non_blocking=True)
        labels = self.labels[index.to(self.labels.device)] if self.labels is not None else None
        if self.augment is not None:
            u = torch.rand(self.global_batch, self.augment.draws, generator=self.generator)[self._shard]
            x = self.augment(x, u.to(x.device))
        return x, labels

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "permutation": self._permutation, "epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        if len(state["permutation"]) != self._n:
            raise ValueError(f"the checkpoint's data order covers {len(state['permutation'])} samples, the training data has {self._n}")
        self.generator.set_state(state["generator"].cpu())
        self._new_epoch_order(state["permutation"])
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
