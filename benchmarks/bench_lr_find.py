"""lr_find (100 iterations) vs torch-lr-finder's ``range_test`` (+ its ``reset``), same model, data,
optimizer and LR range; the whole network trainable (the costly case: every tensor is copied).

Time: median of ``repeats`` runs, the two sides alternating, in this process. Peak memory: each side
runs once in a fresh subprocess and reports how much its peak resident memory grew during the sweep
(resident memory sampled every 2 ms; on CUDA, ``torch.cuda.max_memory_allocated``).

Both sweeps run the full ``num_iter`` iterations (early stopping is off on both sides, and ``end_lr``
stays low enough that the loss stays finite), so they do the same work.

Run: ``python benchmarks/bench_lr_find.py`` (needs the ``bench`` extra: ``pip install -e ".[bench]"``)
"""
from __future__ import annotations

import contextlib
import gc
import os
import sys
import threading
import time
from pathlib import Path

import torch

from nbtrainer import ImageData, Learner

try:
    from .common import interleaved, last_json_line, print_table, row
except ImportError:  # run as a script
    from common import interleaved, last_json_line, print_table, row

START_LR, END_LR, NUM_ITER = 1e-6, 1e-2, 100


def make_learner(size: int) -> Learner:
    learn = Learner(ImageData.demo(size=size, bs=64), seed=0, opt="sgd")
    learn.unfreeze()
    return learn


def ours(learn: Learner) -> int:
    result = learn.lr_find(start_lr=START_LR, end_lr=END_LR, num_iter=NUM_ITER, div_factor=1e9)
    return len(result.lrs)


def peer(learn: Learner) -> int:
    from torch_lr_finder import LRFinder

    finder = LRFinder(learn.model, learn.opt, learn.loss_fn, device=learn.device)
    with open(os.devnull, "w") as quiet, contextlib.redirect_stderr(quiet):  # its tqdm bar
        finder.range_test(learn.data.train_dl(), start_lr=START_LR, end_lr=END_LR, num_iter=NUM_ITER,
                          diverge_th=1e9)
    finder.reset()  # torch-lr-finder restores only when asked; ours always does, so time it too
    return len(finder.history["lr"])


SIDES = {"nbtrainer": ours, "torch-lr-finder": peer}


def peak_growth(side: str, size: int) -> float:
    """MiB the peak memory grew during one sweep, measured in a fresh process."""
    code = (f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import bench_lr_find as b; "
            f"print(json.dumps(b.measure_peak({side!r}, {size})))")
    return last_json_line([sys.executable, "-c", code])


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure_peak(side: str, size: int) -> float:
    """Peak memory growth (MiB) during one sweep: resident memory sampled every 2 ms by a thread
    (``ru_maxrss`` cannot say it: building the model already set a higher peak)."""
    learn = make_learner(size)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.max_memory_allocated()
        SIDES[side](learn)
        return (torch.cuda.max_memory_allocated() - before) / 2 ** 20
    gc.collect()
    before, peak, done = _rss_bytes(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    SIDES[side](learn)
    done.set()
    sampler.join()
    return (peak[0] - before) / 2 ** 20


def run(size: int = 32, repeats: int = 3) -> list[dict]:
    learn = make_learner(size)
    median, counts = interleaved({name: lambda sweep=sweep: sweep(learn) for name, sweep in SIDES.items()}, repeats)
    assert counts["nbtrainer"] == counts["torch-lr-finder"] == NUM_ITER, counts
    memory = {name: peak_growth(name, size) for name in SIDES}
    return [
        row(f"lr_find {NUM_ITER} it, unfrozen ({size}px): time", median["nbtrainer"], median["torch-lr-finder"],
            "torch-lr-finder range_test+reset", "<= 1.05x"),
        row(f"lr_find {NUM_ITER} it, unfrozen ({size}px): peak mem +", memory["nbtrainer"],
            memory["torch-lr-finder"], "torch-lr-finder range_test+reset", "<= 1.0x", unit="M"),
    ]


if __name__ == "__main__":
    print_table(run())
