"""A class's own images into a data folder: classes made as sub-folders, uploaded files checked and written as
one undoable batch (:mod:`nbtrainer.data.edits`); a file that is not a usable image is named and left out.

Example::

    result = add_images("my-data", "cats", [("tom.jpg", jpeg_bytes), ("notes.txt", b"...")])
    result.saved        # [Path('my-data/cats/tom.jpg')]
    result.rejected     # {'notes.txt': 'not an image file (expected one of .jpg, .jpeg, .png, ...)'}
    FolderEdits("my-data").undo()   # the upload taken back
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from torchvision.datasets.folder import IMG_EXTENSIONS

from .edits import Create, FolderEdits, check_name, free_name
from .image_data import ImageData
from .sources import image_problem


@dataclass
class UploadResult:
    """What an upload did: the files ``saved``, the ones ``rejected`` (file name -> why), the undo journal."""

    saved: list[Path] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    journal: Path | None = None

    def message(self) -> str:
        """One line for the user: how many saved, and each file left out with its reason."""
        text = f"{len(self.saved)} image(s) saved"
        if self.rejected:
            text += "; left out: " + "; ".join(f"'{name}' ({why})" for name, why in self.rejected.items())
        return text


RESERVED = ("train", "valid", "test")  # folder names that make a data folder a train/valid(/test) split
NAME_BYTES = 200  # longest file name kept, in UTF-8 bytes (file systems allow 255)


def check_class_name(name: str) -> str:
    """``name`` if it can name a class folder: one plain folder name, not a reserved one; else a ValueError."""
    check_name(name)
    if name.strip().lower() in RESERVED:
        raise ValueError(f"class name {name!r} is reserved: folders named {', '.join(RESERVED)} mean a data "
                         "folder already split into train and valid; choose another name")
    return name


def class_folder(root: str | os.PathLike, name: str) -> Path:
    """The folder of class ``name`` in ``root`` (not made)."""
    return FolderEdits(root).inside(check_class_name(name))


def add_class(root: str | os.PathLike, name: str) -> Path:
    """Make the class folder ``root/name`` (nothing if it exists); ``name`` must be one plain folder name."""
    folder = class_folder(root, name)
    folder.mkdir(exist_ok=True)
    return folder


def base_name(name: str) -> str:
    """The file name of an upload without any folder part (a browser may send ``C:\\...\\a.jpg``), shortened
    to :data:`NAME_BYTES` bytes (keeping its extension) when longer."""
    base = PurePath(name.replace("\\", "/")).name
    stem, suffix = PurePath(base).stem, PurePath(base).suffix
    while len((stem + suffix).encode("utf-8")) > NAME_BYTES and stem:
        stem = stem[:-1]
    return stem + suffix


def upload_problem(name: str, data: bytes) -> str | None:
    """Why an uploaded file cannot join the data, or None."""
    if any(ord(ch) < 32 or ch == "\x7f" for ch in name):
        return "a file name with a control character"
    base = base_name(name)
    if not base or base.startswith("."):
        return "a hidden or empty file name"
    if not base.lower().endswith(IMG_EXTENSIONS):
        return f"not an image file (expected one of {', '.join(IMG_EXTENSIONS)})"
    return image_problem(data)


def add_images(root: str | os.PathLike, class_name: str, files: Iterable[tuple[str, bytes]]) -> UploadResult:
    """Write ``files`` (name, bytes) into ``root/class_name/`` as one undoable batch; every file is checked
    first (decoded whole) and the bad ones are left out, each named in :attr:`UploadResult.rejected` with
    why. The class folder is made only when a file is saved in it."""
    folder = class_folder(root, class_name)
    result, creates, taken = UploadResult(), [], set()
    for name, data in files:
        problem = upload_problem(name, bytes(data))
        if problem:
            result.rejected[name.replace("\x00", "\\0")] = problem
            continue
        target = free_name(folder, base_name(name), taken)
        taken.add(target)
        creates.append(Create(str(folder / target), bytes(data)))
    if creates:
        result.journal = FolderEdits(root).apply(creates)
        result.saved = [Path(c.dst) for c in creates]
    return result


def load_folder(path: str | os.PathLike, like: ImageData, max_files: int = 20_000) -> tuple[ImageData, str]:
    """The images of ``path`` (one sub-folder per class) as :class:`ImageData` with ``like``'s size, batch
    size, seed, held-out fraction, augmentation settings and loader processes; files that are not usable
    images are left out, and named in the returned note ("" when none was). Errors (no such folder, fewer than 2 classes, over ``max_files`` files...) say what was
    expected."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = ImageData.from_folder(path, size=like.size, bs=like.bs, seed=like.seed, bad_images="skip",
                                     valid_pct=like.valid_pct or 0.2, aug=like.aug,
                                     # images in memory load in-process whatever the machine: no choice to keep
                                     num_workers=like.num_workers if like.root is not None else None,
                                     max_files=max_files)
    return data, "; ".join(str(w.message) for w in caught if issubclass(w.category, UserWarning))
