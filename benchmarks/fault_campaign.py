"""A larger fault campaign than the tests run: many malformed inputs, many kill -9 trials.

It reuses the tests' machinery rather than copying it: the case generator and the checks of
``tests/test_fuzz.py`` (malformed invocations of every command and commands on damaged run
folders, run in-process through ``ganzoo.cli.main``: no traceback, exit 0 or 2 with an error
line, no hang, a failing command leaves the run folders it names unchanged), and the kill
helpers of ``tests/test_run_folder_hardening.py`` (``python -m ganzoo.cli run`` subprocesses
killed with SIGKILL, then finished by what ``RunFolder.state()`` says, and compared with an
unbroken run bit for bit). Both test modules are loaded from their files by path.

Counts, one line each, with the first few offending cases for any that is not 0:

- tracebacks: a traceback printed, or an exception escaping ``main`` (also a traceback from
  the command that finishes a killed run)
- wrong exit codes: not 0 or 2 (``bench`` also 1), or 2 without a one-line error
- hangs: no answer within the fuzz test's per-case timeout
- folders modified by failing commands
- dead-end folders: a killed run whose folder is in no documented state, or whose documented
  command does not finish it
- corrupt checkpoints: a ``checkpoints/last.pt`` that does not load, after the kill or at the end
- resumes not bit-exact: a finished folder whose weights differ from the unbroken run's
- leftover temporary files: ``.NAME.tmp-PID`` files left in a finished folder

A fuzz case is checked as the test checks it, so it counts under the first check it fails.
Exit status 1 when any count is not 0.

    python benchmarks/fault_campaign.py [--inputs 1000] [--kills 50] [--seed 14]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest
import torch

TESTS = Path(__file__).resolve().parent.parent / "tests"
CATEGORIES = ["tracebacks", "wrong exit codes", "hangs", "folders modified by failing commands", "dead-end folders",
              "corrupt checkpoints", "resumes not bit-exact", "leftover temporary files"]
SHOWN = 3  # offending cases printed per category


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_campaign_{name}", TESTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Factory:
    """The one method of pytest's ``tmp_path_factory`` the fuzz test's ``world`` fixture uses."""

    def __init__(self, root: Path):
        self.root = root

    def mktemp(self, name: str) -> Path:
        path = Path(tempfile.mkdtemp(prefix=name, dir=self.root))
        return path


def _category(message: str) -> str:
    """Which check of ``test_fuzz.check`` / ``invoke`` a failure message comes from."""
    if ": hung" in message:
        return "hangs"
    if "escaped main" in message or ": traceback" in message:
        return "tracebacks"
    if "and changed" in message:
        return "folders modified by failing commands"
    return "wrong exit codes"  # "exit N", "exit 2 without an error line"


# -- malformed inputs ----------------------------------------------------------------------------
def fuzz(fz, n: int, seed: int, root: Path, found: dict[str, list[str]]) -> Counter:
    """``n`` cases drawn from the fuzz test's generators: four in five malformed invocations, one in five damaged folders."""
    world = fz.world.__wrapped__(_Factory(root))
    watched = [world["ring"], world["mnist"], world["bench"]]
    rng = random.Random(seed)
    commands, weights = zip(*fz.PER_COMMAND.items())
    kinds = Counter()
    for i in range(n):
        case = root / f"case{i}"
        case.mkdir()
        if rng.random() < 0.8:
            args = fz._mutate(rng.choices(commands, weights)[0], rng)
            filled, seen, kind = fz._fill(args, world, case / "new"), watched, "invocation"
        else:
            file, damage, command = rng.choice(sorted(fz.FILES)), rng.choice(sorted(fz.DAMAGE)), rng.choice(fz.DAMAGED_COMMANDS)
            run = case / "damaged"
            shutil.copytree(world["ring"], run)
            path = fz.FILES[file](fz.RunFolder(run))
            if not path.exists():
                path.write_text("{}\n")  # as the test does: the eval report exists only after an evaluation
            fz.DAMAGE[damage](path)
            filled, seen, kind = fz._fill(command, world, case / "new", run), [run, world["ring"]], f"damaged {file} ({damage})"
        kinds[kind.split(" (")[0]] += 1
        try:
            fz.check(filled, world, seen)
        except (AssertionError, pytest.fail.Exception) as exc:
            message = str(exc).splitlines()[0][:300]
            found[_category(str(exc))].append(f"fuzz case {i} ({kind}): {message}")
        shutil.rmtree(case, ignore_errors=True)
    return kinds


# -- kill -9 -------------------------------------------------------------------------------------
def _temporaries(folder: Path) -> list[Path]:
    return list(folder.rglob(".*tmp-*"))


def _wait_for_temporary(folder: Path, proc, count: int, timeout: float = 120.0) -> bool:
    """Poll until the ``count``-th checkpoint write is under way (a ``.NAME.tmp-PID`` is seen appearing in
    ``checkpoints/``); False if the run ended first."""
    checkpoints, seen, present = folder / "checkpoints", 0, False
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            now = any(".tmp-" in entry.name for entry in os.scandir(checkpoints))
        except OSError:
            now = False
        if now and not present:
            seen += 1
            if seen >= count:
                return True
        present = now
    return False


