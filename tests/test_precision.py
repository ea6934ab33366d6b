"""Mixed precision (``--precision``) and compilation (``--compile``): trainer options every model gets without code.

The slow tests train every built-in model for a few steps at tiny sizes. Compilation is
checked with the ``aot_eager`` backend, which traces each network with dynamo and
AOTAutograd (forward and backward graphs, as inductor receives them) but runs the graphs
with PyTorch's kernels: 1.5-12 s a model on this 2-core CPU (stylegan-lite the most), where
inductor's code generation takes about 45 s for even the smallest model's training run. One
test compiles with inductor for real, on the smallest network. Each compiling test starts
from an empty dynamo cache (``fresh_dynamo``): the models share layers, and graphs cached for
one model made the next one's compile three times slower.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import ganzoo
from ganzoo import plugins
from ganzoo.bench.plan import config_hash
from ganzoo.penalties import r1_penalty
from ganzoo.run.compilation import compile_networks, set_memory_format
from ganzoo.run.config import make_run_config
from ganzoo.training import precision as precision_module
from ganzoo.training.checkpoint import load_checkpoint
from ganzoo.training.precision import Precision

RING = {"width": 8, "depth": 1, "data.n": 64}
# Every built-in model, its data and options that make a step take milliseconds.
CASES = {
    "vanilla": ("ring8", RING),
    "cgan": ("ring8", RING),
    "wgan": ("ring8", {**RING, "n_critic": 2}),
    "wgan-gp": ("ring8", {**RING, "n_critic": 2}),
    "dcgan": ("toy32", {"channels": 4, "latent_dim": 8}),
    "progan-lite": ("toy32", {"channels": 8, "latent_dim": 8, "stable_steps": 1, "fade_steps": 1}),
    "stylegan-lite": ("toy32", {"latent_dim": 8, "w_dim": 8, "mapping_depth": 1, "channels": 4, "r1_every": 2}),
    "vae": ("ring8", RING),
    "r3gan-lite": ("toy32", {"latent_dim": 8, "channels": 8, "group_width": 4}),
    "pix2pix-lite": ("toy32", {"channels": 4}),
}



class _Toy32:
    """64 noise images of 32x32, for the image models without the seconds it takes to parse the bundled MNIST."""

    @ganzoo.hookimpl
    def register_datasets(self, register):
        def build(config):
            x = torch.rand(64, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
            return ganzoo.Dataset(x, ganzoo.DatasetInfo("toy32", "image", (1, 32, 32)))

        register(ganzoo.DatasetSpec(name="toy32", summary="noise images for the precision tests", kind="image", build=build))


@pytest.fixture
def toy32(register_plugin):
    register_plugin(_Toy32(), "toy32-images")


@pytest.fixture
def fresh_dynamo():
    """Compiled code from other tests left out: models share layers (ganzoo.nn), whose cached graphs dynamo would check first."""
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _train(model: str, out, steps: int = 3, **options) -> ganzoo.Run:
    dataset, sets = CASES[model]
    return ganzoo.train(model, dataset, steps=steps, out=out, batch_size=8, log_every=1, progress=False, set=sets, **options)


def _assert_finite_losses(run: ganzoo.Run, steps: int) -> None:
    assert run.result.step == steps
    lines = run.metrics()
    assert [r["step"] for r in lines] == list(range(1, steps + 1))
    losses = [v for r in lines for k, v in r.items() if k.startswith("loss/")]
    assert losses and all(isinstance(v, float) and math.isfinite(v) for v in losses), lines


def _checkpoint_tensors(run_dir) -> dict[str, torch.Tensor]:
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    flat = {f"net.{n}.{k}": v for n, sd in state["networks"].items() for k, v in sd.items()}
    for n, sd in state["optimizers"].items():
        for pid, s in sd["state"].items():
            flat.update({f"opt.{n}.{pid}.{k}": v for k, v in s.items()})
    return flat


def _assert_bitwise_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs"


def test_the_cases_cover_every_built_in_model():
    registry = plugins.models()
    assert set(CASES) == {spec.name for spec in registry if registry.owner(spec.name).startswith("ganzoo_plugins.")}


# -- penalties on compiled networks -------------------------------------------------------------

@pytest.mark.slow  # dynamo's first compile takes seconds
def test_a_penalty_on_a_compiled_network_differentiated_twice_is_one_clear_line(fresh_dynamo):
    D = nn.Linear(4, 1)
    compiled = torch.compile(D, backend="aot_eager")
    x = torch.randn(3, 4, requires_grad=True)
    penalty = r1_penalty(compiled(x).squeeze(1), x)  # the scores not computed inside double_backward()
    with pytest.raises(ganzoo.GanzooError, match=r"optimizer 'D' steps: a penalty differentiates a compiled network twice.*double_backward\(\)"):
        Precision("32", torch.device("cpu"), ["D"]).backward(penalty, "D")


# -- the options ------------------------------------------------------------------------------

def test_precision_and_compile_are_checked_trainer_options():
    config = make_run_config("vanilla", "ring8")
    assert (config.precision, config.compile) == ("32", "none")
    assert make_run_config("vanilla", "ring8", precision="bf16", compile="aot_eager").precision == "bf16"
    assert make_run_config("vanilla", "ring8", precision=32).precision == "32"  # YAML reads 32 as a number
    with pytest.raises(ganzoo.GanzooError, match=r"bad value for precision: '16' \(valid: 32, bf16, 16-mixed\)"):
        make_run_config("vanilla", "ring8", precision="16")
    with pytest.raises(ganzoo.GanzooError, match=r"bad value for compile: 'tensorrt' \(valid: none, inductor, aot_eager, eager\)"):
        make_run_config("vanilla", "ring8", compile="tensorrt")


def test_16_mixed_is_refused_on_the_cpu_in_one_line_before_anything_is_made(cli, tmp_path):
    code, out, err = cli("run", "--model", "vanilla", "--dataset", "ring8", "--steps", "2", "--precision", "16-mixed",
                         "--device", "cpu", "--out", str(tmp_path / "r"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "--precision 16-mixed needs a CUDA device" in err and "on cpu the valid ones are 32, bf16" in err
    assert not (tmp_path / "r").exists()
    code, out, err = cli("run", "--model", "vanilla", "--dataset", "ring8", "--precision", "64", "--out", str(tmp_path / "r"))
    assert code == 2 and "bad value for precision: '64' (valid: 32, bf16, 16-mixed)" in err and not (tmp_path / "r").exists()


def test_precision_32_adds_nothing_to_a_step():
    p = Precision("32", torch.device("cpu"), ["G", "D"])
    with p.autocast("D"):
        assert not torch.is_autocast_enabled("cpu")
    assert p.state_dict() == {} and p.scalars() == [] and not p.scales_gradients


def test_compile_alone_means_inductor_and_precision_is_kept_on_resume(cli, tmp_path):
    from ganzoo.cli import _parser

    assert _parser().parse_args(["run", "--compile"]).compile == "inductor"
    assert _parser().parse_args(["run", "--compile", "aot_eager"]).compile == "aot_eager"
    assert _parser().parse_args(["run"]).compile is None and _parser().parse_args(["run"]).precision is None
    code, out, err = cli("run", "--resume", str(tmp_path / "r"), "--precision", "bf16")
    assert code == 2 and "--precision cannot be changed" in err and len(err.strip().splitlines()) == 1


def _fp16_on_cpu(monkeypatch) -> Precision:
    """The 16-mixed path on the CPU, where torch runs it but ganzoo refuses users (see the last test)."""
    monkeypatch.setattr(precision_module, "check_precision", lambda value, device=None: value)
    return Precision("16-mixed", torch.device("cpu"), ["D"])


def test_a_step_the_scaler_skips_returns_false_and_is_logged_and_a_collapsed_scale_raises(monkeypatch):
    p = _fp16_on_cpu(monkeypatch)
    net = nn.Linear(3, 1)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    before = [w.detach().clone() for w in net.parameters()]
    with p.autocast("D"):
        loss = net(torch.full((2, 3), 1e4)).float().mean() * 1e4  # fp16 gradients overflow at scale 65536
    p.backward(loss, "D")
    assert not p.step(optimizer, "D")
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))  # nothing was updated
    assert [(k, float(v)) for k, v in p.scalars()] == [("amp/log2_scale/D", 15.0), ("amp/skipped/D", 1.0)]
    assert p.state_dict()["D"]["scale"] == 32768.0
    p.scalers["D"].update(2 * precision_module.MIN_SCALE)  # as after many skipped steps in a row
    for w in net.parameters():
        w.grad = torch.full_like(w, float("nan"))  # not finite at any scale
    assert not p.step(optimizer, "D")  # down to MIN_SCALE: still the scaler's business
    with pytest.raises(RuntimeError, match="overflow at every loss scale"):  # below it: the trainer's divergence
        p.step(optimizer, "D")


def test_recipe_hashes_keep_their_values_and_count_precision_but_not_compile():
    import hashlib
    import json

    base = make_run_config("vanilla", "ring8")
    before = {k: v for k, v in base.to_dict().items() if k not in ("seed", "device", "precision", "compile", "memory_format", "world_size")}
    assert config_hash(base) == hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()[:12]
    assert config_hash(make_run_config("vanilla", "ring8", compile="inductor")) == config_hash(base)
    assert config_hash(make_run_config("vanilla", "ring8", memory_format="channels_last")) == config_hash(base)
    assert config_hash(make_run_config("vanilla", "ring8", precision="bf16")) != config_hash(base)


def test_a_config_yaml_saved_before_the_options_existed_reads_as_32_and_uncompiled(tmp_path):
    import yaml

    from ganzoo.run.folder import RunFolder

    folder = RunFolder(tmp_path / "old")
    folder.path.mkdir()
    data = make_run_config("vanilla", "ring8").to_dict()
    del data["precision"], data["compile"]
    folder.config_file.write_text(yaml.safe_dump(data, sort_keys=False))
    config = folder.read_config()
    assert (config.precision, config.compile) == ("32", "none")
    # A stylegan-lite run saved before memory_format existed trained NCHW: it reads so, whatever the preset says now.
    data = make_run_config("stylegan-lite", "mnist").to_dict()
    del data["memory_format"]
    folder.config_file.write_text(yaml.safe_dump(data, sort_keys=False))
    assert folder.read_config().memory_format == "contiguous"


# -- training ---------------------------------------------------------------------------------

def test_channels_last_converts_the_conv_weights_in_place_and_trains(tmp_path, toy32, cli):
    assert make_run_config("vanilla", "ring8").memory_format == "contiguous"
    with pytest.raises(ganzoo.GanzooError, match=r"bad value for memory_format: 'nhwc' \(valid: contiguous, channels_last\)"):
        make_run_config("vanilla", "ring8", memory_format="nhwc")
    gan = ganzoo.create_model("dcgan", plugins.datasets().get("toy32").build({}).info, **CASES["dcgan"][1])
    params = {name: list(net.parameters()) for name, net in gan.networks.items()}
    set_memory_format(gan, "channels_last")
    assert {name: list(net.parameters()) for name, net in gan.networks.items()} == params  # the same objects: optimizers keep them
    weights = [p for ps in params.values() for p in ps if p.dim() == 4]
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in weights)
    assert any(not p.is_contiguous() for p in weights)  # (a weight with a dimension of 1 is both)
    code, out, err = cli("run", "--model", "dcgan", "--dataset", "toy32", "--steps", "2", "--batch-size", "8", "--log-every", "1",
                         "--set", "channels=4", "--set", "latent_dim=8", "--channels-last", "--quiet", "--device", "cpu",
                         "--out", str(tmp_path / "r"))
    assert code == 0, err
    run = ganzoo.load_run(tmp_path / "r")
    assert run.config.memory_format == "channels_last"
    losses = [v for r in run.metrics() for k, v in r.items() if k.startswith("loss/")]
    assert [r["step"] for r in run.metrics()] == [1, 2] and losses and all(math.isfinite(v) for v in losses)
    code, out, err = cli("run", "--resume", str(tmp_path / "r"), "--channels-last")  # kept from the run's config, not changed
    assert code == 2 and "--memory-format/--channels-last cannot be changed" in err
    code, out, err = cli("run", "--model", "dcgan", "--channels-last", "--memory-format", "contiguous")
    assert code == 2 and "not allowed with argument --channels-last" in err  # not the last one silently winning


def test_channels_last_reaches_the_ranks_command_line():
    from ganzoo.cli import _parser, _worker_args

    args = _parser().parse_args(["run", "--model", "dcgan", "--channels-last", "--quiet", "--nproc-per-node", "2"])
    argv = _worker_args(args)  # what each data-parallel rank runs
    assert "--channels-last" in argv and "channels_last" not in argv and "--quiet" in argv
    args = _parser().parse_args(["run", "--model", "stylegan-lite", "--memory-format", "contiguous", "--nproc-per-node", "2"])
    argv = _worker_args(args)  # the way out of a preset's channels_last reaches the ranks too, once
    assert argv.count("--memory-format") == 1 and argv[argv.index("--memory-format") + 1] == "contiguous" and "--channels-last" not in argv


@pytest.mark.parametrize("model", ["progan-lite", "stylegan-lite"])
def test_the_style_and_progressive_models_train_images_channels_last_unless_told_otherwise(model):
    # Their image presets choose the faster layout (benchmarks/roofline.md); a flag or a config file still wins.
    assert make_run_config(model, "mnist").memory_format == "channels_last"
    assert make_run_config(model, "mnist", memory_format="contiguous").memory_format == "contiguous"
    assert make_run_config(model, "mnist", file_values={"memory_format": "contiguous"}).memory_format == "contiguous"


@pytest.mark.slow
@pytest.mark.parametrize("model", sorted(CASES))
def test_bf16_runs_of_every_built_in_model_finish_with_finite_losses(model, tmp_path, toy32):
    """bf16 autocast around each objective's losses, eagerly, on the CPU."""
    run = _train(model, tmp_path / model, precision="bf16")
    _assert_finite_losses(run, 3)
    assert ganzoo.load_run(run.path).config.precision == "bf16"  # kept in config.yaml


