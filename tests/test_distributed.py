"""Data-parallel training through torchrun: gloo on this CPU, two processes.

The worker side of the multi-process tests is tests/ddp_worker.py (each rank writes what it
saw; these tests compare the ranks). The CLI tests start `ganzoo run --nproc-per-node 2`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import ganzoo
from ganzoo.data import Batcher, Dataset, DatasetInfo
from ganzoo.training.distributed import World, world_from_environment

WORKER = Path(__file__).with_name("ddp_worker.py")
RING = ["--model", "vanilla", "--dataset", "ring8", "--batch-size", "16", "--log-every", "4", "--sample-every", "100", "--quiet"]


def torchrun(*args: str, nproc: int = 2, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GANZOO_LOAD_PLUGINS": ""}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", str(WORKER), *args],
                          capture_output=True, text=True, env=env, timeout=timeout)


def ganzoo_cli(*args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GANZOO_LOAD_PLUGINS": ""}
    return subprocess.run([sys.executable, "-m", "ganzoo", *args], capture_output=True, text=True, env=env, timeout=timeout)


def ranks(out: Path) -> list[dict]:
    return [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]


def weights(run: Path) -> dict[str, torch.Tensor]:
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    return {f"{n}.{k}": v for n, sd in state["networks"].items() for k, v in sd.items()}


# -- one process: the pieces ------------------------------------------------------------------

@pytest.mark.parametrize("local_rank", [0, 1])
def test_each_machines_local_rank_zero_builds_the_data_first_and_the_others_quietly_after(monkeypatch, capsys, local_rank):
    from ganzoo.run import session

    events = []

    def build_dataset(config):
        events.append("build")
        print("image-folder: skipped 1 of 3 files", file=sys.stderr)
        return "data"

    def any_rank(flag, world):  # the collective every rank of the job meets at
        events.append("meet")
        return flag

    monkeypatch.setattr(session, "build_dataset", build_dataset)
    monkeypatch.setattr(session, "any_rank", any_rank)
    assert session.build_data(None, World(rank=local_rank + 2, size=4, local_rank=local_rank)) == "data"
    err = capsys.readouterr().err
    if local_rank == 0:  # it fills the caches while the machine's other ranks wait, and says what it skipped
        assert events == ["build", "meet"] and "skipped 1 of 3" in err
    else:  # it builds from the filled caches, after the meeting, and says nothing twice
        assert events == ["meet", "build"] and err == ""


def test_a_failed_first_build_stops_every_rank_at_the_meeting(monkeypatch):
    from ganzoo.errors import ReportedElsewhere
    from ganzoo.run import session

    def failing(config):
        raise ganzoo.GanzooError("--data-root /x: no such folder")

    monkeypatch.setattr(session, "build_dataset", failing)
    monkeypatch.setattr(session, "any_rank", lambda flag, world: True)  # some rank failed
    with pytest.raises(ganzoo.GanzooError, match="no such folder"):
        session.build_data(None, World(rank=0, size=2, local_rank=0))
    with pytest.raises(ReportedElsewhere):  # rank 0 says it; this one stops without building
        session.build_data(None, World(rank=1, size=2, local_rank=1))

def test_two_ranks_share_exactly_the_batches_of_one_process_with_the_global_batch():
    data = Dataset(torch.arange(50.0).unsqueeze(1), DatasetInfo("count", "vector", (1,)))
    one = Batcher(data, 8, seed=5, device=torch.device("cpu"))
    two = [Batcher(data, 4, seed=5, device=torch.device("cpu"), rank=r, world_size=2) for r in (0, 1)]
    for _ in range(20):  # several epochs: 50 samples, 6 global batches of 8 each
        expected, _ = one.next()
        shards = [b.next()[0] for b in two]
        assert torch.equal(torch.cat(shards), expected)
        assert not set(shards[0].flatten().tolist()) & set(shards[1].flatten().tolist())
    assert two[0].state_dict()["position"] == one.state_dict()["position"]


def test_a_global_batch_larger_than_the_data_names_the_per_process_batch():
    data = Dataset(torch.zeros(10, 1), DatasetInfo("ten", "vector", (1,)))
    with pytest.raises(ganzoo.GanzooError, match=r"batch size 12 \(6 per process x 2 processes\).*--batch-size 5"):
        Batcher(data, 6, seed=0, device=torch.device("cpu"), rank=1, world_size=2)


def test_each_rank_seeds_its_latents_apart_and_the_world_is_read_from_torchrun(monkeypatch):
    assert {World(r, 2).seed(7) for r in (0, 1)} == {14, 15} and World().seed(7) == 7
    monkeypatch.setenv("WORLD_SIZE", "2")
    for name, value in (("RANK", "1"), ("LOCAL_RANK", "1"), ("MASTER_ADDR", "localhost"), ("MASTER_PORT", "29500")):
        monkeypatch.setenv(name, value)
    assert world_from_environment() == World(1, 2, 1)
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(ganzoo.GanzooError, match="RANK=2 and WORLD_SIZE=2"):
        world_from_environment()


def test_a_model_naming_an_unknown_network_as_idle_is_refused():
    gan = ganzoo.create_model("vanilla", DatasetInfo("ring8", "vector", (2,)))
    with pytest.raises(ValueError, match="idle_parameters names unknown network 'E'"):
        ganzoo.GAN(gan.networks, gan.optimizers, gan.objective, gan.latent_dim, idle_parameters=("E",))


@pytest.mark.parametrize("flags, message", [
    (["--nproc-per-node", "0"], "bad --nproc-per-node 0"),
    (["--nnodes", "2"], "--nnodes 2 needs --rdzv-endpoint"),
    (["--rdzv-endpoint", "h:1"], "--rdzv-endpoint goes with --nnodes"),
])
def test_bad_launch_options_are_one_line(tmp_path, cli, flags, message):
    code, _, err = cli("run", *RING, "--steps", "2", "--out", str(tmp_path / "r"), *flags)
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err
    assert not (tmp_path / "r").exists()


# -- two processes ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """One torchrun job of two ranks (tests/ddp_worker.py): its run folders and what each rank saw."""
    base = tmp_path_factory.mktemp("job")
    result = torchrun(str(base / "seen"), str(base / "runs"))
    assert result.returncode == 0, result.stderr[-3000:]
    return base / "runs", ranks(base / "seen")


@pytest.mark.slow
def test_gradients_are_synced_so_both_ranks_end_with_the_same_weights_and_optimizer_state(job):
    runs, (rank0, rank1) = job
    assert rank0["final"]["audit"] == rank1["final"]["audit"] and len(rank0["final"]["audit"]) > 10
    state = torch.load(runs / "audit" / "checkpoints" / "last.pt", weights_only=True)
    assert state["step"] == 12 and state["world_size"] == 2 and len(state["ranks"]) == 2
    assert not torch.equal(state["ranks"][0]["rng"]["torch"], state["ranks"][1]["rng"]["torch"])


@pytest.mark.slow
def test_each_rank_draws_its_own_latents(job):
    _, (rank0, rank1) = job
    assert len(rank0["first_z"]) == 8 and rank0["first_z"] != rank1["first_z"]


@pytest.mark.slow
def test_rank_zero_alone_touches_the_run_folder(job):
    runs, (rank0, rank1) = job
    run = runs / "audit"
    assert rank1["touched"] == []  # not one open, write, rename or mkdir naming the run folder
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [4, 8, 12]  # one writer: no line twice
    assert lines[-1]["kimg"] == pytest.approx(12 * 2 * 16 * 2 / 1000)  # D and G phases, 16 per rank x 2 ranks
    config = (run / "config.yaml").read_text()
    assert "world_size: 2" in config and "a global batch of 32" in config
    assert (run / "checkpoints" / "best.pt").is_file() and any(key.startswith("eval/") for key in lines[1])  # live evaluation: on rank 0


@pytest.mark.slow
def test_buffers_weights_and_schedules_agree_across_ranks_for_the_growing_and_styled_models(job):
    runs, (rank0, rank1) = job
    for name in ("style", "pro", "bf16", "remedy", "vae"):  # stylegan-lite, progan-lite, wgan-gp at bf16 compiled, vanilla with remedies, vae
        assert rank0["final"][name] == rank1["final"][name], name
    style = rank0["final"]["style"]
    assert any(name.endswith("w_avg") for name in style) and any(name.startswith("networks.G_ema.") for name in style)
    pro = torch.load(runs / "pro" / "checkpoints" / "last.pt", weights_only=True)
    assert int(pro["networks"]["G"]["stage"]) >= 1  # it grew while data-parallel (idle stages, then used)
    assert any(name.endswith("parametrizations.weight.0._u") for name in rank0["final"]["remedy"])  # spectral norm's buffers agree


@pytest.mark.slow
def test_a_model_with_an_undeclared_idle_parameter_is_told_what_to_declare(job):
    for seen in job[1]:
        assert "GAN(idle_parameters=...)" in seen["unused"]


@pytest.mark.slow
def test_the_consistency_check_names_a_tensor_that_differs_on_one_rank(job):
    for seen in job[1]:
        assert seen["error"] == "the ranks disagree: networks.D.bias on rank 1 differs from rank 0's (data-parallel training lost sync)"


@pytest.mark.slow
def test_two_ranks_at_batch_b_match_one_process_at_batch_2b(job, tmp_path, register_plugin):
    sys.path.insert(0, str(WORKER.parent))
    try:
        from ddp_worker import TINY_RING, FromDataPlugin
    finally:
        sys.path.remove(str(WORKER.parent))
    register_plugin(FromDataPlugin(ganzoo.plugins.models().get("vanilla")), "from-data")
    ganzoo.train("from-data", "ring8", out=tmp_path / "one", progress=False, **{**TINY_RING, "batch_size": 32, "steps": 6})
    two, one = weights(job[0] / "two"), weights(tmp_path / "one")
    assert two.keys() == one.keys()
    for name in one:  # gradients averaged over ranks = the gradient of the mean over the global batch
        torch.testing.assert_close(two[name], one[name], rtol=1e-5, atol=1e-6, msg=name)


TARGET = 120  # steps of the unbroken run: beyond where the interrupted one is stopped (checked)
STOPPABLE = [*RING, "--checkpoint-every", "4"]


@pytest.fixture(scope="module")
def two_machines(tmp_path_factory):
    """An unbroken run by two launchers of one process each, as two machines would run it (both on localhost here)."""
    import socket

    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    folder = tmp_path_factory.mktemp("machines") / "r"
    args = [sys.executable, "-m", "ganzoo", "run", *STOPPABLE, "--steps", str(TARGET), "--out", str(folder),
            "--nproc-per-node", "1", "--nnodes", "2", "--rdzv-endpoint", f"localhost:{port}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GANZOO_LOAD_PLUGINS": ""}
    nodes = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    results = [node.communicate(timeout=240) for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], results
    return folder, results


@pytest.mark.slow
def test_two_machines_meet_at_the_rendezvous_endpoint(two_machines):
    folder, results = two_machines
    assert sum("run folder:" in out for out, _ in results) == 1  # rank 0's machine reports the run
    assert "world_size: 2" in (folder / "config.yaml").read_text()
    assert torch.load(folder / "checkpoints" / "last.pt", weights_only=True)["world_size"] == 2


@pytest.mark.slow
def test_ctrl_c_and_a_killed_rank_stop_every_rank_and_the_run_resumes_bitwise(two_machines, tmp_path, cli):
    """Stopped by Ctrl-C, resumed, its rank 1 killed, resumed again: bitwise the unbroken run (made on "two machines")."""
    whole = two_machines[0]
    part = tmp_path / "part"
    args = ["run", *STOPPABLE, "--steps", "2000", "--out", str(part), "--nproc-per-node", "2"]
    # Ctrl-C in a terminal goes to the launcher and every rank: a process group of their own here.
    proc = subprocess.Popen([sys.executable, "-m", "ganzoo", *args], stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1", "GANZOO_LOAD_PLUGINS": ""})
    _wait_for(lambda: (part / "checkpoints" / "last.json").exists(), proc)
    code, _, err = cli("run", "--resume", str(part))  # the run-folder lock, held by rank 0 while the job trains
    assert code == 2 and "in use" in err and len(err.strip().splitlines()) == 1, err
    os.killpg(proc.pid, signal.SIGINT)
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("interrupted at step"), err
    stopped = torch.load(part / "checkpoints" / "last.pt", weights_only=True)["step"]
    assert 4 <= stopped < TARGET

    # Resume (the launcher reads the world size from the run), then kill rank 1 mid-way.
    proc = subprocess.Popen([sys.executable, "-m", "ganzoo", "run", "--resume", str(part), "--steps", "100000", "--quiet"],
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1", "GANZOO_LOAD_PLUGINS": ""})
    rank1 = _wait_for(lambda: _rank_pid(proc.pid, "1"), proc)
    _wait_for(lambda: torch.load(part / "checkpoints" / "last.pt", weights_only=True)["step"] > stopped, proc)
    os.kill(rank1, signal.SIGKILL)
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 1 and "Traceback" not in err, err[-3000:]
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert lines[-1].startswith("ganzoo run: error: rank 1 was killed by SIGKILL, so every rank was stopped") and f"--resume {part}" in lines[-1]
    assert len([line for line in lines if "error" in line.lower()]) == 1
    reached = torch.load(part / "checkpoints" / "last.pt", weights_only=True)["step"]  # loadable: written atomically

    # Finish at the unbroken run's target: bitwise the same weights.
    assert stopped < reached < TARGET and reached % 4 == 0
    again = ganzoo_cli("run", "--resume", str(part), "--steps", str(TARGET))
    assert again.returncode == 0, again.stderr[-3000:]
    assert all(torch.equal(v, weights(whole)[k]) for k, v in weights(part).items())
    code, _, err = cli("run", "--resume", str(part), "--steps", "100000", "--nproc-per-node", "1")
    assert code == 2 and "trained by 2 process(es), not 1" in err and len(err.strip().splitlines()) == 1


def _wait_for(condition, proc, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the job ended early ({proc.returncode}): {proc.stderr.read()[-3000:]}")
        try:
            value = condition()
        except Exception:
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def _rank_pid(launcher: int, rank: str) -> int | None:
    """The pid of the worker with RANK=rank that ``launcher`` started (its child)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            if parent != launcher:
                continue
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if f"RANK={rank}".encode() in env:
            return int(pid)
    return None


