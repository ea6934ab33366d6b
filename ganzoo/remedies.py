"""Collapse remedies every model gets without code: options of the core that change a model's discriminator.

Each is a ``--set`` option merged into every model's own options (``ganzoo models NAME`` lists
them), recorded in a run's ``config.yaml`` with the model's options, and applied by
:func:`apply` right after the plugin's builder returns, before ``--compile`` and data-parallel
wrapping. They touch the discriminator only, so the generator, its EMA copy and sampling are
as the plugin built them. The discriminator is the one network other than the generator that
the objective's phases train.

- ``pack=m`` (PacGAN, Lin et al. 2018): D judges ``m`` samples at once, concatenated along the
  channel (images) or feature (vectors) dimension. The model is built a second time for data
  of ``m`` times the channels and its D (with D's optimizer) takes the place of the first D,
  so any plugin's discriminator can be packed without knowing it; D's ``forward`` then packs
  consecutive samples, ``(n, C, ...) -> (n/m, m*C, ...)``. Objectives call D on a real batch
  and a fake batch separately (or on both concatenated, each ``batch_size`` long), so a pack
  is all real or all fake. A conditional D is refused: a pack of samples has no one label.
- ``mbstd=g`` (minibatch standard deviation, Karras et al. 2018, the cheap successor of
  Salimans et al. 2016's minibatch discrimination): D's last ``nn.Linear`` also sees the
  standard deviation of its input over groups of ``g`` samples (:class:`ganzoo.nn.MinibatchStdDev`).
- ``spectral_norm=true`` (Miyato et al. 2018): every ``nn.Linear`` and convolution of D is
  divided by its largest singular value, estimated by one power iteration per training forward.
- ``diffaugment=color,translation,cutout`` (Zhao et al. 2020): the same random, differentiable
  augmentation of every image D sees, reals and fakes, in D's and G's phases (while D is in
  training mode). Policies as in the paper: ``color`` (brightness +-0.5, saturation x[0, 2],
  contrast x[0.5, 1.5]), ``translation`` (up to 1/8 of the side, zero padding), ``cutout``
  (a square of half the side, zeroed).
- ``unroll=K`` (Metz et al. 2017): the generator's phases compute their loss against a copy of
  D advanced ``K`` D updates, the real D left as it was (:mod:`ganzoo.unroll`, which says which
  variant). It wraps the objective rather than D, and is applied last.

Every change is made to D in place: objectives keep the module objects they were built with.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from .data import DatasetInfo
from .errors import GanzooError
from .model import GAN
from .nn import MinibatchStdDev
from .unroll import UnrolledObjective
# The options and their checks import no torch; they are re-exported here, where they always were.
from .remedy_options import AUGMENTATION_NAMES, OFF, REMEDY_SCHEMA, check, model_options, policy, split, without_remedies  # noqa: F401

__all__ = ["REMEDY_SCHEMA", "AUGMENTATIONS", "model_options", "split", "check", "without_remedies", "apply", "diff_augment", "pack_samples"]


# -- applying them to a built model -----------------------------------------------------------


def discriminator(gan: GAN) -> str:
    """The name of ``gan``'s discriminator: the one network other than the generator that a phase trains."""
    trained = list(dict.fromkeys(p.network for p in gan.objective.phases if p.network != gan.generator))
    if len(trained) != 1:
        raise GanzooError(
            f"collapse remedies change a model's one discriminator, and this model's phases train "
            f"{', '.join(trained) or 'no network'} besides the generator {gan.generator} (use pack=1, mbstd=0, "
            f"spectral_norm=false, diffaugment={OFF}, unroll=0)"
        )
    return trained[0]


def apply(gan: GAN, remedies: Mapping[str, Any], info: DatasetInfo, rebuild: Callable[[DatasetInfo], GAN]) -> None:
    """Apply ``remedies`` to ``gan``'s discriminator in place.

    ``rebuild(info)`` builds the same model for other data (packing builds D for ``m`` times
    the channels that way). Order: packing replaces D's contents, the minibatch-stddev layer
    is added to that D, spectral normalisation then covers every layer including it, and the
    input stages (augment each sample, then pack) wrap D's forward; unrolling wraps the
    objective, which then sees D as all the others left it.
    """
    pack, mbstd, spectral, augment = remedies["pack"], remedies["mbstd"], remedies["spectral_norm"], policy(remedies["diffaugment"])
    unroll = remedies["unroll"]
    if pack == 1 and not mbstd and not spectral and not augment and not unroll:
        return
    check(remedies, info.kind)
    name = discriminator(gan)
    D = gan.networks[name]
    if pack > 1:
        _build_packed(gan, name, pack, info, rebuild)
    if mbstd:
        _add_minibatch_std(D, mbstd)
    if spectral:
        _spectral_norm(D)
    if pack > 1 or augment:
        channels = info.shape[0] if info.kind == "image" else None
        D._ganzoo_inputs = _Inputs(pack, augment, vars(D).get("forward"), channels)
        D.forward = types.MethodType(_remedied_forward, D)  # bound: a deepcopy of D calls the copy
    if unroll:
        gan.objective = UnrolledObjective(gan.objective, gan, name, unroll)


