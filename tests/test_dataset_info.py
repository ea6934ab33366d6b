"""``DatasetInfo``: mode centres given as a tensor are stored as plain floats, and a malformed table fails where it is made (issue 18)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import ganzoo
from ganzoo import plugins
from ganzoo.eval import EvalContext


def test_centres_given_as_a_tensor_are_stored_as_floats_and_survive_the_run_folder():
    centres = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    info = ganzoo.DatasetInfo("three", "vector", (2,), num_classes=3, centres=centres, std=torch.tensor(0.5))
    assert info.centres == ((1.0, 0.0), (0.0, 1.0), (-1.0, 0.0)) and info.std == 0.5
    # What a run folder keeps (dataset.json) reads back equal: the tensor broke to_dict's truth test before.
    assert ganzoo.DatasetInfo.from_dict(json.loads(json.dumps(info.to_dict()))) == info
    assert info == ganzoo.DatasetInfo("three", "vector", (2,), num_classes=3, centres=centres.numpy(), std=0.5)


def test_a_mixture_metric_runs_on_centres_given_as_a_tensor():
    info = ganzoo.DatasetInfo("two", "vector", (2,), centres=torch.tensor([[1.0, 0.0], [-1.0, 0.0]]), std=0.1)
    points = torch.tensor([[1.0, 0.0], [1.02, 0.0], [-1.0, 0.01]])
    assert plugins.metrics().get("mixture-modes").compute(EvalContext(info, fake=points, real=points, seed=0))["modes"] == 2


@pytest.mark.parametrize("centres, problem", [
    (torch.tensor([1.0, 2.0]), "bad centres of type Tensor"),  # one row, not a table
    ("ring", "bad centres of type str"),
    ([[1.0, 2.0], [3.0]], "bad centres, rows of lengths [2, 1]"),
])
def test_malformed_centres_are_a_one_line_error_naming_the_type_expected(centres, problem):
    with pytest.raises(ganzoo.SpecError) as caught:
        ganzoo.DatasetInfo("bad", "vector", (2,), centres=centres)
    message = str(caught.value)
    assert message.startswith(f"DatasetInfo 'bad': {problem}") and "\n" not in message
    assert "(valid: one row of floats per mode, e.g. ((1.0, 0.0), (0.0, 1.0)), or a 2-D tensor or array" in message


def test_a_std_of_several_values_is_refused():
    with pytest.raises(ganzoo.SpecError, match=r"DatasetInfo 'bad': bad std of type Tensor \(valid: one float\)"):
        ganzoo.DatasetInfo("bad", "vector", (2,), std=torch.ones(2))
