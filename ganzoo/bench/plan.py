"""Planning a bench: the entries (model, dataset, seed), their budget in steps and their live-evaluation schedule.

The budget is ``kimg``: thousands of real images the trainer draws. Every phase repeat
draws a batch, so a model with five critic steps per generator step runs fewer generator
steps for the same budget. Planning builds each model once (to read its phases and count
its parameters) and trains nothing.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .. import plugins
from ..config import TRAINER_SCHEMA, RunConfig
from ..errors import GanzooError
from ..model import Phase
from ..run.build import build
from ..run.config import MAX_SEED, make_run_config
from ..run.device import resolve_device

RUNS = "runs"
CURVE_POINTS = 8  # live evaluations per run: enough for a curve, cheap next to training
MAX_KIMG = 100_000.0
MAX_SEEDS = 100


@dataclass
class Planned:
    """One (model, dataset, seed) of a bench, resolved before anything trains."""

    config: RunConfig
    kimg: float
    eval_every: int
    eval_n: int  # generated samples for the final evaluation
    params: dict[str, int]
    run_dir: Path

    @property
    def name(self) -> str:
        return self.run_dir.name

    def label(self) -> str:
        return f"{self.config.model} on {self.config.dataset}, seed {self.config.seed}"


# -- parsing the command line ----------------------------------------------------------------

def names_all(text: str) -> bool:
    """Whether ``--models``/``--datasets`` asks for every installed one (``all``), rather than naming them."""
    return [n.strip() for n in text.split(",") if n.strip()] == ["all"]


def parse_names(text: str, registry, what: str) -> list[str]:
    """``a,b`` or ``all``; each name is checked (unknown names: one line with close matches)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise GanzooError(f"--{what} is empty (give names such as {', '.join(s.name for s in list(registry)[:2])}, or all)")
    if names_all(text):
        return [s.name for s in registry]
    return list(dict.fromkeys(registry.get(n).name for n in names))


