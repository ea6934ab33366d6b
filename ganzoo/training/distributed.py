"""Data-parallel training with the engine PyTorch ships: torch.distributed and DistributedDataParallel.

The trainer stays one loop; this module gives it what it needs when ``torchrun`` (or
``ganzoo run --nproc-per-node N``) started several processes:

- :class:`World`: which process this is (rank, world size, local rank), read from the
  variables torchrun sets.
- :class:`DataParallel`: one ``DistributedDataParallel`` wrapper per network a phase trains.
  Objectives keep calling the networks they were built with; each such network's
  ``forward`` is routed through its wrapper only while a phase trains that network, and
  runs plainly otherwise (the discriminator inside the generator's phase, the generator
  under ``no_grad`` inside the discriminator's). So every backward a wrapper prepares for
  reaches all of its parameters, and DDP needs no ``find_unused_parameters``.
  This is stylegan2-ada's ``ddp_sync`` idea, with the routing done for the plugin.
- A network the model declares with idle parameters (``GAN.idle_parameters``: a growing
  model's later stages, the output bias a lazy R1 phase never reaches) is not wrapped:
  after each backward its gradients are averaged by one all-reduce over the parameters
  that received one (checked to be the same on every rank), and the others keep no
  gradient, exactly as in one process. DDP's ``find_unused_parameters`` cannot stand in:
  it searches from a forward's outputs, and a penalty-only loss (R1) never uses them.
- Buffers are state, not weights, so DDP leaves them alone: after every step
  :meth:`DataParallel.sync_buffers` replaces each floating-point buffer of the trained
  networks (batch-norm statistics, StyleGAN's ``w_avg``) by its mean over the ranks, which
  for running averages is the update the whole global batch would have made.
- :func:`check_ranks_agree`: every rank holds the same weights, buffers and objective state
  (stylegan2-ada's ``check_ddp_consistency``); the trainer runs it before each checkpoint.

Collectives that carry Python objects or flags go through a gloo group even on CUDA, so
they never wait on the GPU.
"""

from __future__ import annotations

import atexit
import functools
import inspect
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..errors import GanzooError, ReportedElsewhere
from ..model import GAN


@dataclass(frozen=True)
class World:
    """This process's place among the processes training one model."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the one process that reads and writes the run folder."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def seed(self, seed: int) -> int:
        """The seed of this rank's training RNG (latents): ``seed * size + rank``, distinct per rank and per seed."""
        return seed * self.size + self.rank


SINGLE = World()


