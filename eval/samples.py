"""Reading samples made elsewhere for ``ganzoo eval --samples``: a folder of images, a ``.npy``/``.npz`` array, a tensor.

Whatever comes in leaves as ganzoo's own samples are when ``ganzoo eval RUN`` scores them:
float32 images ``(N, C, H, W)`` in [-1, 1], or vectors ``(N, D)``. uint8 pixels ``u`` become
``u / 127.5 - 1``, which the one quantisation (:mod:`ganzoo.eval.quantise`) turns back into
exactly the same bytes, so PNGs written from ganzoo's samples score as those samples do.

What is accepted, and the rules that are not obvious:

- a folder: its ``.png``, ``.jpg`` and ``.jpeg`` files (any case) in file-name order; other
  files and subfolders are skipped and counted in the report. Modes ``L``/``1`` are one
  channel, ``RGB``/``P`` three; other modes (alpha, 16-bit) are refused.
- an array: ``N x D`` (vectors), ``N x H x W`` (one channel), ``N x C x H x W`` or
  ``N x H x W x C`` (the channel axis is the one whose size is the target's channel count).
  uint8 (or any integer type with values in 0..255), or float: all values in [0, 1] is read
  as [0, 1], else all in [-1, 1] as [-1, 1]; anything else, and NaN or inf, is refused.
  A ``.npz`` gives its only array, or ``arr_0`` (``np.savez``'s first, the usual name for
  the images in sample files) when it holds several.
- images of another size than the target are resized with PIL's LANCZOS filter on their
  uint8 pixels (:data:`RESIZE`): it is antialiased (its kernel widens with the scale
  factor), and aliased resizing is known to move FID (clean-fid, Parmar et al. 2022,
  "On Aliased Resizing and Surprising Subtleties in GAN Evaluation"); working on uint8
  pixels keeps the result uint8, so the quantisation leaves it unchanged.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch

from ganzoo.data import DatasetInfo
from ganzoo.errors import GanzooError, first_line
from ganzoo.files import atomic_write
from ganzoo.run.folder import RunFolder

from .lenet import sha256_file
from .quantise import to_uint8

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
RESIZE = "PIL.Image.LANCZOS on uint8 pixels (antialiased)"
_MODE_CHANNELS = {"L": 1, "1": 1, "RGB": 3, "P": 3}
_MODE_AS = {"1": "L", "P": "RGB"}  # converted before reading the pixels

SampleSource = Union[str, Path, torch.Tensor, np.ndarray]


@dataclass(frozen=True)
class Target:
    """What the samples must be: ``kind`` and per-sample ``shape`` of the data they are compared with, named for errors."""

    kind: str
    shape: tuple[int, ...]
    name: str

    @classmethod
    def of(cls, info: DatasetInfo, name: str | None = None) -> "Target":
        return cls(info.kind, tuple(info.shape), name or f"dataset {info.name}")

    @property
    def channels(self) -> int:
        return self.shape[0]


@dataclass
class Samples:
    """Samples in ganzoo's form (``x``) and how they were read (``fields``, for the report's protocol)."""

    x: torch.Tensor
    kind: str
    fields: dict[str, Any]
    description: str

    def __len__(self) -> int:
        return len(self.x)

    def first(self, n: int | None, option: str) -> torch.Tensor:
        """The first ``n`` samples (all without ``n``); asking for more than there are is an error naming ``option``."""
        if n is None:
            n = len(self.x)
        elif not 2 <= n <= len(self.x):
            raise GanzooError(f"bad {option} {n}: {self.description} holds {len(self.x)} samples (valid: 2 to {len(self.x)})")
        if n < 2:
            raise GanzooError(f"{self.description} holds {n} sample; scoring needs at least 2")
        return self.x[:n]

    def info(self, name: str) -> DatasetInfo:
        """A description of these samples as data to compare with (no classes, no mixture centres)."""
        return DatasetInfo(name, self.kind, tuple(self.x.shape[1:]))


def load_samples(source: SampleSource, target: Target | None, label: str = "--samples") -> Samples:
    """Read ``source`` into :class:`Samples` shaped for ``target`` (without one, as they come); ``label`` names it in errors."""
    if isinstance(source, (torch.Tensor, np.ndarray)):
        array = source.detach().cpu() if isinstance(source, torch.Tensor) else source
        if isinstance(array, torch.Tensor):
            array = (array.float() if array.dtype == torch.bfloat16 else array).numpy()
        kind = f"{type(source).__module__.split('.')[0]}.{type(source).__name__}"
        description = f"the {label} array"
        fields = {"format": f"in-memory {kind}", "sha256": _array_sha256(array)}
        return _from_array(array, target, description, fields)
    path = Path(source).expanduser()
    description = f"{label} {path}"
    if not path.exists():
        raise GanzooError(f"{description}: no such file or folder")
    if path.is_dir():
        if RunFolder(path).is_run():
            raise GanzooError(f"{description} is a run folder; score it with `ganzoo eval {path}`")
        return _from_folder(path, target, description)
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".npz"):
        raise GanzooError(f"{description}: unsupported file type {suffix or '(none)'} (valid: a folder of PNG/JPEG images, a .npy or a .npz file)")
    array, fmt = _read_array_file(path, description)
    return _from_array(array, target, description, {"format": fmt, "sha256": sha256_file(path)})


def _read_array_file(path: Path, description: str) -> tuple[np.ndarray, str]:
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            return loaded, "npy"
        with loaded:
            keys = list(loaded.files)
            if not keys:
                raise GanzooError(f"{description}: the .npz holds no arrays")
            key = keys[0] if len(keys) == 1 else "arr_0" if "arr_0" in keys else None
            if key is None:
                raise GanzooError(f"{description}: the .npz holds several arrays ({', '.join(keys)}) and none is arr_0; save the samples alone or as arr_0")
            return loaded[key], f"npz array {key!r}"
    except GanzooError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise GanzooError(f"{description}: cannot be read as a NumPy array ({type(exc).__name__}: {first_line(exc)})") from None


def _from_folder(folder: Path, target: Target | None, description: str) -> Samples:
    from PIL import Image, UnidentifiedImageError

    entries = sorted(folder.iterdir(), key=lambda p: p.name)
    files = [p for p in entries if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    skipped = len(entries) - len(files)
    if not files:
        raise GanzooError(f"{description}: no PNG or JPEG images in the folder ({skipped} other entries)")
    pictures, digest, first_mode = [], hashlib.sha256(), None
    for path in files:
        try:
            with Image.open(path) as opened:
                opened.load()
                picture = opened.convert(_MODE_AS[opened.mode]) if opened.mode in _MODE_AS else opened.copy()
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise GanzooError(f"{description}: {path.name} is not a readable image ({type(exc).__name__}: {first_line(exc)})") from None
        if picture.mode not in _MODE_CHANNELS:
            raise GanzooError(f"{description}: {path.name} has image mode {picture.mode} (valid: L or 1 for one channel, RGB or P for three; no alpha)")
        if first_mode is None:
            first_mode = (path.name, picture.mode)
        elif picture.mode != first_mode[1]:
            raise GanzooError(f"{description}: {first_mode[0]} is {first_mode[1]} but {path.name} is {picture.mode}; all images need the same channels")
        pictures.append(picture)
        digest.update(f"{path.name}\0{sha256_file(path)}\n".encode())
    channels = _MODE_CHANNELS[first_mode[1]]
    size = _target_size(target, channels, "images", description)
    sizes = sorted({p.size for p in pictures})
    if size is None and len(sizes) > 1:
        raise GanzooError(
            f"{description}: the images have different sizes ({', '.join(f'{w}x{h}' for w, h in sizes[:3])}) and there is no dataset size to resize them to"
        )
    resized = 0
    if size is not None:
        for i, picture in enumerate(pictures):
            if picture.size != (size[1], size[0]):
                pictures[i], resized = _resize(picture, size), resized + 1
    pixels = np.stack([np.asarray(p).reshape(p.size[1], p.size[0], channels) for p in pictures]).transpose(0, 3, 1, 2)
    fields = {
        "format": f"folder of {len(files)} images ({', '.join(sorted({p.suffix.lower().lstrip('.') for p in files}))})",
        "sha256": digest.hexdigest(),
        "files_skipped": skipped,
        "layout": "N x C x H x W (from the image files)",
        "dtype": "uint8",
        "range": "uint8 0..255",
        "resized": _resized_note(resized, sizes, size),
    }
    return Samples(_from_uint8(np.ascontiguousarray(pixels)), "image", fields, description)


def _from_array(array: np.ndarray, target: Target | None, description: str, fields: dict[str, Any]) -> Samples:
    if array.dtype.kind not in "uif":
        raise GanzooError(f"{description}: dtype {array.dtype} (valid: uint8 or another integer type with values 0..255, or float)")
    fields = {**fields, "dtype": str(array.dtype)}
    if array.ndim == 2:
        return _vectors(array, target, description, fields)
    if array.ndim not in (3, 4):
        raise GanzooError(
            f"{description}: an array of shape {tuple(array.shape)} (valid: N x D vectors, N x H x W, N x C x H x W or N x H x W x C images)"
        )
    if target is not None and target.kind != "image":
        raise GanzooError(f"{description}: an array of shape {tuple(array.shape)} holds images; {target.name} holds vectors of shape {target.shape} (give N x {' x '.join(map(str, target.shape))})")
    array, layout = _to_nchw(array, target, description)
    values, value_range = _image_values(array, description)
    size = _target_size(target, array.shape[1], "images", description)
    resized = 0
    if size is not None and tuple(array.shape[2:]) != size:
        from PIL import Image

        pixels = values if isinstance(values, np.ndarray) else to_uint8(values).numpy()
        values = np.stack([_pil_pixels(_resize(Image.fromarray(_hwc(p)), size), array.shape[1]) for p in pixels])
        resized = len(pixels)
    x = _from_uint8(values) if isinstance(values, np.ndarray) else values
    fields.update(layout=layout, range=value_range, resized=_resized_note(resized, [tuple(array.shape[:1:-1])], size))
    return Samples(x, "image", fields, description)


def _vectors(array: np.ndarray, target: Target | None, description: str, fields: dict[str, Any]) -> Samples:
    if target is not None and (target.kind != "vector" or tuple(array.shape[1:]) != target.shape):
        want = f"images of shape {target.shape} (N x H x W or N x C x H x W)" if target.kind == "image" else f"vectors of shape {target.shape}"
        raise GanzooError(f"{description}: an array of shape {tuple(array.shape)}; {target.name} holds {want}")
    _check_finite(array, description)
    fields.update(layout="N x D (vectors)", range="vectors (used as they are, not quantised)", resized="none")
    return Samples(torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)), "vector", fields, description)


def _to_nchw(array: np.ndarray, target: Target | None, description: str) -> tuple[np.ndarray, str]:
    if array.ndim == 3:
        if target is not None and target.channels != 1:
            raise GanzooError(f"{description}: an N x H x W array has 1 channel; {target.name} has {target.channels}")
        return array[:, None], "N x H x W (1 channel)"
    wanted = (target.channels,) if target is not None else (1, 3)
    if array.shape[1] in wanted:
        return array, "N x C x H x W"
    if array.shape[3] in wanted:
        return array.transpose(0, 3, 1, 2), "N x H x W x C"
    if target is not None:
        raise GanzooError(f"{description}: an array of shape {tuple(array.shape)} has no axis of {target.channels} channel(s), which {target.name} has")
    raise GanzooError(f"{description}: cannot tell the channel axis of an array of shape {tuple(array.shape)} (valid: 1 or 3 channels, second or last axis)")


def _image_values(array: np.ndarray, description: str) -> tuple[np.ndarray | torch.Tensor, str]:
    """uint8 pixels as an array, or float32 images in [-1, 1] as a tensor; and the range detected."""
    _check_finite(array, description)
    low, high = (array.min(), array.max()) if array.size else (0, 0)
    if array.dtype.kind in "ui":
        if low < 0 or high > 255:
            raise GanzooError(f"{description}: integer values span {low}..{high} (valid: 0..255)")
        return np.ascontiguousarray(array, dtype=np.uint8), "uint8 0..255" if array.dtype == np.uint8 else f"{array.dtype} 0..255"
    x = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    if low >= 0 and high <= 1:
        return x.mul(2.0).sub(1.0), "float [0, 1] (all values in [0, 1]; mapped by x * 2 - 1)"
    if low >= -1 and high <= 1:
        return x, "float [-1, 1]"
    raise GanzooError(f"{description}: float values span [{low:.4g}, {high:.4g}] (valid: all in [-1, 1] or all in [0, 1]; store 0..255 pixels as uint8)")


def _check_finite(array: np.ndarray, description: str) -> None:
    if array.dtype.kind == "f":
        bad = int(array.size - np.count_nonzero(np.isfinite(array)))
        if bad:
            raise GanzooError(f"{description}: {bad} NaN or infinite values")


def _target_size(target: Target | None, channels: int, what: str, description: str) -> tuple[int, int] | None:
    if target is None:
        return None
    if target.kind != "image":
        raise GanzooError(f"{description}: {what}; {target.name} holds vectors of shape {target.shape} (give a .npy of shape N x {' x '.join(map(str, target.shape))})")
    if channels != target.channels:
        raise GanzooError(f"{description}: {channels}-channel images; {target.name} has {target.channels} channel(s)")
    return tuple(target.shape[1:])


def _resize(picture, size: tuple[int, int]):
    from PIL import Image

    return picture.resize((size[1], size[0]), Image.LANCZOS)


def _hwc(pixels: np.ndarray) -> np.ndarray:
    return pixels[0] if pixels.shape[0] == 1 else pixels.transpose(1, 2, 0)


def _pil_pixels(picture, channels: int) -> np.ndarray:
    return np.asarray(picture).reshape(picture.size[1], picture.size[0], channels).transpose(2, 0, 1)


def _resized_note(count: int, sizes: list[tuple[int, int]], size: tuple[int, int] | None) -> str:
    if not count:
        return "none"
    return f"{count} images from {', '.join(f'{w}x{h}' for w, h in sizes if (h, w) != size)} to {size[1]}x{size[0]} with {RESIZE}"


def _from_uint8(pixels: np.ndarray) -> torch.Tensor:
    # u / 127.5 - 1 in float32 quantises back to u for every u in 0..255 (tests/test_eval_samples.py checks).
    return torch.from_numpy(pixels).float().div(127.5).sub(1.0)


def _array_sha256(array: np.ndarray) -> str:
    digest = hashlib.sha256(f"{array.dtype.str} {tuple(array.shape)}\n".encode())
    digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def write_samples(samples: torch.Tensor, path: str | Path, kind: str) -> Path:
    """Samples as files that :func:`load_samples` reads back to the same tensor: a ``.npy``
    (float32, images or vectors) or a folder of PNGs (images, quantised as ganzoo quantises:
    ``00000.png``, ``00001.png``, ...). The folder must be new or empty."""
    path = Path(path)
    if path.suffix.lower() == ".npy":
        if path.is_dir():
            raise GanzooError(f"--out {path} is a folder; a .npy name is a file name")
        try:
            atomic_write(path, lambda f: np.save(f, samples.detach().cpu().float().numpy()))
        except OSError as exc:
            raise GanzooError(f"--out {path}: cannot write it ({exc.strerror or exc})") from None
        return path
    if kind != "image":
        raise GanzooError(f"--out {path}: {kind} samples are not pictures; write them to a .npy file (e.g. --out samples.npy)")
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise GanzooError(f"--out {path} already exists and is not an empty folder (give a new folder for the PNG files)")
    from PIL import Image

    pixels = to_uint8(samples).numpy()  # (N, C, H, W)
    width = max(5, len(str(len(pixels) - 1)))
    try:
        path.mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(pixels):
            picture = Image.fromarray(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0))
            atomic_write(path / f"{i:0{width}d}.png", lambda f, picture=picture: picture.save(f, format="PNG"))
    except OSError as exc:
        raise GanzooError(f"--out {path}: cannot write the pictures ({exc.strerror or exc})") from None
    return path