def parse_seeds(text: str) -> list[int]:
    """``N`` means seeds 0..N-1; a comma-separated list (``0,5,7``) means exactly those seeds."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise GanzooError(f"bad --seeds {text!r} (valid: a count such as 3, or a list such as 0,5,7)") from None
    if "," not in text:
        if len(values) != 1 or not 1 <= values[0] <= MAX_SEEDS:
            raise GanzooError(f"bad --seeds {text!r} (valid: a count from 1 to {MAX_SEEDS}, or a list such as 0,5,7)")
        return list(range(values[0]))
    if not values or any(not 0 <= v <= MAX_SEED for v in values):
        raise GanzooError(f"bad --seeds {text!r} (valid: seeds from 0 to {MAX_SEED})")
    return list(dict.fromkeys(values))


# -- the budget ----------------------------------------------------------------------------

def steps_for_kimg(phases: Sequence[Phase], batch_size: int, kimg: float) -> int:
    """Generator steps after which the trainer has drawn at least ``kimg`` thousand real images.

    At step s every phase with ``s % every == 0`` draws ``repeats`` batches, so the count
    per step repeats with the least common multiple of the phases' intervals.
    """
    batches = math.ceil(kimg * 1000 / batch_size)
    period = math.lcm(*(p.every for p in phases))
    per_step = [sum(p.repeats for p in phases if s % p.every == 0) for s in range(period)]
    cycles, rest = divmod(batches, sum(per_step))
    steps = cycles * period
    while rest > 0:
        rest -= per_step[steps % period]
        steps += 1
    return max(1, steps)


def live_schedule(steps: int) -> dict[str, int]:
    """Log, picture, checkpoint and live-evaluation intervals giving about ``CURVE_POINTS`` points."""
    every = max(1, math.ceil(steps / CURVE_POINTS))
    log_every = max(1, every // 5)
    every = log_every * math.ceil(every / log_every)  # live evaluation must fall on a log line
    return {"log_every": log_every, "sample_every": every, "checkpoint_every": every, "eval_every": every}


def config_hash(config: RunConfig) -> str:
    """Equal for the runs of one recipe: everything but the seed, the device, the compile backend and the memory format.

    The precision counts only when it is not the default 32, so that recipes hashed before it
    existed keep their hashes.
    """
    recipe = {k: v for k, v in config.to_dict().items() if k not in ("seed", "device", "compile", "memory_format")}
    if recipe.get("precision") == TRAINER_SCHEMA["precision"].default:
        del recipe["precision"]
    if recipe.get("world_size") == 1:  # what one process trains: as before world_size was recorded
        del recipe["world_size"]
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def parameter_counts(gan) -> dict[str, int]:
    # The EMA copy is the generator again; counting it would double the generator.
    return {name: sum(p.numel() for p in net.parameters()) for name, net in gan.networks.items() if name != gan.ema_name}


# -- planning --------------------------------------------------------------------------------

def plan(
    models: list[str], datasets: list[str], seeds: list[int], kimg: float, out: Path, sets: dict[str, Any], eval_n: int | None = None,
    every_model: bool = False,
) -> tuple[list[Planned], list[str]]:
    """The entries to run, and one line for each (model, dataset) that cannot train together.

    Options that are wrong for a model (a ``--set`` key it does not have) are errors, not
    skips: they are the user's to fix. With ``every_model`` (``--models all``) a model that
    refuses them is skipped instead, since the user did not pick it, unless every model
    refuses them (a typo). A model whose builder refuses the data is a skip, and so is one
    whose batch (its preset for the data) is larger than the samples it trains on.
    """
    from ..eval.evaluate import DEFAULT_N

    entries, skipped = [], []
    device = resolve_device("cpu")
    for dataset in datasets:
        n = eval_n or DEFAULT_N[plugins.datasets().get(dataset).kind]
        refused: list[GanzooError] = []
        for model in models:
            try:
                base = make_run_config(model, dataset, sets=sets, device="cpu")
            except GanzooError as exc:
                if not every_model:
                    raise
                refused.append(exc)
                skipped.append(f"skip {model} on {dataset}: {exc}")
                continue
            try:
                with _quiet_rng():
                    gan, data = build(base, device)
            except GanzooError as exc:  # a builder's failure of any kind arrives as one (ganzoo.run.build)
                skipped.append(f"skip {model} on {dataset}: {exc}")
                continue
            drawn, which, fix = len(data), "of the dataset", f"at least {base.batch_size} samples"
            if plugins.models().get(model).trains_on == "train":  # it never draws the held-out part
                drawn = data.train_split().trained_on()["samples"]
                which, fix = "in the dataset's train split, which it trains on", "more samples"
            if base.batch_size > drawn:  # the trainer would refuse it, after making the run folder
                skipped.append(
                    f"skip {model} on {dataset}: its batch size {base.batch_size} (the model's preset for {base.dataset}) is larger "
                    f"than the {drawn} samples {which}; give the dataset {fix}"
                )
                continue
            steps = steps_for_kimg(gan.objective.phases, base.batch_size, kimg)
            schedule = live_schedule(steps)
            eval_every = schedule.pop("eval_every")
            suffix = f"-set{config_hash(base)[:8]}" if sets else ""
            for seed in seeds:
                config = make_run_config(model, dataset, sets=sets, seed=seed, steps=steps, device="auto", **schedule)
                run_dir = out / RUNS / f"{model}-{dataset}-{kimg:g}kimg{suffix}-seed{seed}"
                entries.append(Planned(config, kimg, eval_every, n, parameter_counts(gan), run_dir))
        if refused and len(refused) == len(models):
            raise refused[0]  # no model takes these options: a mistake in them, not models to skip
    return entries, skipped


def budget_warning(entries: list[Planned], kimg: float) -> str | None:
    """One line naming the models whose declared minimum useful budget (``ModelSpec.min_kimg``
    for a benched dataset's kind) is above ``kimg``, and the ``--kimg`` that would do for all; None when none is."""
    needs: dict[str, tuple[float, str]] = {}  # model -> (largest minimum over its datasets, that dataset)
    for entry in entries:
        model, dataset = entry.config.model, entry.config.dataset
        minimum = plugins.models().get(model).min_kimg.get(plugins.datasets().get(dataset).kind)
        if minimum is not None and minimum > kimg and minimum > needs.get(model, (0.0, ""))[0]:
            needs[model] = (minimum, dataset)
    if not needs:
        return None
    named = ", ".join(f"{model} ({minimum:g} kimg on {dataset})" for model, (minimum, dataset) in needs.items())
    return (f"warning: --kimg {kimg:g} is below what these models need to draw anything recognisable: {named}; "
            f"--kimg {max(m for m, _ in needs.values()):g} would do")


def _quiet_rng():
    import torch

    return torch.random.fork_rng(devices=[])  # planning builds models; it must not move the caller's RNG