def world_from_environment() -> World:
    """The world torchrun describes in ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (one process when unset)."""
    def number(name: str, default: int) -> int:
        raw = os.environ.get(name, "").strip()
        if not raw:
            return default
        try:
            return int(raw)
        except ValueError:
            raise GanzooError(f"{name}={raw!r} is not a whole number (torchrun sets it; unset it to train as one process)") from None

    size = number("WORLD_SIZE", 1)
    if size > 1:
        missing = [name for name in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT") if not os.environ.get(name, "").strip()]
        if missing:
            raise GanzooError(f"WORLD_SIZE={size} but {missing[0]} is not set: start data-parallel training with "
                              "ganzoo run --nproc-per-node N, or torchrun, which set them all (or unset WORLD_SIZE)")
    rank, local_rank = number("RANK", 0), number("LOCAL_RANK", 0)
    if size < 1 or not 0 <= rank < size:
        raise GanzooError(f"RANK={rank} and WORLD_SIZE={size} do not describe a process of a job (need 0 <= RANK < WORLD_SIZE)")
    return World(rank, size, local_rank)


_control_group: Any = None


def start(world: World) -> None:
    """Join the job's process group: ``nccl`` for CUDA tensors where CUDA is present, ``gloo`` for CPU ones.

    The device is not known yet (rank 0 may still be reading the run's config), so a machine
    with CUDA gets both backends; a gloo group beside them carries flags and Python objects.
    """
    global _control_group
    if not world.distributed or dist.is_initialized():
        return
    if torch.cuda.is_available():
        dist.init_process_group("cpu:gloo,cuda:nccl")
        _control_group = dist.new_group(backend="gloo")  # CPU tensors: flags, objects, a CPU model on a GPU machine
    else:
        dist.init_process_group("gloo")
        _control_group = None  # the default group is gloo already
    atexit.register(stop)  # a process that exits with the group open aborts in its communication threads
    _die_with_parent()


def _die_with_parent() -> None:
    """Linux: end this rank if its launcher dies (a second Ctrl-C), rather than train on, orphaned, holding the run folder."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


# gloo's worker threads let go of a collective's tensors just after the caller has moved on, and
# that needs the GIL. A rank that exits straight after a collective (the final checkpoint's check,
# an error every rank raises) can reach interpreter shutdown first; the worker then asks for the
# GIL during shutdown, and the process aborts ("terminate called without an active exception",
# SIGABRT) after its work is done: a finished job reported as a killed rank. Waiting this long
# without the GIL before the group is destroyed lets the workers finish (pytorch/pytorch#190489:
# a tensor's decref takes the GIL during finalization). Destroying the group does not join gloo's
# threads (its shutdown is a no-op); only the group object's C++ destructor does.
WORKERS_SETTLE_SECONDS = 0.2


def stop() -> None:
    """Leave the process group (atexit): after a pause without the GIL for gloo's worker threads (see above)."""
    global _control_group
    if dist.is_initialized():
        time.sleep(WORKERS_SETTLE_SECONDS)
        dist.destroy_process_group()
    _control_group = None


def shared(error: GanzooError, world: World) -> GanzooError:
    """An error every rank raises at once: rank 0 says it; on the others it is :class:`ReportedElsewhere` (silent)."""
    return error if world.main else ReportedElsewhere(str(error))


def broadcast_object(value: Any, world: World) -> Any:
    """Rank 0's ``value`` on every rank (pickled: for configs, checkpoints and error messages)."""
    if not world.distributed:
        return value
    box = [value if world.main else None]
    dist.broadcast_object_list(box, src=0, group=_control_group)
    return box[0]


def gather_objects(value: Any, world: World) -> list[Any]:
    """Every rank's ``value``, in rank order, on every rank."""
    if not world.distributed:
        return [value]
    out: list[Any] = [None] * world.size
    dist.all_gather_object(out, value, group=_control_group)
    return out


def any_rank(flag: bool, world: World) -> bool:
    """Whether ``flag`` is true on any rank (a stop request, a non-finite loss)."""
    if not world.distributed:
        return flag
    t = torch.tensor([int(flag)])
    dist.all_reduce(t, op=dist.ReduceOp.MAX, group=_control_group)
    return bool(t.item())


def earliest(step: int | None, world: World) -> int | None:
    """The smallest of the ranks' ``step`` values that are not ``None`` (``None`` if all are)."""
    if not world.distributed:
        return step
    none = 2**62
    t = torch.tensor([none if step is None else step], dtype=torch.int64)
    dist.all_reduce(t, op=dist.ReduceOp.MIN, group=_control_group)
    value = int(t.item())
    return None if value == none else value


def _group_for(tensor: torch.Tensor):
    """The group that can carry ``tensor``: the default one, or the gloo one for CPU tensors of a CUDA job."""
    return _control_group if tensor.device.type == "cpu" else None


def mean_over_ranks(tensors: list[torch.Tensor], world: World) -> None:
    """Replace each tensor, in place, by its mean over the ranks (one collective for all)."""
    if not world.distributed or not tensors:
        return
    flat = torch.cat([t.detach().reshape(-1).double() for t in tensors])
    dist.all_reduce(flat, group=_group_for(flat))
    flat /= world.size
    offset = 0
    for t in tensors:
        n = t.numel()
        t.copy_(flat[offset:offset + n].view_as(t))
        offset += n


# torch 2.13 renamed broadcast_buffers; either way buffers are synced at start-up (below) and not at every forward.
_NO_BUFFER_BROADCAST = (
    {"forward_sync_buffers": False} if "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters
    else {"broadcast_buffers": False}
)


class _Forward(nn.Module):
    """What a DDP wrapper wraps: the network itself (its parameters), called through its own forward."""

    def __init__(self, net: nn.Module, forward) -> None:
        super().__init__()
        self.net = net
        self._forward = forward

    def forward(self, *args, **kwargs):
        return self._forward(*args, **kwargs)


class DataParallel:
    """DDP wrappers for the networks of ``gan`` that ``trained`` names; see the module docstring."""

    def __init__(self, gan: GAN, trained: Iterable[str], device: torch.device, world: World) -> None:
        self.gan, self.world = gan, world
        self.active: str | None = None  # the network the running phase trains
        self.trained = list(dict.fromkeys(trained))
        self._original: dict[str, Any] = {}
        self.averaged = [name for name in self.trained if name in gan.idle_parameters]
        device_ids = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else None
        group = _control_group if device.type == "cpu" else None
        self._calls: dict[str, int] = {}
        for name in self.trained:
            if name in self.averaged:
                continue
            net = gan.networks[name]
            # DDP hooks the parameters that take gradients when it wraps: the trainer wraps before
            # the first phase switches any off, so every parameter it trains has its hook.
            original = net.__dict__.get("forward")
            wrapper = DistributedDataParallel(_Forward(net, net.forward), device_ids=device_ids, process_group=group, **_NO_BUFFER_BROADCAST)
            self._original[name] = original
            net.forward = self._route(name, net.forward, wrapper)
        # Every network starts as rank 0's: a wrapper copied its parameters, not (with buffer syncing
        # off) its buffers; networks without one (the EMA copy, the averaged ones) are copied whole.
        with torch.no_grad():
            for name, net in gan.networks.items():
                tensors = [*net.buffers()] if name in self._original else [*net.parameters(), *net.buffers()]
                for t in tensors:
                    dist.broadcast(t.data, src=0, group=_group_for(t))

    def _route(self, name: str, plain, wrapper):
        @functools.wraps(plain)  # the signature stays the network's (GAN.supports_truncation reads it)
        def forward(*args, **kwargs):
            if self.active != name:
                return plain(*args, **kwargs)
            self._calls[name] = self._calls.get(name, 0) + 1
            return wrapper(*args, **kwargs)
        return forward

    @contextmanager
    def phase(self, network: str) -> Iterator[None]:
        """While a phase computes its loss and backward: ``network``'s gradients come out averaged over the ranks."""
        self.active = network
        self._calls[network] = 0
        try:
            yield
        finally:
            self.active = None
        if network in self.averaged:
            self._average_gradients(network)
        elif network in self._original and not self._calls[network] and any(
            p.grad is not None for p in self.gan.networks[network].parameters()
        ):
            # Its gradients came through another method (G.synthesis(...)): DDP saw no forward and synced nothing.
            raise shared(GanzooError(
                f"network {network} got gradients without being called (a phase used one of its methods, not "
                f"{network}(...)), so data-parallel training could not sync them: call the network, or name it in "
                "GAN(idle_parameters=...) to have its gradients averaged after each backward"
            ), self.world)

    @torch.no_grad()
    def _average_gradients(self, network: str) -> None:
        params = list(self.gan.networks[network].parameters())
        has_grad = torch.tensor([p.grad is not None for p in params], dtype=torch.int64)
        counts = has_grad.clone()
        dist.all_reduce(counts, group=_control_group)
        if not torch.equal(counts, has_grad * self.world.size):
            raise shared(GanzooError(f"network {network} has gradients for different parameters on different ranks "
                                     "(a phase must use the same parameters on every rank)"), self.world)
        mean_over_ranks([p.grad for p in params if p.grad is not None], self.world)

    @torch.no_grad()
    def sync_buffers(self) -> None:
        """Each floating-point buffer of the trained networks becomes its mean over the ranks."""
        buffers = [b for name in self.trained for b in self.gan.networks[name].buffers() if b.is_floating_point()]
        mean_over_ranks(buffers, self.world)

    def close(self) -> None:
        """Give every network back its plain forward (the GAN can be sampled or trained again as one process)."""
        for name, original in self._original.items():
            net = self.gan.networks[name]
            if original is None:
                del net.forward
            else:
                net.forward = original
        self._original.clear()


def unused_parameters_error(exc: BaseException) -> GanzooError | None:
    """The one-line error for DDP's complaint that a network left parameters out of a loss (else ``None``)."""
    text = str(exc)
    if "find_unused_parameters" not in text and "did not receive grad" not in text:
        return None
    return GanzooError(
        "a network left some of its parameters out of a phase's loss, which data-parallel training must know in "
        "advance: the model should list that network in GAN(idle_parameters=...) (as progan-lite does for its "
        "later stages), or use every parameter in each phase"
    )


@torch.no_grad()
def check_ranks_agree(named: dict[str, Any], world: World) -> None:
    """Raise if anything in ``named`` (nested dicts, lists and values) differs between rank 0 and another rank.

    Tensors must be equal bit for bit (NaN equals NaN), other values equal. The layout (names,
    shapes, dtypes) and the plain values are compared first, in one gather, so ranks whose
    states are shaped differently get the error instead of mismatched broadcasts. Every rank
    raises the same one-line error (rank 0 says it), naming the first thing that differs.
    """
    if not world.distributed:
        return
    tensors: list[tuple[str, torch.Tensor]] = []
    layout: list[tuple] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key in sorted(value, key=str):
                walk(f"{prefix}.{key}" if prefix else str(key), value[key])
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                walk(f"{prefix}.{i}", item)
        elif isinstance(value, torch.Tensor):
            tensors.append((prefix, value))
            layout.append((prefix, tuple(value.shape), str(value.dtype)))
        else:
            layout.append((prefix, repr(value)))

    walk("", named)
    layouts = gather_objects(layout, world)
    for rank, theirs in enumerate(layouts):
        if theirs != layouts[0]:
            first = next((a for a, b in zip(theirs, layouts[0]) if a != b), theirs[len(layouts[0]):] or layouts[0][len(theirs):])
            name = first[0] if isinstance(first, tuple) else "the state's layout"
            raise shared(GanzooError(f"the ranks disagree: {name} on rank {rank} differs from rank 0's (data-parallel training lost sync)"), world)
    bad = None
    for name, tensor in tensors:  # every rank takes part in every broadcast, even after a difference is found
        reference = tensor.detach().clone()
        dist.broadcast(reference, src=0, group=_group_for(reference))
        same = torch.equal(reference, tensor) or (
            tensor.is_floating_point() and torch.equal(reference.isnan(), tensor.isnan())
            and torch.equal(reference.nan_to_num(), tensor.nan_to_num())
        )
        if not same and bad is None:
            bad = name
    names = gather_objects(bad, world)
    differing = [(rank, name) for rank, name in enumerate(names) if name is not None]
    if differing:
        rank, name = differing[0]
        raise shared(GanzooError(f"the ranks disagree: {name} on rank {rank} differs from rank 0's (data-parallel training lost sync)"), world)
