"""ganzoo's evaluation suite, installed as ``ganzoo.eval``.

``ganzoo eval RUN_DIR`` (:func:`ganzoo.eval.evaluate.evaluate`) scores a run folder with every
registered metric that fits its data and writes ``eval.json``; ``ganzoo eval --samples``
(:func:`ganzoo.eval.evaluate.evaluate_samples`, which ``ganzoo.evaluate`` calls) scores samples made
anywhere the same way. Metrics are plugins
(``register_metrics`` hook) whose ``compute`` receives an :class:`EvalContext`. The built-in
metrics live in :mod:`ganzoo.eval.builtin`. What metric plugins import from here is public:
``EvalContext`` and ``MetricSkipped``.
"""

from .context import EvalContext, MetricSkipped

# Not `evaluate`: the submodule of that name would shadow the function once imported.
__all__ = ["EvalContext", "MetricSkipped"]
