"""Datasets: shapes, ranges and labels, the offline default, full MNIST from IDX files, bad roots."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganzoo import plugins
from ganzoo.errors import GanzooError


def _build(name: str, **overrides):
    spec = plugins.datasets().get(name)
    config = {k: p.default for k, p in spec.config.items()}
    config.update(overrides)
    return spec.build(config)


def test_embedded_mnist_is_the_5000_bundled_digits_in_minus_one_to_one():
    ds = _build("mnist")
    assert ds.x.shape == (5000, 1, 28, 28) and ds.x.dtype == torch.float32
    assert ds.x.min() == -1.0 and ds.x.max() == 1.0
    assert torch.bincount(ds.labels).tolist() == [500] * 10
    assert ds.info.kind == "image" and ds.info.shape == (1, 28, 28) and ds.info.num_classes == 10
    # Background is the darkest value: a digit occupies a minority of pixels.
    assert (ds.x == -1).float().mean() > 0.7


def test_mnist_at_32_pads_with_background_and_keeps_the_digit():
    d28, d32 = _build("mnist"), _build("mnist", size=32)
    assert d32.x.shape == (5000, 1, 32, 32)
    assert torch.equal(d32.x[:, :, 2:30, 2:30], d28.x)
    assert (d32.x[:, :, :2] == -1).all() and (d32.x[:, :, :, -2:] == -1).all()
    d16 = _build("mnist", size=16)
    assert d16.x.shape == (5000, 1, 16, 16) and d16.x.min() >= -1 and d16.x.max() <= 1


@pytest.mark.parametrize("gz", [False, True])
def test_full_mnist_reads_idx_files_from_a_folder(tmp_path, gz, mnist_idx):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(30, 28, 28))
    labels = np.arange(30) % 10
    mnist_idx(tmp_path / "MNIST" / "raw", images, labels, gz=gz)  # torchvision's layout
    ds = _build("mnist", root=str(tmp_path))
    assert ds.x.shape == (30, 1, 28, 28)
    assert torch.equal(ds.labels, torch.from_numpy(labels).long())
    assert torch.allclose(ds.x[:, 0], torch.from_numpy(images).float() / 127.5 - 1)


def test_bad_data_roots_are_one_line_errors_naming_what_was_expected(tmp_path, mnist_idx):
    with pytest.raises(GanzooError, match="no such folder; expected a folder with MNIST IDX files"):
        _build("mnist", root=str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(GanzooError, match=r"train-images-idx3-ubyte\[.gz\] and train-labels-idx1-ubyte\[.gz\] not found"):
        _build("mnist", root=str(tmp_path / "empty"))
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "train-images-idx3-ubyte").write_bytes(b"not an idx file at all")
    (wrong / "train-labels-idx1-ubyte").write_bytes(b"nope")
    with pytest.raises(GanzooError, match=r"not an IDX file \(bad header\); expected MNIST IDX files"):
        _build("mnist", root=str(wrong))
    truncated = tmp_path / "truncated"
    mnist_idx(truncated, np.zeros((5, 28, 28)), np.zeros(5))
    path = truncated / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(GanzooError, match="truncated or corrupt"):
        _build("mnist", root=str(truncated))
    broken_gz = tmp_path / "gz"
    broken_gz.mkdir()
    (broken_gz / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8bgarbage")
    (broken_gz / "train-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8bgarbage")
    with pytest.raises(GanzooError, match="cannot read train-images-idx3-ubyte.gz"):
        _build("mnist", root=str(broken_gz))


def test_download_goes_through_torchvision_then_reads_the_same_idx_files(tmp_path, monkeypatch, mnist_idx):
    # No network in tests: stand in for torchvision's downloader by writing what it would write.
    import torchvision

    calls = []

    def fake_mnist(root, train, download):
        calls.append((root, train, download))
        mnist_idx(tmp_path / "MNIST" / "raw", np.full((12, 28, 28), 255), np.arange(12) % 10, gz=True)

    monkeypatch.setattr(torchvision.datasets, "MNIST", fake_mnist)
    ds = _build("mnist", root=str(tmp_path), download=True)
    assert calls == [(str(tmp_path), True, True)]
    assert ds.x.shape == (12, 1, 28, 28) and (ds.x == 1).all()

    def offline(root, train, download):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    with pytest.raises(GanzooError, match="could not download MNIST into .*RuntimeError: Error downloading"):
        _build("mnist", root=str(tmp_path / "other"), download=True)


def test_download_needs_a_root():
    with pytest.raises(GanzooError, match="--download needs --data-root"):
        _build("mnist", download=True)


def test_ring8_matches_its_definition():
    ds = _build("ring8", n=20000)
    centres = torch.tensor(ds.info.centres)
    assert ds.x.shape == (20000, 2) and ds.info.kind == "vector" and ds.info.num_classes == 8
    assert torch.allclose(centres.norm(dim=1), torch.ones(8), atol=1e-6)
    assert ds.info.std == 0.01
    # Each point sits near the centre its label names, with the stated spread.
    offsets = ds.x - centres[ds.labels]
    assert abs(offsets.std().item() - 0.01) < 0.0005
    assert (offsets.norm(dim=1) < 6 * 0.01).all()
    assert torch.bincount(ds.labels, minlength=8).min() > 2000


def test_grid25_matches_its_definition():
    ds = _build("grid25", n=20000)
    centres = torch.tensor(ds.info.centres)
    assert sorted(set(centres[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    assert len(centres) == 25 and ds.info.std == 0.05
    offsets = ds.x - centres[ds.labels]
    assert abs(offsets.std().item() - 0.05) < 0.002


def test_mixture_draw_depends_on_the_data_seed_only():
    assert torch.equal(_build("ring8", n=100).x, _build("ring8", n=100).x)
    assert not torch.equal(_build("ring8", n=100).x, _build("ring8", n=100, seed=1).x)
