"""cifar10 and fashion-mnist: read from small stand-ins written in torchvision's exact on-disk layouts (no network here)."""

from __future__ import annotations

import json
import pickle
import struct

import numpy as np
import pytest
import torch

import ganzoo
from ganzoo import plugins
from ganzoo.errors import GanzooError

CIFAR_PER_BATCH = 40  # five training batches: 200 images


def _build(name: str, **overrides):
    spec = plugins.datasets().get(name)
    config = {k: p.default for k, p in spec.config.items()}
    config.update(overrides)
    return spec.build(config)


def write_cifar10(root, per_batch: int = CIFAR_PER_BATCH, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``root/cifar-10-batches-py`` as torchvision unpacks it; returns the training images (N, 3, 32, 32) and labels."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(per_batch, 3 * 32 * 32), dtype=np.uint8)
        y = rng.integers(0, 10, size=per_batch).tolist()
        batch = {"batch_label": name, "labels": y, "data": data, "filenames": [f"{name}_{i}.png" for i in range(per_batch)]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        if name != "test_batch":
            images.append(data.reshape(-1, 3, 32, 32))
            labels += y
    meta = {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return np.concatenate(images), np.array(labels)


def _idx(path, magic: int, array: np.ndarray) -> None:
    path.write_bytes(struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes())


def write_fashion(root, n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``root/FashionMNIST/raw`` as torchvision leaves it (IDX files, train and t10k); returns the training set."""
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = None
    for split in ("train", "t10k"):
        images, labels = rng.integers(0, 256, size=(n, 28, 28)), np.arange(n) % 10
        _idx(raw / f"{split}-images-idx3-ubyte", 2051, images)
        _idx(raw / f"{split}-labels-idx1-ubyte", 2049, labels)
        out = out or (images, labels)
    return out


def test_cifar10_reads_torchvision_layout_into_rgb_in_minus_one_to_one(tmp_path):
    images, labels = write_cifar10(tmp_path)
    ds = _build("cifar10", root=str(tmp_path))
    assert ds.x.shape == (200, 3, 32, 32) and ds.x.dtype == torch.float32
    assert ds.x.min() >= -1 and ds.x.max() <= 1
    # The rows are the red, green and blue planes in turn, each 32x32 row-major.
    assert torch.allclose(ds.x, torch.from_numpy(images).float() / 127.5 - 1)
    assert torch.equal(ds.labels, torch.from_numpy(labels).long())
    assert ds.info.kind == "image" and ds.info.shape == (3, 32, 32) and ds.info.num_classes == 10
    assert ds.info.extra["classes"][0] == "airplane" and ds.info.extra["classes"][-1] == "truck" and ds.info.extra["images"] == 200
    # The batches folder itself is accepted too.
    assert torch.equal(_build("cifar10", root=str(tmp_path / "cifar-10-batches-py")).x, ds.x)


def test_cifar10_n_and_size(tmp_path):
    images, labels = write_cifar10(tmp_path)
    few = _build("cifar10", root=str(tmp_path), n=50)  # across the first two batches
    assert few.x.shape == (50, 3, 32, 32) and torch.equal(few.labels, torch.from_numpy(labels[:50]).long())
    big = _build("cifar10", root=str(tmp_path), n=8, size=64)
    assert big.x.shape == (8, 3, 64, 64) and big.info.shape == (3, 64, 64)
    assert big.x.min() >= -1 and big.x.max() <= 1


@pytest.mark.parametrize("gz", [False, True])
def test_fashion_mnist_reads_torchvision_layout(tmp_path, gz):
    images, labels = write_fashion(tmp_path)
    if gz:  # the downloaded archives, which torchvision keeps next to what it unpacked
        import gzip

        raw = tmp_path / "FashionMNIST" / "raw"
        for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
            (raw / f"{stem}.gz").write_bytes(gzip.compress((raw / stem).read_bytes()))
            (raw / stem).unlink()
    ds = _build("fashion-mnist", root=str(tmp_path))
    assert ds.x.shape == (120, 1, 28, 28) and ds.info.shape == (1, 28, 28) and ds.info.num_classes == 10
    assert torch.allclose(ds.x[:, 0], torch.from_numpy(images).float() / 127.5 - 1)
    assert torch.equal(ds.labels, torch.from_numpy(labels).long())
    assert ds.info.extra["classes"][0] == "T-shirt/top" and ds.info.extra["classes"][-1] == "Ankle boot"
    padded = _build("fashion-mnist", root=str(tmp_path), size=32, n=10)
    assert padded.x.shape == (10, 1, 32, 32) and torch.equal(padded.x[:, :, 2:30, 2:30], ds.x[:10])
    assert (padded.x[:, :, :2] == -1).all()


def test_torchvision_itself_reads_the_stand_ins(tmp_path, monkeypatch):
    # The layout is torchvision's, not one of ours: its own classes load the stand-ins. CIFAR10 checks
    # each file's md5 against the published archive, which a stand-in cannot match; only that check is
    # switched off.
    import torchvision
    import torchvision.datasets.cifar

    images, labels = write_cifar10(tmp_path)
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *a, **k: True)
    theirs = torchvision.datasets.CIFAR10(str(tmp_path), train=True, download=False)
    assert np.array_equal(theirs.data, images.transpose(0, 2, 3, 1)) and theirs.targets == labels.tolist()
    assert theirs.classes == list(_build("cifar10", root=str(tmp_path), n=1).info.extra["classes"])

    images, labels = write_fashion(tmp_path)
    theirs = torchvision.datasets.FashionMNIST(str(tmp_path), train=True, download=False)
    assert np.array_equal(theirs.data.numpy(), images) and theirs.targets.tolist() == labels.tolist()
    assert theirs.classes == list(_build("fashion-mnist", root=str(tmp_path), n=1).info.extra["classes"])


def test_without_a_root_the_error_says_where_to_get_the_data():
    for name, where in (("cifar10", "cifar-10-batches-py"), ("fashion-mnist", "FashionMNIST/raw")):
        with pytest.raises(GanzooError) as err:
            _build(name)
        message = str(err.value)
        assert f"dataset {name} is not bundled" in message and "--data-root PATH" in message and "--download" in message
        assert where in message and "\n" not in message


def test_bad_cifar_roots_are_one_line_errors_naming_the_file_and_layout(tmp_path):
    layout = r"expected cifar-10-batches-py/data_batch_1..5 \(torchvision's CIFAR-10 layout"
    with pytest.raises(GanzooError, match=f"no such folder; {layout}".replace("; expected", "; expected a folder holding")):
        _build("cifar10", root=str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(GanzooError, match=f"cifar-10-batches-py/data_batch_1 not found; {layout}"):
        _build("cifar10", root=str(tmp_path / "empty"))
    write_cifar10(tmp_path / "four")
    (tmp_path / "four" / "cifar-10-batches-py" / "data_batch_5").unlink()
    with pytest.raises(GanzooError, match="data_batch_5 not found"):
        _build("cifar10", root=str(tmp_path / "four"), n=1)  # checked even when the first batch is enough

    def corrupt(name: str, content: bytes, n: int = 50_000):
        write_cifar10(tmp_path / name)
        (tmp_path / name / "cifar-10-batches-py" / "data_batch_2").write_bytes(content)
        with pytest.raises(GanzooError) as err:
            _build("cifar10", root=str(tmp_path / name), n=n)
        assert "data_batch_2" in str(err.value) and "\n" not in str(err.value)
        return str(err.value)

    assert "cannot read cifar-10-batches-py/data_batch_2 (UnpicklingError" in corrupt("garbage", b"not a pickle at all")
    good = (tmp_path / "garbage" / "cifar-10-batches-py" / "data_batch_1").read_bytes()
    assert "cannot read" in corrupt("truncated", good[: len(good) // 2])
    assert "is not a CIFAR-10 batch (expected a dict with 'data'" in corrupt("list", pickle.dumps([1, 2, 3]))
    wrong_shape = {"data": np.zeros((4, 100), np.uint8), "labels": [0] * 4}
    assert "is not a CIFAR-10 batch" in corrupt("shape", pickle.dumps(wrong_shape))
    bad_labels = {"data": np.zeros((4, 3072), np.uint8), "labels": [0, 1, 2, 12]}
    assert "expected 4 labels 0-9" in corrupt("labels", pickle.dumps(bad_labels))
    # A batch after those the first n images need is not read.
    assert _build("cifar10", root=str(tmp_path / "labels"), n=CIFAR_PER_BATCH).x.shape[0] == CIFAR_PER_BATCH


class _Trap:
    def __reduce__(self):
        return (exec, ("raise SystemExit('the pickle ran code')",))


def test_a_pickle_that_would_run_code_is_refused_without_running_it(tmp_path):
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_1").write_bytes(pickle.dumps({"data": _Trap(), "labels": []}))
    with pytest.raises(GanzooError, match=r"cannot read cifar-10-batches-py/data_batch_1 \(UnpicklingError: it refers to builtins.exec"):
        _build("cifar10", root=str(tmp_path))


def test_bytes_keys_are_read_too(tmp_path):
    # Unpickled with encoding="bytes" (as CIFAR's own page shows), the keys are b"data" and b"labels".
    write_cifar10(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    for i in range(1, 6):
        batch = pickle.loads((folder / f"data_batch_{i}").read_bytes())
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps({k.encode(): v for k, v in batch.items()}))
    assert _build("cifar10", root=str(tmp_path)).x.shape == (200, 3, 32, 32)


def _py2_str(b: bytes) -> bytes:
    return b"U" + bytes([len(b)]) + b if len(b) < 256 else b"T" + struct.pack("<I", len(b)) + b


def py2_batch(data: np.ndarray, labels: list[int]) -> bytes:
    """A batch pickled as the published files were: Python 2 str keys and bytes, numpy 1's ``numpy.core`` globals."""
    n, width = data.shape
    array = (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + _py2_str(b"b") + b"\x87R"
             + b"(K\x01J" + struct.pack("<i", n) + b"J" + struct.pack("<i", width) + b"\x86"
             + b"cnumpy\ndtype\n" + _py2_str(b"u1") + b"K\x00K\x01\x87R(K\x03" + _py2_str(b"|")
             + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb" + b"\x89" + _py2_str(data.tobytes()) + b"tb")
    listed = b"](" + b"".join(b"K" + bytes([y]) for y in labels) + b"e"
    return b"\x80\x02}(" + _py2_str(b"batch_label") + _py2_str(b"training batch") + _py2_str(b"labels") + listed + _py2_str(b"data") + array + b"u."


def test_batches_pickled_by_python2_and_numpy1_as_published_are_read(tmp_path, monkeypatch):
    import torchvision
    import torchvision.datasets.cifar

    images, labels = write_cifar10(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    for i in range(5):
        rows = slice(i * CIFAR_PER_BATCH, (i + 1) * CIFAR_PER_BATCH)
        (folder / f"data_batch_{i + 1}").write_bytes(py2_batch(images[rows].reshape(CIFAR_PER_BATCH, -1), labels[rows].tolist()))
    ds = _build("cifar10", root=str(tmp_path))
    assert torch.allclose(ds.x, torch.from_numpy(images).float() / 127.5 - 1) and torch.equal(ds.labels, torch.from_numpy(labels))
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *a, **k: True)
    assert np.array_equal(torchvision.datasets.CIFAR10(str(tmp_path), train=True).data, images.transpose(0, 2, 3, 1))


def test_bad_fashion_roots_name_torchvision_layout(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(GanzooError, match=r"FashionMNIST IDX files train-images-idx3-ubyte\[.gz\] .* not found there \(nor in .*/FashionMNIST/raw\)"):
        _build("fashion-mnist", root=str(tmp_path / "empty"))
    write_fashion(tmp_path / "bad")
    (tmp_path / "bad" / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"garbage")
    with pytest.raises(GanzooError, match="train-images-idx3-ubyte is not an IDX file .*expected FashionMNIST IDX files"):
        _build("fashion-mnist", root=str(tmp_path / "bad"))


@pytest.mark.parametrize("dataset, cls, writer", [("cifar10", "CIFAR10", write_cifar10), ("fashion-mnist", "FashionMNIST", write_fashion)])
def test_download_goes_through_torchvision(tmp_path, monkeypatch, dataset, cls, writer):
    import torchvision

    calls = []

    def fake(root, train, download):  # what torchvision's downloader would leave on disk
        calls.append((root, train, download))
        writer(tmp_path)

    monkeypatch.setattr(torchvision.datasets, cls, fake)
    ds = _build(dataset, root=str(tmp_path), download=True)
    assert calls == [(str(tmp_path), True, True)] and ds.info.num_classes == 10

    def offline(root, train, download):
        raise RuntimeError("Error downloading")

    monkeypatch.setattr(torchvision.datasets, cls, offline)
    with pytest.raises(GanzooError, match="could not download .* into .*RuntimeError: Error downloading"):
        _build(dataset, root=str(tmp_path / "other"), download=True)
    with pytest.raises(GanzooError, match="--download needs --data-root PATH"):
        _build(dataset, download=True)


def test_datasets_command_documents_every_option(cli):
    for name in ("cifar10", "fashion-mnist"):
        code, out, _ = cli("datasets", name)
        assert code == 0
        for key, param in plugins.datasets().get(name).config.items():
            assert key in out and param.help in out


def test_cli_errors_are_one_line_with_exit_2(tmp_path, cli):
    code, out, err = cli("run", "--model", "vanilla", "--dataset", "cifar10", "--out", str(tmp_path / "a"))
    assert code == 2 and "is not bundled" in err and len(err.strip().splitlines()) == 1
    write_cifar10(tmp_path / "data")
    (tmp_path / "data" / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"\x80\x02corrupt")
    code, out, err = cli("run", "--model", "vanilla", "--dataset", "cifar10", "--data-root", str(tmp_path / "data"), "--out", str(tmp_path / "b"))
    assert code == 2 and "data_batch_1" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    code, out, err = cli("run", "--model", "vanilla", "--dataset", "fashion-mnist", "--data-root", str(tmp_path / "data"), "--out", str(tmp_path / "c"))
    assert code == 2 and "FashionMNIST/raw" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_vanilla_trains_on_cifar10_through_the_cli(tmp_path, cli):
    write_cifar10(tmp_path / "data")
    code, out, err = cli(
        "run", "--model", "vanilla", "--dataset", "cifar10", "--data-root", str(tmp_path / "data"), "--out", str(tmp_path / "run"),
        "--steps", "2", "--batch-size", "16", "--set", "width=16", "--set", "depth=1", "--set", "data.n=64",
    )
    assert code == 0, err
    info = json.loads((tmp_path / "run" / "dataset.json").read_text())
    assert info["shape"] == [3, 32, 32] and info["extra"]["classes"][0] == "airplane" and info["extra"]["images"] == 64


@pytest.mark.slow
def test_cgan_trains_on_fashion_mnist_through_the_api(tmp_path):
    write_fashion(tmp_path / "data")
    run = ganzoo.train(
        "cgan", "fashion-mnist", steps=2, out=tmp_path / "run", batch_size=16, progress=False,
        data_root=str(tmp_path / "data"), set={"width": 16, "depth": 1},
    )
    info = json.loads((run.path / "dataset.json").read_text())
    assert info["shape"] == [1, 28, 28] and info["extra"]["classes"][-1] == "Ankle boot"


def test_digit_metrics_refuse_clothes_in_one_line_and_still_score_mnist(tmp_path):
    """The MNIST feature network knows digits: on fashion-mnist its FID, IS, classes, P/R and D/C would be numbers about nothing."""
    write_fashion(tmp_path)
    clothes = _build("fashion-mnist", root=str(tmp_path), n=10).info
    digits = ganzoo.DatasetInfo("mnist", "image", (1, 28, 28), num_classes=10, extra={"source": "bundled"})
    registry = ganzoo.plugins.metrics()
    for name in ("fid", "is", "kid", "precision-recall", "density-coverage", "classes"):
        spec = registry.get(name)
        reason = spec.applies(clothes)
        assert reason and "trained on digits; fashion-mnist holds clothes" in reason, (name, reason)
        assert spec.applies(digits) is None, name
