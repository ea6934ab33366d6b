"""The ``cifar10`` and ``fashion-mnist`` datasets, read from torchvision's on-disk layouts.

Neither ships with ganzoo. ``--data-root PATH`` names a folder holding the files as
torchvision leaves them; ``--data-root PATH --download`` has torchvision's downloader fetch
them there first (needs internet):

- CIFAR-10: ``PATH/cifar-10-batches-py/data_batch_1`` .. ``data_batch_5``, Python pickles of a
  dict with ``data`` (N x 3072 uint8, the red, green and blue planes of 32x32 images) and
  ``labels``. They are unpickled with an allow-list (numpy arrays, lists, numbers), so a file
  that is not a CIFAR batch cannot run code.
- Fashion-MNIST: MNIST's IDX format, ``PATH/FashionMNIST/raw/train-images-idx3-ubyte[.gz]``
  and ``train-labels-idx1-ubyte[.gz]`` (or the files directly in PATH), read by mnist's reader.

Only the training split is used. Images are scaled to [-1, 1]; ``n`` keeps the first n images.
"""

from __future__ import annotations

import importlib
import pickle
from pathlib import Path

from typing import TYPE_CHECKING

import ganzoo
from ganzoo.errors import GanzooError
from ganzoo_plugins.mnist import read_idx_folder, to_model_range

if TYPE_CHECKING:  # numpy and torch are imported where data is read, not at registration
    import numpy as np
    import torch

CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_EXPECTED = f"{CIFAR_FOLDER}/data_batch_1..5 (torchvision's CIFAR-10 layout, from cifar-10-python.tar.gz)"
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def _numpy_module(name: str):
    # Pickles made by numpy 1 name numpy.core, those made by numpy 2 numpy._core; import whichever exists.
    private = name.replace("numpy.core.", "numpy._core.")
    try:
        return importlib.import_module(private)
    except ImportError:
        return importlib.import_module(private.replace("numpy._core.", "numpy.core."))


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts of numpy arrays, lists and numbers, and refuses every other global."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"it refers to {module}.{name}, which a CIFAR batch never does")
        import numpy as np

        if module == "_codecs":
            import codecs

            return codecs.encode
        return np.ndarray if name == "ndarray" else np.dtype if name == "dtype" else getattr(_numpy_module(module), name)


def _read_cifar_batch(path: Path, root: str) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 batch: images ``(N, 3, 32, 32)`` uint8 and labels ``(N,)``."""
    import numpy as np

    try:
        with open(path, "rb") as f:
            # latin1, as torchvision reads them: the published batches were pickled by Python 2.
            entry = _ArrayUnpickler(f, encoding="latin1").load()
    except Exception as exc:  # a corrupt pickle raises almost anything
        raise GanzooError(f"--data-root {root}: cannot read {CIFAR_FOLDER}/{path.name} ({type(exc).__name__}: {exc}); expected {CIFAR_EXPECTED}") from None
    if isinstance(entry, dict):
        entry = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in entry.items()}
    data = entry.get("data") if isinstance(entry, dict) else None
    labels = entry.get("labels") if isinstance(entry, dict) else None
    bad = f"--data-root {root}: {CIFAR_FOLDER}/{path.name} is not a CIFAR-10 batch"
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or labels is None:
        raise GanzooError(f"{bad} (expected a dict with 'data', N x 3072 uint8, and 'labels'); expected {CIFAR_EXPECTED}")
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        raise GanzooError(f"{bad} (its 'labels' are not whole numbers)") from None
    if labels.shape != (len(data),) or labels.min(initial=0) < 0 or labels.max(initial=0) > 9:
        raise GanzooError(f"{bad} (expected {len(data)} labels 0-9 to match its {len(data)} images)")
    return data.reshape(-1, 3, 32, 32), labels


def read_cifar10(root: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` CIFAR-10 training images ``(n, 3, 32, 32)`` uint8 and labels, from torchvision's layout."""
    import numpy as np

    base = Path(root).expanduser()
    if not base.is_dir():
        raise GanzooError(f"--data-root {root}: no such folder; expected a folder holding {CIFAR_EXPECTED}")
    folder = base / CIFAR_FOLDER
    if not folder.is_dir() and base.name == CIFAR_FOLDER:
        folder = base  # the batches folder itself was given
    missing = [name for name in CIFAR_BATCHES if not (folder / name).is_file()]
    if missing:
        raise GanzooError(f"--data-root {root}: {CIFAR_FOLDER}/{missing[0]} not found; expected {CIFAR_EXPECTED}")
    images, labels, have = [], [], 0
    for name in CIFAR_BATCHES:
        if have >= n:
            break  # the batches after those needed are not read, which keeps a small n fast
        x, y = _read_cifar_batch(folder / name, root)
        images.append(x)
        labels.append(y)
        have += len(x)
    return np.concatenate(images)[:n], np.concatenate(labels)[:n]


