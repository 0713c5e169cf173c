"""Parts of an image source (train, valid, test) by index, seen through a transform, and how many loader
processes read them.

Example::

    train, valid, test = hold_out(len(source), seed=0, valid_pct=0.2, test_pct=0.1)
    view = SplitView(Split(source, train), transform)      # a torch Dataset
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

from .sources import ArraySource, BadImageError, ImageSource


@dataclass
class Split:
    """Some images of a source, by index."""

    source: ImageSource
    indices: list[int]

    def __len__(self) -> int:
        return len(self.indices)

    def targets(self) -> torch.Tensor:
        return torch.tensor([self.source.targets[i] for i in self.indices])


class SplitView(Dataset):
    """A split through a transform. An image that fails to load although it passed the checks before training
    (changed or damaged on disk since) is left out with a warning naming it: the next image of the split takes
    its place in the batch, so a fit never dies on one file."""

    def __init__(self, split: Split, transform):
        self.split, self.transform = split, transform
        self.left_out: set[int] = set()  # source indices that failed (in this process: each loader worker has its own)

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i: int):
        for k in range(min(len(self.split), 16)):
            index = self.split.indices[(i + k) % len(self.split)]
            if index in self.left_out:
                continue
            try:
                return self.transform(self.split.source.load(index)), self.split.source.targets[index]
            except BadImageError as e:
                self.left_out.add(index)
                warnings.warn(f"{e}; left out of this run (the next image takes its place)", stacklevel=2)
        raise BadImageError(f"{len(self.left_out)} images of this split failed to load, the last ones in a row; "
                            "the folder changed since it was checked: build the data again")


def hold_out(n: int, seed: int, valid_pct: float = 0.0, test_pct: float = 0.0) -> tuple[list[int], list[int], list[int]]:
    """``(train, valid, test)`` indices of ``range(n)``: shuffled with ``seed``, the first ``round(n * valid_pct)``
    (at least 1 when asked) for validation, the next ``round(n * test_pct)`` for the test set, the rest to train.
    A fraction of 0 holds nothing out; the validation part does not depend on ``test_pct`` (holding out a test
    set leaves the validation images as they were).

    Example::

        train, valid, test = hold_out(100, seed=0, valid_pct=0.2, test_pct=0.2)   # 60 / 20 / 20
    """
    for name, pct in (("valid_pct", valid_pct), ("test_pct", test_pct)):
        if isinstance(pct, bool) or not isinstance(pct, (int, float)) or not 0 <= pct < 1:
            raise ValueError(f"{name}={pct!r}: expected a fraction between 0 and 1")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    n_valid = max(1, round(n * valid_pct)) if valid_pct else 0
    n_test = max(1, round(n * test_pct)) if test_pct else 0
    if n - n_valid - n_test < 2:
        raise ValueError(f"{n} images are too few to hold out {valid_pct:.0%} for validation and {test_pct:.0%} "
                         "for the test set and still train (at least 2 training images)")
    valid, test = order[:n_valid], order[n_valid:n_valid + n_test]
    return sorted(order[n_valid + n_test:]), sorted(valid), sorted(test)


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask: a container's or a job scheduler's limit)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


SMALL_MACHINE = 4  # CPUs at or below which images load in the training process


def default_num_workers(source: ImageSource) -> int:
    """Loader processes: none for images in memory; none on a machine of 4 CPUs or fewer, where every core
    runs the model's compute threads and a loader process would take one from them (2 CPUs, photos at
    96 px: an unfrozen epoch took 17 s loading in-process, 21 s with one loader process); else the spare
    CPUs shared among this machine's training processes (torchrun's ``LOCAL_WORLD_SIZE``), at most 8 each."""
    if isinstance(source, ArraySource) or usable_cpus() <= SMALL_MACHINE:
        return 0
    processes = int(os.environ.get("LOCAL_WORLD_SIZE", 1))
    return max(0, min(8, (usable_cpus() - processes) // processes))
