"""Checkpoints: written atomically, read back without unpickling arbitrary objects.

A checkpoint is a dict of tensors and plain values (network and optimizer state, RNG
states, the batcher's position, the step). It is written to a temporary file in the
same folder, flushed to disk, then renamed over the old one, so a crash at any moment
leaves either the previous checkpoint or the new one, never a half-written file. It is
read with ``torch.load(weights_only=True)``, which refuses pickled Python objects.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, first_line
from ..files import atomic_write

FORMAT = "ganzoo-checkpoint-1"

# The entries a training checkpoint holds, with their types (``skipped`` and ``grad_scalers`` came later: optional).
TRAINING_STATE: dict[str, tuple[type, ...]] = {
    "step": (int,), "images_seen": (int,), "elapsed": (int, float), "networks": (dict,), "optimizers": (dict,),
    "objective": (dict,), "batcher": (dict,), "window": (dict,), "rng": (dict,),
}


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write ``state`` to ``path`` atomically and durably."""
    atomic_write(path, lambda f: torch.save({"format": FORMAT, **state}, f), durable=True)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`, refusing anything that needs unpickling."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    if not zipfile.is_zipfile(path):  # torch.save always writes a zip archive
        raise CheckpointError(f"{path} is corrupt or not a checkpoint (not a torch archive)")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Weights only load failed" in str(exc) or "weights_only" in str(exc):
            raise CheckpointError(
                f"refusing to load {path}: it contains pickled Python objects, and ganzoo checkpoints hold only tensors and plain values"
            ) from None
        raise CheckpointError(f"{path} is corrupt ({first_line(exc)})") from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError) as exc:  # torch reports junk bytes in several ways
        raise CheckpointError(f"{path} is corrupt or not a checkpoint ({first_line(exc)})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a ganzoo checkpoint (expected format {FORMAT})")
    return state


def check_training_state(state: Any) -> None:
    """Refuse a checkpoint that lacks an entry a resume needs, or holds one of the wrong type (CheckpointError)."""
    if not isinstance(state, dict):
        raise CheckpointError(f"the checkpoint is a {type(state).__name__}, not a training state")
    for key, kinds in TRAINING_STATE.items():
        if key not in state:
            raise CheckpointError(f"the checkpoint has no {key!r} entry (it is not a complete training state)")
        value = state[key]
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise CheckpointError(f"the checkpoint's {key!r} is {type(value).__name__}, expected {' or '.join(k.__name__ for k in kinds)}")
    for key in ("step", "images_seen", "elapsed"):
        if not state[key] >= 0 or state[key] == float("inf"):
            raise CheckpointError(f"the checkpoint's {key!r} is {state[key]!r}, expected a finite number >= 0")
    skipped = state.get("skipped", 0)
    if type(skipped) is not int or skipped < 0:
        raise CheckpointError(f"the checkpoint's 'skipped' is {skipped!r}, expected a whole number >= 0")
    if not isinstance(state.get("grad_scalers", {}), dict):  # fp16's gradient scalers' states (came later: optional)
        raise CheckpointError(f"the checkpoint's 'grad_scalers' is {type(state['grad_scalers']).__name__}, expected dict")
    for name in ("torch", "cuda"):
        rng = state["rng"].get(name)
        if (name == "torch" or rng is not None) and not (isinstance(rng, torch.Tensor) and rng.dtype == torch.uint8):
            raise CheckpointError(f"the checkpoint's rng has no {name} generator state (a uint8 tensor)")
