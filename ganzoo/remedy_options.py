"""The collapse remedies' options and their checks, without torch (:mod:`ganzoo.remedies` applies them).

Every model's option schema includes :data:`REMEDY_SCHEMA`; spec validation, ``ganzoo models
NAME`` and config resolution read it here, so none of them imports torch.
"""

from __future__ import annotations

from typing import Any, Mapping

from .config import Param
from .errors import GanzooError

__all__ = ["REMEDY_SCHEMA", "AUGMENTATION_NAMES", "OFF", "model_options", "split", "policy", "check", "without_remedies"]

OFF = "none"
# DiffAugment's policies, in the order :data:`ganzoo.remedies.AUGMENTATIONS` implements them.
AUGMENTATION_NAMES = ("color", "translation", "cutout")

REMEDY_SCHEMA: dict[str, Param] = {
    "pack": Param(1, "PacGAN (Lin 2018): D judges packs of this many samples of one kind (1 = off)", min=1, max=64),
    "mbstd": Param(0, "minibatch stddev (Karras 2018) in D's last nn.Linear, over groups of this many samples (0 = off)", min=0, max=1024),
    "spectral_norm": Param(False, "spectral normalisation (Miyato 2018) of D's Linear and conv layers"),
    "diffaugment": Param(OFF, "DiffAugment (Zhao 2020) of every image D sees: none, or a comma-separated list of color, translation, cutout"),
    "unroll": Param(0, "unrolled D (Metz 2017): G's loss against a copy of D advanced this many D steps; each G step costs that many D steps more (0 = off)", min=0, max=100),
}


def model_options(config: Mapping[str, Param], discriminator: bool = True) -> dict[str, Param]:
    """A model's whole option schema: its own options (``config``) and, if it has a ``discriminator``, the remedies."""
    return {**config, **REMEDY_SCHEMA} if discriminator else dict(config)


def without_remedies(model: str, values: Mapping[str, Any], recorded: bool = False) -> dict[str, Any]:
    """``values`` for a model without a discriminator, which no remedy can change: a remedy in them is refused in one line.

    ``recorded``: ``values`` is a run's stored ``model_config``, whose remedies at their off
    values are dropped (configs written before models declared a discriminator hold every remedy, off).
    """
    kept = {k: v for k, v in values.items() if not (recorded and k in REMEDY_SCHEMA and v == REMEDY_SCHEMA[k].default)}
    for key, value in kept.items():
        if key in REMEDY_SCHEMA:
            raise GanzooError(
                f"model {model} takes no {key}={value}: the collapse remedies ({', '.join(REMEDY_SCHEMA)}) change a "
                f"discriminator, and {model} has none (its spec says discriminator=False)"
            )
    return kept


def split(config: Mapping[str, Param], values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Resolved ``values`` split into the model's own options (what its builder gets) and the remedies'.

    A remedy missing from ``values`` (a config resolved before remedies existed) is off.
    """
    own = {k: v for k, v in values.items() if k in config}
    remedies = {k: values.get(k, param.default) for k, param in REMEDY_SCHEMA.items()}
    return own, remedies


def policy(value: str) -> tuple[str, ...]:
    """The augmentations a ``diffaugment`` value names, in order (``()`` for ``none``)."""
    if value.strip() in (OFF, ""):
        return ()
    names = tuple(name.strip() for name in value.split(","))
    valid = f"{OFF}, or a comma-separated list of {', '.join(AUGMENTATION_NAMES)}"
    for name in names:
        if name not in AUGMENTATION_NAMES:
            raise GanzooError(f"bad value for diffaugment: {value!r} (unknown augmentation {name!r}; valid: {valid})")
    if len(set(names)) < len(names):
        raise GanzooError(f"bad value for diffaugment: {value!r} (an augmentation named twice; valid: {valid})")
    return names


def check(remedies: Mapping[str, Any], kind: str, batch_size: int | None = None) -> None:
    """Refuse remedies that cannot apply to data of ``kind`` or to batches of ``batch_size``, in one line."""
    pack, mbstd = remedies["pack"], remedies["mbstd"]
    if mbstd == 1:
        raise GanzooError("bad value for mbstd: 1 (a group of one sample has no spread; valid: 0 = off, or a group size >= 2)")
    if policy(remedies["diffaugment"]) and kind != "image":
        raise GanzooError(f"diffaugment augments images; this data is {kind} (valid for it: diffaugment={OFF})")
    if batch_size is not None and batch_size % pack:
        raise GanzooError(f"pack={pack} needs a batch size divisible by {pack} (batch_size is {batch_size})")
