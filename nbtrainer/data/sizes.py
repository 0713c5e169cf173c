"""Image sizes from the data: what ``nbtrainer run`` trains at when no ``--size`` is given.

The rule (``plan_sizes``), from the images' own size ``native`` (the median shorter side of up to 256
training images, read from the file headers, no decoding):

- one size, ``native`` rounded to the body's input multiple (32), at least 64 and at most 224:
  8 px digits and 28 px digits train at 64 px, 96 px crops at 96 px, 150 px photos at 160 px;
- images of 208 px and more (which round to 224, the body's pretraining size): progressive resizing as
  in the course, 128 px first, then 224 px for the last step.

Why: upsampling adds no detail, and on the CPU the time of an epoch grows with the pixels. Measured
(``benchmarks/bench_quality.py`` and the issue that asked for this rule): 96 px photo crops upsampled to
224 px cost most of the run's time for +1.5 / -1 points on two seeds, so images are never trained above
their own size (rounded); the body's features need some room, though: at 32 px EfficientNet-Lite0's last
feature map is 1x1, and on the 8 px digits 64 px is the size the recipe was tuned at, hence the floor.

Example::

    plan = plan_sizes(ImageData.from_folder("photos/"))
    plan.size, plan.final_size, plan.why     # 96, None, 'the images are 96 px (median shorter side) ...'
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

from PIL import Image

MULTIPLE = 32  # every supported body downsamples by 32
SMALLEST, LARGEST = 64, 224  # floor (room for the body's features), ceiling (its pretraining size)
PROGRESSIVE_FIRST = 128  # the course's first size when the images are large
SAMPLE = 256  # images whose headers are read
MIN_BATCHES = 4  # a small folder's batch size leaves at least this many batches an epoch
BATCH_SIZE = 64  # the data's batch size by default, and what "auto" starts from


@dataclass(frozen=True)
class SizePlan:
    """The sizes a run trains at, and why."""

    size: int
    final_size: int | None
    native: int  # the images' median shorter side, in pixels

    @property
    def why(self) -> str:
        head = f"the images are {self.native} px (median shorter side)"
        if self.final_size:
            return (f"{head}: {self.size} px first, then {self.final_size} px for the last step "
                    f"(progressive resizing; {LARGEST} px is the body's pretraining size)")
        if self.size > self.native:
            return f"{head}: trained at {self.size} px, the smallest size the body works well at"
        return f"{head}: trained at {self.size} px (their own size, a multiple of {MULTIPLE}; never upsampled)"


def shorter_sides(split, limit: int = SAMPLE) -> list[int]:
    """The shorter side of up to ``limit`` images of a split, evenly spread over it (file headers only)."""
    source, indices = split.source, split.indices
    step = max(1, len(indices) // limit)
    picks = indices[::step][:limit]
    if hasattr(source, "images"):  # arrays in memory: N x C x H x W
        return [int(min(source.images.shape[-2:]))] * len(picks)
    sides = []
    for index in picks:
        with Image.open(source.path(index)) as im:
            sides.append(min(im.size))
    return sides


def plan_sizes(data) -> SizePlan:
    """The sizes for ``data`` (an :class:`~nbtrainer.ImageData`), by the rule in this module's docstring."""
    native = int(statistics.median(shorter_sides(data.train)))
    size = min(LARGEST, max(SMALLEST, MULTIPLE * round(native / MULTIPLE)))
    if size == LARGEST and native >= LARGEST - MULTIPLE // 2:
        return SizePlan(PROGRESSIVE_FIRST, LARGEST, native)
    return SizePlan(size, None, native)


def plan_batch_size(n_train: int, bs: int, multiple: int = 1) -> tuple[int, str]:
    """The batch size for ``n_train`` training images: ``bs``, or, for a small folder where ``bs`` would leave
    fewer than :data:`MIN_BATCHES` batches an epoch (one batch an epoch learns next to nothing per epoch), the
    largest that leaves that many (at least 2 a process: BatchNorm needs 2 images; a multiple of ``multiple``,
    the processes of a distributed run; so under 8 images there are fewer). Returns it with why ("" when
    ``bs`` stays).

    Example::

        plan_batch_size(36, 64)     # (9, '36 training images: batch size 9 (64 would leave 1 batch an epoch) ...')
    """
    if n_train // bs >= MIN_BATCHES:
        return bs, ""
    smaller = max(2 * multiple, n_train // MIN_BATCHES // multiple * multiple)  # >= 2 images a process
    if smaller >= bs:
        return bs, ""
    return smaller, (f"{n_train} training images: batch size {smaller} ({bs} would leave {max(1, n_train // bs)} "
                     f"batch{'es' if n_train // bs > 1 else ''} an epoch; {max(1, n_train // smaller)} batches make each "
                     f"epoch learn)")