@pytest.mark.slow
@pytest.mark.parametrize("model", sorted(CASES))
def test_compiled_runs_of_every_built_in_model_finish_and_their_checkpoints_load_uncompiled(model, tmp_path, toy32, fresh_dynamo):
    """Dynamo and AOTAutograd trace every network (``aot_eager``), the penalties' critics run eagerly
    (graphs differentiated twice), and the checkpoint loads strictly into the uncompiled model that sampling builds."""
    run = _train(model, tmp_path / model, compile="aot_eager")
    _assert_finite_losses(run, 3)
    loaded = ganzoo.load_run(run.path).load()
    if loaded.gan.translation is not None:  # an image-to-image model maps images, it has no latents
        assert loaded.gan.translate(torch.zeros(2, 1, 32, 32))[1].shape[0] == 2
    else:
        assert loaded.sample(2).shape[0] == 2


@pytest.mark.slow
def test_compiling_keeps_the_networks_their_state_dict_keys_and_their_signatures(tmp_path, fresh_dynamo):
    """Compiled and uncompiled runs' checkpoints are interchangeable: each resumes the other."""
    import copy

    gan = ganzoo.create_model("stylegan-lite", ganzoo.DatasetInfo("toy", "image", (1, 32, 32)), **CASES["stylegan-lite"][1])
    networks, keys = dict(gan.networks), {n: list(net.state_dict()) for n, net in gan.networks.items()}
    compile_networks(gan, "eager")
    assert all(gan.networks[n] is networks[n] for n in networks)  # objectives hold references to them
    assert {n: list(net.state_dict()) for n, net in gan.networks.items()} == keys
    assert gan.supports_truncation  # the compiled forward keeps its signature
    D = gan.networks["D"]
    twin = copy.deepcopy(D)
    with torch.no_grad():
        for p in twin.parameters():
            p.zero_()
    x = torch.rand(2, 1, 32, 32)
    assert twin.forward.__self__ is twin and torch.equal(twin(x), torch.zeros(2))  # a copy runs its own weights
    assert not torch.equal(D(x), torch.zeros(2))

    compiled = _train("vanilla", tmp_path / "compiled", steps=2, compile="aot_eager")
    ganzoo.resume(compiled.path, steps=4, compile="none", progress=False)
    plain = _train("vanilla", tmp_path / "plain", steps=2)
    resumed = ganzoo.resume(plain.path, steps=4, compile="aot_eager", progress=False)
    assert resumed.config.compile == "aot_eager" and ganzoo.load_run(plain.path).config.compile == "aot_eager"
    assert _checkpoint_tensors(compiled.path).keys() == _checkpoint_tensors(plain.path).keys()


