"""Every hook a ganzoo plugin can implement. This file is the plugin author's reference;
docs/plugins.md repeats it with a tutorial and must agree with it (a test checks).

A plugin is a module (or object) with functions decorated by ``ganzoo.hookimpl`` whose
names match the specs below. Third-party plugins are found through the entry-point group
``ganzoo`` in their ``pyproject.toml``::

    [project.entry-points.ganzoo]
    mygan = "ganzoo_mygan"

Each hook is handed a ``register`` callback instead of returning values, so ganzoo can
check each spec, refuse duplicate names (naming both plugins) and keep one broken plugin
from taking the others down. All three hooks are called together, once per process, the
first time ganzoo needs any of its tables (models, datasets or metrics). A spec is
validated when it is created: a bad one raises :class:`ganzoo.SpecError`, which ganzoo
reports against the plugin, as it does for any exception a hook raises.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pluggy

if TYPE_CHECKING:
    from .specs import DatasetSpec, MetricSpec, ModelSpec

hookspec = pluggy.HookspecMarker("ganzoo")
hookimpl = pluggy.HookimplMarker("ganzoo")


@hookspec
def register_models(register: Callable[["ModelSpec"], None]) -> None:
    """Register GAN variants.

    Called once per process, when ganzoo first needs a table (``ganzoo run``, ``ganzoo models``,
    ``ganzoo.train``). Call ``register`` once per model with a :class:`ganzoo.ModelSpec`.
    The spec's ``build(info, config)`` returns a :class:`ganzoo.GAN`: its networks, their
    optimizers and an objective whose phases the shared trainer runs. A builder that cannot
    use the data raises :class:`ganzoo.GanzooError` with one line naming the data and what
    fits: ``ganzoo run`` prints it, ``ganzoo bench`` skips the pair. Example::

        @ganzoo.hookimpl
        def register_models(register):
            register(ganzoo.ModelSpec(
                name="my-gan",
                summary="My GAN: one line on what it does",
                config={"lr": ganzoo.Param(2e-4, "Adam learning rate", min=0)},
                build=build_my_gan,
            ))

    A model that evaluation scores on held-out samples (an image-to-image model, whose pairs
    are made from the held-out images) declares ``trains_on="train"``: the trainer then never
    draws those samples, only the train part of the same split. The default, ``"all"``,
    trains on every sample.
    ``min_kimg={"image": 100, "vector": 2500}`` (optional) declares, per data kind, the smallest
    budget in thousands of real images drawn at which the model's samples show anything
    recognisable with its presets; ``ganzoo bench --kimg K`` prints one warning line naming the
    models whose minimum is above K. Say in the model's docstring where each value comes from.

    A name already taken by another plugin is refused, and reported with both plugins named.
    """


@hookspec
def register_datasets(register: Callable[["DatasetSpec"], None]) -> None:
    """Register datasets.

    Called once per process, when ganzoo first needs a table. Call ``register`` once per
    dataset with a :class:`ganzoo.DatasetSpec` whose ``build(config)`` returns a
    :class:`ganzoo.Dataset`: the samples as one tensor (images in [-1, 1], shape
    ``(N, C, H, W)``; vectors ``(N, D)``), optional integer labels, and a
    :class:`ganzoo.DatasetInfo` that describes the data so that models can build from it
    (a mixture's ``centres`` as one row of floats per mode; a tensor is converted). Example::

        @ganzoo.hookimpl
        def register_datasets(register):
            register(ganzoo.DatasetSpec(
                name="two-moons",
                summary="Two interleaved half circles in 2-D",
                kind="vector",
                config={"n": ganzoo.Param(10000, "number of points", min=1)},
                build=build_two_moons,
            ))

    A name already taken by another plugin is refused, and reported with both plugins named.
    """


@hookspec
def register_metrics(register: Callable[["MetricSpec"], None]) -> None:
    """Register evaluation metrics.

    Called once per process, when ganzoo first needs a table (``ganzoo eval``, ``ganzoo run
    --eval-every``). Call ``register`` once per metric with a :class:`ganzoo.MetricSpec`.
    Its ``compute(ctx)`` receives a :class:`ganzoo.eval.EvalContext` (the generated
    samples, the real reference and held-out samples, cached features of the shipped
    networks, the seed) and returns a dict of named numbers; it may add protocol fields
    with ``ctx.note(...)`` and raise :class:`ganzoo.eval.MetricSkipped` with a one-line
    reason when it cannot run. ``applies(info)`` says, before any sampling, why the
    metric does not fit a dataset (or ``None`` when it does). ``numbers`` declares what
    ``compute`` returns, one :class:`ganzoo.MetricNumber` per number (or per family,
    ``"class_*"``): which way is better (``better="lower"``, ``"higher"`` or ``None``),
    whether it is shown in tables (``shown``), logged live (``live``), the total of a
    "covered / out of" pair (``out_of``), whether it ranks by default (``rank``, the
    smallest wins), whether it is a dataset's headline ``"quality"`` or ``"diversity"``
    number (``role``, a column of the leaderboard's main table) and the least value its true
    quantity can take (``minimum``). The best checkpoint, ``--best-metric``, the leaderboard's
    ranking and ``--rank-by``, its columns and its coverage bars all read these; an undeclared number is
    shown and live, with no direction. Example::

        @ganzoo.hookimpl
        def register_metrics(register):
            register(ganzoo.MetricSpec(
                name="mean-norm",
                summary="Mean L2 norm of the generated samples",
                kinds=("vector",),
                compute=lambda ctx: {"mean_norm": float(ctx.fake.flatten(1).norm(dim=1).mean())},
                live=True,  # cheap enough for ganzoo run --eval-every
                # A diagnostic: neither larger nor smaller is better, so it ranks nothing.
                numbers=(ganzoo.MetricNumber("mean_norm", better=None, help="mean L2 norm of the samples"),),
            ))

    A name already taken by another plugin is refused, and reported with both plugins named.
    """
