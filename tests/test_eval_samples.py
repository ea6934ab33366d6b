"""``ganzoo eval --samples`` and ``ganzoo.evaluate``: samples made anywhere, scored as ganzoo scores its own.

The slow tests train tiny runs and check that their samples, saved as a .npy, a .npz and
PNGs, get exactly the numbers ``ganzoo eval RUN`` gives; the others check format
detection, resizing and every one-line error on small synthetic inputs.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import ganzoo
from ganzoo.errors import GanzooError
from ganzoo.eval.evaluate import draw_samples, evaluate
from ganzoo.eval.quantise import to_uint8
from ganzoo.eval.samples import RESIZE, Target, load_samples

TINY = dict(set={"width": 16, "depth": 1}, batch_size=32, progress=False)
MNIST = Target("image", (1, 28, 28), "dataset mnist")
N = 300


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))


def write_pngs(folder, pixels: np.ndarray, mode: str = "L") -> None:
    """uint8 images (N, C, H, W) as zero-padded PNG files, in order."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(pixels):
        Image.fromarray(image[0] if mode == "L" else image.transpose(1, 2, 0), mode).save(folder / f"{i:05d}.png")


def digits(n: int = 40, size: int = 28, channels: int = 1, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, channels, size, size), dtype=np.uint8)


def max_difference(expected: dict, got: dict) -> float:
    assert got["metrics"].keys() == expected["metrics"].keys() and got["skipped"].keys() == expected["skipped"].keys()
    worst = 0.0
    for metric, numbers in expected["metrics"].items():
        assert got["metrics"][metric].keys() == numbers.keys(), metric
        for key, value in numbers.items():
            if value is None:  # undefined (a KL with no high-quality sample) on both sides
                assert got["metrics"][metric][key] is None, (metric, key)
            else:
                worst = max(worst, abs(got["metrics"][metric][key] - value))
    return worst


# -- ganzoo's own samples, read back: the same numbers as ganzoo eval RUN ----------------------------


@pytest.fixture(scope="module")
def mnist_samples(tmp_path_factory):
    """A tiny MNIST run, its report at N, and its N samples drawn exactly as ganzoo eval draws them."""
    folder = tmp_path_factory.mktemp("own")
    run = ganzoo.train("vanilla", "mnist", steps=10, out=folder / "run", **TINY)
    report = evaluate(run.path, n=N, write=False)
    fake = draw_samples(ganzoo.load_run(run.path).load("cpu").gan, N, seed=0)
    return run, report, fake, folder


@pytest.mark.slow
def test_a_runs_samples_as_npy_npz_and_pngs_score_exactly_as_the_run(mnist_samples, cli, tmp_path):
    run, expected, fake, _ = mnist_samples
    np.save(tmp_path / "fake.npy", fake.numpy())  # float in [-1, 1]
    np.savez(tmp_path / "fake.npz", fake.numpy(), np.zeros(N))  # arr_0: the images, arr_1: say, labels
    write_pngs(tmp_path / "png", to_uint8(fake).numpy())  # uint8, quantised as ganzoo quantises
    (tmp_path / "png" / "notes.txt").write_text("not an image")
    assert {"fid", "is", "kid", "precision-recall", "density-coverage", "classes"} <= set(expected["metrics"])

    for source, fmt, value_range in [
        (tmp_path / "fake.npy", "npy", "float [-1, 1]"),
        (tmp_path / "fake.npz", "npz array 'arr_0'", "float [-1, 1]"),
        (tmp_path / "png", "folder of 300 images (png)", "uint8 0..255"),
        (fake, "in-memory torch.Tensor", "float [-1, 1]"),
    ]:
        got = ganzoo.evaluate(source, dataset="mnist")
        assert max_difference(expected, got) <= 1e-6, source
        p = got["protocol"]
        assert (p["source"], p["samples_format"], p["samples_range"], p["samples_resized"]) == ("samples", fmt, value_range, "none")
        for key in ("n_generated", "n_real", "n_heldout", "real_split", "dataset_source", "dataset_size", "seed", "quantisation", "feature_weights_sha256", "fid_floor_n", "kid_subset_size"):
            assert p[key] == expected["protocol"][key], key
        assert len(p["samples_sha256"]) == 64
    assert got["protocol"]["samples_sha256"] != ganzoo.evaluate(fake[:-1], dataset="mnist", metrics=["fid"])["protocol"]["samples_sha256"]

    # The CLI: same numbers, the report written to --out in the run report's format, the skipped file counted.
    code, out, err = cli("eval", "--samples", str(tmp_path / "png"), "--dataset", "mnist", "--out", str(tmp_path / "report.json"))
    assert code == 0, err
    written = json.loads((tmp_path / "report.json").read_text())
    assert max_difference(expected, written) <= 1e-6 and written["protocol"]["samples_files_skipped"] == 1
    assert written["samples"] == str(tmp_path / "png") and written["dataset"] == "mnist" and written["real"] is None
    assert "1 other files skipped" in out and f"wrote {tmp_path / 'report.json'}" in out
    assert written.keys() - {"samples", "real"} == expected.keys() - {"run", "model"}


