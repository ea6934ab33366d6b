"""The image-folder dataset: classes from subfolders, fit modes, channels, bad files, the uint8
cache (hit, invalidated), streaming batches from it, and training and exact resume on it."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

import ganzoo
from ganzoo import plugins
from ganzoo.data import Batcher, Dataset, DatasetInfo, HorizontalFlip, UInt8Images
from ganzoo.errors import GanzooError
from ganzoo.training.checkpoint import load_checkpoint
from ganzoo_plugins import image_folder

COLOURS = {"circles": (220, 40, 40), "squares": (40, 60, 220)}


def _draw(path, shape: str, colour, i: int, size=(40, 30), mode="RGB") -> None:
    img = Image.new(mode, size, 0)
    box = [3 + i % 9, 3 + i % 5, 20 + i % 9, 22 + i % 5]
    (ImageDraw.Draw(img).ellipse if shape == "circles" else ImageDraw.Draw(img).rectangle)(box, fill=colour)
    img.save(path)


def make_folder(root, n: int = 200, mode: str = "RGB"):
    """``n`` small images of drawn shapes, half circles and half squares, in two class subfolders."""
    for shape, colour in COLOURS.items():
        (root / shape).mkdir(parents=True, exist_ok=True)
        for i in range(n // 2):
            _draw(root / shape / f"{i:03d}.png", shape, colour if mode == "RGB" else 200, i, mode=mode)
    return root


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("images") / "shapes")


def _build(root, **overrides) -> Dataset:
    spec = plugins.datasets().get("image-folder")
    config = {k: p.default for k, p in spec.config.items()}
    config.update(root=str(root), **overrides)
    return spec.build(config)


def test_class_subfolders_become_sorted_labels_and_images_are_rgb_in_minus_one_to_one(folder):
    ds = _build(folder)
    assert len(ds) == 200 and ds.info.shape == (3, 32, 32) and ds.info.kind == "image"
    assert ds.info.num_classes == 2 and ds.info.extra["classes"] == ["circles", "squares"]
    assert torch.bincount(ds.labels).tolist() == [100, 100]
    assert isinstance(ds.x, UInt8Images) and isinstance(ds.x.array, np.memmap)  # streamed, not loaded
    x = ds.x[torch.tensor([0, 150])]
    assert x.shape == (2, 3, 32, 32) and x.dtype == torch.float32 and x.min() == -1 and x.max() <= 1
    red, blue = x[0].amax(dim=(1, 2)), x[1].amax(dim=(1, 2))
    assert red[0] > red[2] and blue[2] > blue[0]  # circles are red, squares blue


def test_flat_folder_is_unlabelled(tmp_path):
    for i in range(5):
        _draw(tmp_path / f"{i}.png", "circles", (255, 0, 0), i)
    ds = _build(tmp_path)
    assert ds.labels is None and ds.info.num_classes == 0 and len(ds) == 5


@pytest.mark.parametrize("fit", ["crop", "pad", "stretch"])
def test_fit_modes_give_square_images_of_the_asked_size(folder, fit):
    ds = _build(folder, size=16, fit=fit)
    assert ds.x[torch.arange(4)].shape == (4, 3, 16, 16)


def test_pad_fills_with_black_and_crop_does_not(tmp_path):
    Image.new("RGB", (40, 20), (255, 255, 255)).save(tmp_path / "wide.png")
    pad, crop = _build(tmp_path, size=8, fit="pad").x[0], _build(tmp_path, size=8, fit="crop").x[0]
    assert (pad[:, 0] == -1).all() and (pad[:, 4] == 1).all()
    assert (crop == 1).all()


def test_channels_auto_is_one_for_a_grey_folder_and_can_be_forced(tmp_path, folder):
    grey = make_folder(tmp_path / "grey", n=6, mode="L")
    assert _build(grey).info.shape == (1, 32, 32)
    assert _build(grey, channels="3").info.shape == (3, 32, 32)
    assert _build(folder, channels="1").x[torch.arange(2)].shape == (2, 1, 32, 32)


def test_a_corrupt_file_is_skipped_and_counted_in_one_line(tmp_path, capsys):
    root = make_folder(tmp_path / "data", n=6)
    (root / "circles" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    (root / "squares" / "cut.jpg").write_bytes((root / "squares" / "000.png").read_bytes()[:60])
    ds = _build(root)
    assert len(ds) == 6 and torch.bincount(ds.labels).tolist() == [3, 3]
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["image-folder: skipped 2 of 8 files that could not be read as images"]


def test_missing_empty_or_imageless_folders_are_one_line_errors(tmp_path, cli):
    with pytest.raises(GanzooError, match="needs --data-root"):
        _build("")
    with pytest.raises(GanzooError, match="no such folder"):
        _build(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    (tmp_path / "text" / "a").mkdir(parents=True)
    (tmp_path / "text" / "a" / "notes.txt").write_text("hello")
    for root in ("empty", "text"):
        code, out, err = cli("run", "--model", "cgan", "--dataset", "image-folder", "--data-root", str(tmp_path / root), "--steps", "1", "--out", str(tmp_path / "run"))
        assert code == 2 and "no images there" in err and len(err.strip().splitlines()) == 1, err


def test_the_cache_is_hit_on_a_second_build_and_invalidated_when_a_file_changes(tmp_path, monkeypatch, cache):
    root = make_folder(tmp_path / "data", n=10)
    decodes = []
    real_decode = image_folder._decode
    monkeypatch.setattr(image_folder, "_decode", lambda *a: decodes.append(a[0]) or real_decode(*a))
    start = time.perf_counter()
    first = _build(root)
    decoded = time.perf_counter()
    second = _build(root)
    print(f"image-folder build: {decoded - start:.3f} s decoding, {time.perf_counter() - decoded:.3f} s from the cache")
    assert len(decodes) == 10
    assert torch.equal(first.x[torch.arange(10)], second.x[torch.arange(10)])
    assert len(list((cache / "image-folder").glob("*.npy"))) == 2  # images and labels, nothing re-written

    _build(root, size=16)  # other options: another entry
    assert len(decodes) == 20
    time.sleep(0.01)
    _draw(root / "circles" / "000.png", "squares", (0, 255, 0), 0)  # same name, new content
    changed = _build(root)
    assert len(decodes) == 30
    assert not torch.equal(changed.x[torch.tensor([0])], first.x[torch.tensor([0])])
    assert changed.info.extra["source"] != first.info.extra["source"]  # evaluation caches see the change


def test_batcher_streams_from_the_uint8_array_like_from_a_tensor(folder):
    ds = _build(folder)
    whole = Dataset(ds.x[torch.arange(len(ds))], ds.info, ds.labels)
    streamed, loaded = Batcher(ds, 32, seed=3, device=torch.device("cpu")), Batcher(whole, 32, seed=3, device=torch.device("cpu"))
    for _ in range(8):  # crosses an epoch
        (a, la), (b, lb) = streamed.next(), loaded.next()
        assert torch.equal(a, b) and torch.equal(la, lb)
    assert streamed.state_dict().keys() == {"generator", "permutation", "epoch", "position"}


def test_hflip_is_seeded_resumable_and_sharded_like_one_process():
    x = torch.arange(2 * 3 * 4, dtype=torch.float32).view(2, 1, 3, 4).repeat(8, 1, 1, 1)
    ds = Dataset(x, DatasetInfo("t", "image", (1, 3, 4)), augment=HorizontalFlip())
    one = Batcher(ds, 8, seed=1, device=torch.device("cpu"))
    batches = [one.next()[0] for _ in range(3)]
    flipped = [(b[:, :, :, 0] > b[:, :, :, -1]).any(dim=(1, 2)) for b in batches]
    assert 0 < torch.cat(flipped).sum() < 24  # some mirrored, some not
    again = Batcher(ds, 8, seed=1, device=torch.device("cpu"))
    again.next()
    state = again.state_dict()
    resumed = Batcher(ds, 8, seed=1, device=torch.device("cpu"))
    resumed.load_state_dict(state)
    assert torch.equal(resumed.next()[0], batches[1]) and torch.equal(resumed.next()[0], batches[2])
    halves = [Batcher(ds, 4, seed=1, device=torch.device("cpu"), rank=r, world_size=2) for r in (0, 1)]
    for b in batches:
        assert torch.equal(torch.cat([h.next()[0] for h in halves]), b)


TINY = {"width": 16, "depth": 1, "dropout": 0.3}


@pytest.mark.slow
def test_cgan_trains_on_an_image_folder_and_samples_by_class(folder, cli, tmp_path):
    code, out, err = cli(
        "run", "--model", "cgan", "--dataset", "image-folder", "--data-root", str(folder), "--steps", "3",
        "--batch-size", "16", "--out", str(tmp_path / "run"), *[a for k, v in TINY.items() for a in ("--set", f"{k}={v}")],
    )
    assert code == 0, err
    run = ganzoo.load_run(tmp_path / "run")
    assert run.info.extra["classes"] == ["circles", "squares"] and run.info.shape == (3, 32, 32)
    assert run.sample(4, label=1).shape == (4, 3, 32, 32)
    code, out, err = cli("sample", str(tmp_path / "run"), "--n", "4", "--label", "0", "--out", str(tmp_path / "c0.png"))
    assert code == 0 and (tmp_path / "c0.png").is_file(), err


@pytest.mark.slow
@pytest.mark.parametrize("model, options", [
    ("stylegan-lite", {"latent_dim": 8, "w_dim": 8, "channels": 4}),
    # 4x4 for one step, then each doubling fades in over one step and stabilises for one: 64x64 from step 7
    ("progan-lite", {"latent_dim": 8, "channels": 4, "stable_steps": 1, "fade_steps": 1}),
])
def test_style_and_progressive_models_train_at_64x64_rgb(folder, tmp_path, model, options):
    run = ganzoo.train(model, "image-folder", steps=9, out=tmp_path / model, data_root=str(folder), batch_size=8,
                       log_every=1, sample_every=9, set={**options, "data.size": 64}, progress=False)
    assert run.info.shape == (3, 64, 64)
    images = run.sample(4, seed=1)
    assert images.shape == (4, 3, 64, 64) and images.std(dim=0).mean() > 0  # not one image for every z
    grid = Image.open(*(run.path / "samples").glob("*9.png"))
    assert grid.mode == "RGB" and grid.size[0] > 64
    if model == "progan-lite":
        metrics = [line for line in (run.path / "metrics.jsonl").read_text().splitlines() if "progan/resolution" in line]
        assert '"progan/resolution": 64.0' in metrics[-1]


def _weights(run_dir) -> dict[str, torch.Tensor]:
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    flat = {f"net.{n}.{k}": v for n, sd in state["networks"].items() for k, v in sd.items()}
    for n, sd in state["optimizers"].items():
        for pid, s in sd["state"].items():
            flat.update({f"opt.{n}.{pid}.{k}": v for k, v in s.items()})
    return flat


@pytest.mark.slow
def test_resume_from_the_memory_mapped_cache_with_hflip_is_bitwise_exact(folder, tmp_path):
    options = dict(set={**TINY, "data.hflip": True, "data.size": 16}, data_root=str(folder), batch_size=32, progress=False, log_every=2)
    whole = ganzoo.train("cgan", "image-folder", steps=10, out=tmp_path / "whole", **options)  # 200 / 32: crosses an epoch
    part = ganzoo.train("cgan", "image-folder", steps=4, out=tmp_path / "part", **options)
    resumed = ganzoo.resume(part.path, steps=10, progress=False)
    a, b = _weights(whole.path), _weights(resumed.path)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs"


def test_uint8_images_read_from_a_npy_file_give_what_indexing_the_array_gives(tmp_path):
    array = np.random.default_rng(0).integers(0, 256, size=(20, 3, 4, 5), dtype=np.uint8)
    np.save(tmp_path / "a.npy", array)
    streamed, in_memory = UInt8Images(np.load(tmp_path / "a.npy", mmap_mode="r")), UInt8Images(array)
    for index in (torch.tensor([5, 0, 19, 5]), slice(3, 9), 7, np.array([[1, 2], [3, 4]])):
        expected = torch.from_numpy(array[index.numpy() if isinstance(index, torch.Tensor) else index]).float() / 127.5 - 1
        assert torch.equal(streamed[index], expected) and torch.equal(in_memory[index], expected)
    assert streamed.shape == (20, 3, 4, 5) and len(streamed) == 20