@pytest.mark.slow
def test_inductor_compiles_the_smallest_network_to_the_same_numbers(fresh_dynamo):
    """Real code generation (C++ on this CPU) for vanilla's D, forward and backward: about 10 s with a cold cache,
    where G and D together take 25 s. The scores and weight gradients match eager to float tolerance."""
    gan = ganzoo.create_model("vanilla", ganzoo.DatasetInfo("toy", "vector", (2,)), width=8, depth=1, dropout=0.0)
    D = gan.networks["D"]
    x = torch.randn(16, 2)
    eager = D(x).mean()
    eager_grads = torch.autograd.grad(eager, [*D.parameters()])
    compile_networks(gan, "inductor")
    compiled = D(x).mean()
    compiled_grads = torch.autograd.grad(compiled, [*D.parameters()])
    assert torch.allclose(compiled, eager, rtol=1e-5, atol=1e-6)
    for a, b in zip(compiled_grads, eager_grads):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.slow  # dynamo's first use takes seconds
def test_stylegan_lites_r1_phase_runs_on_a_compiled_discriminator(fresh_dynamo):
    """Its objective computes the R1 scores inside double_backward(): D runs eagerly there, so nothing compiles."""
    torch.manual_seed(0)
    gan = ganzoo.create_model("stylegan-lite", ganzoo.DatasetInfo("toy", "image", (1, 32, 32)),
                              **{k: v for k, v in CASES["stylegan-lite"][1].items()})
    compile_networks(gan, "aot_eager")
    result = gan.objective.loss("R1", ganzoo.Batch(torch.rand(4, 1, 32, 32), None, 0))
    Precision("32", torch.device("cpu"), ["D"]).backward(result.loss, "D")
    assert gan.networks["D"].from_rgb.weight.grad.abs().sum() > 0


