"""What each rank runs in the data-parallel tests (started with torchrun by tests/test_distributed.py).

``python -m torch.distributed.run --nproc-per-node 2 tests/ddp_worker.py OUT RUNS``

One job (process start-up is most of the cost) trains, in RUNS, through the public API:

- ``audit``: vanilla on ring8 with live evaluation. Rank 1 records, with a Python audit
  hook, every file operation that names this run folder (it must record none); each rank
  records the first latents its generator was trained on.
- ``style``, ``pro``, ``bf16``: stylegan-lite and progan-lite, tiny, on MNIST (R1, w_avg, the
  EMA, growing stages), wgan-gp at bf16 with compiled networks, ``remedy``: vanilla
  with the core's collapse remedies (pack, mbstd, spectral_norm), and ``vae`` (one ELBO phase
  over encoder and decoder: not a GAN), with checkpoints (the trainer checks the ranks agree before each).
- ``two``: the test model ``from-data`` (latents from the real batch, no RNG), so two ranks
  at batch B can be compared with one process at batch 2B.
- ``unused``: a model with a parameter it never uses and does not declare: the one-line error.

Before training, rank 1 changes one weight and ``check_ranks_agree`` must say so on both
ranks. Each rank writes what it saw to ``OUT/rank{R}.json``, with a digest of every tensor
of every network and optimizer at the end of each run; the test compares the ranks.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import torch

import ganzoo
from ganzoo.losses import d_minimax_loss, g_nonsaturating_loss
from ganzoo.model import Batch, PhaseLoss
from ganzoo.objectives import AdversarialObjective
from ganzoo.training import trainer as trainer_module

RANK = int(os.environ.get("RANK", "0"))
TINY_RING = dict(steps=12, batch_size=16, log_every=4, sample_every=12, checkpoint_every=6, seed=3)


def digest(state: dict) -> dict[str, str]:
    """One hash per tensor (bit-exact), by dotted name."""
    out = {}

    def walk(prefix, value):
        if isinstance(value, dict):
            for key in sorted(value, key=str):
                walk(f"{prefix}.{key}" if prefix else str(key), value[key])
        elif isinstance(value, torch.Tensor):
            out[prefix] = hashlib.sha256(value.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:16]

    walk("", state)
    return out


def record_final_states(seen: dict) -> None:
    """After every fit, keep a digest of this rank's networks (weights and buffers) and optimizers."""
    fit = trainer_module.Trainer.fit

    def fit_and_record(self):
        result = fit(self)
        state = {"networks": {n: net.state_dict() for n, net in self.gan.networks.items()},
                 "optimizers": {n: opt.state_dict() for n, opt in self.gan.optimizers.items()}}
        seen["final"][self.folder.path.name] = digest(state)
        return result

    trainer_module.Trainer.fit = fit_and_record


class FromDataObjective(AdversarialObjective):
    """The vanilla game with latents taken from the real batch: no RNG, so batches alone decide each step."""

    def loss(self, phase: str, batch: Batch) -> PhaseLoss:
        z = batch.real * 0.5 + 0.25
        if phase == "D":
            with torch.no_grad():
                fake = self.G(z)
            return PhaseLoss(self.d_loss(self.D(batch.real), self.D(fake)))
        return PhaseLoss(self.g_loss(self.D(self.G(z))))


class UnusedLayerPlugin:
    """vanilla whose D holds a layer it never calls, and does not say so (GAN.idle_parameters)."""

    def __init__(self, vanilla: ganzoo.ModelSpec) -> None:
        self.vanilla = vanilla

    @ganzoo.hookimpl
    def register_models(self, register):
        vanilla = self.vanilla

        def build(info, c):
            gan = vanilla.build(info, c)
            gan.networks["D"].spare = torch.nn.Linear(2, 1)
            gan.optimizers["D"].add_param_group({"params": gan.networks["D"].spare.parameters()})
            return gan

        register(ganzoo.ModelSpec(name="unused-layer", summary="vanilla with an unused D layer", build=build,
                                  config=vanilla.config, presets=vanilla.presets))


class FromDataPlugin:
    def __init__(self, vanilla: ganzoo.ModelSpec) -> None:
        self.vanilla = vanilla

    @ganzoo.hookimpl
    def register_models(self, register):
        vanilla = self.vanilla

        def build(info, c):
            gan = vanilla.build(info, {**c, "latent_dim": 2, "dropout": 0.0})
            G, D = gan.networks["G"], gan.networks["D"]
            gan.objective = FromDataObjective(G, D, 2, d_minimax_loss, g_nonsaturating_loss)
            return gan

        register(ganzoo.ModelSpec(name="from-data", summary="vanilla, latents from the data", build=build,
                                  config=vanilla.config, presets=vanilla.presets))


