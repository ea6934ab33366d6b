"""Pictures a user finds after a run: samples/ ends with the final step's picture however few the steps, and
``ganzoo sample`` without ``--out`` writes into the run folder, never over an earlier picture."""

from __future__ import annotations

import pytest

import ganzoo

TINY = dict(set={"width": 16, "depth": 1, "data.n": 512}, batch_size=16, log_every=1, progress=False)


@pytest.mark.slow
def test_a_run_shorter_than_sample_every_leaves_its_final_picture_in_samples(tmp_path):
    run = ganzoo.train("vanilla", "ring8", out=tmp_path / "r", steps=3, sample_every=500, **TINY)
    assert sorted(p.name for p in (run.path / "samples").iterdir()) == ["step-0000003.png"]
    assert (run.path / "samples" / "step-0000003.png").read_bytes() == (run.path / "final.png").read_bytes()


@pytest.mark.slow
def test_samples_end_with_the_final_step_off_the_sample_grid(tmp_path):
    run = ganzoo.train("vanilla", "ring8", out=tmp_path / "r", steps=3, sample_every=2, **TINY)
    assert sorted(p.name for p in (run.path / "samples").iterdir()) == ["step-0000002.png", "step-0000003.png"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return ganzoo.train("vanilla", "ring8", out=tmp_path_factory.mktemp("runs") / "r", steps=1, **TINY).path


@pytest.mark.slow
def test_sample_without_out_writes_into_the_run_folder_and_says_where(cli, trained, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the folder the user runs it from gets nothing
    code, out, err = cli("sample", str(trained), "--n", "16")
    assert code == 0, err
    first = trained / "samples" / "sample-n16-seed0.png"
    assert out.strip() == f"wrote {first}" and first.read_bytes()[:4] == b"\x89PNG"
    assert list(tmp_path.iterdir()) == []
    before = first.read_bytes()
    code, out, err = cli("sample", str(trained), "--n", "16")
    second = trained / "samples" / "sample-n16-seed0-2.png"
    assert code == 0 and out.strip() == f"wrote {second}" and second.is_file()
    assert first.read_bytes() == before  # the earlier picture is left as it was


@pytest.mark.slow
def test_save_samples_without_a_path_names_the_seed_and_refuses_bad_values_first(trained):
    run = ganzoo.load_run(trained)
    assert run.save_samples(n=8, seed=3) == trained / "samples" / "sample-n8-seed3.png"
    with pytest.raises(ganzoo.GanzooError, match="--label needs a conditional model"):
        run.save_samples(n=8, label=1)
    assert not list((trained / "samples").glob("*label*"))
