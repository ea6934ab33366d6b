"""ganzoo's evaluation suite, installed as ``ganzoo.eval``.

:func:`evaluate` scores a run folder with every registered metric that fits its data and
writes ``eval.json``; metrics are plugins (``register_metrics`` hook) whose ``compute``
receives an :class:`EvalContext`. The built-in metrics live in :mod:`ganzoo.eval.builtin`.
"""

from .context import EvalContext, MetricSkipped

__all__ = ["EvalContext", "MetricSkipped", "evaluate"]


def __getattr__(name):  # evaluate pulls in the API; load it only when asked for
    if name == "evaluate":
        from .evaluate import evaluate

        return evaluate
    raise AttributeError(name)