def disagree() -> str | None:
    """What ``check_ranks_agree`` says when rank 1's copy of one bias differs by 1e-7."""
    from ganzoo.errors import GanzooError
    from ganzoo.run.device import join_world
    from ganzoo.training.distributed import check_ranks_agree

    world = join_world()
    net = torch.nn.Linear(3, 2)
    torch.nn.init.constant_(net.weight, 0.5)
    torch.nn.init.zeros_(net.bias)
    if RANK == 1:
        with torch.no_grad():
            net.bias[1] += 1e-7
    try:
        check_ranks_agree({"networks": {"D": net.state_dict()}}, world)
    except GanzooError as exc:
        return str(exc)
    return None


def main() -> None:
    out, runs = Path(sys.argv[1]), Path(sys.argv[2])
    seen: dict = {"rank": RANK, "final": {}}
    record_final_states(seen)
    seen["error"] = disagree()

    # audit: rank 1 must not touch the run folder; each rank draws its own latents.
    touched: list[str] = []
    if RANK != 0:
        target = str((runs / "audit").resolve())

        def audit(event, args):
            if event.startswith(("open", "os.", "shutil.", "pathlib.")):
                for arg in args:
                    if isinstance(arg, (str, bytes, os.PathLike)) and target in os.path.abspath(os.fsdecode(arg)):
                        touched.append(f"{event} {os.fsdecode(arg)}")

        sys.addaudithook(audit)
    first_z: list = []
    original_randn = torch.randn

    def randn(*args, **kwargs):  # the latents the objective draws (the first call of training)
        value = original_randn(*args, **kwargs)
        if not first_z and kwargs.get("generator") is None:
            first_z.append(value.flatten()[:8].tolist())
        return value

    torch.randn = randn
    ganzoo.train("vanilla", "ring8", out=runs / "audit", progress=False, eval_every=8, eval_n=200, **TINY_RING)
    torch.randn = original_randn
    seen.update(touched=touched, first_z=first_z[0])

    # models: buffers, schedules and options that must agree across ranks.
    small = dict(steps=6, batch_size=8, log_every=3, sample_every=6, checkpoint_every=3, seed=1, progress=False)
    # R1 every other step (a penalty-only phase), w_avg and the EMA: buffers that must agree.
    ganzoo.train("stylegan-lite", "mnist", out=runs / "style", set={"channels": 8, "r1_every": 2}, **small)
    # Growing: stages above the current one are idle, and the gradient penalty.
    ganzoo.train("progan-lite", "mnist", out=runs / "pro", set={"channels": 8, "stable_steps": 2, "fade_steps": 2}, **small)
    # The trainer's options compose with data parallelism: bf16 autocast, networks compiled (tracing only).
    ganzoo.train("wgan-gp", "ring8", out=runs / "bf16", precision="bf16", compile="aot_eager", **{**TINY_RING, "progress": False})
    # The core's collapse remedies on D (a packed D rebuilt by the core, spectral-norm buffers, a grown last layer).
    ganzoo.train("vanilla", "ring8", out=runs / "remedy", set={"pack": 2, "mbstd": 4, "spectral_norm": True}, **{**TINY_RING, "progress": False})
    # A generative model that is not a GAN: the VAE's single phase trains encoder and decoder together.
    ganzoo.train("vae", "ring8", out=runs / "vae", set={"width": 16, "depth": 1}, **{**TINY_RING, "progress": False})

    # equivalence: latents from the data, so two ranks at batch B can be compared with one process at 2B.
    ganzoo.plugins.pm.register(FromDataPlugin(ganzoo.plugins.models().get("vanilla")), name="from-data")
    ganzoo.train("from-data", "ring8", out=runs / "two", progress=False, **{**TINY_RING, "batch_size": 16, "steps": 6})

    # Last (its DDP wrapper is left broken): an unused parameter the model does not declare.
    ganzoo.plugins.pm.register(UnusedLayerPlugin(ganzoo.plugins.models().get("vanilla")), name="unused-layer")
    try:
        ganzoo.train("unused-layer", "ring8", out=runs / "unused", **{**TINY_RING, "progress": False})
        seen["unused"] = None
    except ganzoo.GanzooError as exc:
        seen["unused"] = str(exc)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"rank{RANK}.json").write_text(json.dumps(seen))


if __name__ == "__main__":
    main()