def kills(hd, n: int, seed: int, root: Path, found: dict[str, list[str]], steps: int, every: int) -> tuple[Counter, Counter, float, float]:
    """``n`` runs killed with SIGKILL at seeded random moments, each finished as its state says and compared bit for bit."""
    args = [*hd.KILL_CLI, "--set", "width=16", "--steps", str(steps), "--checkpoint-every", str(every), "--log-every", str(every)]
    first = lambda folder: ["run", "--model", "vanilla", "--dataset", "ring8", "--out", str(folder), *args]
    unbroken = root / "unbroken"
    started = time.monotonic()
    proc = hd._ganzoo(*first(unbroken))
    hd._wait_for(unbroken / "metrics.jsonl", proc)
    training = time.monotonic()
    _, err = proc.communicate(timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"the unbroken reference run failed:\n{err}")
    run_seconds, train_seconds = time.monotonic() - started, time.monotonic() - training
    expected = hd._weights(unbroken)
    rng = random.Random(seed)
    # When to kill: at start-up (often before anything is written), as the config appears,
    # at a random moment of training, and just as a checkpoint is being written.
    whens, states = Counter(), Counter()
    for trial in range(n):
        when = ["start-up", "config", "training", "checkpoint write"][trial % 4]
        folder = root / f"k{trial}"
        proc = hd._ganzoo(*first(folder))
        if when == "start-up":
            time.sleep(rng.uniform(0.0, run_seconds))
        elif when == "config":
            hd._wait_for(folder / "config.yaml", proc)
            time.sleep(rng.uniform(0.0, 0.05))
        elif when == "training":
            hd._wait_for(folder / "metrics.jsonl", proc)
            time.sleep(rng.uniform(0.0, train_seconds))
        else:
            if not _wait_for_temporary(folder, proc, rng.randint(1, steps // every)):
                when = "checkpoint write (missed: the run ended)"
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        whens[when] += 1
        name = f"kill {trial} ({when})"
        last = folder / "checkpoints" / "last.pt"
        if last.exists():
            try:
                hd.load_checkpoint(last)
            except Exception as exc:  # noqa: BLE001 - counted, not raised
                found["corrupt checkpoints"].append(f"{name}: after the kill: {type(exc).__name__}: {str(exc)[:200]}")
        state = hd.RunFolder(folder).state()
        states[state] += 1
        if state not in (hd.EMPTY, hd.STARTED, hd.RESUMABLE, hd.COMPLETE):
            found["dead-end folders"].append(f"{name}: state {state}")
            continue
        command = first(folder) if state in (hd.EMPTY, hd.STARTED) else ["run", "--resume", str(folder), "--quiet"]
        finish = hd._ganzoo(*command)
        _, err = finish.communicate(timeout=600)
        if "Traceback" in err:
            found["tracebacks"].append(f"{name}: state {state}: {err.strip().splitlines()[-1][:200]}")
        if finish.returncode != 0:
            found["dead-end folders"].append(f"{name}: state {state}, {' '.join(command[:3])} exit {finish.returncode}: {err.strip()[-200:]}")
            continue
        try:
            got = hd._weights(folder)
        except Exception as exc:  # noqa: BLE001
            found["corrupt checkpoints"].append(f"{name}: after finishing: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        if got.keys() != expected.keys() or not all(torch.equal(got[k], expected[k]) for k in got):
            found["resumes not bit-exact"].append(f"{name}: state {state}")
        if left := _temporaries(folder):
            found["leftover temporary files"].append(f"{name}: {[p.relative_to(folder).as_posix() for p in left]}")
        shutil.rmtree(folder, ignore_errors=True)
    return whens, states, run_seconds, train_seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=1000, help="malformed inputs (invocations and damaged folders)")
    parser.add_argument("--kills", type=int, default=50, help="kill -9 trials")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--steps", type=int, default=60, help="steps of each killed run")
    parser.add_argument("--checkpoint-every", type=int, default=2)
    args = parser.parse_args(argv)

    fz, hd = _load("test_fuzz"), _load("test_run_folder_hardening")
    found = {c: [] for c in CATEGORIES}
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ganzoo-campaign-") as tmp:
        root = Path(tmp)
        (root / "fuzz").mkdir()
        (root / "kill").mkdir()
        kinds = fuzz(fz, args.inputs, args.seed, root / "fuzz", found) if args.inputs else Counter()
        fuzz_seconds = time.monotonic() - start
        print(f"malformed inputs: {args.inputs} ({', '.join(f'{v} {k}' for k, v in sorted(kinds.items()))}) in {fuzz_seconds:.0f} s")
        if args.kills:
            whens, states, run_seconds, train_seconds = kills(hd, args.kills, args.seed, root / "kill", found, args.steps, args.checkpoint_every)
            print(f"kill -9 trials: {args.kills} in {time.monotonic() - start - fuzz_seconds:.0f} s (runs of {args.steps} steps, "
                  f"a checkpoint every {args.checkpoint_every}; an unbroken one takes {run_seconds:.1f} s, "
                  f"{train_seconds:.1f} s of it after its first metrics line)")
            print(f"  killed at: {', '.join(f'{k} {v}' for k, v in whens.items())}")
            print(f"  states found: {', '.join(f'{k} {v}' for k, v in sorted(states.items()))}")
    width = max(map(len, CATEGORIES))
    for category in CATEGORIES:
        print(f"{category:<{width}}  {len(found[category])}")
        for case in found[category][:SHOWN]:
            print(f"    {case}")
    print(f"wall time {time.monotonic() - start:.0f} s")
    return 1 if any(found.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