@pytest.mark.slow
def test_folder_against_folder_and_npy_without_a_dataset(mnist_samples, cli, tmp_path):
    run, _, fake, _ = mnist_samples
    pixels = to_uint8(fake).numpy()
    write_pngs(tmp_path / "a", pixels[:150])
    write_pngs(tmp_path / "b", pixels[150:])
    code, out, err = cli("eval", "--samples", str(tmp_path / "a"), "--real", str(tmp_path / "b"), "--json")
    assert code == 0, err
    report = json.loads(out)
    p = report["protocol"]
    assert {"fid", "is", "kid", "precision-recall", "density-coverage"} <= set(report["metrics"])
    assert "needs 10 digit classes" in report["skipped"]["classes"] and "fid_floor" not in report["metrics"]["fid"]
    assert (p["n_generated"], p["n_real"], p["n_heldout"], p["real_format"], report["dataset"]) == (150, 150, 0, "folder of 150 images (png)", None)
    # The same images as an array score the same, whichever side they are on.
    np.save(tmp_path / "b.npy", fake[150:].numpy())
    again = ganzoo.evaluate(tmp_path / "a", real=tmp_path / "b.npy")
    assert max_difference(report, again) <= 1e-6 and again["protocol"]["real_range"] == "float [-1, 1]"


@pytest.mark.slow
def test_ganzoo_sample_writes_the_samples_ganzoo_eval_scores(mnist_samples, cli, tmp_path):
    # `ganzoo sample RUN --out DIR/` (one PNG per sample) or `--out NAME.npy`, scored with
    # `ganzoo eval --samples`, gives the numbers of `ganzoo eval RUN` at the same N and seed.
    run, expected, _, _ = mnist_samples
    for out in (f"{tmp_path / 'pngs'}/", str(tmp_path / "s.npy")):
        code, stdout, err = cli("sample", str(run.path), "--n", str(N), "--out", out)
        assert code == 0 and f"wrote {N} samples" in stdout, err
        assert max_difference(expected, ganzoo.evaluate(out, dataset="mnist")) <= 1e-6, out
    assert len(list((tmp_path / "pngs").glob("*.png"))) == N
    code, _, err = cli("sample", str(run.path), "--n", "5", "--out", f"{tmp_path / 'pngs'}/")
    assert code == 2 and "already exists and is not an empty folder" in err
    code, _, err = cli("sample", str(run.path), "--n", "5", "--label", "3", "--out", str(tmp_path / "x.npy"))
    assert code == 2 and "--label and --truncation apply to a picture" in err


