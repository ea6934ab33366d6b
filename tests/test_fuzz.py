"""A seeded fuzz of the command line: malformed invocations of every command, and commands on damaged run folders.

Each case runs ``ganzoo.cli.main`` in-process under a timeout and must end the way every
ganzoo command ends: exit 0, or 2 with a one-line error (``bench`` also 1 when an entry
failed; 130 is only for interrupts, which nothing here sends), never a traceback or an
exception escaping ``main``, and a failing command leaves the run folders it names as they
were (hashed before and after). The cases are drawn once, at collection, from fixed seeds,
so a failure names a case that can be run again on its own. Also regression cases for the
classes of issue 14: plugins that exit or interrupt, metrics that fail, k-NN metrics at
small N, a bench batch larger than its data, and a crafted results store.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import random
import shutil
import signal
import sys
import warnings
from pathlib import Path

import pytest

import ganzoo
from ganzoo import plugins
from ganzoo.cli import main
from ganzoo.run.folder import RunFolder

pytestmark = pytest.mark.slow  # the module's fixture trains two tiny runs

CASE_TIMEOUT = 60  # seconds; a case is a few tenths of a second, so this only catches a hang
SEED = 14

INTS = ["0", "-1", "1", "2", "3", "7", "-999999999999", "99999999999999999999", "1e3", "nan", "inf", "", " ", "abc", "0x10", "2.5"]
FLOATS = ["0", "-0.5", "nan", "inf", "-inf", "1e308", "1e-300", "", "x", "0.001", "1", "2"]
NAMES = ["", " ", "x" * 5000, "vanilla", "ring8", "mnist", "nope", "../x", "a,b,,", "all", "ring8,ring8", "ééé", "-", "fid", "wgan*", "\x00"]
SETS = [
    "", "=", "x=", "=1", "width=-1", "width=nan", "width=1e999", "width=", "data.n=0", "data.n=-5", "lr=abc", "a.b.c=1",
    "width=[1,2]", "width={a: 1}", "data.n=1e12", "data.=3", "data.nope=1", "x" * 1000 + "=1", "width=8", "data.n=64", "depth=0",
]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Two tiny trained runs, a bench folder (its store written directly), a plain file and a plain folder."""
    root = tmp_path_factory.mktemp("fuzz")
    common = dict(progress=False, set={"width": 8, "depth": 1})
    ring = ganzoo.train("vanilla", "ring8", steps=4, batch_size=32, out=root / "ring", **{**common, "set": {**common["set"], "data.n": 256}})
    mnist = ganzoo.train("vanilla", "mnist", steps=2, batch_size=8, out=root / "mnist", **common)
    bench = _bench(root / "bench", ring.path)
    (root / "plain.txt").write_text("not a run\n")
    (root / "folder").mkdir()
    return {"root": root, "ring": ring.path, "mnist": mnist.path, "bench": bench, "file": root / "plain.txt", "folder": root / "folder"}


def _bench(folder: Path, run: Path) -> Path:
    from ganzoo.bench.store import Entry, Store

    (folder / "runs").mkdir(parents=True)
    shutil.copytree(run, folder / "runs" / "r")
    entry = Entry(run="runs/r", model="vanilla", dataset="ring8", seed=0, kimg=1.0, steps=4, batch_size=32, config_hash="abc",
                  config={}, eval_protocol={"n_generated": 16, "n_real": 16}, train_seconds=1.0, eval_seconds=1.0, params={"G": 10},
                  ganzoo_version="test")
    Store(folder).put(entry, [("mixture-modes", "modes", 8.0), ("mixture-modes", "hq", 0.5)])
    return folder


# -- drawing the cases -----------------------------------------------------------------------

def _paths() -> list[str]:
    # Placeholders, resolved against the module's world when a case runs.
    return ["{ring}", "{mnist}", "{file}", "{folder}", "{bench}", "{root}/missing", "/", "/dev/null", "", "x" * 300, "/proc/self", "{ring}/config.yaml"]


def _value(kind: str, rng: random.Random) -> str:
    return rng.choice({"int": INTS, "float": FLOATS, "name": NAMES, "path": _paths(), "set": SETS}[kind])


