"""What a student should look at before training: images per class in train and valid, a few images of each
class, and one image under several augmentations (what the model will see when augmentation is on).

Images come back as ``H x W x 3`` uint8 arrays, drawn through the data's own pipelines, so what is shown is
what is trained on.

Example::

    counts = class_counts(data)                      # ClassCounts(classes=[...], train=[...], valid=[...])
    grid = samples(data, per_class=4)                 # {"cat": [array, ...], "dog": [...]}
    views = augmentation_preview(data, n=6, seed=0)   # the first is the plain image
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..checks import is_int
from .image_data import ImageData
from .splits import Split
from .transforms import make_transform


@dataclass
class ClassCounts:
    """Images per class (``classes[i]``) in the training and the validation set."""

    classes: list[str]
    train: list[int]
    valid: list[int]

    def rows(self) -> list[tuple[str, int, int]]:
        return list(zip(self.classes, self.train, self.valid))


def class_counts(data: ImageData) -> ClassCounts:
    def count(split: Split) -> list[int]:
        return torch.bincount(split.targets(), minlength=data.c).tolist()

    return ClassCounts(list(data.classes), count(data.train), count(data.valid))


def _pixels(image: torch.Tensor) -> np.ndarray:
    return (image.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def samples(data: ImageData, per_class: int = 4, seed: int = 0) -> dict[str, list[np.ndarray]]:
    """Up to ``per_class`` training images of each class (drawn with ``seed``), plain, at the data's size."""
    if not is_int(per_class, 1):
        raise ValueError(f"per_class={per_class!r}: expected an integer >= 1")
    order = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(seed)).tolist()
    plain, targets = make_transform(data.size, augment=False), data.train.targets()
    out: dict[str, list[np.ndarray]] = {c: [] for c in data.classes}
    for i in order:
        shown = out[data.classes[int(targets[i])]]
        if len(shown) < per_class:
            shown.append(_pixels(plain(data.train.source.load(data.train.indices[i]))))
    return out


def augmentation_preview(data: ImageData, index: int = 0, n: int = 6, seed: int = 0) -> list[np.ndarray]:
    """Training image ``index`` plain, then under ``n - 1`` draws of the data's augmentation (``data.aug``)."""
    if not is_int(n, 2):
        raise ValueError(f"n={n!r}: expected an integer >= 2 (the plain image and at least one augmented one)")
    if not is_int(index, 0) or index >= len(data.train):
        raise ValueError(f"index={index!r}: expected a training-image index in 0..{len(data.train) - 1}")
    image = data.train.source.load(data.train.indices[index])
    # a generator of its own: a preview shown while a step trains never touches what training draws
    augmented = make_transform(data.size, augment=True, aug=data.aug, generator=torch.Generator().manual_seed(seed))
    views = [make_transform(data.size, augment=False)(image)] + [augmented(image) for _ in range(n - 1)]
    return [_pixels(v) for v in views]


def overview_html(data: ImageData, shown: int = 12) -> str:
    """What Jupyter shows for ``data``: its sizes, one training image for each of the first ``shown`` classes,
    and the images per class (train / valid) of the first :data:`~nbtrainer.present.html.MAX_ROWS` classes."""
    from ..present.html import MAX_ROWS, escape, figure, img, table

    counts = class_counts(data).rows()
    rows = [[name, t, v] for name, t, v in counts[:MAX_ROWS]]
    if len(counts) > MAX_ROWS:
        rows.append([f"... {len(counts) - MAX_ROWS} more classes", "", ""])
    firsts = [(c, ims[0]) for c, ims in list(samples(data, per_class=1).items())[:shown] if ims]
    fig, axes = figure(1, len(firsts), figsize=(0.7 * len(firsts), 0.8))
    for ax, (name, im) in zip(axes[0], firsts):
        ax.imshow(im)
        ax.set_title(name[:10], fontsize=6)
        ax.axis("off")
    head = (f"{data.counts()}, {data.c} classes, {data.size} px, "
            f"batch {data.bs}, augmentation {'on' if data.augment else 'off'}")
    return (f"<div><b>ImageData</b>: {escape(head)}<br>{img(fig, 'one training image per class', dpi=96)}"
            f"{table(['class', 'train', 'valid'], rows)}</div>")
