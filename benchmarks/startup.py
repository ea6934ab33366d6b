"""How long ganzoo's quick commands take to answer, each in a fresh process (issue 18).

Every command registers every plugin before it prints, ``--help`` included, so what the
plugins import at registration is paid by all of them. Each command runs ``--repeat`` times
as ``python -m ganzoo ...``; the median wall-clock is printed with two baselines measured in
the same run, in rounds that alternate the commands so that drifts in machine load fall on
all of them: an empty interpreter (``python -c pass``) and ``python -c "import torch"``, what
every command paid before torch was imported lazily. The ratio column is each median over
``import torch``'s. Third-party plugins are left out (``GANZOO_LOAD_PLUGINS=``) unless
``--third-party``: one that imports torch at the top of its module makes every command wait
for it again.

    python benchmarks/startup.py [--repeat 5] [--third-party]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

COMMANDS = [
    ["--help"],
    ["models"],
    ["models", "vanilla"],
    ["datasets"],
    ["datasets", "mnist"],
    ["plugins"],
    ["metrics"],
]
BASELINES = {"python -c pass": [sys.executable, "-c", "pass"], 'python -c "import torch"': [sys.executable, "-c", "import torch"]}


def seconds(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each command (default 5); the median is printed")
    parser.add_argument("--third-party", action="store_true", help="load the installed third-party plugins too")
    args = parser.parse_args()
    env = dict(os.environ)
    if not args.third_party:
        env["GANZOO_LOAD_PLUGINS"] = ""
    runs = {**BASELINES, **{"ganzoo " + " ".join(c): [sys.executable, "-m", "ganzoo", *c] for c in COMMANDS}}
    times: dict[str, list[float]] = {name: [] for name in runs}
    for name, argv in runs.items():  # once each before timing: the file system cache, compiled bytecode
        seconds(argv, env)
    for _ in range(args.repeat):
        for name, argv in runs.items():
            times[name].append(seconds(argv, env))
    torch_median = statistics.median(times['python -c "import torch"'])
    plugins = "built-in plugins and installed third-party ones" if args.third_party else "built-in plugins only (GANZOO_LOAD_PLUGINS=)"
    print(f"median of {args.repeat} runs, {os.cpu_count()} CPUs, {plugins}")
    print(f"{'command':<28} {'median s':>9} {'min s':>7} {'/ import torch':>15}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<28} {median:>9.2f} {min(values):>7.2f} {median / torch_median:>15.2f}")


if __name__ == "__main__":
    main()
