"""``--compile`` (``torch.compile`` of every network a model has) and ``--channels-last``, applied when a run's model is built for training.

Each network keeps its identity (objectives hold references to it) and its ``state_dict``
keys: only its ``forward`` is replaced, by an instance attribute bound to a compiled
function of its class's ``forward``. Checkpoints of compiled and uncompiled runs are
therefore interchangeable, and sampling or evaluating a run builds it uncompiled.
A ``copy.deepcopy`` of a compiled network is bound to the copy (a bound method copies
with its module), so the copy does not call the original.

Backends: ``inductor`` (what ``--compile`` means) generates fused kernels (C++ on CPU,
Triton on CUDA); ``aot_eager`` traces forward and backward (dynamo and AOTAutograd) but
runs the traced graphs with PyTorch's own kernels, and ``eager`` only captures graphs with
dynamo: both compile in a fraction of inductor's time and are for checking that a model
traces. ``torch.compile``'s graphs support a single backward: penalties that differentiate
twice run the critic eagerly (:func:`ganzoo.penalties.double_backward`).

``--channels-last`` (``memory_format: channels_last``) converts the networks' 4-D weights to
the NHWC layout in place (the parameters stay the same objects, so optimizers and objectives
keep theirs). A convolution whose weight is channels_last computes in that layout and hands
it on, so inputs need no conversion. Models without 4-D weights (MLPs) are unchanged.
benchmarks/roofline.py measures what it buys.
"""

from __future__ import annotations

import types

import torch

from ..config import TRAINER_SCHEMA
from ..model import GAN

BACKENDS: tuple[str, ...] = TRAINER_SCHEMA["compile"].choices  # none, inductor, aot_eager, eager


def set_memory_format(gan: GAN, memory_format: str) -> None:
    """Convert each of ``gan``'s networks to ``memory_format`` in place (``contiguous``: leave them as they are)."""
    if memory_format == "contiguous":
        return
    for net in gan.networks.values():
        net.to(memory_format=getattr(torch, memory_format))


def compile_networks(gan: GAN, backend: str) -> None:
    """Compile the forward of each of ``gan``'s networks with ``backend`` in place (``none``: leave them as they are)."""
    if backend == "none":
        return
    for net in gan.networks.values():
        own = vars(net).get("forward")  # a forward a plugin set on the instance is what runs: compile that
        if own is not None:
            net.forward = torch.compile(own, backend=backend)
        else:
            net.forward = types.MethodType(torch.compile(type(net).forward, backend=backend), net)
