"""Options: schemas, presets, layering, and one-line errors naming the key and the valid values."""

from __future__ import annotations

import pytest

from ganzoo.config import Param, parse_set, resolve
from ganzoo.errors import GanzooError
from ganzoo.run.config import make_run_config, read_config_file


def test_set_values_are_parsed_as_yaml_numbers_and_words():
    assert parse_set("lr=1e-4") == ("lr", 1e-4)
    assert parse_set("depth=2") == ("depth", 2)
    assert parse_set("g_loss=minimax") == ("g_loss", "minimax")
    assert parse_set("flag=true") == ("flag", True)
    with pytest.raises(GanzooError, match="expected key=value"):
        parse_set("lr")


def test_unknown_key_names_the_key_the_valid_ones_and_a_suggestion():
    with pytest.raises(GanzooError) as err:
        make_run_config("vanilla", "ring8", sets={"lrr": 0.1})
    msg = str(err.value)
    assert "unknown option 'lrr' for model vanilla" in msg
    assert "valid: latent_dim, width" in msg and "did you mean lr" in msg


def test_bad_values_are_refused_with_what_is_valid():
    with pytest.raises(GanzooError, match=r"bad value for g_loss: 'maximin' \(valid: non-saturating, minimax\)"):
        make_run_config("vanilla", "ring8", sets={"g_loss": "maximin"})
    with pytest.raises(GanzooError, match=r"bad value for width: 'wide' \(expected a int\)"):
        make_run_config("vanilla", "ring8", sets={"width": "wide"})
    with pytest.raises(GanzooError, match=r"bad value for lr: -0.1 \(must be >= 0.0\)"):
        make_run_config("vanilla", "ring8", sets={"lr": -0.1})
    with pytest.raises(GanzooError, match=r"bad value for steps: 0 \(must be >= 1\)"):
        make_run_config("vanilla", "ring8", steps=0)


def test_int_is_accepted_for_a_float_option_but_bool_is_not_an_int():
    p = Param(0.5)
    assert p.check("x", 1) == 1.0 and isinstance(p.check("x", 1), float)
    with pytest.raises(GanzooError):
        Param(3).check("x", True)


def test_presets_follow_the_data_kind_and_layers_override_in_order(tmp_path):
    ring = make_run_config("vanilla", "ring8")
    mnist = make_run_config("vanilla", "mnist")
    assert ring.model_config["width"] == 128 and ring.batch_size == 256
    assert mnist.model_config["width"] == 512 and mnist.batch_size == 64
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("model: vanilla\ndataset: ring8\nsteps: 77\nmodel_config: {width: 32, depth: 2}\n")
    layered = make_run_config(None, None, file_values=read_config_file(cfg_file), sets={"width": 8}, steps=None, batch_size=16)
    assert layered.dataset == "ring8"
    assert layered.steps == 77  # from the file
    assert layered.model_config["width"] == 8  # --set beats the file
    assert layered.model_config["depth"] == 2  # the file beats the preset
    assert layered.batch_size == 16  # a flag beats the preset


def test_dataset_options_use_the_data_prefix_and_flags_must_fit_the_dataset():
    cfg = make_run_config("vanilla", "mnist", sets={"data.size": 32})
    assert cfg.dataset_config["size"] == 32
    with pytest.raises(GanzooError, match=r"dataset ring8 does not take --data-root \(its options: n, seed\)"):
        make_run_config("vanilla", "ring8", data_root="/tmp")
    with pytest.raises(GanzooError, match=r"unknown option 'data.colour' for dataset mnist \(valid: data.size, data.root, data.download\)"):
        make_run_config("vanilla", "mnist", sets={"data.colour": 1})


def test_config_file_errors_are_one_line(tmp_path):
    with pytest.raises(GanzooError, match="cannot read it"):
        read_config_file(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: [1, 2\n")
    with pytest.raises(GanzooError, match="not valid YAML"):
        read_config_file(bad)
    odd = tmp_path / "odd.yaml"
    odd.write_text("stepz: 3\n")
    with pytest.raises(GanzooError, match=r"unknown key 'stepz'"):
        read_config_file(odd)


def test_resolve_checks_every_override():
    schema = {"a": Param(1, min=0), "b": Param("x", choices=("x", "y"))}
    assert resolve(schema, {"b": "y"}, "thing") == {"a": 1, "b": "y"}
    with pytest.raises(GanzooError, match="bad value for a: -1"):
        resolve(schema, {"b": "y", "a": -1}, "thing")


def test_wrongly_typed_or_non_finite_values_are_refused(tmp_path):
    for text, needle in [("model: 123\n", "model must be a name, got 123"), ("dataset: [a]\n", "dataset must be a name")]:
        path = tmp_path / "c.yaml"
        path.write_text(text)
        with pytest.raises(GanzooError, match=needle):
            read_config_file(path)
    with pytest.raises(GanzooError, match="expected a finite number"):
        make_run_config("vanilla", "ring8", sets={"lr": float("nan")})
    with pytest.raises(GanzooError, match="bad value for seed"):
        make_run_config("vanilla", "ring8", seed=10**20)
    with pytest.raises(GanzooError, match="option names of model vanilla must be text, got 3"):
        make_run_config("vanilla", "ring8", file_values={"model_config": {3: 4}})
    with pytest.raises(GanzooError, match=r"bad value for width: 99999999999999999999 \(must be <= 65536\)"):
        make_run_config("vanilla", "ring8", sets={"width": 99999999999999999999})
    # The Python API checks dict configs as strictly as files.
    with pytest.raises(GanzooError, match="unknown key 'stepz'"):
        make_run_config("vanilla", "ring8", file_values={"stepz": 3})
