"""Trainings on one machine take turns at the CPU: a machine-wide queue, one checklist step at a time.

Why a queue: two PyTorch processes on one CPU each start a thread per core, and their threads then fight over
every core (OpenMP threads spin while they wait for each other): measured here (2 cores, ``nbtrainer run
--limit 400 --unfrozen-cycles 1``), two runs started at once took 66 s where one after the other took 42 s,
and the loss grows with more students. With the queue, each step runs alone with every core; the others wait
("waiting for the CPU: 2nd in line") and keep a working Stop. Steps are short (seconds to a minute), so turns
interleave and every student sees progress. (``benchmarks/bench_shared_cpu.py`` measures 2 and 4 runs at once
against the same runs one after another.)

The queue is one folder for the whole machine, shared by every user (``<temp>/nbtrainer-cpu-queue``, made
world-writable with the sticky bit, as ``/tmp`` is; ``NBTRAINER_CPU_QUEUE_DIR`` to move it): a lock file held by
the running step, and one ticket file per waiting step, named by its arrival time, each held locked by its
waiter. Both locks are flocks (through ``filelock``), which the kernel releases when a process dies: a ticket
that is not locked is a waiter that is gone (killed), and is skipped whoever's it was, even if its process
id was reused since. Off on a GPU, under ``torchrun`` (the ranks of one training must run together), and with
``NBTRAINER_CPU_QUEUE=0``.

Example::

    queue = CPUQueue()
    with queue.turn(should_stop=stopper.is_set, on_wait=lambda n: print(f"{n} in line")):
        learn.fit(1e-2, 1)
"""
from __future__ import annotations

import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from filelock import FileLock, Timeout

SWITCH = "NBTRAINER_CPU_QUEUE"


class WaitCancelled(Exception):
    """Stop was pressed while the step waited for its turn."""


def default_folder() -> Path:
    return Path(os.environ.get("NBTRAINER_CPU_QUEUE_DIR") or Path(tempfile.gettempdir()) / "nbtrainer-cpu-queue")


def _shared_folder(folder: Path) -> None:
    """``folder`` made, writable by every user of the machine (sticky: each removes only their own files)."""
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        try:
            os.chmod(folder, 0o1777)
        except OSError:  # made by another user meanwhile: theirs sets the mode
            pass


def ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


class CPUQueue:
    """First come, first served turns at this machine's CPU, across processes and threads."""

    def __init__(self, folder: str | os.PathLike | None = None, poll: float = 0.1):
        self.folder = Path(folder) if folder is not None else default_folder()
        self.poll = poll

    def _waiting(self, mine: Path) -> list[Path]:
        """The tickets of live waiters, first come first (``mine`` included); a ticket nobody holds locked is a
        waiter that is gone: skipped, and removed where this user may."""
        alive = []
        for t in sorted(self.folder.glob("*.ticket")):
            if t == mine:
                alive.append(t)
                continue
            probe = FileLock(t, is_singleton=False)
            try:
                probe.acquire(timeout=0)
            except Timeout:  # held: its waiter is alive
                alive.append(t)
                continue
            except OSError:  # another user's file we cannot open: count it, its owner's lock decides
                alive.append(t)
                continue
            probe.release()
            try:
                t.unlink()
            except OSError:
                pass
        return alive

    @contextmanager
    def turn(self, should_stop: Callable[[], bool] = lambda: False,
             on_wait: Callable[[int], None] | None = None) -> Iterator[None]:
        """Wait until this step is first in line and the CPU is free, then hold it for the ``with`` block.
        ``on_wait(n)`` is called when the place in line changes (``n`` = 2: next; not called for a free CPU);
        ``should_stop()`` is polled while waiting: True raises :class:`WaitCancelled`."""
        _shared_folder(self.folder)
        lock = FileLock(self.folder / "cpu.lock", mode=0o666)
        ticket = self.folder / f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(3)}.ticket"
        held = FileLock(ticket, mode=0o666)
        held.acquire()  # held while this step waits: the sign that its waiter is alive
        shown = None
        try:
            while True:
                if not ticket.exists():  # another waiter's probe took it in the instant before our lock: again
                    held.release()
                    held.acquire()
                tickets = self._waiting(ticket)
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
            held.release()
            ticket.unlink(missing_ok=True)
        try:
            yield
        finally:
            lock.release()


def shared_cpu(device_type: str, world_size: int, should_stop: Callable[[], bool] = lambda: False,
               on_wait: Callable[[int], None] | None = None):
    """The machine-wide turn for one step on ``device_type`` in a process group of ``world_size`` (a null
    context where the queue is off: a GPU, torchrun, ``NBTRAINER_CPU_QUEUE=0``)."""
    if os.environ.get(SWITCH, "1") == "0" or device_type != "cpu" or world_size > 1:
        return nullcontext()
    return CPUQueue().turn(should_stop, on_wait)
