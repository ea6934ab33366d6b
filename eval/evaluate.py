"""``ganzoo eval``: score a run folder (saving the report in it), or samples made anywhere, with every metric that fits the data.

Both go through :func:`score`, so a run's samples and the same samples read from a
``.npy`` or a folder of PNGs get the same numbers. The protocol travels with the numbers:
N generated and N real, the real split, the feature network and its weights hash, the
seed, the checkpoint (for a run) or how the samples were read, the quantisation, and
library versions. Metrics add their own fields (k, subset sizes, thresholds) through
``ctx.note``.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch

from ganzoo import plugins
from ganzoo.config import RunConfig
from ganzoo.data import Dataset, DatasetInfo
from ganzoo.errors import GanzooError
from ganzoo.model import GAN
from ganzoo.run.build import build_dataset, build_named_dataset
from ganzoo.run.config import MAX_SEED, dataset_options
from ganzoo.run.device import resolve_device
from ganzoo.run.folder import CHECKPOINT_NAMES, write_eval_report
from ganzoo.run.run import MAX_SAMPLES, Run, load_run
from ganzoo.specs import MetricSpec

from .context import EvalContext, MetricSkipped
from .quantise import QUANTISATION
from .rng import own_rng
from .samples import Samples, SampleSource, Target, load_samples
from .splits import HELDOUT_FRACTION, SPLIT_SEED, stratified_split
from .versions import versions

DEFAULT_N = {"image": 10_000, "vector": 2_500}  # 2,500: the VEEGAN/PacGAN protocol for 2-D mixtures
SAMPLE_BATCH = 1000
SPLIT = f"stratified by label, {HELDOUT_FRACTION:.0%} held out per class, seed {SPLIT_SEED}; reference = train part"


def select_metrics(info: DatasetInfo, names: list[str] | None = None, live: bool = False) -> tuple[list[MetricSpec], dict[str, str]]:
    """The metrics to run and, for those left out, why. Named metrics that do not fit are an error."""
    registry = plugins.metrics()
    if names:
        chosen = [registry.get(n) for n in names]
        for spec in chosen:
            reason = _reason_not_applicable(spec, info)
            if reason:
                raise GanzooError(f"metric {spec.name} does not apply to {info.name}: {reason}")
        return chosen, {}
    chosen, skipped = [], {}
    for spec in registry:
        if info.kind not in spec.kinds:
            continue  # metrics for another kind of data are not worth a line each
        reason = _reason_not_applicable(spec, info)
        if reason:
            skipped[spec.name] = reason
        elif live and not spec.live:
            skipped[spec.name] = "not a live metric"
        else:
            chosen.append(spec)
    return chosen, skipped


def _reason_not_applicable(spec: MetricSpec, info: DatasetInfo) -> str | None:
    # ``applies`` is plugin code: when it fails, the metric cannot say that it fits.
    try:
        with plugins.plugin_code():
            return spec.reason_not_applicable(info)
    except plugins.PluginFault as fault:
        return f"its applies() failed ({_blame(spec, fault)})"


def _blame(spec: MetricSpec, fault: plugins.PluginFault) -> str:
    """``plugin NAME: RuntimeError: ...``; without the plugin for a spec used without registering it (a script)."""
    registry = plugins.metrics()
    try:
        registered = registry.get(spec.name) is spec
    except GanzooError:
        registered = False
    return f"plugin {registry.owner(spec.name)}: {fault}" if registered else str(fault)


def real_split(dataset: Dataset, options: Mapping[str, Any], n_real: int, n_heldout: int) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """``(reference, heldout, fields)``: at most ``n_real`` train-split and ``n_heldout`` held-out samples.

    The subsets depend only on the data and the fixed split seed, never on the evaluation
    seed, so their features can be cached across evaluations. ``options`` are the options
    ``dataset`` was built with (a run config's ``dataset_config``); ``fields`` describe the
    data for the cache key, so they hold every one of them (an image size, a draw's seed).
    """
    train, heldout = stratified_split(dataset.labels, len(dataset))
    generator = torch.Generator().manual_seed(SPLIT_SEED)
    train = train[torch.randperm(len(train), generator=generator)[:n_real]].sort().values
    heldout = heldout[torch.randperm(len(heldout), generator=generator)[:n_heldout]].sort().values
    fields = {
        "dataset": dataset.info.name, "options": dict(options), "source": dataset.info.extra.get("source"),
        "dataset_size": len(dataset), "split": SPLIT,
    }
    return dataset.x[train], dataset.x[heldout], fields


@torch.no_grad()
def draw_samples(gan: GAN, n: int, seed: int) -> torch.Tensor:
    """``n`` samples through :meth:`GAN.sample` (the EMA generator when there is one), in batches."""
    generator = torch.Generator().manual_seed(seed)
    return torch.cat([gan.sample(min(SAMPLE_BATCH, n - i), generator=generator).cpu() for i in range(0, n, SAMPLE_BATCH)])


@torch.no_grad()
def translate_heldout(gan: GAN, targets: torch.Tensor, seed: int) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """An image-to-image model's outputs for inputs made from ``targets`` with one seeded generator, and ``(inputs, targets)``."""
    if len(targets) < 2:  # a covariance (FID) needs two
        raise GanzooError(f"an image-to-image run is scored on held-out images, and this dataset holds out {len(targets)} (at least 2 needed; use a larger --n or dataset)")
    generator = torch.Generator().manual_seed(seed)
    inputs, outputs = [], []
    for i in range(0, len(targets), SAMPLE_BATCH):
        x, y = gan.translate(targets[i : i + SAMPLE_BATCH], generator)
        inputs.append(x)
        outputs.append(y)
    return torch.cat(outputs), (torch.cat(inputs), targets.float().cpu())


def model_outputs(gan: GAN, heldout: torch.Tensor, n: int, seed: int) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
    """What evaluation scores of a model, and its pairs: ``n`` samples from latents, or an image-to-image
    model's outputs for inputs made from the held-out images (it has no latents)."""
    if gan.translation is not None:
        return translate_heldout(gan, heldout, seed)
    return draw_samples(gan, n, seed), None


@dataclass
class MetricResults:
    """What :func:`run_metrics` gives: each metric's named numbers, the reasons for skips,
    one line per failed metric (``RuntimeError: ...``), and each metric's seconds."""

    results: dict[str, dict[str, Any]]
    skipped: dict[str, str]
    failed: dict[str, str]
    seconds: dict[str, float]


def run_metrics(ctx: EvalContext, specs: list[MetricSpec], keep_going: bool = False) -> MetricResults:
    """Run each metric of ``specs``; one that fails in any way (:func:`ganzoo.plugins.plugin_code`) is
    recorded in ``failed`` and the others still run. The user's Ctrl-C still interrupts.

    A metric's :class:`GanzooError` (missing feature-network weights, say) stops the
    evaluation as the user's to fix, unless ``keep_going`` (live evaluation: the run goes on).
    Metrics run in their own random-number scope (:func:`ganzoo.eval.rng.own_rng`): the
    caller's generators are as they were before the call.
    """
    out = MetricResults({}, {}, {}, {})
    passes = (MetricSkipped,) if keep_going else (MetricSkipped, GanzooError)
    ctx.running = tuple(spec.name for spec in specs)
    with own_rng(ctx.device):
        for spec in specs:
            start = time.perf_counter()
            try:
                with plugins.plugin_code(passes):
                    numbers = {k: _number(v) for k, v in dict(spec.compute(ctx)).items()}
            except MetricSkipped as exc:
                out.skipped[spec.name] = str(exc)
                continue
            except plugins.PluginFault as fault:
                out.failed[spec.name] = _blame(spec, fault)
                continue
            out.seconds[spec.name] = round(time.perf_counter() - start, 3)
            out.results[spec.name] = numbers
    return out


def warn_failed(failed: dict[str, str], after: str = "") -> None:
    """One :class:`ganzoo.plugins.PluginWarning` line per failed metric (the CLI prints them on stderr)."""
    for name, reason in failed.items():
        warnings.warn(f"metric {name} failed ({reason}){after}", plugins.PluginWarning, stacklevel=2)


def _number(v: Any) -> Any:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return v
    if isinstance(v, float) and not math.isfinite(v):
        return None  # JSON has no NaN; None reads as "undefined" (e.g. KL with no high-quality samples)
    return v


def _load(run_dir: Path, checkpoint: str, device: torch.device) -> tuple[Run, int]:
    if checkpoint not in CHECKPOINT_NAMES:
        raise GanzooError(f"bad --checkpoint {checkpoint!r} (valid: {', '.join(CHECKPOINT_NAMES)})")
    run = load_run(run_dir)
    if checkpoint == "best" and not run.folder.has_checkpoint("best"):
        raise GanzooError(
            f"{run.path} has no best checkpoint ({run.folder.checkpoint_file('best')}); train with --eval-every K to track one, or use --checkpoint last"
        )
    run.load(str(device), checkpoint)
    return run, run.folder.checkpoint_step(checkpoint) or 0


@dataclass(frozen=True)
class Reference:
    """The real side of an evaluation: the data's description, the reference and held-out
    samples, ``fields`` describing them for the feature cache, and their ``protocol`` fields."""

    info: DatasetInfo
    real: torch.Tensor
    heldout: torch.Tensor | None
    fields: dict[str, Any]
    protocol: dict[str, Any]


def dataset_reference(dataset: Dataset, options: Mapping[str, Any], n_real: int, n_heldout: int) -> Reference:
    """The reference of every evaluation against a dataset (a run's, samples', the real-data floor's): :func:`real_split`."""
    real, heldout, fields = real_split(dataset, options, n_real, n_heldout)
    protocol = {
        "n_real": len(real),
        "n_heldout": len(heldout),
        "real_split": SPLIT,
        "dataset_source": fields["source"],
        "dataset_size": fields["dataset_size"],
    }
    return Reference(dataset.info, real, heldout, fields, protocol)


def score(
    fake: torch.Tensor,
    reference: Reference,
    specs: list[MetricSpec],
    skipped: dict[str, str],
    *,
    head: dict[str, Any],
    protocol: dict[str, Any],
    seed: int = 0,
    device: torch.device | None = None,
    inception_weights: str | None = None,
    download: bool = False,
    use_cache: bool = True,
    pairs: tuple[torch.Tensor, torch.Tensor] | None = None,
    share: bool = True,
) -> dict[str, Any]:
    """The one path from samples to a report, whatever made the samples: build the
    :class:`EvalContext`, run the metrics, and assemble ``head`` (what was scored), the
    protocol (N generated, the reference's fields, the seed, the caller's ``protocol``,
    library versions and what the metrics noted), the numbers, the skips and the seconds.
    ``pairs``: an image-to-image run's ``(inputs, targets)`` for its outputs ``fake``."""
    ctx = EvalContext(
        reference.info, fake, reference.real, reference.heldout, seed, device or torch.device("cpu"), reference.fields,
        use_cache=use_cache, inception_weights=inception_weights, download_weights=download, pairs=pairs, share=share,
    )
    ran = run_metrics(ctx, specs)
    warn_failed(ran.failed)
    return {
        **head,
        "protocol": {"n_generated": len(fake), **reference.protocol, "seed": seed, **protocol, "versions": versions(), **ctx.protocol},
        "metrics": ran.results,
        "skipped": {**skipped, **ran.skipped},
        "failed": ran.failed,
        "seconds": ran.seconds,
    }


def _check_seed(seed: int) -> None:
    if not 0 <= seed <= MAX_SEED:
        raise GanzooError(f"bad --seed {seed} (valid: 0 to {MAX_SEED})")


def _check_n(option: str, n: int | None) -> None:
    # 2 at least: a covariance (FID) needs two samples. Metrics that need more (k-NN) skip, naming their N.
    if n is not None and not 2 <= n <= MAX_SAMPLES:
        raise GanzooError(f"bad {option} {n} (valid: 2 to {MAX_SAMPLES})")


def _quantisation(info: DatasetInfo) -> str:
    return QUANTISATION if info.kind == "image" else "none (vectors)"


def evaluate(
    run_dir: str | Path,
    n: int | None = None,
    metrics: list[str] | None = None,
    seed: int = 0,
    device: str = "cpu",
    checkpoint: str = "last",
    inception_weights: str | None = None,
    download: bool = False,
    n_real: int | None = None,
    write: bool = True,
    use_cache: bool = True,
    share: bool = True,
) -> dict[str, Any]:
    """Score ``run_dir`` and (with ``write``) save the report in the run folder; returns the report.

    ``share=False``: metrics share no derived work and nothing is kept for the process
    (:class:`EvalContext`); the same numbers, more slowly (``benchmarks/bench_eval.py``'s baseline).
    """
    _check_n("--n", n)
    _check_n("--n-real", n_real)
    _check_seed(seed)
    dev = resolve_device(device)
    with own_rng(dev):  # sampling too: a generator with noise inputs may draw from the global RNG
        return _evaluate(Path(run_dir), n, metrics, seed, dev, checkpoint, inception_weights, download, n_real, write, use_cache, share)


def _evaluate(
    run_dir: Path, n: int | None, metrics: list[str] | None, seed: int, dev: torch.device, checkpoint: str,
    inception_weights: str | None, download: bool, n_real: int | None, write: bool, use_cache: bool, share: bool,
) -> dict[str, Any]:
    run, step = _load(run_dir, checkpoint, dev)
    info = run.info
    specs, skipped = select_metrics(info, metrics)
    n = n or DEFAULT_N[info.kind]
    reference = dataset_reference(build_dataset(run.config), run.config.dataset_config, n_real or n, n)
    gan = run.gan
    fake, pairs = model_outputs(gan, reference.heldout, n, seed)
    trained_on = run.folder.read_trained_on()  # None: a run made before runs recorded it, which trained on all
    seen = {"trained_on": trained_on or {"split": "all", "recorded": False}}
    if gan.translation is not None:
        # An image-to-image model has no latents: its outputs for inputs made from the held-out
        # images, with masks (or whatever the task draws) from the seed, are what is scored.
        sampling = (f"GAN.translate of the {len(fake)} held-out images ({gan.translation.task}), "
                    f"inputs drawn with torch.Generator().manual_seed({seed}), batches of {SAMPLE_BATCH}")
        # The held-out images are those the run's train split left out (one split function), so
        # they are unseen exactly when the run trained on that split.
        seen["pairs_unseen_in_training"] = bool(trained_on and trained_on["split"] == "train")
    else:
        sampling = (f"GAN.sample, latents from torch.Generator().manual_seed({seed}), batches of {SAMPLE_BATCH}"
                    + (f"; labels i % {gan.num_classes} within each batch (balanced)" if gan.conditional else ""))
    report = score(
        fake, reference, specs, skipped, seed=seed, device=dev, inception_weights=inception_weights, download=download,
        use_cache=use_cache, pairs=pairs, share=share,
        head={"run": str(run.path), "model": run.config.model, "dataset": run.config.dataset},
        protocol={
            "source": "run",
            "checkpoint": checkpoint,
            "step": step,
            "generator": gan.ema_name if gan.ema_name in gan.networks else gan.generator,
            "sampling": sampling,
            "quantisation": _quantisation(info),
            **seen,
        },
    )
    if write:
        run.folder.write_eval_report(report)
    return report


def evaluate_samples(
    samples: SampleSource,
    dataset: str | None = None,
    real: SampleSource | None = None,
    n: int | None = None,
    n_real: int | None = None,
    metrics: list[str] | None = None,
    seed: int = 0,
    device: str = "cpu",
    inception_weights: str | None = None,
    download: bool = False,
    sets: Mapping[str, Any] | None = None,
    out: str | Path | None = None,
    use_cache: bool = True,
) -> dict[str, Any]:
    """Score samples made anywhere (a folder of images, a ``.npy``/``.npz``, a tensor or array) by :func:`score`,
    as :func:`evaluate` scores a run's, against ``dataset`` (its real split, as for a run; ``sets``: its
    ``data.`` options) or against other samples ``real`` (all of them, or the first ``n_real``).

    ``n`` takes the first N samples (default: all). With ``out`` the report is also written there.
    Formats, the range detection and the resize filter: :mod:`ganzoo.eval.samples`.
    """
    if (dataset is None) == (real is None):
        raise GanzooError("scoring samples needs what to compare them with: --dataset NAME or --real PATH" + (", not both" if dataset is not None else ""))
    _check_seed(seed)
    if dataset is not None:
        _check_n("--n-real", n_real)  # with --real, the samples read say how many there are
    if out is not None and Path(out).is_dir():
        raise GanzooError(f"--out {out} is a folder; give a file name such as {Path(out) / 'report.json'}")
    dev = resolve_device(device)
    if dataset is not None:
        options = dataset_options(dataset, sets)
        data = build_named_dataset(dataset, options)
        info = data.info
        specs, skipped = select_metrics(info, metrics)
        loaded = load_samples(samples, Target.of(info))
        fake = loaded.first(n, "--n")
        reference = dataset_reference(data, options, n_real or len(fake), len(fake))
    else:
        if sets:
            raise GanzooError("--set data.KEY=VALUE sets a dataset's options; it applies with --dataset, not --real")
        given = load_samples(real, None, "--real")
        info = given.info(Path(real).name if isinstance(real, (str, Path)) else "the real array")
        specs, skipped = select_metrics(info, metrics)
        loaded = load_samples(samples, Target.of(info, f"the --real samples ({given.description})"))
        fake = loaded.first(n, "--n")
        reference = _samples_reference(given, given.first(n_real, "--n-real"), info)
    report = score(
        fake, reference, specs, skipped, seed=seed, device=dev, inception_weights=inception_weights, download=download, use_cache=use_cache,
        head={"samples": _name(samples, loaded), "dataset": dataset, "real": None if real is None else _name(real, given)},
        protocol={
            "source": "samples",
            "n_available": len(loaded),
            **{f"samples_{k}": v for k, v in loaded.fields.items()},
            "quantisation": _quantisation(info),
        },
    )
    if out is not None:
        write_eval_report(out, report)
    return report


def _samples_reference(given: Samples, real: torch.Tensor, info: DatasetInfo) -> Reference:
    fields = {"dataset": None, "source": given.description, "sha256": given.fields["sha256"], "dataset_size": len(given), "split": "first n"}
    protocol = {
        "n_real": len(real),
        "n_heldout": 0,
        "real_split": f"the first {len(real)} of {len(given)} --real samples; no held-out part (no floor)",
        **{f"real_{k}": v for k, v in given.fields.items()},
    }
    return Reference(info, real, None, fields, protocol)


def _name(source: SampleSource, loaded: Samples) -> str:
    return str(source) if isinstance(source, (str, Path)) else loaded.fields["format"]


def evaluate_real_data(config: RunConfig, n: int | None = None, metrics: list[str] | None = None, seed: int = 0) -> dict[str, Any]:
    """The real-data floor: every metric with held-out real samples in the generator's place.

    What a perfect generator would score under the same protocol as :func:`evaluate` (the
    dataset of ``config``, the same reference split), except that N generated is at most
    the size of the held-out split, which the report states.
    """
    dataset = build_dataset(config)
    specs, skipped = select_metrics(dataset.info, metrics)
    n = n or DEFAULT_N[dataset.info.kind]
    reference = dataset_reference(dataset, config.dataset_config, n, n)
    return score(reference.heldout, reference, specs, skipped, seed=seed, head={"dataset": dataset.info.name}, protocol={"generator": "held-out real data"})


def format_report(report: dict[str, Any]) -> str:
    """The table ``ganzoo eval`` prints."""
    p = report["protocol"]
    if p.get("source") == "samples":
        against = f"dataset {report['dataset']}" if report.get("dataset") else f"--real {report['real']}"
        lines = [
            f"samples {report['samples']} against {against}, seed {p['seed']}",
            f"read as {p['samples_format']}, {p['samples_layout']}, {p['samples_range']}; resized: {p['samples_resized']}"
            + (f"; {p['samples_files_skipped']} other files skipped" if p.get("samples_files_skipped") else ""),
        ]
    else:
        lines = [f"{report['model']} on {report['dataset']}: step {p['step']} ({p['checkpoint']} checkpoint, generator {p['generator']}), seed {p['seed']}"]
    lines.append(f"N generated {p['n_generated']}, N real {p['n_real']} ({p['real_split']})")
    if "pairs_unseen_in_training" in p:
        t = p["trained_on"]
        lines.append(
            f"pairs: held-out images unseen in training (it trained on the train split, {t['samples']} of {t['dataset_size']})"
            if p["pairs_unseen_in_training"] else
            "pairs: held-out images the run also trained on (it trained on all the data): not a measure of generalisation"
        )
    if "feature_network" in p:
        lines.append(f"feature network {p['feature_network']} sha256 {p['feature_weights_sha256'][:16]}...")
    rows = []
    for name, values in report["metrics"].items():
        # Numbers the metric declares not shown (spreads, totals, per-class counts) go on a line of their own.
        shown, rest = [], {}
        for key, value in values.items():
            number = plugins.metric_number(name, key)
            if number.shown:
                shown.append(f"{key} {_fmt(value)}")
            else:
                rest.setdefault(number.name if number.is_pattern else key, []).append(_fmt(value))
        rows.append((name, ", ".join(shown), rest))
    failed = report.get("failed", {})  # reports written before failures were recorded have none
    # Columns as wide as their longest entry (a plugin's metric may have a long name), so seconds stay in one column.
    names = [*report["metrics"], *report["skipped"], *failed]
    width = max([18, *map(len, names)]) + 1
    value_width = max([34, *(len(shown) for _, shown, _ in rows)]) + 1
    lines.append(f"{'metric':<{width}}{'value':<{value_width}}seconds")
    for name, shown, rest in rows:
        lines.append(f"{name:<{width}}{shown:<{value_width}}{report['seconds'].get(name, 0):.1f}")
        if rest:
            lines.append(" " * width + ", ".join(f"{k} {' '.join(v)}" for k, v in rest.items()))
    for name, reason in report["skipped"].items():
        lines.append(f"{name:<{width}}skipped: {reason}")
    for name, reason in failed.items():
        lines.append(f"{name:<{width}}FAILED: {reason}")
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
