"""The worker processes of ``ganzoo bench --jobs N``: N entries at once, each worker with its share of the cores or its own device.

The standard library does the work. Each worker is a ``ProcessPoolExecutor`` of one process
(``spawn`` start method: no forked copy of a parent that may hold CUDA or threads), kept for
the whole bench and handed one entry at a time. One executor per worker, rather than one of N
processes, because an executor whose process dies is broken for good and terminates the others:
here a worker that dies (kill -9, out of memory) fails only the entry it was running, with
``BrokenProcessPool``, and the next entry for that slot gets a fresh worker on the same device,
while the other workers train on.

Workers never write the results store; the parent does (:mod:`ganzoo.bench.runner`).

Threads: each worker calls ``torch.set_num_threads(max(1, cores // N))`` when it starts (cores:
those this process may run on), never more than torch would take alone, so ``OMP_NUM_THREADS``
still caps it. With devices (``--devices cuda:0,cuda:1``) worker *i* claims the *i*-th device for
its life; a device may repeat (``cuda:0,cuda:0``: two workers on one GPU).

Ctrl-C: a terminal sends SIGINT to its whole foreground process group, so every worker gets it
itself, exactly as one-process bench does: the trainer finishes its step, saves a checkpoint and
stops. A worker ignores SIGINT between entries (an idle worker killed by it would break its
executor) and is born with SIGINT blocked, so that one arriving while it imports torch cannot
kill it either. The parent, on the first Ctrl-C, hands out no more entries and sets an event
that tells a worker whose entry has not yet begun not to begin it; a second Ctrl-C stops the
workers at once. A SIGINT sent to the parent alone (``kill -INT PID``) therefore lets the running
entries finish and starts no new ones.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import warnings
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TextIO

from ..errors import GanzooError

__all__ = ["Workers", "entry_scope", "parse_workers", "worker_device"]

_DEVICES_HELP = "comma-separated cpu or cuda:N, such as cuda:0,cuda:1"


def parse_workers(jobs: int | None, devices: str | None) -> list[str | None]:
    """One item per worker: the device it claims, or None (the entry's own device, ``auto``).

    ``[None]`` or a single device means the bench runs in this process, as without ``--jobs``.
    ``--devices`` alone sets the number of workers; with ``--jobs`` the two must agree.
    """
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise GanzooError(f"bad --jobs {jobs} (valid: 1 or more worker processes; 1, the default, runs in this process)")
    if devices is None:
        return [None] * (jobs or 1)
    names = [d.strip() for d in devices.split(",")]
    if not any(names):
        raise GanzooError(f"--devices is empty (valid: {_DEVICES_HELP})")
    names = [_check_device(name, devices) for name in names]
    if jobs is not None and jobs != len(names):
        raise GanzooError(
            f"--jobs {jobs} but --devices names {len(names)}: give one device per worker (a device may repeat, "
            f"as in cuda:0,cuda:0), or leave out --jobs"
        )
    return list(names)


def _check_device(name: str, given: str) -> str:
    """``name`` as torch spells it, when it is cpu or a CUDA device this machine has."""
    kind, _, index = name.partition(":")
    if name == "cpu":
        return name
    if kind != "cuda" or not index.isdigit():
        raise GanzooError(f"bad --devices {given!r}: {name!r} is not a device (valid: {_DEVICES_HELP})")
    import torch

    count = torch.cuda.device_count()
    if int(index) >= count:
        where = f"its CUDA devices are cuda:0 to cuda:{count - 1}" if count else "it has no CUDA device (valid here: cpu)"
        raise GanzooError(f"bad --devices {given!r}: no {name} on this machine; {where}")
    return f"cuda:{int(index)}"


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # what this process may run on (a container's share), not the machine's count
    except AttributeError:
        return os.cpu_count() or 1


# -- inside a worker ---------------------------------------------------------------------------

_worker: dict[str, Any] = {}  # set by _start_worker in each worker process


def _start_worker(threads: int, device: str | None, stop, showwarning) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])  # born blocked (see Workers.submit); a pending one is dropped
    import torch
    from tqdm.auto import tqdm

    # tqdm's default lock is a multiprocessing one, registered with the parent's resource tracker:
    # a worker killed with it would leave the tracker a "leaked semaphore" warning to print at exit.
    # Workers draw no bars that another process shares, so a thread lock does.
    tqdm.set_lock(threading.RLock())
    torch.set_num_threads(max(1, min(threads, torch.get_num_threads())))
    if device is not None and device.startswith("cuda"):
        torch.cuda.set_device(device)  # anything that asks for plain "cuda" gets this worker's GPU
    if showwarning is not None:
        warnings.showwarning = showwarning  # the parent's one-line warnings, not the default two lines
    _worker.update(device=device, stop=stop)


def worker_device() -> str | None:
    """The device this worker claimed (None: none claimed, or not in a worker)."""
    return _worker.get("device")


@contextmanager
def entry_scope(prefix: str) -> Iterator[bool]:
    """Run one entry in a worker: Ctrl-C interrupts it, and every line it prints goes out whole, behind ``prefix``.

    Yields False when the parent has asked that no entry begin (a Ctrl-C came first).
    """
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Prefixed(out, prefix), _Prefixed(err, prefix)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield not _worker["stop"].is_set()
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        sys.stdout, sys.stderr = out, err


class _Prefixed(io.TextIOBase):
    """A text stream that writes each complete line to ``stream`` in one write, behind ``prefix``.

    One write per line keeps the lines of several workers on one terminal or pipe whole.
    """

    def __init__(self, stream: TextIO, prefix: str) -> None:
        self.stream, self.prefix, self.pending = stream, prefix, ""

    def write(self, text: str) -> int:
        *lines, self.pending = (self.pending + text).split("\n")
        for line in lines:
            self._emit(line)
        return len(text)

    def _emit(self, line: str) -> None:
        line = line.strip()  # the indent under a one-process bench's entry header; the trainer's leading newline
        if line:
            self.stream.write(f"{self.prefix}{line}\n")
            self.stream.flush()

    def flush(self) -> None:
        if self.pending:
            self._emit(self.pending)
            self.pending = ""
        self.stream.flush()

    def fileno(self) -> int:
        return self.stream.fileno()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:
        return self.stream.encoding


# -- in the parent -----------------------------------------------------------------------------

class Workers:
    """Worker slots, one process each, and the parent's Ctrl-C. Use as a context manager, in the main thread.

    ``stopping`` turns True at the first Ctrl-C; leaving the block by an exception (the second
    Ctrl-C raises KeyboardInterrupt) terminates every worker at once.
    """

    def __init__(self, devices: list[str | None], on_stop: Callable[[], None]) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._stop = self._context.Event()
        self._threads = max(1, _cores() // len(devices))
        self._devices = devices
        self._slots: list[ProcessPoolExecutor | None] = [None] * len(devices)
        self._busy: dict[Future, int] = {}
        self._processes: list[multiprocessing.process.BaseProcess] = []  # every worker started, for stopping them at once
        self._on_stop = on_stop
        self.stopping = False
        self._previous: Any = False  # False: no handler of ours installed (not the main thread)

    def __enter__(self) -> Workers:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._ctrl_c)
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if self._previous is not False:  # None: a handler not set from Python, which cannot be put back
            signal.signal(signal.SIGINT, signal.default_int_handler if self._previous is None else self._previous)
        if kind is not None:
            self._stop.set()
            for process in self._processes:
                if process.is_alive():
                    process.terminate()
        for executor in self._slots:
            if executor is not None:
                executor.shutdown(wait=kind is None, cancel_futures=True)

    def _ctrl_c(self, signum, frame) -> None:
        if self.stopping:
            raise KeyboardInterrupt
        self.stopping = True
        self._stop.set()
        self._on_stop()

    def idle_slot(self) -> int | None:
        busy = set(self._busy.values())
        return next((i for i in range(len(self._slots)) if i not in busy), None)

    def submit(self, slot: int, fn: Callable[..., Any], *args: Any) -> Future:
        """Run ``fn(*args)`` in the worker of ``slot`` (started now if it has none)."""
        if self._slots[slot] is None:
            self._slots[slot] = ProcessPoolExecutor(
                1, mp_context=self._context, initializer=_start_worker,
                initargs=(self._threads, self._devices[slot], self._stop, _picklable(warnings.showwarning)),
            )
        # The worker process is started by this submit and inherits this thread's signal mask: with
        # SIGINT blocked until its initializer ignores it, a Ctrl-C during its start-up cannot kill it.
        # Here a SIGINT stays pending (or goes to another thread); none is lost.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT])
        try:
            before = set(multiprocessing.active_children())
            future = self._slots[slot].submit(fn, *args)  # a spawn executor starts its process in submit, in this thread
            self._processes += [p for p in multiprocessing.active_children() if p not in before]
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        self._busy[future] = slot
        return future

    def finished(self, future: Future) -> None:
        """Free the slot of a finished ``future``; a slot whose worker died gets a fresh one at its next entry."""
        slot = self._busy.pop(future)
        if isinstance(future.exception(), BrokenProcessPool):
            self._slots[slot].shutdown(wait=True)
            self._slots[slot] = None


def _picklable(obj: Any) -> Any:
    try:
        pickle.dumps(obj)
    except Exception:  # a closure, say: the worker keeps its own
        return None
    return obj