@pytest.mark.slow
def test_2d_samples_score_as_the_run_against_ring8(cli, tmp_path):
    run = ganzoo.train("vanilla", "ring8", steps=20, out=tmp_path / "run", **{**TINY, "set": {**TINY["set"], "data.n": 2000}})
    expected = evaluate(run.path, n=1000, write=False)
    np.save(tmp_path / "points.npy", draw_samples(run.load("cpu").gan, 1000, seed=0).numpy())
    code, _, err = cli("sample", str(run.path), "--n", "10", "--out", f"{tmp_path / 'pictures'}/")
    assert code == 2 and "vector samples are not pictures; write them to a .npy file" in err
    code, out, err = cli("eval", "--samples", str(tmp_path / "points.npy"), "--dataset", "ring8", "--set", "data.n=2000", "--json")
    assert code == 0, err
    got = json.loads(out)
    assert max_difference(expected, got) <= 1e-6 and {"mixture-modes", "mixture-prdc"} <= set(got["metrics"])
    assert (got["protocol"]["samples_layout"], got["protocol"]["quantisation"]) == ("N x D (vectors)", "none (vectors)")


# -- formats, ranges, resizing ----------------------------------------------------------------------


def test_uint8_pixels_come_back_exactly_through_the_quantisation():
    pixels = np.arange(256, dtype=np.uint8).reshape(1, 1, 16, 16).repeat(2, axis=0)
    samples = load_samples(pixels, Target("image", (1, 16, 16), "test"))
    assert samples.x.dtype == torch.float32 and samples.x.min() == -1 and samples.x.max() == 1
    assert torch.equal(to_uint8(samples.x), torch.from_numpy(pixels))


@pytest.mark.parametrize(
    "make, layout, value_range",
    [
        (lambda u: u[:, 0], "N x H x W (1 channel)", "uint8 0..255"),
        (lambda u: u, "N x C x H x W", "uint8 0..255"),
        (lambda u: u.transpose(0, 2, 3, 1), "N x H x W x C", "uint8 0..255"),
        (lambda u: u.astype(np.int64), "N x C x H x W", "int64 0..255"),
        (lambda u: u / 255.0, "N x C x H x W", "float [0, 1] (all values in [0, 1]; mapped by x * 2 - 1)"),
        (lambda u: (u / 127.5 - 1).astype(np.float32), "N x C x H x W", "float [-1, 1]"),
    ],
)
def test_array_layouts_and_value_ranges_are_detected_and_stated(make, layout, value_range):
    pixels = digits(8)
    samples = load_samples(make(pixels), MNIST)
    assert (samples.fields["layout"], samples.fields["range"]) == (layout, value_range)
    assert torch.equal(to_uint8(samples.x), torch.from_numpy(pixels))


def test_rgb_channels_last_is_told_from_the_target():
    pixels = digits(4, size=8, channels=3)
    samples = load_samples(pixels.transpose(0, 2, 3, 1), Target("image", (3, 8, 8), "rgb"))
    assert samples.fields["layout"] == "N x H x W x C" and torch.equal(to_uint8(samples.x), torch.from_numpy(pixels))


def test_images_of_another_size_are_resized_with_pils_lanczos(tmp_path):
    pixels = digits(5, size=40)
    write_pngs(tmp_path / "big", pixels)
    samples = load_samples(tmp_path / "big", MNIST)
    expected = np.stack([np.asarray(Image.fromarray(p[0]).resize((28, 28), Image.LANCZOS)) for p in pixels])
    assert torch.equal(to_uint8(samples.x)[:, 0], torch.from_numpy(expected))
    assert samples.fields["resized"] == f"5 images from 40x40 to 28x28 with {RESIZE}"
    # An array goes the same way, as do folders of mixed sizes when there is a size to go to.
    assert torch.equal(load_samples(pixels, MNIST).x, samples.x)
    write_pngs(tmp_path / "mixed", digits(3, size=28))
    Image.fromarray(pixels[0, 0]).save(tmp_path / "mixed" / "big.png")
    assert load_samples(tmp_path / "mixed", MNIST).x.shape == (4, 1, 28, 28)


