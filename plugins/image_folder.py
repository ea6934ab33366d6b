"""The ``image-folder`` dataset: your own pictures, decoded once into a memory-mapped uint8 cache.

``--data-root DIR`` names a folder of PNG/JPEG/WebP/BMP files, read recursively with Pillow.
As in torchvision's ``ImageFolder``, when the images sit in subfolders each top-level
subfolder is a class (sorted names give the class indices; the names are in
``dataset.json`` as ``extra.classes``); images directly in DIR make an unlabelled dataset.

Every image becomes ``size`` x ``size``: ``fit=crop`` scales the short side and cuts the
centre, ``pad`` scales the long side and pads with black, ``stretch`` resizes. ``channels``
is 1 or 3; ``auto`` gives 3 when any file has a colour mode (RGB, palette, CMYK, ...), else 1.
``hflip`` mirrors half of every batch at random, drawn from the batcher's seeded generator
(:class:`ganzoo.HorizontalFlip`), so resuming stays exact. A file Pillow cannot read is
skipped and the count is printed in one line on stderr.

The decoded images are written once to ``image-folder/KEY.npy`` under the ganzoo cache
(:func:`ganzoo.files.cache_root`), uint8 ``(N, C, H, W)``, with ``KEY.labels.npy`` and
``KEY.json`` beside it. KEY hashes every file's path, size and modification time, the
folder and the options, so a changed folder is decoded again. The array is opened with
``mmap_mode="r"``: a later run starts in seconds, and training reads only the rows of each
batch, so memory does not grow with the number of images.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import sys
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import ganzoo
from ganzoo.errors import GanzooError
from ganzoo.files import atomic_write, atomic_write_text, cache_root

if TYPE_CHECKING:  # numpy and torch are imported where images are read, not at registration
    import numpy as np

EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"}
FORMAT = 1  # bump when the cache's content changes for the same key fields
_HEADER = 128  # bytes of the .npy header, fixed so the row count can be rewritten in place


def _images_below(folder: str) -> list[str]:
    """Paths of the image files below ``folder`` (any depth), sorted; plain strings, cheap for 200,000 files."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        found += [os.path.join(dirpath, n) for n in filenames if n.lower().endswith(EXTENSIONS)]
    return sorted(found)


def _list_images(root: Path) -> tuple[list[str], list[int] | None, list[str]]:
    """``(files, labels or None, class names)`` in a fixed (sorted) order."""
    entries = sorted(os.scandir(root), key=lambda e: e.name)
    if any(e.is_file() and e.name.lower().endswith(EXTENSIONS) for e in entries):  # flat: unlabelled
        return _images_below(str(root)), None, []
    files: list[str] = []
    labels: list[int] = []
    classes: list[str] = []
    for entry in entries:
        if entry.is_dir():
            found = _images_below(entry.path)
            if found:
                labels += [len(classes)] * len(found)
                classes.append(entry.name)
                files += found
    return files, labels, classes


