"""A model that declares ``ModelSpec(trains_on="train")`` never trains on the samples evaluation
holds out: no training batch holds one (in memory, memory-mapped, data-parallel), the held-out
samples evaluation scores are exactly those, its pictures of pairs show them, resume stays exact,
and the run and its evaluation say so. A model that declares nothing draws the batches it always drew."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import ganzoo
from ganzoo.cli import main
from ganzoo.data import Batcher, Dataset, DatasetInfo, UInt8Images, stratified_split
from ganzoo.run import session
from ganzoo.training.distributed import SINGLE

CPU = torch.device("cpu")
N = 300  # 3 classes of 100: 60 held out, 240 train


def _labels(n: int = N) -> torch.Tensor:
    return torch.arange(n) % 3


def _indexed(kind: str, tmp_path, n: int = N) -> Dataset:
    """Samples that are their own index: a float tensor, or uint8 images (index in two bytes) in memory or memory-mapped."""
    if kind == "tensor":
        return Dataset(torch.arange(n, dtype=torch.float32).view(n, 1), DatasetInfo("count", "vector", (1,)), _labels(n))
    array = np.zeros((n, 1, 1, 2), dtype=np.uint8)
    array[:, 0, 0, 0], array[:, 0, 0, 1] = np.arange(n) // 256, np.arange(n) % 256
    if kind == "mmap":
        np.save(tmp_path / "x.npy", array)
        array = np.load(tmp_path / "x.npy", mmap_mode="r")
    return Dataset(UInt8Images(array), DatasetInfo("count-images", "image", (1, 1, 2)), _labels(n))


def _index_of(batch: torch.Tensor) -> list[int]:
    """The sample indices a batch of :func:`_indexed` samples holds."""
    if batch.dim() == 2:
        return batch.flatten().long().tolist()
    pixels = ((batch + 1) * 127.5).round().long().view(len(batch), 2)
    return (pixels[:, 0] * 256 + pixels[:, 1]).tolist()


@pytest.mark.parametrize("kind", ["tensor", "uint8", "mmap"])
def test_with_the_train_split_no_batch_ever_holds_a_held_out_sample_and_each_epoch_covers_the_train_part(kind, tmp_path):
    data = _indexed(kind, tmp_path).train_split()
    train, heldout = stratified_split(data.labels, N)
    batcher = Batcher(data, 24, seed=3, device=CPU)  # 240 / 24: 10 batches an epoch
    for _ in range(3):  # three whole epochs
        epoch = [i for _ in range(10) for i in _index_of(batcher.next()[0])]
        assert sorted(epoch) == train.tolist()  # each train sample once, no held-out one
    assert len(heldout) == 60 and not set(heldout.tolist()) & set(train.tolist())
    assert torch.equal(data.unseen_index(), heldout)


def test_the_labels_drawn_are_those_of_the_samples_drawn():
    data = _indexed("tensor", None).train_split()
    x, labels = Batcher(data, 30, seed=0, device=CPU).next()
    assert torch.equal(labels, _labels()[x.flatten().long()])


def test_data_parallel_ranks_share_one_process_batches_from_the_train_split_only():
    data = _indexed("tensor", None).train_split()
    heldout = set(data.unseen_index().tolist())
    one = Batcher(data, 16, seed=5, device=CPU)
    two = [Batcher(data, 8, seed=5, device=CPU, rank=r, world_size=2) for r in (0, 1)]
    for _ in range(40):  # several epochs of 240 in global batches of 16
        expected = one.next()[0]
        assert torch.equal(torch.cat([b.next()[0] for b in two]), expected)
        assert not set(_index_of(expected)) & heldout


@pytest.mark.parametrize("kind", ["tensor", "mmap"])
def test_a_batcher_restored_from_its_state_draws_exactly_the_batches_the_original_goes_on_to_draw(kind, tmp_path):
    data = _indexed(kind, tmp_path).train_split()
    original = Batcher(data, 32, seed=1, device=CPU)
    for _ in range(9):  # past the first epoch (7 batches of 32 in 240)
        original.next()
    restored = Batcher(data, 32, seed=1, device=CPU)
    restored.load_state_dict(original.state_dict())
    for _ in range(20):
        assert torch.equal(restored.next()[0], original.next()[0])


def test_without_the_declaration_batches_are_the_seeded_permutations_of_every_sample_as_before():
    data = _indexed("tensor", None)
    assert data.train_index is None and data.unseen_index() is None
    batcher = Batcher(data, 50, seed=7, device=CPU)
    generator = torch.Generator().manual_seed(7)  # what the batcher always drew: one randperm of all samples an epoch
    for _ in range(3):
        order = torch.randperm(N, generator=generator)
        for k in range(0, N, 50):
            assert _index_of(batcher.next()[0]) == order[k : k + 50].tolist()


def test_a_checkpointed_order_over_all_samples_is_refused_by_a_train_split_batcher():
    whole = Batcher(_indexed("tensor", None), 10, seed=0, device=CPU)
    split = Batcher(_indexed("tensor", None).train_split(), 10, seed=0, device=CPU)
    with pytest.raises(ValueError, match="covers 300 samples, the training data has 240"):
        split.load_state_dict(whole.state_dict())


def test_a_batch_larger_than_the_train_split_says_so_in_one_line():
    with pytest.raises(ganzoo.GanzooError, match=r"larger than the 240 samples in the train split .*--batch-size 240"):
        Batcher(_indexed("tensor", None).train_split(), 250, seed=0, device=CPU)


def test_a_new_runs_training_data_is_confined_only_for_models_that_declare_it(monkeypatch):
    monkeypatch.setattr(session, "build_dataset", lambda config: _indexed("tensor", None))
    declared = [spec.name for spec in ganzoo.plugins.models() if spec.trains_on == "train"]
    assert declared == ["pix2pix-lite"]  # every other built-in trains on all data, as before

    def data_for(model: str) -> Dataset:
        config = SimpleNamespace(model=model)
        return session.training_data(config, SINGLE, session.training_split(config, None, resume=False, world=SINGLE))

    assert data_for("vanilla").train_index is None
    confined = data_for("pix2pix-lite")
    assert torch.equal(confined.train_index, stratified_split(_labels(), N)[0])
    assert confined.trained_on() == {
        "split": "train", "samples": 240, "dataset_size": 300, "heldout": "stratified by label, 20% per class, seed 0"}


def test_a_resumed_run_goes_on_with_the_split_it_recorded_and_one_that_recorded_none_with_all(tmp_path):
    from ganzoo.run.folder import RunFolder

    folder = RunFolder(tmp_path / "run")
    folder.path.mkdir()
    pix2pix = SimpleNamespace(model="pix2pix-lite")
    info = DatasetInfo("count", "vector", (1,))
    folder.write_dataset_info(info)  # a run made before runs recorded their split
    assert session.training_split(pix2pix, folder, resume=True, world=SINGLE) == "all"
    folder.write_dataset_info(info, trained_on=_indexed("tensor", None).train_split().trained_on())
    assert session.training_split(pix2pix, folder, resume=True, world=SINGLE) == "train"
    assert folder.read_dataset_info() == info  # the record sits beside the info, which reads as before


def test_evaluation_holds_out_exactly_the_samples_training_never_draws():
    from ganzoo.eval.evaluate import real_split

    data = _indexed("tensor", None)
    _, heldout, _ = real_split(data, {}, N, N)
    assert _index_of(heldout) == data.train_split().unseen_index().tolist()
    _, fewer, _ = real_split(data, {}, 10, 10)  # a smaller --n scores a subset of them
    assert set(_index_of(fewer)) <= set(_index_of(heldout)) and len(fewer) == 10


def test_a_spec_with_an_unknown_trains_on_is_refused_naming_the_valid_ones():
    with pytest.raises(ganzoo.SpecError, match=r"trains_on must be one of \('all', 'train'\), got 'test'"):
        ganzoo.ModelSpec(name="x", summary="x", build=lambda info, c: None, trains_on="test")


class _Digits16:
    @ganzoo.hookimpl
    def register_datasets(self, register):
        def build(c):
            x = torch.rand(50, 1, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
            return ganzoo.Dataset(x, ganzoo.DatasetInfo("toy16l", "image", (1, 16, 16), extra={"images_of": "noise"}), torch.arange(50) % 5)

        register(ganzoo.DatasetSpec(name="toy16l", summary="labelled noise images", kind="image", build=build))


@pytest.mark.slow
def test_a_pix2pix_run_records_its_train_split_resumes_exactly_and_its_evaluation_says_the_pairs_are_unseen(
    tmp_path, register_plugin, capsys,
):
    register_plugin(_Digits16(), "toy16l-images")
    options = dict(batch_size=8, progress=False, set={"channels": 4}, log_every=1)
    whole = ganzoo.train("pix2pix-lite", "toy16l", steps=7, out=tmp_path / "whole", **options)  # 40 train / 8: crosses an epoch
    record = json.loads((whole.path / "dataset.json").read_text())["trained_on"]
    assert record["split"] == "train" and (record["samples"], record["dataset_size"]) == (40, 50)

    part = ganzoo.train("pix2pix-lite", "toy16l", steps=3, out=tmp_path / "part", **options)
    resumed = ganzoo.resume(part.path, steps=7, progress=False)
    a, b = whole.gan.networks, resumed.gan.networks
    for name in a:
        for (key, x), (_, y) in zip(a[name].state_dict().items(), b[name].state_dict().items()):
            assert torch.equal(x, y), f"{name}.{key} differs"

    capsys.readouterr()
    assert main(["eval", str(whole.path), "--metrics", "image-to-image", "--n", "10"]) == 0
    assert "pairs: held-out images unseen in training (it trained on the train split, 40 of 50)" in capsys.readouterr().out
    protocol = json.loads((whole.path / "eval.json").read_text())["protocol"]
    assert protocol["pairs_unseen_in_training"] is True and protocol["trained_on"]["samples"] == 40


def test_pictures_of_pairs_draw_their_targets_only_from_the_indices_given(monkeypatch, tmp_path):
    from ganzoo.training import pictures

    shown = []
    monkeypatch.setattr(pictures, "save_image_grid", lambda images, path, nrow: shown.append(images) or path)
    gan = ganzoo.create_model("pix2pix-lite", DatasetInfo("flat", "image", (1, 8, 8)), channels=2, depth=1)
    images = torch.linspace(-1, 1, 40).view(40, 1, 1, 1).expand(40, 1, 8, 8).contiguous()  # image i is all one value
    unseen = torch.tensor([3, 11, 17, 25, 38])
    pictures.save_translations(gan, images, tmp_path / "p.png", 16, seed=0, among=unseen)
    targets = shown[0][2::3]  # input | output | target
    assert len(targets) == 5 and {round(float(t.mean()), 5) for t in targets} == {round(float(images[i].mean()), 5) for i in unseen.tolist()}
