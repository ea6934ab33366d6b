"""The real-feature cache: its key holds every ingredient that changes the features, so a change is a miss and a repeat a hit."""

from __future__ import annotations

import pytest
import torch

import ganzoo
from ganzoo import plugins
from ganzoo.eval import context as context_module
from ganzoo.eval import extractor as extractor_module
from ganzoo.eval.context import EvalContext
from ganzoo.eval.evaluate import evaluate, real_split
from ganzoo.eval.featurenet import FeatureNet, lenet_net

MNIST = {"size": 28, "root": "", "download": False}
LIBRARIES = ("torch", "torchvision", "torch-fidelity", "numpy", "ganzoo")


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def extractions(monkeypatch):
    """Stand in for the feature network (the key is under test, not the features); counts its calls."""
    calls = []

    def extract(images, name, layers, device=None, **kwargs):
        calls.append(name)
        return {layer: torch.full((len(images), 2), float(len(calls)), dtype=torch.float64) for layer in layers}

    monkeypatch.setattr(extractor_module, "extract", extract)  # what EvalContext calls (imported when it extracts)
    return calls


@pytest.fixture(scope="module")
def mnist_fields():
    dataset = plugins.datasets().get("mnist").build(MNIST)
    real, _, fields = real_split(dataset, MNIST, 12, 12)
    return real, fields


def _cached(real: torch.Tensor, fields: dict, net: FeatureNet) -> bool:
    ctx = EvalContext(plugins.datasets().get("mnist").build(MNIST).info, real[:0], real, real_fields=fields)
    ctx.features(net, "real")
    return ctx.protocol["real_features_cached"][f"{net.name}/real"]


def test_real_split_fields_hold_every_dataset_option(mnist_fields):
    _, fields = mnist_fields
    assert fields["options"] == MNIST
    assert {"dataset", "source", "dataset_size", "split"} <= set(fields)


CHANGES = {
    "a dataset option": lambda real, fields, net: (real, {**fields, "options": {**fields["options"], "size": 16}}, net),
    "the dataset": lambda real, fields, net: (real, {**fields, "dataset": "other"}, net),
    "the dataset source": lambda real, fields, net: (real, {**fields, "source": "/elsewhere"}, net),
    "the dataset size": lambda real, fields, net: (real, {**fields, "dataset_size": fields["dataset_size"] + 1}, net),
    "the split": lambda real, fields, net: (real, {**fields, "split": "another split"}, net),
    "N": lambda real, fields, net: (real[:-1], fields, net),
    "the feature network": lambda real, fields, net: (real, fields, FeatureNet("another-net", net.weights_sha256, net.layers)),
    "its weights hash": lambda real, fields, net: (real, fields, FeatureNet(net.name, "0" * 64, net.layers)),
    "the layers": lambda real, fields, net: (real, fields, FeatureNet(net.name, net.weights_sha256, net.layers[:1])),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_each_real_data_or_network_ingredient_is_a_miss_and_a_repeat_a_hit(extractions, mnist_fields, change):
    real, fields = mnist_fields
    net = lenet_net()
    assert _cached(real, fields, net) is False
    assert _cached(real, fields, net) is True and len(extractions) == 1
    assert _cached(*CHANGES[change](real, fields, net)) is False, change
    assert _cached(*CHANGES[change](real, fields, net)) is True, change
    assert len(extractions) == 2


@pytest.mark.parametrize("ingredient", ["dtype", "quantisation", *(f"version of {lib}" for lib in LIBRARIES)])
def test_dtype_quantisation_and_each_library_version_are_in_the_key(extractions, mnist_fields, monkeypatch, ingredient):
    real, fields = mnist_fields
    net = lenet_net()
    assert _cached(real, fields, net) is False
    if ingredient == "dtype":
        monkeypatch.setattr(context_module, "FEATURE_DTYPE", torch.float32)
    elif ingredient == "quantisation":
        monkeypatch.setattr(context_module, "QUANTISATION", "uint8 = floor(x * 255)")
    else:
        lib = ingredient.removeprefix("version of ")
        found = context_module.versions()
        assert lib in found
        monkeypatch.setattr(context_module, "versions", lambda: {**found, lib: found[lib] + ".post1"})
    assert _cached(real, fields, net) is False, ingredient
    assert _cached(real, fields, net) is True, ingredient


@pytest.mark.slow  # trains two tiny runs
def test_a_run_with_another_image_size_is_not_scored_against_stale_features(tmp_path):
    # The reproduction: size-28 features cached first must not serve a size-16 run.
    tiny = dict(steps=2, set={"width": 16, "depth": 1}, batch_size=16, progress=False)
    r28 = ganzoo.train("vanilla", "mnist", out=tmp_path / "r28", **tiny)
    r16 = ganzoo.train("vanilla", "mnist", out=tmp_path / "r16", **{**tiny, "set": {**tiny["set"], "data.size": 16}})
    evaluate(r28.path, n=200, metrics=["fid"], write=False)
    scored = evaluate(r16.path, n=200, metrics=["fid"], write=False)
    fresh = evaluate(r16.path, n=200, metrics=["fid"], write=False, use_cache=False)
    assert scored["metrics"]["fid"] == fresh["metrics"]["fid"]
    assert scored["protocol"]["real_features_cached"]["ganzoo-lenet-mnist/real"] is False