def _download(name: str, root: str, what: str) -> None:
    if not root:
        raise GanzooError(f"--download needs --data-root PATH (the folder to download {what} into)")
    import torchvision

    try:
        getattr(torchvision.datasets, name)(root, train=True, download=True)
    except Exception as exc:  # network errors come in many types
        raise GanzooError(f"--download: could not download {what} into {root} ({type(exc).__name__}: {exc})") from None


def _need_root(root: str, dataset: str, where: str) -> None:
    if not root:
        raise GanzooError(
            f"dataset {dataset} is not bundled with ganzoo: give --data-root PATH (a folder holding {where}) "
            f"or --data-root PATH --download to fetch it with torchvision (needs internet)"
        )


def _images(x: torch.Tensor, size: int, native: int) -> torch.Tensor:
    """uint8 ``(N, C, H, W)`` -> float in [-1, 1], resized from ``native`` to ``size`` when they differ."""
    import torch
    import torch.nn.functional as F

    x = x.to(torch.float32).div_(127.5).sub_(1.0)
    if size != native:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False).clamp(-1, 1)
    return x


def build_cifar10(config: dict) -> ganzoo.Dataset:
    import torch

    root, size = config["root"], config["size"]
    if config["download"]:
        _download("CIFAR10", root, "CIFAR-10")
    _need_root(root, "cifar10", f"{CIFAR_FOLDER}/, from https://www.cs.toronto.edu/~kriz/cifar.html")
    images, labels = read_cifar10(root, config["n"])
    x = _images(torch.from_numpy(images), size, 32)
    extra = {"source": root, "classes": list(CIFAR_CLASSES), "images": len(x)}
    info = ganzoo.DatasetInfo("cifar10", "image", (3, size, size), num_classes=10, extra=extra)
    return ganzoo.Dataset(x.contiguous(), info, torch.from_numpy(labels))


def build_fashion_mnist(config: dict) -> ganzoo.Dataset:
    import numpy as np
    import torch

    root = config["root"]
    if config["download"]:
        _download("FashionMNIST", root, "Fashion-MNIST")
    _need_root(root, "fashion-mnist", "FashionMNIST/raw/ with its IDX files, from https://github.com/zalandoresearch/fashion-mnist")
    images, labels = read_idx_folder(root, "FashionMNIST")
    images, labels = images[: config["n"]], labels[: config["n"]]
    size = config["size"]
    x = to_model_range(images, size)  # as mnist: 28 native, 32 padded with background, others resized
    extra = {"source": root, "classes": list(FASHION_CLASSES), "images": len(x), "images_of": "clothes"}  # not digits: eval asks
    info = ganzoo.DatasetInfo("fashion-mnist", "image", (1, size, size), num_classes=10, extra=extra)
    return ganzoo.Dataset(x, info, torch.from_numpy(labels.astype(np.int64)))


@ganzoo.hookimpl
def register_datasets(register):
    register(
        ganzoo.DatasetSpec(
            name="cifar10",
            summary="CIFAR-10: 32x32 RGB photos in 10 classes; needs --data-root (and --download to fetch it)",
            kind="image",
            build=build_cifar10,
            config={
                "size": ganzoo.Param(32, "image side in pixels (32 native, others resized)", min=8, max=128),
                "n": ganzoo.Param(50_000, "train on the first n of the 50,000 training images", min=1, max=50_000),
                "root": ganzoo.Param("", f"folder holding {CIFAR_FOLDER}/ (torchvision's layout); required"),
                "download": ganzoo.Param(False, "download CIFAR-10 into root with torchvision (needs internet)"),
            },
        )
    )
    register(
        ganzoo.DatasetSpec(
            name="fashion-mnist",
            summary="Fashion-MNIST: 28x28 greyscale clothing in 10 classes; needs --data-root (and --download to fetch it)",
            kind="image",
            build=build_fashion_mnist,
            config={
                "size": ganzoo.Param(28, "image side in pixels (28 native, 32 padded)", min=8, max=128),
                "n": ganzoo.Param(60_000, "train on the first n of the 60,000 training images", min=1, max=60_000),
                "root": ganzoo.Param("", "folder holding FashionMNIST/raw/ IDX files (torchvision's layout); required"),
                "download": ganzoo.Param(False, "download Fashion-MNIST into root with torchvision (needs internet)"),
            },
        )
    )
