"""The Python API: everything the CLI does, callable from code. A thin facade over the run
layer (:mod:`ganzoo.run`) and evaluation (:mod:`ganzoo.eval`); nothing below imports it.

    import ganzoo
    run = ganzoo.train("vanilla", "ring8", steps=500, out="runs/demo")
    run = ganzoo.load_run("runs/demo")
    points = run.sample(1000)
    report = ganzoo.evaluate("my_samples.npy", dataset="mnist")   # samples made anywhere
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from .run import session
from .run.build import create_model
from .run.run import Run, load_run
from .training.sinks import Sink

__all__ = ["Run", "create_model", "evaluate", "load_run", "resume", "train"]


def train(
    model: str | None = None,
    dataset: str | None = None,
    *,
    out: str | Path | None = None,
    config: str | Path | Mapping[str, Any] | None = None,
    set: Mapping[str, Any] | None = None,
    progress: bool = True,
    sinks: list[Sink] | None = None,
    eval_every: int | None = None,
    eval_n: int | None = None,
    best_metric: str | None = None,
    wandb: str = "off",
    on_nan: str = "stop",
    **options: Any,
) -> Run:
    """Train ``model`` on ``dataset`` (default ``mnist``) into a new run folder and return the :class:`Run`.

    Every keyword (most are ``ganzoo run``'s flag of the same name; ``None`` means its default):

    - ``out``: the run folder (default ``runs/MODEL-DATASET-TIMESTAMP``); it must not hold a run yet.
    - ``config``: a YAML file, or a dict, shaped like a run's ``config.yaml`` (``--config``).
    - ``set``: model options, such as ``{"lr": 1e-3}`` (``--set``); ``data.``-prefixed keys go to the dataset.
    - ``progress``: show the progress bar (``False``: ``--quiet``).
    - ``sinks``: more :class:`~ganzoo.training.sinks.Sink` objects that receive every metrics line (jsonl is always on).
    - ``eval_every``: every K steps evaluate cheap metrics and keep ``checkpoints/best.pt`` (see :mod:`ganzoo.eval.live`);
      ``eval_n``: samples per live evaluation; ``best_metric``: the live number that picks the best checkpoint.
    - ``wandb``: ``"online"``, ``"offline"`` or ``"off"`` (default): also log the run to Weights & Biases.
    - ``on_nan``: what a non-finite loss does, ``"stop"`` (default) or ``"skip"`` (see the README's Divergence).
    - ``options``, the trainer's options: ``steps``, ``batch_size``, ``seed``, ``device`` (``"auto"``, ``"cpu"``,
      ``"cuda"``, ``"cuda:N"``), ``sample_every``, ``checkpoint_every``, ``log_every``, ``precision`` (``"32"``,
      ``"bf16"``, ``"16-mixed"``), ``compile`` (a backend: ``"inductor"``, ``"aot_eager"``, ``"eager"``; ``"none"``),
      ``memory_format`` (``"contiguous"`` or ``"channels_last"``); and the dataset flags ``data_root`` and ``download``.
    """
    folder, run_config = session.new_run(model, dataset, out=out, config=config, sets=set, **options)
    return session.fit(
        folder, run_config, resume=False, progress=progress, sinks=sinks,
        callbacks=_live_evaluation(eval_every, eval_n, best_metric), wandb=wandb, on_nan=on_nan,
    )


def resume(
    run_dir: str | Path, *, steps: int | None = None, device: str | None = None, compile: str | None = None,
    progress: bool = True, sinks: list[Sink] | None = None,
    eval_every: int | None = None, eval_n: int | None = None, best_metric: str | None = None, wandb: str = "off",
    on_nan: str = "stop",
) -> Run:
    """Continue the run in ``run_dir`` from its last checkpoint and return the :class:`Run` (``ganzoo run --resume``).

    - ``steps``: a new target, above the step the run has reached (default: its own).
    - ``device``: move it to another device; ``compile``: change its ``torch.compile`` backend (``"none"``: off).
    - ``progress``, ``sinks``, ``eval_every``, ``eval_n``, ``best_metric``, ``wandb``, ``on_nan``: as for :func:`train`
      (they are not saved with the run: pass them again).
    """
    folder, run_config = session.existing_run(run_dir, steps=steps, device=device, compile=compile)
    return session.fit(
        folder, run_config, resume=True, progress=progress, sinks=sinks,
        callbacks=_live_evaluation(eval_every, eval_n, best_metric), wandb=wandb, on_nan=on_nan,
    )


def evaluate(
    samples: str | Path | Any,
    *,
    dataset: str | None = None,
    real: str | Path | Any | None = None,
    metrics: list[str] | None = None,
    n: int | None = None,
    n_real: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    set: Mapping[str, Any] | None = None,
    inception_weights: str | None = None,
    download: bool = False,
    use_cache: bool = True,
    out: str | Path | None = None,
) -> dict[str, Any]:
    """Score samples made anywhere, as ``ganzoo eval --samples`` does, and return the report (``ganzoo eval``'s dict).

    ``samples`` is a folder of PNG/JPEG images, a ``.npy``/``.npz`` file, or a tensor/ndarray
    (images ``N x C x H x W``, ``N x H x W x C`` or ``N x H x W``, uint8 or float in [-1, 1] or
    [0, 1]; or vectors ``N x D``). They are compared with ``dataset`` (its real split, as for
    a run; ``set`` holds its ``data.``-prefixed options) or with other samples ``real``.
    ``n`` takes the first N samples (default all), ``n_real`` the first N of ``real``.
    ``download`` fetches torch-fidelity's Inception-v3 weights when they are missing (RGB data);
    ``use_cache=False`` recomputes the real features instead of reading the feature cache.
    ``out`` also writes the report to that file. A run folder is scored with ``ganzoo eval RUN_DIR``.
    """
    from .eval.evaluate import evaluate_samples  # the evaluation suite loads only when asked for

    return evaluate_samples(
        samples, dataset=dataset, real=real, n=n, n_real=n_real, metrics=metrics, seed=seed, device=device,
        inception_weights=inception_weights, download=download, sets=set, out=out, use_cache=use_cache,
    )


def _live_evaluation(every: int | None, n: int | None, best_metric: str | None) -> session.CallbackFactory | None:
    if every is None and n is None and best_metric is None:
        return None
    from .eval.live import live_evaluation  # the evaluation suite loads only when asked for

    return live_evaluation(every, n, best_metric)
