"""``ganzoo run --nproc-per-node N``: start N training processes with torchrun's own launcher.

This is ``torchrun -m ganzoo run ...`` done for the user, through the same elastic agent
(``torch.distributed.launcher``): one node by default (a rendezvous on a free local port,
as ``torchrun --standalone``), or ``--nnodes M --rdzv-endpoint HOST:PORT`` for several
machines, each running the same command. What it adds is the reporting: the workers say
their own one-line errors, and when a worker dies (killed, or crashed) the agent stops
every other one and this launcher says in one line which rank, and where to resume.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import uuid
from pathlib import Path

from ..errors import GanzooError
from .folder import RunFolder

# A worker that printed a one-line error, lost its peers, or was interrupted, exits with these.
EXIT_USAGE = 2
EXIT_LOST_CONTACT = 3
EXIT_INTERRUPTED = 130
# How long the agent waits for the ranks to save and stop after a Ctrl-C before it kills them.
SHUTDOWN_SECONDS = 300


def in_job() -> bool:
    """Whether this process is one rank of a data-parallel job (torchrun set WORLD_SIZE above 1)."""
    return os.environ.get("WORLD_SIZE", "").strip() not in ("", "1")


def check_launch(nproc_per_node: int | None, nnodes: int | None, rdzv_endpoint: str | None) -> int:
    """The number of processes a launch would start (1: no launch); one-line errors for bad values."""
    if in_job() and (nproc_per_node or nnodes):
        raise GanzooError("--nproc-per-node and --nnodes start processes; this one was already started by torchrun (drop them)")
    nproc = 1 if nproc_per_node is None else nproc_per_node
    nodes = 1 if nnodes is None else nnodes
    if nproc < 1:
        raise GanzooError(f"bad --nproc-per-node {nproc} (valid: 1 or more processes on this machine)")
    if nodes < 1:
        raise GanzooError(f"bad --nnodes {nodes} (valid: 1 or more machines)")
    if nodes > 1 and not rdzv_endpoint:
        raise GanzooError(f"--nnodes {nodes} needs --rdzv-endpoint HOST:PORT, a machine and port every node can reach")
    if rdzv_endpoint and nodes == 1:
        raise GanzooError("--rdzv-endpoint goes with --nnodes N (N > 1); one machine needs neither")
    return nproc * nodes


def launch(worker_args: list[str], nproc_per_node: int, nnodes: int, rdzv_endpoint: str | None, rdzv_id: str | None,
           folder: Path) -> int:
    """Run ``python -m ganzoo <worker_args>`` as ``nproc_per_node`` ranks here (of ``nnodes`` machines); the exit status."""
    import inspect

    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.elastic.rendezvous.api import RendezvousError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    # The agent's own progress messages are for debugging torchrun; ganzoo reports in its own words.
    for name in [n for n in logging.root.manager.loggerDict if n.startswith("torch.distributed")]:
        logging.getLogger(name).setLevel(logging.CRITICAL)  # each sets its own level, so each is quietened
    if "OMP_NUM_THREADS" not in os.environ:  # as torchrun does, but sharing this machine's cores between the ranks
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // nproc_per_node))
    config = LaunchConfig(
        min_nodes=nnodes, max_nodes=nnodes, nproc_per_node=nproc_per_node,
        run_id=rdzv_id or (f"ganzoo-{folder.name}" if nnodes > 1 else str(uuid.uuid4())),
        rdzv_backend="c10d", rdzv_endpoint=rdzv_endpoint or "localhost:0",
        max_restarts=0,  # a failed rank stops the job; the run resumes from its last checkpoint
        **({"shutdown_timeout": SHUTDOWN_SECONDS} if "shutdown_timeout" in inspect.signature(LaunchConfig).parameters else {}),
    )
    if nnodes > 1:
        print(f"waiting for {nnodes} machines at {rdzv_endpoint} (run the same command on each)", file=sys.stderr)
    resume = f"ganzoo run --resume {folder} --nproc-per-node {nproc_per_node}" + (f" --nnodes {nnodes} --rdzv-endpoint {rdzv_endpoint}" if nnodes > 1 else "")
    try:
        elastic_launch(config, sys.executable)("-m", "ganzoo", *worker_args)
    except SignalException:  # Ctrl-C or SIGTERM: the ranks were told to stop and rank 0 said where it stopped
        return EXIT_INTERRUPTED
    except RendezvousError as exc:
        print(f"ganzoo run: error: the machines could not meet at {rdzv_endpoint or 'localhost'}: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}",
              file=sys.stderr)
        return 1
    except ChildFailedError as exc:
        # The cause: not a rank that only lost its peers, nor one the agent stopped (SIGTERM) because
        # another failed; the earliest of the others.
        collateral = (EXIT_LOST_CONTACT, -signal.SIGTERM)
        causes = {r: f for r, f in exc.failures.items() if f.exitcode not in collateral} or exc.failures
        rank = min(causes, key=lambda r: (causes[r].timestamp, r))
        failure = causes[rank]
        codes = {f.exitcode for f in exc.failures.values()}
        if codes <= {EXIT_INTERRUPTED}:
            return EXIT_INTERRUPTED  # rank 0 has said where it stopped
        if failure.exitcode == EXIT_USAGE:
            return EXIT_USAGE  # the rank printed its one-line error
        if failure.exitcode < 0:
            try:
                what = f"was killed by {signal.Signals(-failure.exitcode).name}"
            except ValueError:
                what = f"was killed by signal {-failure.exitcode}"
        else:
            what = f"failed (exit status {failure.exitcode})"
        kept = (f"the last checkpoint in {folder} is kept: continue with {resume}" if RunFolder(folder).checkpoint_file("last").is_file()
                else f"no checkpoint had been written in {folder}")
        print(f"ganzoo run: error: rank {rank} {what}, so every rank was stopped; {kept}", file=sys.stderr)
        return 1
    return 0
