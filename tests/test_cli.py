"""The CLI: listings, sampling, and one-line errors with exit code 2."""

from __future__ import annotations

import json

import pytest

# Tiny settings so that a run trains in well under a second.
TINY_RING = ["--dataset", "ring8", "--set", "width=16", "--set", "depth=1", "--set", "data.n=512",
             "--batch-size", "32", "--quiet"]


def _one_line_error(code, out, err, *needles):
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def tiny_run(cli, tmp_path):
    code, out, err = cli("run", "--model", "vanilla", "--steps", "5", "--out", str(tmp_path / "run"), *TINY_RING)
    assert code == 0, err
    return tmp_path / "run"


def test_listings(cli):
    code, out, _ = cli("models")
    names = [line.split()[0] for line in out.splitlines()]
    assert code == 0 and names == sorted(names) and "Goodfellow" in out
    assert {"vanilla", "cgan", "wgan", "wgan-gp", "progan-lite"} <= set(names)
    code, out, _ = cli("datasets")
    assert code == 0 and {"mnist", "ring8", "grid25"} <= {line.split()[0] for line in out.splitlines()}
    code, out, _ = cli("models", "vanilla")
    assert code == 0 and "g_loss" in out and "non-saturating, minimax" in out
    code, out, _ = cli("plugins", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["ganzoo_plugins.vanilla"]["registered"] == {"model": ["vanilla"]}
    assert rows["ganzoo_plugins.vanilla"]["hooks"] == ["register_models"] and rows["ganzoo_plugins.vanilla"]["ok"]


def test_a_model_listing_shows_its_presets_by_kind_of_data(cli):
    # What a plain `ganzoo run --model progan-lite` trains is its image preset, not the
    # trainer's defaults: the listing must say so, in text and in JSON.
    from ganzoo import plugins

    spec = plugins.models().get("progan-lite")
    code, out, _ = cli("models", "progan-lite")
    assert code == 0
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("defaults by kind of data"))
    image = next(line for line in lines[start:] if line.split()[0] == "image")
    assert f"steps {spec.presets['image']['steps']}" in image
    assert f"memory_format {spec.presets['image']['memory_format']}" in image
    code, out, _ = cli("models", "progan-lite", "--json")
    assert code == 0 and json.loads(out)["presets"] == {k: dict(v) for k, v in spec.presets.items()}


@pytest.mark.slow
def test_run_prints_the_run_folder_and_sample_writes_a_picture(cli, tiny_run, tmp_path):
    code, out, err = cli("sample", str(tiny_run), "--n", "100", "--out", str(tmp_path / "s.png"))
    assert code == 0, err
    assert (tmp_path / "s.png").stat().st_size > 1000


@pytest.mark.parametrize(
    "args, needles",
    [
        (["run", "--model", "vanila"], ["unknown model 'vanila'", "did you mean vanilla"]),
        (["run", "--model", "vanilla", "--dataset", "mnsit"], ["unknown dataset 'mnsit'", "did you mean mnist"]),
        (["run", "--model", "vanilla", "--set", "lrr=1"], ["unknown option 'lrr' for model vanilla", "valid: latent_dim"]),
        (["run", "--model", "vanilla", "--set", "g_loss=max"], ["bad value for g_loss: 'max'", "non-saturating, minimax"]),
        (["run", "--model", "vanilla", "--set", "nonsense"], ["bad --set 'nonsense'", "key=value"]),
        (["run", "--model", "vanilla", "--steps", "0"], ["bad value for steps: 0"]),
        (["run", "--model", "vanilla", "--steps", "many"], ["argument --steps: invalid int value: 'many'"]),
        (["run", "--model", "vanilla", "--device", "tpu"], ["bad --device 'tpu'", "auto, cpu, cuda"]),
        (["run", "--model", "vanilla", "--dataset", "ring8", "--data-root", "/x"], ["does not take --data-root"]),
        (["run", "--model", "vanilla", "--data-root", "/definitely/missing"], ["--data-root /definitely/missing: no such folder"]),
        (["run", "--model", "vanilla", "--config", "/definitely/missing.yaml"], ["--config /definitely/missing.yaml: cannot read it"]),
        (["run"], ["no model given"]),
        (["run", "--resume", "/definitely/missing"], ["is not a ganzoo run folder"]),
        (["sample", "/definitely/missing"], ["is not a ganzoo run folder"]),
        (["frobnicate"], ["invalid choice: 'frobnicate'"]),
    ],
)
def test_errors_are_one_line_with_exit_code_2(cli, args, needles):
    _one_line_error(*cli(*args), *needles)


def test_cuda_on_a_machine_without_it_is_a_clear_error(cli):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    _one_line_error(*cli("run", "--model", "vanilla", "--device", "cuda"), "CUDA is not available", "auto, cpu")


@pytest.mark.slow
def test_run_errors_do_not_touch_an_existing_run(cli, tiny_run):
    before = {p: p.read_bytes() for p in tiny_run.rglob("*") if p.is_file()}
    _one_line_error(*cli("run", "--model", "vanilla", "--out", str(tiny_run), *TINY_RING), "already exists", f"--resume {tiny_run}")
    _one_line_error(*cli("run", "--resume", str(tiny_run), "--set", "lr=1"), "--set cannot be changed")
    _one_line_error(*cli("run", "--resume", str(tiny_run), "--steps", "-3"), "bad value for steps")
    after = {p: p.read_bytes() for p in tiny_run.rglob("*") if p.is_file()}
    assert after == before


def test_bad_inputs_found_late_still_leave_no_half_made_run(cli, tmp_path):
    out = tmp_path / "big-batch"
    _one_line_error(*cli("run", "--model", "vanilla", "--out", str(out), *TINY_RING, "--set", "data.n=10"),
                    "batch size 32 is larger than the 10 samples of dataset ring8", "--batch-size 10 or less")
    assert not out.exists()
    _one_line_error(*cli("run", "--model", "vanilla", "--seed", "99999999999999999999", *TINY_RING), "bad value for seed")
    (tmp_path / "file").write_text("")
    _one_line_error(*cli("run", "--model", "vanilla", "--out", str(tmp_path / "file" / "run"), *TINY_RING), "cannot create the run folder")


@pytest.mark.slow
def test_sample_errors(cli, tiny_run, tmp_path):
    _one_line_error(*cli("sample", str(tiny_run), "--label", "3"), "--label needs a conditional model", "vanilla")
    _one_line_error(*cli("sample", str(tiny_run), "--n", "0"), "bad --n 0")
    _one_line_error(*cli("sample", str(tiny_run), "--seed", "99999999999999999999"), "bad --seed")
    _one_line_error(*cli("sample", str(tiny_run), "--out", str(tmp_path / "noext")), "expected a picture file name ending in .png")
    _one_line_error(*cli("sample", str(tiny_run), "--out", str(tmp_path)), "is a folder")
    (tiny_run / "checkpoints" / "last.pt").write_bytes(b"garbage")
    _one_line_error(*cli("sample", str(tiny_run), "--out", str(tmp_path / "x.png")), "corrupt")


def test_help_everywhere(cli):
    for args in (["--help"], ["run", "--help"], ["sample", "--help"], ["models", "--help"], ["plugins", "--help"]):
        code, out, _ = cli(*args)
        assert code == 0 and "usage: ganzoo" in out
