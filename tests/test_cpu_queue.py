"""Trainings on one machine take turns at the CPU (nbtrainer.cpu_queue): turns never overlap across
processes, first come first served, a killed holder or waiter does not block the others, Stop works while
waiting, and a checklist step waits for its turn, saying where it is in line."""
from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from nbtrainer.cpu_queue import CPUQueue, WaitCancelled

from .conftest import FAST_RECIPE, small_learner


def forked(job) -> int:
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            job()
            code = 0
        finally:
            os._exit(code)
    return pid


def wait_all(pids) -> None:
    assert all(os.waitpid(pid, 0)[1] == 0 for pid in pids)


def test_turns_of_several_processes_never_overlap_and_go_first_come_first_served(tmp_path):
    queue, log = CPUQueue(tmp_path / "q", poll=0.02), tmp_path / "log"

    def hold(name: str, seconds: float):
        with queue.turn():
            with open(log, "a") as f:
                f.write(f"{name} start {time.monotonic()}\n")
            time.sleep(seconds)
            with open(log, "a") as f:
                f.write(f"{name} end {time.monotonic()}\n")

    pids = [forked(lambda: hold("a", 0.6))]
    time.sleep(0.2)
    for name in "bcd":  # arrive in this order while a holds the CPU
        pids.append(forked(lambda name=name: hold(name, 0.1)))
        time.sleep(0.1)
    wait_all(pids)
    lines = [line.split() for line in log.read_text().splitlines()]
    assert [(n, e) for n, e, _ in lines] == [(n, e) for n in "abcd" for e in ("start", "end")]  # one at a time
    assert not list((tmp_path / "q").glob("*.ticket"))


def test_a_waiter_hears_its_place_and_stop_ends_the_wait(tmp_path):
    queue = CPUQueue(tmp_path / "q", poll=0.02)
    held, release = threading.Event(), threading.Event()

    def holder():
        with queue.turn():
            held.set()
            release.wait(10)

    threading.Thread(target=holder).start()
    held.wait(5)
    places, stop = [], threading.Event()
    threading.Timer(0.3, stop.set).start()
    with pytest.raises(WaitCancelled):
        with queue.turn(should_stop=stop.is_set, on_wait=places.append):
            pytest.fail("the turn came while another held the CPU")
    assert places == [2] and not list((tmp_path / "q").glob("*.ticket"))
    release.set()


def test_a_killed_holder_or_waiter_does_not_block_the_queue(tmp_path):
    queue = CPUQueue(tmp_path / "q", poll=0.02)
    def hold(seconds):
        with queue.turn():
            time.sleep(seconds)

    holder = forked(lambda: hold(60))
    time.sleep(0.3)
    waiter = forked(lambda: hold(0))
    time.sleep(0.3)
    assert len(list((tmp_path / "q").glob("*.ticket"))) == 1
    for pid in (waiter, holder):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    start = time.monotonic()
    with queue.turn():
        assert time.monotonic() - start < 2  # the lock went with its process; the dead ticket is skipped


def test_a_checklist_step_waits_for_its_turn_says_so_and_can_be_stopped(tmp_path, monkeypatch):
    import nbtrainer as nbt
    from nbtrainer.train.callbacks import Stopper

    monkeypatch.setenv("NBTRAINER_CPU_QUEUE_DIR", str(tmp_path / "cpu-queue"))
    held, release = threading.Event(), threading.Event()

    def other_training():
        with CPUQueue().turn():
            held.set()
            release.wait(30)

    pid = forked(other_training)
    learn = small_learner(n=60)
    checklist = nbt.Checklist.recipe(learn, **FAST_RECIPE)
    said, stopper = [], Stopper()
    checklist.on_wait = said.append
    learn.add_callback(stopper)
    while not list(tmp_path.glob("cpu-queue/cpu.lock")):
        time.sleep(0.05)
    time.sleep(0.2)
    threading.Timer(0.5, stopper.request).start()
    step = checklist.run_step(0)
    assert step.status == "stopped" and said[0].startswith("waiting for the CPU: 2nd in line")
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    stopper.clear()
    assert checklist.run_step(0).status == "done" and said[-1] is None  # its turn came at once


def test_a_ticket_left_by_a_killed_waiter_is_skipped_even_if_its_process_id_lives_again(tmp_path):
    queue = CPUQueue(tmp_path / "q", poll=0.02)
    (tmp_path / "q").mkdir()
    stale = tmp_path / "q" / f"{1:020d}-{os.getpid()}-abcdef.ticket"  # first in line, with a live pid (ours)
    stale.touch()
    start = time.monotonic()
    with queue.turn(on_wait=lambda n: pytest.fail(f"waited, {n} in line, behind a dead ticket")):
        assert time.monotonic() - start < 2
    assert not stale.exists()


def test_the_queue_folder_is_shared_by_every_user_of_the_machine(tmp_path, monkeypatch):
    from nbtrainer.cpu_queue import default_folder

    monkeypatch.delenv("NBTRAINER_CPU_QUEUE_DIR", raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    assert default_folder() == tmp_path / "nbtrainer-cpu-queue"
    with CPUQueue().turn():
        mode = (tmp_path / "nbtrainer-cpu-queue").stat().st_mode & 0o7777
        assert mode == 0o1777 and (tmp_path / "nbtrainer-cpu-queue" / "cpu.lock").stat().st_mode & 0o666 == 0o666
