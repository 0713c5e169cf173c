"""Precompute: a head epoch on cached activations vs a head epoch through the frozen body, and building
the cache vs one plain inference pass, on the embedded digits at 64 px (same learner, same data).

Run: ``python benchmarks/bench_precompute.py``
"""
from __future__ import annotations

import statistics

import torch

from nbtrainer import ImageData, Learner
from nbtrainer.train.precompute import cache_key, compute_activations

try:
    from .common import median_seconds, print_table, row
except ImportError:  # run as a script
    from common import median_seconds, print_table, row


@torch.inference_mode()
def inference_pass(learn: Learner) -> None:
    """The whole model over the train and valid images once, in eval mode, no augmentation."""
    learn.model.eval()
    for dl in (learn.data.train_dl(shuffle=False, augment=False), learn.data.valid_dl()):
        for xb, _ in dl:
            learn.model(xb)


def head_epoch_seconds(learn: Learner, precompute: bool) -> float:
    learn.precompute = precompute
    learn.fit(1e-2)
    return learn.recorder.epochs[-1]["seconds"]  # one epoch: training and validation


def run(size: int = 64, repeats: int = 3) -> list[dict]:
    learn = Learner(ImageData.demo(size=size, bs=64))
    key = cache_key(learn)
    inference_pass(learn)  # warm-up
    build = median_seconds(lambda: compute_activations(learn, key), repeats)
    infer = median_seconds(lambda: inference_pass(learn), repeats)
    on_body = statistics.median(head_epoch_seconds(learn, False) for _ in range(repeats))
    head_epoch_seconds(learn, True)  # builds the cache once
    on_cache = statistics.median(head_epoch_seconds(learn, True) for _ in range(repeats))
    return [
        row(f"head epoch on cache vs frozen body ({size}px)", on_cache, on_body, "frozen body each batch",
            ">= 100x faster (ratio <= 0.01)"),
        row(f"cache build vs one inference pass ({size}px)", build, infer, "model(x) over train+valid",
            "<= 1.1x"),
    ]


if __name__ == "__main__":
    print_table(run())
