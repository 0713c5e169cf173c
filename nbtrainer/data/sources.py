"""Where images come from: an ImageFolder tree on disk, or arrays in memory. Each loads one image by index.

Example::

    src = FolderSource.of(scan_folder(Path("pets")))   # torchvision ImageFolder underneath
    img, label = src.load(0), src.targets[0]
"""
from __future__ import annotations

import io
import os
import warnings
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


SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")  # PIL's 16-bit (and 32-bit integer) grey modes
BAD_IMAGES = ("error", "skip")
JPEG_END, PNG_END = b"\xff\xd9", b"IEND"


def to_rgb(im: Image.Image) -> Image.Image:
    """Any PIL image as 8-bit RGB: 16-bit grey scaled down (PIL's own conversion clips it to white),
    transparency composited on white (PIL's drops alpha, often leaving black), CMYK, grey, palette converted."""
    if im.mode in SIXTEEN_BIT:
        grey = np.asarray(im, dtype=np.float64) * (255.0 / 65535.0)
        return Image.fromarray(np.clip(grey, 0, 255).round().astype(np.uint8), "L").convert("RGB")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        background.alpha_composite(rgba)
        return background.convert("RGB")
    return im.convert("RGB")


def load_rgb(path, name: str | None = None) -> Image.Image:
    """Open ``path`` (a file name or a binary file object) as an RGB PIL image (see :func:`to_rgb`), or raise
    :class:`BadImageError` naming the file (``name``, default ``path``)."""
    try:
        with Image.open(path) as im:
            return to_rgb(im)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as e:
        raise BadImageError(f"cannot read image '{name or path}': {e}") from e


def image_problem(path: str | os.PathLike | bytes) -> str | None:
    """Why ``path`` (a file, or the bytes of one) cannot be used as an image, or None. Cheap: the header, the
    declared size (PIL's decompression-bomb limit), and for JPEG/PNG whether the file ends as a whole one does
    (a truncated download), without decoding the pixels."""
    source = io.BytesIO(path) if isinstance(path, bytes) else path
    try:
        with Image.open(source) as im:
            width, height = im.size
            kind = im.format
    except Image.DecompressionBombError as e:
        return f"declares too many pixels ({e})"
    except (OSError, UnidentifiedImageError, ValueError) as e:
        return f"not a readable image ({type(e).__name__}: {e})"
    if width < 1 or height < 1:
        return f"declares an empty size {width}x{height}"
    end = {"JPEG": JPEG_END, "PNG": PNG_END}.get(kind)
    if end is not None and end not in _tail(path):
        return f"truncated {kind} (no end marker {end!r} in its last bytes)"
    return None


def _tail(path: str | os.PathLike | bytes, n: int = 1024) -> bytes:
    if isinstance(path, bytes):
        return path[-n:]
    with open(path, "rb") as f:
        f.seek(max(0, Path(path).stat().st_size - n))
        return f.read()


class VisibleImageFolder(ImageFolder):
    """torchvision's ``ImageFolder`` without hidden folders as classes: Jupyter's ``.ipynb_checkpoints`` and
    nbtrainer's own ``.nbtrainer`` (the undo journal and trash of :mod:`nbtrainer.data.edits`) are not
    classes. torchvision's ``find_classes`` takes every sub-folder."""

    def find_classes(self, directory: str) -> tuple[list[str], dict[str, int]]:
        classes, _ = super().find_classes(directory)
        classes = [c for c in classes if not c.startswith(".")]
        if not classes:
            raise FileNotFoundError(f"Couldn't find any class folder in {directory}.")
        return classes, {c: i for i, c in enumerate(classes)}


def scan_folder(root: Path, check_images: bool = True, min_classes: int = 2, bad_images: str = "error") -> ImageFolder:
    """torchvision's ``ImageFolder`` over ``root``, with errors that say what was expected.

    ``check_images``: look at every file first (:func:`image_problem`); ``bad_images``: ``"error"`` raises one
    :class:`BadImageError` listing every bad file, ``"skip"`` leaves them out with a warning listing them.
    Files without an image extension (``.txt``, ``.csv``...) are not images and are ignored.
    """
    where = f"ImageData.from_folder: '{root}'"
    if bad_images not in BAD_IMAGES:
        raise ValueError(f"bad_images={bad_images!r}: expected one of {BAD_IMAGES}")
    if not root.exists():
        raise FileNotFoundError(f"{where} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"{where} is not a folder; expected one sub-folder of images per class")
    try:
        folder = VisibleImageFolder(str(root), loader=load_rgb)
    except FileNotFoundError as e:  # no class folder, or class folders with no image files
        raise FileNotFoundError(f"{where}: {e} Expected one sub-folder per class holding images "
                                f"({', '.join(IMG_EXTENSIONS)}), e.g. {root}/cats/001.jpg") from e
    if len(folder.classes) < min_classes:
        raise ValueError(f"{where} has {len(folder.classes)} class folder(s) {folder.classes}; a classifier "
                         f"needs at least {min_classes} (one sub-folder per class)")
    if check_images:
        bad = {path: problem for path, _ in folder.samples if (problem := image_problem(path))}
        if bad:
            _handle_bad_images(folder, bad, bad_images, where)
    return folder


def _handle_bad_images(folder: ImageFolder, bad: dict[str, str], policy: str, where: str) -> None:
    lines = [f"'{path}': {problem}" for path, problem in bad.items()]
    shown = "\n  ".join(lines[:10]) + (f"\n  ... and {len(lines) - 10} more" if len(lines) > 10 else "")
    if policy == "error":
        raise BadImageError(f"{where}: {len(bad)} file(s) cannot be used as images (expected readable image "
                            f"files; pass bad_images='skip' to leave them out):\n  {shown}")
    folder.samples = [(path, target) for path, target in folder.samples if path not in bad]
    folder.imgs, folder.targets = folder.samples, [target for _, target in folder.samples]
    empty = [c for i, c in enumerate(folder.classes) if i not in set(folder.targets)]
    if empty:
        raise BadImageError(f"{where}: class folder(s) {empty} hold no usable image once the bad files are "
                            f"left out:\n  {shown}")
    warnings.warn(f"{where}: left out {len(bad)} file(s) that cannot be used as images:\n  {shown}",
                  stacklevel=3)


class FolderSource:
    """Image files on disk with their class indices (found by an ``ImageFolder``, or listed by one of
    torchvision's data sets); each load decodes one file to RGB."""

    def __init__(self, samples: list[tuple[str, int]], classes: list[str]):
        self.samples = [(str(path), int(target)) for path, target in samples]
        self.classes = list(classes)
        self.targets = [target for _, target in self.samples]

    @classmethod
    def of(cls, folder: ImageFolder) -> "FolderSource":
        return cls(folder.samples, folder.classes)

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int) -> Image.Image:
        return load_rgb(self.samples[index][0])

    def path(self, index: int) -> str:
        return self.samples[index][0]


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