def test_a_stop_request_arriving_while_the_ranks_agree_is_not_lost(monkeypatch):
    """Ctrl-C's handler runs when the C call it interrupted returns: a request made during the
    all-reduce that decides whether to stop must still stop the next step (it once let a job train
    to its end after printing that it would stop)."""
    from ganzoo.training import trainer as trainer_module

    class Job:  # the part of a Trainer that _stop_all reads and writes
        world = World(rank=0, size=2)
        _stop_requested = False

    job = Job()

    def all_reduce_with_a_signal_arriving(flag, world):
        job._stop_requested = True  # what the handler does, mid-call
        return flag  # the other rank had no request, and this rank's was read before the signal

    monkeypatch.setattr(trainer_module, "any_rank", all_reduce_with_a_signal_arriving)
    assert trainer_module.Trainer._stop_all(job) is False  # this step the ranks agreed on "go on"
    assert job._stop_requested is True
    monkeypatch.setattr(trainer_module, "any_rank", lambda flag, world: flag)
    assert trainer_module.Trainer._stop_all(job) is True  # so every rank stops at the next step


def test_leaving_the_group_lets_threads_waiting_for_the_gil_finish_first(monkeypatch):
    """gloo's worker threads drop a finished collective's tensors after the caller moved on, which
    needs the GIL; a rank that exits at once must give it to them before the interpreter shuts down,
    or the process aborts (SIGABRT after a finished job: 13 of 59 short 2-rank ring8 resumes in a
    loop did, before the fix; 0 of 40 after). Here a thread stands in for the worker: it asks for the GIL while
    the main thread holds it and never hands it over by itself (a switch interval of minutes)."""
    import threading

    from ganzoo.training import distributed

    order: list[str] = []
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(distributed.dist, "destroy_process_group", lambda: order.append("group destroyed"))
    asked = threading.Event()

    def worker() -> None:
        asked.set()
        time.sleep(0.01)  # without the GIL, as gloo's wait; then it needs the GIL back
        order.append("worker done")

    interval = sys.getswitchinterval()
    sys.setswitchinterval(300.0)
    try:
        thread = threading.Thread(target=worker)
        thread.start()
        assert asked.wait(timeout=10)
        spin = time.perf_counter() + 0.05
        while time.perf_counter() < spin:  # holding the GIL while the worker's sleep ends
            pass
        distributed.stop()
    finally:
        sys.setswitchinterval(interval)
    thread.join(timeout=10)
    assert order == ["worker done", "group destroyed"]