def test_npz_gives_its_only_array_or_arr_0(tmp_path):
    pixels = digits(4)
    np.savez(tmp_path / "one.npz", images=pixels)
    np.savez(tmp_path / "two.npz", pixels, np.arange(4))
    for name, fmt in (("one", "npz array 'images'"), ("two", "npz array 'arr_0'")):
        samples = load_samples(tmp_path / f"{name}.npz", MNIST)
        assert samples.fields["format"] == fmt and torch.equal(to_uint8(samples.x), torch.from_numpy(pixels))


def test_vectors_against_ring8_and_one_array_against_another():
    points = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]]).repeat(25, 1)
    report = ganzoo.evaluate(points.numpy(), dataset="ring8", n=60)
    p = report["protocol"]
    assert report["metrics"]["mixture-modes"]["modes"] == 4 and report["metrics"]["mixture-modes"]["hq"] == 1.0
    assert (p["n_generated"], p["n_available"], p["n_real"], p["samples_format"]) == (60, 100, 60, "in-memory numpy.ndarray")
    both = ganzoo.evaluate(points, real=points, metrics=["mixture-prdc"], n_real=50)
    assert both["metrics"]["mixture-prdc"]["precision"] == 1.0 and both["protocol"]["n_real"] == 50
    assert both["protocol"]["real_format"] == "in-memory torch.Tensor"


# -- one-line errors --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Files for the error cases, by name."""
    tmp_path = tmp_path_factory.mktemp("inputs")
    np.save(tmp_path / "good.npy", digits(10))
    np.save(tmp_path / "flat.npy", digits(10)[:, 0])
    np.save(tmp_path / "rgb.npy", digits(10, channels=3))
    np.save(tmp_path / "points.npy", np.zeros((10, 2), dtype=np.float32))
    bad = (digits(10) / 255.0).astype(np.float32)
    bad[3, 0, 4, 4] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    bad[3, 0, 4, 4] = np.inf
    np.save(tmp_path / "inf.npy", bad)
    np.save(tmp_path / "wide.npy", digits(10).astype(np.float32))
    np.savez(tmp_path / "many.npz", images=digits(4), labels=np.arange(4))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    write_pngs(tmp_path / "colour", digits(3, channels=3), mode="RGB")
    write_pngs(tmp_path / "mixed", digits(3))
    Image.fromarray(digits(1, size=32)[0, 0]).save(tmp_path / "mixed" / "z.png")
    write_pngs(tmp_path / "damaged", digits(3))
    (tmp_path / "damaged" / "00001.png").write_bytes(b"not a png")
    (tmp_path / "notes.csv").write_text("1,2\n")
    ganzoo.train("vanilla", "ring8", steps=1, out=tmp_path / "run", **{**TINY, "set": {**TINY["set"], "data.n": 256}})
    return tmp_path


