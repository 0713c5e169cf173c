"""Where images come from: an ImageFolder tree on disk, or arrays in memory. Each loads one image by index.

Example::

    src = FolderSource.of(scan_folder(Path("pets")))   # torchvision ImageFolder underneath
    img, label = src.load(0), src.targets[0]
"""
from __future__ import annotations

import struct
import warnings
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import IMG_EXTENSIONS

from .image_checks import CheckCache, check_files, image_problem, open_checked  # noqa: F401 (image_problem: re-exported)
from .scan import MAX_FILES, list_images


class ImageSource(Protocol):
    classes: list[str]
    targets: list[int]

    def __len__(self) -> int: ...

    def load(self, index: int): ...


class BadImageError(ValueError):
    """An image file that cannot be read; the message names the file."""


SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")  # PIL's 16-bit (and 32-bit integer) grey modes
BAD_IMAGES = ("error", "skip")


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


EXIF_ORIENTATION = 0x0112  # the EXIF tag of how the camera was held (1: upright)


def load_rgb(path, name: str | None = None) -> Image.Image:
    """Open ``path`` (a file name or a binary file object) as an RGB PIL image (see :func:`to_rgb`), or raise
    :class:`BadImageError` naming the file (``name``, default ``path``); the size limits of
    :func:`~nbtrainer.data.image_checks.size_problem` are checked before any pixel is decoded. A photo whose
    EXIF says the camera was turned is turned upright, as every browser and photo viewer shows it (a phone's
    portrait photos are stored sideways with that tag)."""
    try:
        with open_checked(path) as im:
            upright = ImageOps.exif_transpose(im) if im.getexif().get(EXIF_ORIENTATION, 1) != 1 else im
            return to_rgb(upright)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError, SyntaxError, EOFError,
            IndexError, struct.error, ZeroDivisionError) as e:
        why = ("not an image format Pillow reads (PNG, JPEG, GIF, BMP, WebP, TIFF ...)"  # not its repr of a buffer
               if isinstance(e, UnidentifiedImageError) else str(e))
        raise BadImageError(f"cannot read image '{name or path}': {why}") from e


class VisibleImageFolder(ImageFolder):
    """torchvision's ``ImageFolder`` over the listing of :func:`~nbtrainer.data.scan.list_images`: hidden folders
    (Jupyter's ``.ipynb_checkpoints``, nbtrainer's ``.nbtrainer``) are no classes, nor are folders without an
    image; only regular files count (a FIFO named ``x.png`` would hang a read); a link that loops is walked once;
    more than ``max_files`` entries is an error, not minutes of scanning. torchvision's own ``find_classes`` takes
    every sub-folder and its ``make_dataset`` follows link loops."""

    def __init__(self, root: str, loader, max_files: int = MAX_FILES):
        self.listing = list_images(Path(root), max_files)
        super().__init__(root, loader=loader)

    def find_classes(self, directory: str) -> tuple[list[str], dict[str, int]]:
        classes = sorted(c for c, files in self.listing.items() if files)
        if not classes:
            empty = f" (folder(s) {self.empty_classes()} hold none)" if self.empty_classes() else ""
            raise FileNotFoundError(f"Couldn't find any class folder holding images in {directory}{empty}.")
        return classes, {c: i for i, c in enumerate(classes)}

    def make_dataset(self, directory, class_to_idx, extensions=None, is_valid_file=None, allow_empty=False):
        return [(path, class_to_idx[c]) for c in sorted(class_to_idx) for path in self.listing[c]]

    def empty_classes(self) -> list[str]:
        return sorted(c for c, files in self.listing.items() if not files)


def scan_folder(root: Path, check_images: bool = True, min_classes: int = 2, bad_images: str = "error",
                max_files: int = MAX_FILES, cache: CheckCache | None = None,
                caller: str = "ImageData.from_folder") -> ImageFolder:
    """torchvision's ``ImageFolder`` over ``root``, with errors that say what was expected.

    ``check_images``: decode every file first (:func:`~nbtrainer.data.image_checks.check_files`, in parallel,
    its verdicts kept in ``cache``, default :class:`~nbtrainer.data.image_checks.CheckCache`); ``bad_images``:
    ``"error"`` raises one :class:`BadImageError` listing every bad file, ``"skip"`` leaves them out with a
    warning listing them. Files without an image extension (``.txt``, ``.csv``...) are not images and are
    ignored; so are class folders without images (with a warning). ``caller`` names what read the folder in
    the messages.
    """
    where = f"{caller}: '{root}'"
    if bad_images not in BAD_IMAGES:
        raise ValueError(f"bad_images={bad_images!r}: expected one of {BAD_IMAGES}")
    if not root.exists():
        raise FileNotFoundError(f"{where} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"{where} is not a folder; expected one sub-folder of images per class")
    try:
        folder = VisibleImageFolder(str(root), loader=load_rgb, max_files=max_files)
    except FileNotFoundError as e:  # no class folder, or class folders with no image files
        raise FileNotFoundError(f"{where}: {e} Expected one sub-folder per class holding images "
                                f"({', '.join(IMG_EXTENSIONS)}), e.g. {root}/cats/001.jpg") from e
    if folder.empty_classes():
        warnings.warn(f"{where}: folder(s) {folder.empty_classes()} hold no image: not classes", stacklevel=3)
    if len(folder.classes) < min_classes:
        raise ValueError(f"{where} has {len(folder.classes)} class folder(s) {folder.classes} holding images; a "
                         f"classifier needs at least {min_classes} (one sub-folder per class)")
    if check_images:
        checks = cache if cache is not None else CheckCache()
        try:
            bad = check_files([path for path, _ in folder.samples], checks)
        finally:
            if cache is None:
                checks.close()
        if bad:
            _handle_bad_images(folder, bad, bad_images, where, caller == "ImageData.from_folder")
    return folder


def _handle_bad_images(folder: ImageFolder, bad: dict[str, str], policy: str, where: str,
                       hint: bool = True) -> None:
    lines = [f"'{path}': {problem}" for path, problem in bad.items()]
    shown = "\n  ".join(lines[:10]) + (f"\n  ... and {len(lines) - 10} more" if len(lines) > 10 else "")
    if policy == "error":
        skip = "; pass bad_images='skip', or nbtrainer run --bad-images skip, to leave them out" if hint else ""
        raise BadImageError(f"{where}: {len(bad)} file(s) cannot be used as images (expected readable image "
                            f"files{skip}):\n  {shown}")
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
