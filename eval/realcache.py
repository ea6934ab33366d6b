"""A cache of real-data features, keyed by everything that changes them.

torch-fidelity names its cache entries after the input and the extractor only, so a
changed weights file or a different N silently reuses stale statistics. Here the key is
a hash of ``fields``, which :meth:`ganzoo.eval.context.EvalContext.features` fills with
everything that changes the features: the dataset (name, every option it was built with,
source, size), the split, N, the feature network and its weights hash, the layers, the
dtype, the quantisation and the library versions (:func:`ganzoo.eval.versions.versions`).
An entry also stores its fields and is used only when they match in full. Entries are
plain tensor dicts, written atomically and read with ``weights_only=True``.

The folder is ``eval-features/`` under the ganzoo cache (:func:`ganzoo.files.cache_root`: ``$GANZOO_CACHE`` or ``~/.cache/ganzoo``).

:func:`remembered` keeps real features, and what metrics derive from the real data alone
(k-NN radii), in this process under the same keys, so that a bench, which evaluates run
after run against the same reference, reads and derives them once.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import torch

from ganzoo.files import atomic_write, cache_root


def cache_dir() -> Path:
    return cache_root() / "eval-features"


def cache_key(fields: dict) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:32]


def cached_features(fields: dict, compute: Callable[[], dict[str, torch.Tensor]], folder: Path | None = None) -> tuple[dict[str, torch.Tensor], bool]:
    """``(features, hit)``: the cached entry for ``fields``, or ``compute()`` stored under it."""
    folder = Path(folder) if folder else cache_dir()
    path = folder / f"{cache_key(fields)}.pt"
    if path.is_file():
        try:
            entry = torch.load(path, map_location="cpu", weights_only=True)
            if entry.get("fields") == json.loads(json.dumps(fields, sort_keys=True, default=str)):
                return entry["features"], True
        except Exception:  # a damaged entry is recomputed, never trusted
            pass
    features = compute()
    entry = {"fields": json.loads(json.dumps(fields, sort_keys=True, default=str)), "features": features}
    try:
        atomic_write(path, lambda f: torch.save(entry, f))
    except OSError:  # a read-only home must not stop an evaluation
        pass
    return features, False


MEMORY_ENTRIES = 32  # a bench's datasets x (reference, held-out) x (features, radii), with room to spare
_memory: OrderedDict[tuple, Any] = OrderedDict()


def remembered(key: tuple, compute: Callable[[], Any]) -> Any:
    """``compute()``, kept in this process under ``key`` (a :func:`cache_key` and what was derived);
    the least recently used entries go first, so memory stays bounded."""
    if key in _memory:
        _memory.move_to_end(key)
        return _memory[key]
    value = _memory[key] = compute()
    while len(_memory) > MEMORY_ENTRIES:
        _memory.popitem(last=False)
    return value


def forget() -> None:
    """Drop what :func:`remembered` keeps (a benchmark's cold start)."""
    _memory.clear()
