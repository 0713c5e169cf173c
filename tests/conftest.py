"""Shared fixtures: small real data (the digits), image folders made on disk, a fast learner."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import nbtrainer as nbt

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return np.round(d.images * (255 / 16)).astype(np.uint8), d.target


# A recipe that runs in seconds (tests of the checklist and the widget)
FAST_RECIPE = dict(head_cycles=1, aug_cycles=1, unfrozen_cycles=1, tta_n=1, lr_find_iters=30, unfrozen_lr_find_iters=20)


def small_data(n: int = 120, size: int = 32, bs: int = 16, seed: int = 0) -> nbt.ImageData:
    """The first ``n`` real digits at ``size`` px: enough to train on in a second or two."""
    return nbt.ImageData.demo(size=size, bs=bs, seed=seed, n=n)


def small_learner(n: int = 120, size: int = 32, seed: int = 0, **kwargs) -> nbt.Learner:
    return nbt.Learner(small_data(n, size, seed=seed), seed=seed, **kwargs)


def digit_png(learn: nbt.Learner, index: int, path) -> int:
    """Write validation image ``index`` of ``learn``'s in-memory data as a PNG (a path or a binary file);
    returns its class."""
    split = learn.data.valid
    pixels = split.source.images[split.indices[index]][0].numpy()
    Image.fromarray(pixels).save(path, format="PNG")
    return split.source.targets[split.indices[index]]


@pytest.fixture
def make_folder(tmp_path, digits):
    """``make_folder(classes={"0": 6, "1": 6}, root=...)`` writes real digit PNGs in ImageFolder layout."""
    images, targets = digits

    def make(classes: dict[str, int] | None = None, root: Path | None = None, size: int = 24) -> Path:
        root = root or tmp_path / "images"
        classes = classes or {"zero": 8, "one": 8, "two": 8}
        for label, (name, count) in enumerate(classes.items()):
            folder = root / name
            folder.mkdir(parents=True, exist_ok=True)
            picks = np.flatnonzero(targets == label % 10)[:count]
            for k, i in enumerate(picks):
                Image.fromarray(images[i]).resize((size, size)).convert("RGB").save(folder / f"{k:03d}.png")
        return root

    return make
