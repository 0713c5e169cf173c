"""Where images come from: an ImageFolder tree on disk, or arrays in memory. Each loads one image by index.

Example::

    src = FolderSource(scan_folder(Path("pets")))   # torchvision ImageFolder underneath
    img, label = src.load(0), src.targets[0]
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import IMG_EXTENSIONS


class ImageSource(Protocol):
    classes: list[str]
    targets: list[int]

    def __len__(self) -> int: ...

    def load(self, index: int): ...


class BadImageError(ValueError):
    """An image file that cannot be read; the message names the file."""


def load_rgb(path: str) -> Image.Image:
    """Open ``path`` as an RGB PIL image, or raise :class:`BadImageError` naming the file."""
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise BadImageError(f"cannot read image '{path}': {e}") from e


def scan_folder(root: Path, check_images: bool = True, min_classes: int = 2) -> ImageFolder:
    """torchvision's ``ImageFolder`` over ``root``, with errors that say what was expected."""
    where = f"ImageData.from_folder: '{root}'"
    if not root.exists():
        raise FileNotFoundError(f"{where} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"{where} is not a folder; expected one sub-folder of images per class")
    try:
        folder = ImageFolder(str(root), loader=load_rgb)
    except FileNotFoundError as e:  # no class folder, or class folders with no image files
        raise FileNotFoundError(f"{where}: {e} Expected one sub-folder per class holding images "
                                f"({', '.join(IMG_EXTENSIONS)}), e.g. {root}/cats/001.jpg") from e
    if len(folder.classes) < min_classes:
        raise ValueError(f"{where} has {len(folder.classes)} class folder(s) {folder.classes}; a classifier "
                         f"needs at least {min_classes} (one sub-folder per class)")
    if check_images:
        check_readable([path for path, _ in folder.samples])
    return folder


def check_readable(paths: list[str]) -> None:
    """Open each file's header (cheap: no decoding); raise :class:`BadImageError` listing the unreadable."""
    bad = []
    for path in paths:
        try:
            with Image.open(path) as im:
                im.size
        except (OSError, UnidentifiedImageError, ValueError) as e:
            bad.append(f"'{path}' ({type(e).__name__}: {e})")
    if bad:
        shown = "\n  ".join(bad[:10]) + (f"\n  ... and {len(bad) - 10} more" if len(bad) > 10 else "")
        raise BadImageError(f"{len(bad)} file(s) cannot be read as images:\n  {shown}")


class FolderSource:
    """Images on disk, found by an ``ImageFolder``; each load decodes one file to RGB."""

    def __init__(self, folder: ImageFolder):
        self.folder = folder
        self.classes = list(folder.classes)
        self.targets = list(folder.targets)

    def __len__(self) -> int:
        return len(self.folder.samples)

    def load(self, index: int) -> Image.Image:
        return load_rgb(self.folder.samples[index][0])

    def path(self, index: int) -> str:
        return self.folder.samples[index][0]


class ArraySource:
    """Images in memory as a uint8 tensor ``N x C x H x W`` (C = 1 or 3) and integer labels."""

    def __init__(self, images: torch.Tensor, labels, classes: list[str] | None, labels_name: str):
        targets = np.asarray(labels)
        if targets.ndim != 1 or len(targets) != len(images):
            raise ValueError(f"{labels_name}: expected {len(images)} labels (one per image), got shape {targets.shape}")
        if not np.issubdtype(targets.dtype, np.integer):
            raise ValueError(f"{labels_name}: expected integer class indices, got dtype {targets.dtype}")
        n_classes = len(classes) if classes is not None else int(targets.max()) + 1
        if targets.min() < 0 or targets.max() >= n_classes:
            raise ValueError(f"{labels_name}: expected class indices in 0..{n_classes - 1}, "
                             f"got {targets.min()}..{targets.max()}")
        self.images = images
        self.targets = targets.tolist()
        self.classes = list(classes) if classes is not None else [str(i) for i in range(n_classes)]

    def __len__(self) -> int:
        return len(self.images)

    def load(self, index: int) -> torch.Tensor:
        return self.images[index]


def to_uint8_images(images, name: str) -> torch.Tensor:
    """``N x H x W`` or ``N x H x W x C`` (C = 1, 3 or 4), uint8 or floats in [0, 1] -> uint8 ``N x C x H x W``."""
    arr = np.asarray(images)
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3, 4) or len(arr) == 0:
        raise ValueError(f"{name}: expected a non-empty N x H x W or N x H x W x C array (C = 1, 3 or 4), "
                         f"got shape {arr.shape}")
    if arr.dtype != np.uint8:
        if not np.issubdtype(arr.dtype, np.floating) or not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1:
            raise ValueError(f"{name}: expected uint8 pixels or floats in [0, 1], got dtype {arr.dtype} "
                             f"with values {arr.min()}..{arr.max()}")
        arr = np.round(arr * 255).astype(np.uint8)
    return torch.from_numpy(np.ascontiguousarray(arr[..., :3])).permute(0, 3, 1, 2).contiguous()