def _build_packed(gan: GAN, name: str, pack: int, info: DatasetInfo, rebuild: Callable[[DatasetInfo], GAN]) -> None:
    if gan.conditional:
        raise GanzooError(
            f"pack={pack} needs an unconditional model: this one's {name} takes labels, and a pack of "
            f"{pack} samples has no one label (valid here: pack=1)"
        )
    packed_info = DatasetInfo(info.name, info.kind, (pack * info.shape[0], *info.shape[1:]), info.num_classes,
                              info.centres, info.std, dict(info.extra))
    try:
        other = rebuild(packed_info)
    except GanzooError as exc:
        raise GanzooError(f"pack={pack}: building {name} for {pack}x{info.shape[0]} channels failed: {exc}") from None
    D, packed = gan.networks[name], other.networks.get(name)
    if type(packed) is not type(D):
        raise GanzooError(f"pack={pack}: the model built for packed data has no {name} of type {type(D).__name__}")
    optimizers = {p.optimizer for p in gan.objective.phases if p.network == name}
    own = {id(p) for p in packed.parameters()}
    for key in optimizers:
        params = [p for group in other.optimizers[key].param_groups for p in group["params"]]
        if any(id(p) not in own for p in params):
            raise GanzooError(f"pack={pack}: optimizer {key} also trains networks other than {name}, so {name} cannot be rebuilt for packs")
    # D takes over the packed build's contents (parameters, buffers, submodules, attributes such as
    # in_channels); the objective, which holds D itself, now calls the packed network.
    contents = dict(vars(packed))
    own_forward = contents.get("forward")
    if isinstance(own_forward, types.MethodType) and own_forward.__self__ is packed:
        contents["forward"] = types.MethodType(own_forward.__func__, D)
    vars(D).clear()
    vars(D).update(contents)
    for key in optimizers:
        gan.optimizers[key] = other.optimizers[key]