def _has_colour(path: str) -> bool | None:
    """Whether the file's mode has colour (reads the header only); ``None`` when Pillow cannot open it."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return img.mode not in GREY_MODES
    except Exception:  # any unreadable file is skipped, whatever Pillow raises
        return None


def _decode(path: str, size: int, fit: str, channels: int) -> np.ndarray:
    """One image as uint8 ``(channels, size, size)``; raises whatever Pillow raises for a bad file."""
    import numpy as np
    from PIL import Image, ImageOps

    with Image.open(path) as img:
        img = ImageOps.exif_transpose(img)
        if img.mode == "P" or img.mode.endswith("A"):  # transparency: onto black, like the padding
            img = img.convert("RGBA")
            base = Image.new("RGBA", img.size, (0, 0, 0, 255))
            img = Image.alpha_composite(base, img)
        img = img.convert("RGB" if channels == 3 else "L")
        resample = Image.Resampling.BICUBIC
        if fit == "crop":
            img = ImageOps.fit(img, (size, size), method=resample)
        elif fit == "pad":
            img = ImageOps.pad(img, (size, size), method=resample, color=0)
        else:
            img = img.resize((size, size), resample=resample)
        a = np.asarray(img, dtype=np.uint8)
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


def _npy_header(shape: tuple[int, ...]) -> bytes:
    # Fixed length, so the header can be rewritten with the final row count after decoding.
    body = f"{{'descr': '|u1', 'fortran_order': False, 'shape': {tuple(shape)!r}, }}"
    body = body.ljust(_HEADER - 10 - 1) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body.encode("latin1")


def _cache_paths(key: str) -> tuple[Path, Path, Path]:
    folder = cache_root() / "image-folder"
    return folder / f"{key}.npy", folder / f"{key}.labels.npy", folder / f"{key}.json"


def _load_cached(key: str, digest: str) -> tuple[np.ndarray, np.ndarray | None, dict] | None:
    import numpy as np

    images_path, labels_path, meta_path = _cache_paths(key)
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("digest") != digest:
            return None
        images = np.load(images_path, mmap_mode="r")
        labels = np.load(labels_path) if meta["labelled"] else None
        if images.dtype != np.uint8 or len(images) != meta["count"] or (labels is not None and len(labels) != len(images)):
            return None
        return images, labels, meta
    except (OSError, ValueError, KeyError):  # missing or damaged: decode again
        return None


def _decode_into_cache(key: str, digest: str, files: list[str], labels: list[int] | None, size: int, fit: str, channels: str) -> None:
    import numpy as np

    if channels == "auto":
        colour = [_has_colour(p) for p in files]
        n_channels = 3 if any(colour) else 1
    else:
        n_channels = int(channels)
    images_path, labels_path, meta_path = _cache_paths(key)
    kept: list[int] = []

    def write(f: BinaryIO) -> None:
        from tqdm.auto import tqdm

        f.write(_npy_header((len(files), n_channels, size, size)))
        # A bar on a terminal only (disable=None): 200,000 files take minutes; logs stay clean.
        for i, path in enumerate(tqdm(files, desc="image-folder: decoding into the cache", unit="img", disable=None, leave=False)):
            try:
                row = _decode(path, size, fit, n_channels)
            except Exception:  # a corrupt or unreadable file is skipped and counted, never a traceback
                continue
            f.write(np.ascontiguousarray(row).tobytes())
            kept.append(i)
        f.truncate()
        f.seek(0)
        f.write(_npy_header((len(kept), n_channels, size, size)))

    atomic_write(images_path, write)
    if labels is not None:
        kept_labels = np.asarray(labels, dtype=np.int64)[kept]
        atomic_write(labels_path, lambda f: np.save(f, kept_labels))
    meta = {"digest": digest, "count": len(kept), "skipped": len(files) - len(kept), "channels": n_channels, "labelled": labels is not None}
    atomic_write_text(meta_path, json.dumps(meta, indent=1))


def build_image_folder(config: dict) -> ganzoo.Dataset:
    import torch

    root_text = config["root"]
    if not root_text:
        raise GanzooError("dataset image-folder needs --data-root DIR (a folder of PNG/JPEG/WebP/BMP images, class subfolders optional)")
    root = Path(root_text).expanduser()
    if not root.is_dir():
        raise GanzooError(f"--data-root {root_text}: no such folder")
    files, labels, classes = _list_images(root)
    if not files:
        raise GanzooError(f"--data-root {root_text}: no images there ({'/'.join(e[1:] for e in EXTENSIONS)} files, in DIR or in class subfolders)")
    size, fit, channels = config["size"], config["fit"], config["channels"]
    # The key: the options, then every file's path (relative to root), size and mtime, hashed
    # as they are listed so that 200,000 files cost no big list or string.
    digest = hashlib.sha256(json.dumps({
        "format": FORMAT, "root": str(root.resolve()), "classes": classes, "size": size, "fit": fit, "channels": channels,
    }, sort_keys=True).encode())
    for path in files:
        st = os.stat(path)
        digest.update(f"{os.path.relpath(path, root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    digest = digest.hexdigest()
    key = digest[:32]
    cached = _load_cached(key, digest)
    if cached is None:
        _decode_into_cache(key, digest, files, labels, size, fit, channels)
        cached = _load_cached(key, digest)
        if cached is None:
            raise GanzooError(f"dataset image-folder: could not read back its cache {_cache_paths(key)[0]}")
    images, label_array, meta = cached
    if meta["skipped"]:
        print(f"image-folder: skipped {meta['skipped']} of {len(files)} files that could not be read as images", file=sys.stderr)
    if meta["count"] == 0:
        raise GanzooError(f"--data-root {root_text}: none of its {len(files)} image files could be read")
    info = ganzoo.DatasetInfo(
        "image-folder", "image", (meta["channels"], size, size), num_classes=len(classes) if label_array is not None else 0,
        # the source names the content too, so evaluation caches keyed by it see a changed folder
        extra={"source": f"{root.resolve()} ({key[:12]})", "classes": classes, "images": meta["count"], "skipped": meta["skipped"],
               "images_of": "your own pictures"},  # not digits: grey ones are evaluated with Inception, not the MNIST network
    )
    labels_tensor = torch.from_numpy(label_array) if label_array is not None else None
    return ganzoo.Dataset(ganzoo.UInt8Images(images), info, labels_tensor, augment=ganzoo.HorizontalFlip() if config["hflip"] else None)


@ganzoo.hookimpl
def register_datasets(register):
    register(
        ganzoo.DatasetSpec(
            name="image-folder",
            summary="Your own images from --data-root DIR (class subfolders become labels); cached as memory-mapped uint8",
            kind="image",
            build=build_image_folder,
            config={
                "root": ganzoo.Param("", "folder of PNG/JPEG/WebP/BMP images, read recursively; subfolders are classes"),
                "size": ganzoo.Param(32, "image side in pixels", min=4, max=1024),
                "fit": ganzoo.Param("crop", "how to make images square: centre crop, pad with black, or stretch", choices=("crop", "pad", "stretch")),
                "channels": ganzoo.Param("auto", "1 (grey) or 3 (RGB); auto: 3 when any image has colour", choices=("auto", "1", "3")),
                "hflip": ganzoo.Param(False, "mirror a random half of every batch (seeded; resume stays exact)"),
            },
        )
    )
