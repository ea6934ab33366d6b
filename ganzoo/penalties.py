"""Regularisers of the discriminator (critic) that objectives compose: gradient penalty, R1, drift, clipping.

All penalties return a scalar averaged over the batch; the objective multiplies by its weight.

The two that differentiate the critic twice (the gradient penalty and R1) stay correct under
the trainer's mixed precision (``--precision``) and ``--compile`` without the objective doing
anything, as PyTorch's AMP guide does its gradient penalty: the input gradient is taken
outside autocast and its norm in fp32; under an fp16 gradient scaler (which the trainer
announces with :func:`gradient_scale`) the scores are scaled before the gradient is taken and
the gradient unscaled after, so that fp16 gradients inside the critic do not underflow. A
compiled network's graph can be differentiated only once, so a forward whose graph a
penalty differentiates twice runs eagerly inside :func:`double_backward`;
:func:`gradient_penalty` calls its critic there itself, and an objective using
:func:`r1_penalty` computes the real scores there.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from typing import Callable, Iterator

import torch
from torch import nn

__all__ = [
    "gradient_penalty", "interpolate", "r1_penalty", "drift_penalty", "clip_weights_",
    "input_gradient", "gradient_scale", "double_backward",
]

# The loss scale of the phase being computed (a tensor or a number), or None: set by the trainer under fp16.
_GRADIENT_SCALE: ContextVar[torch.Tensor | float | None] = ContextVar("ganzoo_gradient_scale", default=None)


@contextmanager
def gradient_scale(scale: torch.Tensor | float | None) -> Iterator[None]:
    """Inside, :func:`input_gradient` scales the scores by ``scale`` (the phase's fp16 loss scale) and unscales the gradient.

    The trainer sets it around an objective's loss under ``--precision 16-mixed``; ``None``
    (the default) means no scaling.
    """
    token = _GRADIENT_SCALE.set(scale)
    try:
        yield
    finally:
        _GRADIENT_SCALE.reset(token)


# What torch says when a compiled graph is differentiated a second time, and what to do about it.
DOUBLE_BACKWARD_ERROR = "does not currently support double backward"
DOUBLE_BACKWARD_HINT = ("a penalty differentiates a compiled network twice, which torch.compile's graphs cannot (--compile): "
                        "compute its scores inside ganzoo.penalties.double_backward(), or train without --compile")


@contextmanager
def double_backward() -> Iterator[None]:
    """Run compiled networks' forwards eagerly inside: for a forward whose graph a penalty differentiates twice.

    ``torch.compile``'s graphs support one backward only. Without ``--compile`` this changes nothing.
    """
    if "torch._dynamo" not in sys.modules:  # nothing can be compiled, and importing dynamo takes seconds
        yield
        return
    with torch.compiler.set_stance("force_eager"):
        yield


def input_gradient(scores: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """``d sum(scores) / d inputs`` in fp32, with its graph (so a penalty on it trains the critic).

    Taken outside autocast; under :func:`gradient_scale` the scores are scaled by ``scale / n``
    (``n`` samples: each score's gradient is then what a batch-mean loss scaled by ``scale``
    gives it, which fp16 holds; ``scale`` alone overflows fp16 at the default 65536) and the
    gradient divided by it again. With neither, this is exactly ``autograd.grad(scores.sum(), inputs)``.
    """
    scale = _GRADIENT_SCALE.get()
    factor = None if scale is None else scale / scores.shape[0]
    total = scores.sum() if factor is None else scores.float().sum() * factor
    device = inputs.device.type
    with torch.autocast(device, enabled=False) if torch.is_autocast_enabled(device) else nullcontext():
        (grad,) = torch.autograd.grad(total, inputs, create_graph=True)
    grad = grad.float()
    return grad if factor is None else grad / factor


def _per_sample_norm(grad: torch.Tensor) -> torch.Tensor:
    """L2 norm of each sample's gradient over all non-batch dimensions (pixels and channels together)."""
    return grad.flatten(start_dim=1).norm(2, dim=1)


def interpolate(real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Points ``alpha * real + (1 - alpha) * fake`` with one ``alpha ~ U[0, 1]`` per sample; returns (points, alpha)."""
    alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, generator=generator)
    return alpha * real.detach() + (1 - alpha) * fake.detach(), alpha


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    target: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): ``E[(||grad_x f(x_hat)||_2 - target)^2]`` on random interpolates.

    The norm is per sample over all non-batch dimensions; ``critic`` maps a batch to one score per
    sample (wrap a conditional critic in a lambda that closes over the labels).
    """
    points, _ = interpolate(real, fake, generator)
    points.requires_grad_(True)
    with double_backward():
        scores = critic(points)
    return ((_per_sample_norm(input_gradient(scores, points)) - target) ** 2).mean()


def r1_penalty(real_scores: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): ``E[||grad_x D(x)||^2]`` on real data; ``real`` must require grad.

    Returns the mean squared norm without the conventional ``gamma / 2`` factor. Under
    ``--compile``, compute ``real_scores`` inside :func:`double_backward`.
    """
    return _per_sample_norm(input_gradient(real_scores, real)).pow(2).mean()


def drift_penalty(real_scores: torch.Tensor) -> torch.Tensor:
    """ProGAN's drift term ``E[D(x)^2]``: keeps the critic's output from wandering far from zero."""
    return real_scores.pow(2).mean()


@torch.no_grad()
def clip_weights_(module: nn.Module, bound: float) -> None:
    """Clamp every parameter of ``module`` to ``[-bound, bound]`` in place (WGAN's crude Lipschitz constraint)."""
    for p in module.parameters():
        p.clamp_(-bound, bound)
