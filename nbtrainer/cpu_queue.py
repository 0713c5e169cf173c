"""Trainings on one machine take turns at the CPU: a machine-wide queue, one checklist step at a time.

Why a queue: two PyTorch processes on one CPU each start a thread per core, and their threads then fight over
every core (OpenMP threads spin while they wait for each other): measured here (2 cores, ``nbtrainer run
--limit 400 --unfrozen-cycles 1``), two runs started at once took 66 s where one after the other took 42 s,
and the loss grows with more students. With the queue, each step runs alone with every core; the others wait
("waiting for the CPU: 2nd in line") and keep a working Stop. Steps are short (seconds to a minute), so turns
interleave and every student sees progress. (``benchmarks/bench_shared_cpu.py`` measures 2 and 4 runs at once
against the same runs one after another.)

The queue lives in ``$NBTRAINER_CACHE`` (default ``~/.cache/nbtrainer``)``/cpu-queue/``: a lock file held by the
running step (flock, through ``filelock``: released by the kernel if its process dies) and one ticket file per
waiting step, named by its arrival time and process id, so that the first in line goes next and a ticket of a
killed process is skipped. Off on a GPU, under ``torchrun`` (the ranks of one training must run together), and
with ``NBTRAINER_CPU_QUEUE=0``.

Example::

    queue = CPUQueue()
    with queue.turn(should_stop=stopper.is_set, on_wait=lambda n: print(f"{n} in line")):
        learn.fit(1e-2, 1)
"""
from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from filelock import FileLock, Timeout

SWITCH = "NBTRAINER_CPU_QUEUE"


class WaitCancelled(Exception):
    """Stop was pressed while the step waited for its turn."""


def default_folder() -> Path:
    base = os.environ.get("NBTRAINER_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "nbtrainer") / "cpu-queue"


def ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


class CPUQueue:
    """First come, first served turns at this machine's CPU, across processes and threads."""

    def __init__(self, folder: str | os.PathLike | None = None, poll: float = 0.1):
        self.folder = Path(folder) if folder is not None else default_folder()
        self.poll = poll

    def _tickets(self) -> list[Path]:
        """Waiting tickets, first come first; those of processes that are gone are removed."""
        alive = []
        for t in sorted(self.folder.glob("*.ticket")):
            pid = t.name.split("-")[1]
            if pid.isdigit() and _alive(int(pid)):
                alive.append(t)
            else:
                t.unlink(missing_ok=True)
        return alive

    @contextmanager
    def turn(self, should_stop: Callable[[], bool] = lambda: False,
             on_wait: Callable[[int], None] | None = None) -> Iterator[None]:
        """Wait until this step is first in line and the CPU is free, then hold it for the ``with`` block.
        ``on_wait(n)`` is called when the place in line changes (``n`` = 2: next; not called for a free CPU);
        ``should_stop()`` is polled while waiting: True raises :class:`WaitCancelled`."""
        self.folder.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.folder / "cpu.lock")
        ticket = self.folder / f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(3)}.ticket"
        ticket.touch()
        shown = None
        try:
            while True:
                tickets = self._tickets()
                place = tickets.index(ticket) if ticket in tickets else 0
                if place == 0:
                    try:
                        lock.acquire(timeout=0)
                        break
                    except Timeout:
                        pass
                if on_wait and shown != place + 2:  # ahead: the step running and the tickets before this one
                    shown = place + 2
                    on_wait(shown)
                if should_stop():
                    raise WaitCancelled("stopped while waiting for the CPU")
                time.sleep(self.poll)
        finally:
            ticket.unlink(missing_ok=True)
        try:
            yield
        finally:
            lock.release()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def shared_cpu(device_type: str, world_size: int, should_stop: Callable[[], bool] = lambda: False,
               on_wait: Callable[[int], None] | None = None):
    """The machine-wide turn for one step on ``device_type`` in a process group of ``world_size`` (a null
    context where the queue is off: a GPU, torchrun, ``NBTRAINER_CPU_QUEUE=0``)."""
    if os.environ.get(SWITCH, "1") == "0" or device_type != "cpu" or world_size > 1:
        return nullcontext()
    return CPUQueue().turn(should_stop, on_wait)