# For each command: the base of a cheap invocation (it would finish in a moment if nothing
# were wrong), and the flags a case may add or replace, with the kind of value each takes.
COMMANDS = {
    "eval": (["{ring}", "--n", "16"], {
        "--n": "int", "--n-real": "int", "--seed": "int", "--metrics": "name", "--checkpoint": "name", "--device": "name",
        "--samples": "path", "--dataset": "name", "--real": "path", "--set": "set", "--out": "path", "--inception-weights": "path",
    }),
    "sample": (["{ring}", "--n", "4", "--out", "{out}.png"], {
        "--n": "int", "--seed": "int", "--label": "int", "--truncation": "float", "--device": "name", "--out": "path",
    }),
    "run": (["--model", "vanilla", "--dataset", "ring8", "--steps", "2", "--set", "data.n=64", "--set", "width=8", "--quiet", "--out", "{out}"], {
        "--model": "name", "--dataset": "name", "--steps": "int", "--batch-size": "int", "--seed": "int", "--set": "set",
        "--log-every": "int", "--sample-every": "int", "--checkpoint-every": "int", "--eval-every": "int", "--eval-n": "int",
        "--best-metric": "name", "--config": "path", "--resume": "path", "--device": "name", "--out": "path", "--wandb": "name",
    }),
    "bench": (["--models", "vanilla", "--datasets", "ring8", "--kimg", "0.01", "--seeds", "1", "--eval-n", "8", "--wandb", "off",
               "--set", "data.n=64", "--set", "width=8", "--quiet", "--out", "{out}"], {
        "--models": "name", "--datasets": "name", "--seeds": "name", "--kimg": "float", "--eval-n": "int", "--set": "set",
        "--out": "path", "--wandb": "name",
    }),
    "leaderboard": (["{bench}", "--out", "{out}"], {"--out": "path", "--rank-by": "name"}),
    "models": ([], {"--json": None}),
    "datasets": ([], {"--json": None}),
    "plugins": ([], {"--json": None}),
    "metrics": ([], {"--json": None}),
    "new-plugin": (["my-gan", "--dir", "{out}"], {"--dir": "path"}),
}
POSITIONAL = {"eval": "path", "sample": "path", "leaderboard": "path", "models": "name", "datasets": "name", "new-plugin": "name"}
# Cases that could train for real if the draw happened to be valid are fewer: they cost seconds, not tenths.
PER_COMMAND = {"eval": 60, "sample": 30, "run": 30, "bench": 10, "leaderboard": 25, "models": 10, "datasets": 10, "plugins": 4,
               "metrics": 4, "new-plugin": 12}


def _mutate(command: str, rng: random.Random) -> list[str]:
    base, flags = COMMANDS[command]
    args = list(base)
    for _ in range(rng.randint(1, 3)):
        what = rng.random()
        if command in POSITIONAL and what < 0.25:
            value = _value(POSITIONAL[command], rng)
            if args and not args[0].startswith("--"):
                args[0] = value
            else:
                args.insert(0, value)
        elif what < 0.35:
            args.append(rng.choice(["--nope", "--", "-x", "--n=", "--json", "--help" if rng.random() < 0.1 else "--quiet"]))
        elif flags:
            flag = rng.choice(sorted(flags))
            if flags[flag] is None:
                args.append(flag)
                continue
            value = _value(flags[flag], rng)
            if flag in args and flag != "--set":
                args[args.index(flag) + 1] = value
            else:
                args += [flag, value]
    return [command, *args]


def _cli_cases() -> list[list[str]]:
    rng = random.Random(SEED)
    return [_mutate(command, rng) for command, count in PER_COMMAND.items() for _ in range(count)]


