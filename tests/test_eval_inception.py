"""The Inception-v3 path for RGB data: skipped without weights, and its plumbing with weights.

No real Inception weights exist on this machine and none may be downloaded, so the
plumbing test uses a *randomly initialised* state dict of the right shapes: it checks
that the weights are found, hashed into the protocol and run through torch-fidelity's
extractor on uint8 RGB images, not that the numbers mean anything.
"""

from __future__ import annotations

import json

import pytest
import torch

import ganzoo
from ganzoo.eval.lenet import sha256_file

pytestmark = pytest.mark.slow  # every test evaluates the run that the module's fixture trains


@pytest.fixture(scope="module")
def stacked_run(tmp_path_factory):
    return ganzoo.train(
        "vanilla", "stacked-mnist", steps=2, out=tmp_path_factory.mktemp("s") / "stacked",
        set={"width": 8, "depth": 1, "data.n": 64}, batch_size=16, progress=False,
    )


@pytest.fixture
def random_inception_weights(tmp_path, monkeypatch):
    import torch_fidelity.feature_extractor_inceptionv3 as tfi

    # Build the network once without loading anything, to get a random state dict of the right shapes.
    monkeypatch.setattr(tfi, "load_state_dict_from_url", lambda *a, **k: {})
    monkeypatch.setattr(tfi.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd: None)
    net = tfi.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    monkeypatch.undo()
    path = tmp_path / "random-inception.pth"
    torch.save(net.state_dict(), path)
    return path


def test_without_weights_the_inception_metrics_are_skipped_with_a_reason(cli, stacked_run, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))
    code, out, err = cli("eval", str(stacked_run.path), "--n", "200", "--metrics", "stacked-modes,inception")
    assert code == 0, err
    report = json.loads((stacked_run.path / "eval.json").read_text())
    assert "Inception-v3 weights not found" in report["skipped"]["inception"] and "--inception-weights" in report["skipped"]["inception"]
    assert report["metrics"]["stacked-modes"]["modes_total"] == 1000
    assert "inception" in out and "skipped" in out


@pytest.mark.slow  # Inception-v3 on CPU: a few seconds for 4 images
def test_inception_plumbing_with_randomly_initialised_weights(cli, stacked_run, random_inception_weights, tmp_path, monkeypatch):
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))
    code, out, err = cli("eval", str(stacked_run.path), "--n", "8", "--metrics", "inception", "--inception-weights", str(random_inception_weights))
    assert code == 0, err
    report = json.loads((stacked_run.path / "eval.json").read_text())
    assert set(report["metrics"]["inception"]) >= {"fid", "is", "kid", "precision", "recall", "density", "coverage"}
    assert report["protocol"]["inception_weights_sha256"] == sha256_file(random_inception_weights)
    # 64 stacked digits over 1000 classes leave no class with a sample to hold out: no floor, and why
    assert "got 0 and 8" in report["protocol"]["fid_floor_skipped"]


def test_inception_weights_that_need_unpickling_are_refused(cli, stacked_run, tmp_path, monkeypatch):
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))
    bad = tmp_path / "bad.pth"
    torch.save({"fc.weight": torch.zeros(1), "evil": object.__new__(ganzoo.Param)}, bad)
    code, out, err = cli("eval", str(stacked_run.path), "--n", "2", "--metrics", "inception", "--inception-weights", str(bad))
    assert code == 0, err
    assert "cannot be read as a plain state dict" in json.loads((stacked_run.path / "eval.json").read_text())["skipped"]["inception"]


def test_download_fetches_torch_fidelitys_published_file_with_its_hash_checked(cli, stacked_run, random_inception_weights, tmp_path, monkeypatch):
    # No network here: the download itself is replaced by a copy of the random weights, and the
    # test checks what ganzoo asks torch.hub for (torch-fidelity's URL, the hash prefix, the place).
    import shutil

    import torch_fidelity.feature_extractor_inceptionv3 as tfi

    from ganzoo.eval import inception

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))
    asked = []

    def fake_download(url, dst, hash_prefix=None, progress=True):
        asked.append((url, hash_prefix))
        shutil.copy(random_inception_weights, dst)

    monkeypatch.setattr(inception.torch.hub, "download_url_to_file", fake_download)
    code, out, err = cli("eval", str(stacked_run.path), "--n", "2", "--metrics", "inception", "--download")
    assert code == 0, err
    assert asked == [(tfi.URL_INCEPTION_V3, "6726825d")]
    assert (tmp_path / "torch-home" / "hub" / "checkpoints" / inception.WEIGHTS_NAME).is_file()
    assert set(json.loads((stacked_run.path / "eval.json").read_text())["metrics"]["inception"]) >= {"fid", "is", "kid"}


def test_a_failed_download_is_one_line_naming_the_way_round_it(cli, stacked_run, tmp_path, monkeypatch):
    from urllib.error import URLError

    from ganzoo.eval import inception

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))

    def offline(*args, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(inception.torch.hub, "download_url_to_file", offline)
    code, _, err = cli("eval", str(stacked_run.path), "--n", "2", "--metrics", "inception", "--download")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--download: could not fetch" in err and "URLError" in err and "--inception-weights PATH" in err
    code, _, err = cli("eval", str(stacked_run.path), "--n", "200", "--metrics", "stacked-modes,inception")
    assert code == 0, err
    skipped = json.loads((stacked_run.path / "eval.json").read_text())["skipped"]["inception"]
    assert inception.WEIGHTS_NAME in skipped and "--download" in skipped