@pytest.mark.parametrize(
    "args, message",
    [
        (["--samples", "missing.npy", "--dataset", "mnist"], "missing.npy: no such file or folder"),
        (["--samples", "empty", "--dataset", "mnist"], "no PNG or JPEG images in the folder (1 other entries)"),
        (["--samples", "good.npy", "--real", "mixed"], "the images have different sizes (28x28, 32x32) and there is no dataset size to resize them to"),
        (["--samples", "colour", "--dataset", "mnist"], "3-channel images; dataset mnist has 1 channel(s)"),
        (["--samples", "rgb.npy", "--dataset", "mnist"], "has no axis of 1 channel(s), which dataset mnist has"),
        (["--samples", "flat.npy", "--dataset", "stacked-mnist"], "an N x H x W array has 1 channel; dataset stacked-mnist has 3"),
        (["--samples", "points.npy", "--dataset", "mnist"], "dataset mnist holds images of shape (1, 28, 28)"),
        (["--samples", "good.npy", "--dataset", "ring8"], "holds images; dataset ring8 holds vectors of shape (2,)"),
        (["--samples", "nan.npy", "--dataset", "mnist"], "1 NaN or infinite values"),
        (["--samples", "inf.npy", "--dataset", "mnist"], "1 NaN or infinite values"),
        (["--samples", "wide.npy", "--dataset", "mnist"], "float values span [0, 255] (valid: all in [-1, 1] or all in [0, 1]"),
        (["--samples", "many.npz", "--dataset", "mnist"], "holds several arrays (images, labels) and none is arr_0"),
        (["--samples", "damaged", "--dataset", "mnist"], "00001.png is not a readable image"),
        (["--samples", "notes.csv", "--dataset", "mnist"], "unsupported file type .csv"),
        (["--samples", "good.npy", "--dataset", "mnst"], "unknown dataset 'mnst'"),
        (["--samples", "good.npy", "--dataset", "mnist", "--n", "11"], "bad --n 11: --samples good.npy holds 10 samples (valid: 2 to 10)"),
        (["--samples", "good.npy", "--real", "good.npy", "--n-real", "20"], "bad --n-real 20"),
        (["--samples", "good.npy", "--dataset", "mnist", "--n-real", "-5"], "bad --n-real -5 (valid: 2 to 100000"),
        (["--samples", "good.npy", "--dataset", "mnist", "--n-real", "0"], "bad --n-real 0 (valid: 2 to 100000"),
        (["run", "--n-real", "1"], "bad --n-real 1 (valid: 2 to 100000"),
        (["--samples", "good.npy", "--dataset", "mnist", "--set", "width=3"], "--set width: only dataset options (data.KEY=VALUE)"),
        (["--samples", "good.npy", "--dataset", "mnist", "--set", "data.sise=32"], "unknown option 'data.sise' for dataset mnist"),
        (["--samples", "good.npy", "--dataset", "mnist", "--metrics", "mixture-modes"], "metric mixture-modes does not apply to mnist"),
        (["--samples", "good.npy", "--dataset", "mnist", "--checkpoint", "best"], "--checkpoint picks a run's checkpoint"),
        (["--samples", "good.npy", "--dataset", "mnist", "--real", "good.npy"], "--dataset NAME or --real PATH, not both"),
        (["--samples", "good.npy"], "needs what to compare them with: --dataset NAME or --real PATH"),
        (["--samples", "run", "--dataset", "ring8"], "is a run folder; score it with `ganzoo eval"),
        (["run", "--samples", "good.npy", "--dataset", "mnist"], "give RUN_DIR or --samples, not both"),
        (["--real", "good.npy"], "--real goes with --samples PATH"),
        (["run", "--dataset", "mnist"], "--dataset goes with --samples PATH"),
        (["good.npy"], "good.npy is not a ganzoo run folder; to score the samples in it: ganzoo eval --samples good.npy"),
        ([], "nothing to score"),
    ],
)
@pytest.mark.slow  # the inputs fixture trains a one-step run to have a run folder to misuse
def test_bad_samples_input_is_a_one_line_error(cli, inputs, monkeypatch, args, message):
    monkeypatch.chdir(inputs)
    code, out, err = cli("eval", *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_the_python_api_raises_ganzoo_errors(tmp_path):
    with pytest.raises(GanzooError, match="is a folder; give a file name"):
        ganzoo.evaluate(digits(4), dataset="mnist", out=tmp_path)
    with pytest.raises(GanzooError, match="dtype bool"):
        ganzoo.evaluate(np.zeros((4, 28, 28), dtype=bool), dataset="mnist")
    with pytest.raises(GanzooError, match="holds 1 sample; scoring needs at least 2"):
        ganzoo.evaluate(digits(1), dataset="mnist")
