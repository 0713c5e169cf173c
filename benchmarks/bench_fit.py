"""One training epoch (train + validate, whole network trainable, embedded digits at 64 px, bs 64):
``learn.fit`` vs a hand-written PyTorch loop vs fastai 2.x ``fit``, on the same model, loaders, batch
size and seed; every side starts from the same weights (restored exactly), sides interleaved, median
of ``repeats``. Then progressive resizing: the same epoch at half the size, against the pixel ratio.

Run: ``python benchmarks/bench_fit.py`` (fastai comes with ``pip install -e ".[bench]"``)
"""
from __future__ import annotations

import statistics

from nbtrainer import ImageData, Learner
from nbtrainer.train.learner_state import restore, take

try:
    from .common import interleaved, print_table, row, seconds
    from .peers import fastai_learner, hand_written_epoch, quiet_fastai
except ImportError:  # run as a script
    from common import interleaved, print_table, row, seconds
    from peers import fastai_learner, hand_written_epoch, quiet_fastai

LR = 1e-3


def fit_epoch_rows(size: int = 64, repeats: int = 3) -> list[dict]:
    learn = Learner(ImageData.demo(size=size, bs=64), seed=0, opt="sgd")
    learn.unfreeze()
    flearn = fastai_learner(learn)
    start = take(learn)

    def ours() -> None:
        restore(learn, start)
        learn.fit(LR)

    def hand() -> None:
        restore(learn, start)
        hand_written_epoch(learn, LR)

    def fastai() -> None:
        restore(learn, start)
        flearn.dls = type(flearn.dls)(learn.data.train_dl(), learn.data.valid_dl())  # same fresh loaders
        with quiet_fastai(flearn):
            flearn.fit(1, LR)

    med, _ = interleaved({"nbtrainer": ours, "hand": hand, "fastai": fastai}, repeats, warm_up=True)
    return [row(f"fit epoch, unfrozen ({size}px)", med["nbtrainer"], med["hand"], "hand-written PyTorch loop",
                "<= 1.02x"),
            row(f"fit epoch, unfrozen ({size}px)", med["nbtrainer"], med["fastai"], "fastai 2.8 Learner.fit",
                "<= 1.0x")]


def resize_rows(small: int = 32, large: int = 64, repeats: int = 3) -> list[dict]:
    """Epoch time at ``small`` px vs ``large`` px (same learner, set_size), next to the pixel ratio."""
    learn = Learner(ImageData.demo(size=large, bs=64), seed=0, opt="sgd")
    learn.unfreeze()
    start = take(learn)
    times: dict[int, list[float]] = {small: [], large: []}

    def epoch(size: int) -> float:
        restore(learn, start)
        learn.set_size(size)
        return seconds(lambda: learn.fit(LR))

    epoch(small)
    for _ in range(repeats):
        for size in (small, large):
            times[size].append(epoch(size))
    t_small, t_large = statistics.median(times[small]), statistics.median(times[large])
    pixels = (small / large) ** 2
    return [row(f"epoch at {small}px vs {large}px (pixels {pixels:.2f}x)", t_small, t_large,
                f"the same epoch at {large}px", f"~{pixels:.2f}x (pixels)")]


def run(repeats: int = 3) -> list[dict]:
    return fit_epoch_rows(repeats=repeats) + resize_rows(repeats=repeats)


if __name__ == "__main__":
    print_table(run())