def pack_samples(x: torch.Tensor, pack: int) -> torch.Tensor:
    """``(n, C, ...) -> (n/pack, pack*C, ...)``: each run of ``pack`` consecutive samples concatenated along dimension 1."""
    n = x.shape[0]
    if n % pack:
        raise GanzooError(f"pack={pack}: the discriminator got a batch of {n} samples, which is not divisible by {pack}")
    return x.reshape(n // pack, pack * x.shape[1], *x.shape[2:])


@dataclass
class _Inputs:
    """What D's remedied forward does to its input before D's own forward (``inner``: a forward the plugin set, if any)."""

    pack: int
    augment: tuple[str, ...]
    inner: Any = None
    channels: int | None = None  # one image's channels: D may judge several side by side (pix2pix's input and image)


def _remedied_forward(self: nn.Module, x: torch.Tensor, *args, **kwargs):
    spec: _Inputs = self._ganzoo_inputs
    if spec.augment and self.training:
        x = diff_augment(x, spec.augment, spec.channels)
    if spec.pack > 1:
        x = pack_samples(x, spec.pack)
    if spec.inner is not None:
        return spec.inner(x, *args, **kwargs)
    return type(self).forward(self, x, *args, **kwargs)


class _MinibatchStdLinear(nn.Linear):
    """A ``nn.Linear`` whose input also has the minibatch standard deviation as one more feature."""

    group_size: int

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2:
            raise GanzooError(f"mbstd: D's last Linear got input of shape {tuple(x.shape)}; it needs (samples, features)")
        with_std = MinibatchStdDev(self.group_size)(x[:, :, None, None])[:, :, 0, 0]
        return F.linear(with_std, self.weight, self.bias)


def _add_minibatch_std(D: nn.Module, group_size: int) -> None:
    last = None
    for module in D.modules():
        if isinstance(module, nn.Linear):
            last = module
    if last is None:
        raise GanzooError(f"mbstd={group_size} adds a feature to the discriminator's last nn.Linear, and this one has none (valid here: mbstd=0)")
    # One more input column, initialised like the others; the Parameter objects stay the same
    # (their data grow), so D's optimizer keeps training them.
    with torch.no_grad():
        column = torch.empty(last.out_features, 1, dtype=last.weight.dtype, device=last.weight.device)
        bound = 1.0 / (last.in_features + 1) ** 0.5
        column.uniform_(-bound, bound)
        last.weight.data = torch.cat([last.weight.data, column], dim=1)
    last.in_features += 1
    last.__class__ = _MinibatchStdLinear
    last.group_size = group_size


_NORMALISED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def _spectral_norm(D: nn.Module) -> None:
    layers = [m for m in D.modules() if isinstance(m, _NORMALISED)]
    if not layers:
        raise GanzooError("spectral_norm normalises the discriminator's nn.Linear and nn.Conv layers, and this one has none (valid here: spectral_norm=false)")
    for layer in layers:
        # The weight Parameter stays the same object (now parametrizations.weight.original): the optimizer keeps it.
        nn.utils.parametrizations.spectral_norm(layer)


# -- DiffAugment (Zhao et al. 2020), our own code after the paper's policies ----------------------


def _per_sample(x: torch.Tensor, groups: int) -> torch.Tensor:
    """One uniform draw per sample, shared by the ``groups`` images each sample's rows of ``x`` hold."""
    draw = torch.rand(x.shape[0] // groups, 1, 1, 1, dtype=x.dtype, device=x.device)
    return draw.repeat_interleave(groups, dim=0) if groups > 1 else draw


def _brightness(x: torch.Tensor, groups: int = 1) -> torch.Tensor:
    return x + (_per_sample(x, groups) - 0.5)


def _saturation(x: torch.Tensor, groups: int = 1) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (2 * _per_sample(x, groups)) + mean


def _contrast(x: torch.Tensor, groups: int = 1) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_per_sample(x, groups) + 0.5) + mean


def _color(x: torch.Tensor, channels: int | None = None) -> torch.Tensor:
    """Brightness, saturation and contrast, drawn per sample. When each sample holds several images
    of ``channels`` channels side by side (an image-to-image model's input and image), each image is
    changed on its own by the sample's factors: a mean over all channels would blend one into the other."""
    n, c, h, w = x.shape
    groups = c // channels if channels and c > channels and c % channels == 0 else 1
    images = x.reshape(n * groups, c // groups, h, w)
    return _contrast(_saturation(_brightness(images, groups), groups), groups).reshape(n, c, h, w)


def _translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Each image shifted by whole pixels, up to ``ratio`` of its side each way; what comes in is zero."""
    n, _, h, w = x.shape
    max_dy, max_dx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-max_dy, max_dy + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(-max_dx, max_dx + 1, (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1) - dy  # output (i, j) reads input (i - dy, j - dx)
    cols = torch.arange(w, device=x.device).view(1, 1, w) - dx
    inside = ((rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)).to(x.dtype)
    index = (rows.clamp(0, h - 1) * w + cols.clamp(0, w - 1)).view(n, 1, h * w).expand(-1, x.shape[1], -1)
    shifted = x.reshape(n, x.shape[1], h * w).gather(2, index).view_as(x)
    return shifted * inside.unsqueeze(1)


def _cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Each image with a square of ``ratio`` of its side zeroed, centred anywhere (clipped at the borders)."""
    n, _, h, w = x.shape
    size_y, size_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - size_y % 2), (n, 1, 1), device=x.device)
    cx = torch.randint(0, w + (1 - size_x % 2), (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1) - (cy - size_y // 2)
    cols = torch.arange(w, device=x.device).view(1, 1, w) - (cx - size_x // 2)
    hole = (rows >= 0) & (rows < size_y) & (cols >= 0) & (cols < size_x)
    return x * (~hole).to(x.dtype).unsqueeze(1)


# Each takes the images and one image's channels (only colour needs them: shifts and cutouts move a sample's images together).
AUGMENTATIONS: dict[str, Callable[[torch.Tensor, int | None], torch.Tensor]] = {
    "color": _color,
    "translation": lambda x, channels: _translation(x),
    "cutout": lambda x, channels: _cutout(x),
}
assert tuple(AUGMENTATIONS) == AUGMENTATION_NAMES  # the checks (torch-free) name what is implemented here


def diff_augment(x: torch.Tensor, names: tuple[str, ...], channels: int | None = None) -> torch.Tensor:
    """Images ``x`` ``(n, C, H, W)`` through the augmentations ``names`` in order, each drawn per sample; differentiable in ``x``.

    ``channels``: one image's channels, when each sample holds several side by side (colour then
    changes each on its own; shifts and cutouts move them together)."""
    for name in names:
        x = AUGMENTATIONS[name](x, channels)
    return x.contiguous()
