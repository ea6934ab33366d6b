"""Unrolled-D updates (Metz et al. 2017, "Unrolled Generative Adversarial Networks"): the collapse remedy ``unroll=K``.

The generator's loss is computed against a discriminator that has been updated ``K`` more
steps: a lookahead copy of D, advanced by D's own phases and optimizer, stands in for D while
the generator's phase computes its loss. The real D, its optimizer state and its buffers are
left exactly as they were, so D trains as without the option, and checkpoints hold nothing new.

Which variant: the first-order one. Metz et al. backpropagate G's gradient through the ``K``
unrolled updates (their reference notebook, poolio/unrolled_gan, rewrites the graph so the
loss sees D's weights after ``K`` Adam updates as functions of G's weights). Here the
unrolled weights are constants for G's gradient: G's loss is computed against a copy of D
that took ``K`` ordinary steps, without the term through the updates. That keeps it a remedy
any model gets without code (every torch optimizer, gradient penalties, weight clipping, the
other remedies) at ``K`` D steps per G step, but it drops the term the paper credits with
most of the effect (how D would react to G's change), so expect less of it than the paper shows.

What the lookahead does, at each step whose G phase runs: copies D's parameters and buffers
and the state of D's optimizer(s); ``K`` times, runs every D phase due at this step once (its
loss from the objective on the G phase's real batch, as the reference notebook reuses its
batch; latents are drawn afresh from torch's RNG, as in any D step), with the optimizer's own
update rule and the objective's ``after_step`` (WGAN's clipping); then computes G's loss with
D's parameters and buffers swapped for the copy's. Nothing is drawn from the batcher, so the
data order is that of ``unroll=0``, and the RNG it uses is checkpointed: resume stays exact.
Under data parallelism each rank advances its copy on its own share of the batch (the copy's
gradients are not averaged; G's are, as always). The unrolled steps run inside the G phase's
autocast, without fp16's gradient scaler (they never touch D's optimizer, which the scaler steps).
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from typing import Any, Iterator, Mapping

import torch
from torch import nn

from .model import GAN, Batch, Objective, PhaseLoss

__all__ = ["UnrolledObjective"]


class UnrolledObjective(Objective):
    """``inner`` with its generator phases computed against ``D`` advanced ``steps`` D updates (see the module docstring).

    Every other phase, ``after_step`` and the objective's state are ``inner``'s own; attributes
    not defined here are read from ``inner``.
    """

    def __init__(self, inner: Objective, gan: GAN, discriminator: str, steps: int) -> None:
        self.inner, self.gan, self.discriminator, self.steps = inner, gan, discriminator, steps
        self.phases = inner.phases

    def __getattr__(self, name: str) -> Any:
        # Only reached for names this wrapper lacks: plugins and tests may read the objective's own attributes.
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def loss(self, phase: str, batch: Batch) -> PhaseLoss:
        generator_phases = {p.name for p in self.phases if p.network == self.gan.generator}
        if phase not in generator_phases:
            return self.inner.loss(phase, batch)
        D = self.gan.networks[self.discriminator]
        lookahead = self.advanced(batch)
        with swapped(D, lookahead):
            return self.inner.loss(phase, batch)

    def advanced(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Copies of D's parameters and buffers (by name, duplicates included) after ``steps`` D updates on ``batch``.

        D itself, its optimizers' state and every other network's gradients are untouched.
        """
        D = self.gan.networks[self.discriminator]
        d_phases = [p for p in self.phases if p.network == self.discriminator and batch.step % p.every == 0]
        keys = list(dict.fromkeys(p.optimizer for p in d_phases))
        trained = {id(p) for key in keys for group in self.gan.optimizers[key].param_groups for p in group["params"]}
        copies: dict[int, torch.Tensor] = {}
        for p in D.parameters():
            copies[id(p)] = nn.Parameter(p.detach().clone(), requires_grad=id(p) in trained)
        for b in D.buffers():
            copies[id(b)] = b.detach().clone()
        # deepcopy with the memo seeded maps the optimizer's references to D's parameters (its
        # param groups and its per-parameter state) onto the copies, and copies the state itself.
        memo: dict[int, Any] = dict(copies)
        optimizers = {key: copy.deepcopy(self.gan.optimizers[key], memo) for key in keys}
        named = _named_tensors(D)
        lookahead = {name: copies[id(t)] for name, t in named.items()}
        learnable = [copies[id(p)] for p in D.parameters() if id(p) in trained]
        with swapped(D, lookahead):
            for _ in range(self.steps):
                for d_phase in d_phases:
                    result = self.inner.loss(d_phase.name, batch)
                    # autograd.grad, not backward: only the copy gets gradients, never G (whose phase this is).
                    grads = torch.autograd.grad(result.loss, learnable, allow_unused=True)
                    for p, g in zip(learnable, grads):
                        p.grad = g
                    optimizer = optimizers[d_phase.optimizer]
                    # The class's step, not the instance's: an LR scheduler patches the instance's step
                    # with a wrapper bound to the real optimizer, which deepcopy does not rebind.
                    type(optimizer).step(optimizer)
                    self.inner.after_step(d_phase.name)
        for p in learnable:
            p.grad = None
            p.requires_grad_(False)  # G's backward needs no gradient for the copy
        return lookahead

    def after_step(self, phase: str) -> None:
        self.inner.after_step(phase)

    def state_dict(self) -> dict:
        return self.inner.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.inner.load_state_dict(state)


def _named_tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter and buffer of ``module`` by its dotted name, a shared one under each of its names."""
    named = dict(module.named_parameters(remove_duplicate=False))
    named.update(module.named_buffers(remove_duplicate=False))
    return named


@contextmanager
def swapped(module: nn.Module, tensors: Mapping[str, torch.Tensor]) -> Iterator[None]:
    """While inside: ``module``'s parameters and buffers named in ``tensors`` are those tensors.

    The entries are replaced, not written into, so a graph built inside keeps the tensors it
    used, and on leaving the module has its own objects back, unchanged.
    """
    saved = []
    try:
        for name, tensor in tensors.items():
            path, _, attr = name.rpartition(".")
            owner = module.get_submodule(path)
            table = owner._parameters if attr in owner._parameters else owner._buffers
            saved.append((table, attr, table[attr]))
            table[attr] = tensor
        yield
    finally:
        for table, attr, original in reversed(saved):
            table[attr] = original