@pytest.mark.slow
def test_bf16_resume_is_bitwise_exact(tmp_path):
    """wgan-gp: its gradient penalty under autocast too."""
    whole = _train("wgan-gp", tmp_path / "whole", steps=8, precision="bf16")
    part = _train("wgan-gp", tmp_path / "part", steps=3, precision="bf16")
    resumed = ganzoo.resume(part.path, steps=8, progress=False)
    assert resumed.config.precision == "bf16"
    _assert_bitwise_equal(_checkpoint_tensors(whole.path), _checkpoint_tensors(resumed.path))


@pytest.mark.slow
def test_a_channels_last_run_resumes_bitwise_exactly(tmp_path, toy32):
    """stylegan-lite trains channels_last by its preset; lazy R1 (every 2 steps here) falls on both sides of the stop."""
    whole = _train("stylegan-lite", tmp_path / "whole", steps=7)
    part = _train("stylegan-lite", tmp_path / "part", steps=3)
    resumed = ganzoo.resume(part.path, steps=7, progress=False)
    assert resumed.config.memory_format == whole.config.memory_format == "channels_last"
    _assert_bitwise_equal(_checkpoint_tensors(whole.path), _checkpoint_tensors(resumed.path))


@pytest.mark.slow
def test_16_mixed_skips_overflowing_steps_without_calling_it_divergence_and_resumes_exactly(tmp_path, monkeypatch):
    """The fp16 gradient-scaler path, on the CPU: torch runs fp16 autocast and GradScaler there, which ganzoo
    refuses users (nothing to gain); the check is lifted here so that CI, which has no GPU, exercises the path.

    The scaler starts at 65536, so the first steps' fp16 gradients overflow: those steps are skipped,
    logged as amp/skipped, and the run does not stop (--on-nan stop). The scalers' state is checkpointed,
    so stopping and resuming reaches bitwise the weights of an unbroken run.
    """
    monkeypatch.setattr(precision_module, "check_precision", lambda value, device=None: value)
    monkeypatch.setattr("ganzoo.run.session.check_precision", lambda value, device=None: value)
    options = dict(precision="16-mixed", device="cpu", set={**RING, "width": 32})
    whole = ganzoo.train("vanilla", "ring8", steps=10, out=tmp_path / "whole", batch_size=8, log_every=1, progress=False, **options)
    lines = whole.metrics()
    assert sum(r["amp/skipped/D"] + r["amp/skipped/G"] for r in lines) >= 1  # some steps were skipped...
    assert sum(r["amp/skipped/D"] + r["amp/skipped/G"] for r in lines) < 2 * len(lines)  # ...not all
    assert all(math.isfinite(r["loss/D"]) for r in lines) and lines[-1]["amp/log2_scale/D"] < 16
    state = load_checkpoint(whole.path / "checkpoints" / "last.pt")
    assert set(state["grad_scalers"]) == {"G", "D"} and state["grad_scalers"]["D"]["scale"] < 65536

    part = ganzoo.train("vanilla", "ring8", steps=4, out=tmp_path / "part", batch_size=8, log_every=1, progress=False, **options)
    resumed = ganzoo.resume(part.path, steps=10, progress=False)
    _assert_bitwise_equal(_checkpoint_tensors(whole.path), _checkpoint_tensors(resumed.path))
    assert load_checkpoint(resumed.path / "checkpoints" / "last.pt")["grad_scalers"] == state["grad_scalers"]