# Damaged run folders: which file, how it is damaged, and the command run on the damaged copy.
def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: max(1, path.stat().st_size // 3)])


def _garble(path: Path) -> None:
    data = bytearray(path.read_bytes())
    rng = random.Random(len(data))
    for _ in range(max(1, len(data) // 50)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    path.write_bytes(bytes(data))


DAMAGE = {
    "truncated": _truncate,
    "garbled": _garble,
    "empty": lambda p: p.write_bytes(b""),
    "a list": lambda p: p.write_text("- 1\n- 2\n" if p.suffix == ".yaml" else "[1, 2]\n"),
    "wrong types": lambda p: p.write_text('{"step": "four", "steps": "many", "seed": [1], "metrics": 3, "protocol": "x"}\n'),
    "a folder": lambda p: (p.unlink(), p.mkdir()),
    "missing": lambda p: p.unlink(),
}
FILES = {
    "config": lambda f: f.config_file,
    "metrics log": lambda f: f.metrics_log,
    "checkpoint": lambda f: f.checkpoint_file("last"),
    "eval report": lambda f: f.eval_report_file,
    "dataset info": lambda f: f.dataset_info_file,
}
DAMAGED_COMMANDS = [
    ["eval", "{run}", "--n", "16"],
    ["sample", "{run}", "--n", "4", "--out", "{out}.png"],
    ["run", "--resume", "{run}", "--steps", "6", "--quiet"],
    ["leaderboard", "{run}"],
]


def _damaged_cases() -> list:
    cases = []
    for file in FILES:
        for damage in DAMAGE:
            for command in DAMAGED_COMMANDS:
                cases.append(pytest.param(file, damage, command, id=f"{file}-{damage}-{command[0]}"))
    return cases


# -- running one case ------------------------------------------------------------------------

class _Hang(Exception):
    pass


@contextlib.contextmanager
def _timeout(seconds: int):
    def fire(signum, frame):
        raise _Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _fill(args: list[str], world: dict, out: Path, run: Path | None = None) -> list[str]:
    names = {k: str(v) for k, v in world.items()} | {"out": str(out), "run": str(run)}
    return [a.format(**names) if "{" in a and "}" in a and "{a:" not in a else a for a in args]


def _digest(folder: Path) -> dict[str, str]:
    if not folder.is_dir():
        return {}
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


def invoke(args: list[str]) -> tuple[int, str, str]:
    """``ganzoo ARGS`` in-process: (exit code, stdout, stderr). Anything escaping ``main`` fails the case."""
    out, err = io.StringIO(), io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), _timeout(CASE_TIMEOUT):
        warnings.simplefilter("ignore", plugins.PluginWarning)
        try:
            code = main(args)
        except SystemExit as exc:  # argparse's own exits (usage errors, --help)
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        except _Hang:
            pytest.fail(f"ganzoo {' '.join(map(repr, args))}: hung")
        except BaseException as exc:  # noqa: BLE001 - exactly what must never happen
            pytest.fail(f"ganzoo {' '.join(map(repr, args))}: {type(exc).__name__} escaped main: {str(exc)[:300]}")
    return code, out.getvalue(), err.getvalue()


def check(args: list[str], world: dict, watched: list[Path]) -> tuple[int, str, str]:
    before = {str(p): _digest(p) for p in watched}
    code, out, err = invoke(args)
    shown = " ".join(repr(a[:80]) for a in args)
    assert "Traceback" not in err and "Traceback" not in out, f"ganzoo {shown}: traceback\n{err[-2000:]}"
    valid = {0, 2} | ({1} if args[0] == "bench" else set())  # bench: 1 = an entry failed (a plugin's bug), said per entry
    assert code in valid, f"ganzoo {shown}: exit {code}\n{err[-2000:]}"
    if code == 2:
        errors = [line for line in err.splitlines() if line.startswith(("ganzoo ", "ganzoo:"))]
        assert errors and "error" in errors[-1], f"ganzoo {shown}: exit 2 without an error line\n{err[-2000:]}"
    if code != 0:
        after = {str(p): _digest(p) for p in watched}
        assert after == before, f"ganzoo {shown}: failed (exit {code}) and changed {[p for p in before if before[p] != after[p]]}"
    return code, out, err


# -- the tests -------------------------------------------------------------------------------

@pytest.mark.parametrize("args", _cli_cases(), ids=lambda a: " ".join(a)[:60])
def test_malformed_invocations_exit_0_or_2_in_one_line_and_leave_runs_alone(args, world, tmp_path):
    filled = _fill(args, world, tmp_path / "new")
    check(filled, world, [world["ring"], world["mnist"], world["bench"]])


@pytest.mark.parametrize("file, damage, command", _damaged_cases())
def test_commands_on_a_damaged_run_folder_exit_0_or_2_and_leave_it_alone(file, damage, command, world, tmp_path):
    run = tmp_path / "damaged"
    shutil.copytree(world["ring"], run)
    path = FILES[file](RunFolder(run))
    if not path.exists():
        path.write_text("{}\n")  # the eval report exists only after an evaluation
    DAMAGE[damage](path)
    check(_fill(command, world, tmp_path / "new", run), world, [run, world["ring"]])


# -- regression cases of issue 14 ------------------------------------------------------------

class _Rude:
    """A plugin failing everywhere it can: a hook that exits, a builder that interrupts, a metric that exits."""

    @ganzoo.hookimpl
    def register_datasets(self, register):
        raise KeyboardInterrupt

    @ganzoo.hookimpl
    def register_models(self, register):
        register(ganzoo.ModelSpec(name="rude-gan", summary="interrupts", build=lambda info, c: (_ for _ in ()).throw(KeyboardInterrupt())))

    @ganzoo.hookimpl
    def register_metrics(self, register):
        register(ganzoo.MetricSpec("rude-metric", "exits", ("vector",), lambda ctx: sys.exit(9)))


def test_regressions_of_issue_14(world, tmp_path, register_plugin):
    watched = [world["ring"], world["mnist"], world["bench"]]
    register_plugin(_Rude(), "rude")
    for args in (["models"], ["plugins"], ["datasets", "ring8"]):
        code, out, _ = check(args, world, watched)
        assert code == 0
    code, out, _ = check(["plugins"], world, watched)
    assert "hook register_datasets raised KeyboardInterrupt (raised by the plugin itself" in out
    code, _, err = check(["run", "--model", "rude-gan", "--dataset", "ring8", "--set", "data.n=64", "--out", str(tmp_path / "r")], world, watched)
    assert code == 2 and "model rude-gan (plugin rude) could not be built" in err
    code, out, _ = check(["eval", str(world["ring"]), "--n", "16", "--metrics", "rude-metric,mixture-modes"], world, [world["mnist"]])
    assert code == 0 and "rude-metric" in out and "FAILED: plugin rude: called sys.exit(9)" in out
    for n in ("2", "3", "5"):  # k-NN metrics at N <= k: skipped with the N they need
        code, out, _ = check(["eval", str(world["ring"]), "--n", n], world, [world["mnist"]])
        assert code == 0 and "needs at least k+1" in out
    code, _, err = check(["bench", *COMMANDS["bench"][0][:-1], str(tmp_path / "b")], world, watched)  # batch 256 > 64 points
    assert code == 2 and "is larger than the 64 samples" in err and not (tmp_path / "b").exists()
    crafted = _bench(tmp_path / "crafted", world["ring"])
    import sqlite3

    with sqlite3.connect(crafted / "results.sqlite") as db:
        db.execute("UPDATE results SET run = ?", (str(world["ring"]),))
    code, _, err = check(["leaderboard", str(crafted), "--out", str(tmp_path / "board")], world, watched)
    assert code == 0 and "outside the bench folder" in err
    with sqlite3.connect(crafted / "results.sqlite") as db:
        db.execute("UPDATE results SET value = 'many'")
    code, _, err = check(["leaderboard", str(crafted), "--out", str(tmp_path / "board")], world, watched)
    assert code == 2 and "not a number" in err
    code, _, err = check(["leaderboard", str(world["bench"]), "--out", "/proc/self"], world, watched)
    assert code == 2 and "cannot write" in err
    code, _, err = check(["eval", "x" * 5000], world, watched)  # a name over the file system's limit, checked before any use
    assert code == 2 and len(err.strip().splitlines()) == 1 and "over the file system's limit of 255" in err
    other_schema = tmp_path / "other-schema"
    other_schema.mkdir()
    with sqlite3.connect(other_schema / "results.sqlite") as db:
        db.execute("CREATE TABLE results (run TEXT, something TEXT)")
    code, _, err = check(["leaderboard", str(other_schema), "--out", str(tmp_path / "board2")], world, watched)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "results.sqlite" in err
    anchors = tmp_path / "anchors.yaml"
    anchors.write_text("a: &a {<<: *a}\n")  # a YAML that refers to itself
    code, _, err = check(["run", "--config", str(anchors), "--out", str(tmp_path / "r2")], world, watched)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "anchors.yaml" in err and not (tmp_path / "r2").exists()
