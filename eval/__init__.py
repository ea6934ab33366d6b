"""ganzoo's evaluation suite, installed as ``ganzoo.eval``.

``ganzoo eval RUN_DIR`` (:func:`ganzoo.eval.evaluate.evaluate`) scores a run folder with every
registered metric that fits its data and writes ``eval.json``; ``ganzoo eval --samples``
(:func:`ganzoo.eval.evaluate.evaluate_samples`, which ``ganzoo.evaluate`` calls) scores samples made
anywhere the same way. Metrics are plugins
(``register_metrics`` hook) whose ``compute`` receives an :class:`EvalContext`. The built-in
metrics live in :mod:`ganzoo.eval.builtin`. What metric plugins import from here is public:
``EvalContext`` and ``MetricSkipped``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .context import EvalContext, MetricSkipped

# Not `evaluate`: the submodule of that name would shadow the function once imported.
__all__ = ["EvalContext", "MetricSkipped"]


def __getattr__(name: str):
    # The context imports torch; the built-in metrics register (for `ganzoo metrics`) without it.
    if name in __all__:
        value = getattr(importlib.import_module(".context", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
