"""Overhead of the notebook widget: the same fit run headless (``learn.fit``) and through the widget
(``Trainer``: the fit on its worker thread, the live feed, every view redrawn a few times a second, the
widget messages serialized and counted by recording comms, no browser). Same learner, same starting
state (restored exactly before every run), interleaved repeats, median of each side.

Two fits on the embedded digits at 64 px: the head trained on images through the frozen body
(2 epochs), and the head on precomputed activations (30 short epochs: the most updates per second of
compute, so the worst case for the widget).

Run: ``python benchmarks/bench_widget.py``
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbtrainer as nbt
from nbtrainer.train.learner_state import restore, take
from nbtrainer.widget import Trainer, Worker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: its tests' helpers
from tests.traffic import recording_comms  # noqa: E402  (counts widget messages; a test helper)

try:
    from .common import print_table, row, seconds
except ImportError:  # run as a script
    from common import print_table, row, seconds


def _count_time(obj, name: str, total: dict) -> None:
    """Add the seconds spent in ``obj.name(...)`` to ``total["seconds"]`` (an instance attribute wraps it)."""
    method = getattr(obj, name)

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            total["seconds"] += time.perf_counter() - start

    setattr(obj, name, timed)


def compare(learn: nbt.Learner, params: dict, repeats: int, log) -> dict:
    """Median seconds of the same fit: headless on the main thread, headless on a worker thread (what the
    widget's thread alone costs), and through the widget; plus the widget's message count."""
    checklist = nbt.Checklist(learn, [nbt.Step("fit", "fit", dict(params))], lr=1e-2)
    trainer = Trainer(checklist, folder=tempfile.mkdtemp(prefix="nbt-bench-"))
    start_state = take(learn)

    def headless() -> None:
        restore(learn, start_state)
        learn.fit(1e-2, n_cycle=params["n_cycle"])

    def headless_thread() -> None:
        worker = Worker()
        worker.start(headless)
        worker.join()

    def widget() -> None:
        restore(learn, start_state)
        trainer.model.run(0)
        trainer.model.worker.join()
        assert trainer.model.statuses == ["done"], trainer.model.errors

    own = {"seconds": 0.0}
    for obj, name in ((trainer.model.feed, "on_update"), (trainer.model, "sync")):
        _count_time(obj, name, own)
    headless()  # warm-up (and the cache, for the precompute case)
    times: dict[str, list[float]] = {"main": [], "thread": [], "widget": []}
    windows = []
    for _ in range(repeats):  # interleaved, so drift of the machine hits every side
        times["main"].append(seconds(headless))
        times["thread"].append(seconds(headless_thread))
        begin = time.monotonic()
        times["widget"].append(seconds(widget))
        windows.append((begin, time.monotonic()))
    result = {k: statistics.median(v) for k, v in times.items()}
    result["own"] = own["seconds"] / repeats  # per widget run
    result["messages"] = sum(len(log.updates(a, b)) for a, b in windows)
    result["seconds"] = sum(b - a for a, b in windows)
    return result


def run(size: int = 64, repeats: int = 3) -> list[dict]:
    rows = []
    with recording_comms() as log:
        learn = nbt.Learner(nbt.ImageData.demo(size=size, bs=64))
        for label, params, precompute in (("head on images, 2 epochs", {"n_cycle": 2}, False),
                                          ("head on cache, 30 epochs", {"n_cycle": 30, "precompute": True}, True)):
            learn.precompute = precompute
            r = compare(learn, params, repeats, log)
            rows.append(row(f"widget vs headless: {label}", r["widget"], r["main"], "learn.fit, main thread",
                            "<= 1.03x"))
            rows.append(row(f"widget vs headless on a thread: {label}", r["widget"], r["thread"],
                            "learn.fit, worker thread", "(widget alone)"))
            rows.append(row(f"widget's own work (draw, sync) vs fit: {label}", r["own"], r["widget"],
                            "the widget run", "(share)"))
            print(f"  {label}: {r['messages']} widget messages in {r['seconds']:.1f} s of widget runs "
                  f"({r['messages'] / r['seconds']:.0f}/s over all widgets)")
    return rows


if __name__ == "__main__":
    print_table(run())
