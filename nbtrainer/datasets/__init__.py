"""The standard teaching data sets in one line: Imagenette, Oxford-IIIT Pets, Flowers102 and CIFAR-10, read
through torchvision's own classes (their URLs and checksums), downloaded once into a cache folder (with a
progress bar), returned as :class:`~nbtrainer.ImageData` with the classes named.

The cache: ``root`` if given, else ``$NBTRAINER_DATA``, else ``~/.cache/nbtrainer/datasets``; each set in its
own sub-folder (``<root>/pets/``...). Offline, put the files by hand in ``<root>/<name>/downloads/`` (the
error says which). ``nbtrainer run --dataset pets`` does the same from the command line.

Example::

    import nbtrainer as nbt
    data = nbt.datasets.load("imagenette")          # 94 MB the first time; the cache afterwards
    data.classes[:3]                                 # ['tench', 'English springer', 'cassette player']
    nbt.datasets.NAMES                               # ('imagenette', 'pets', 'flowers102', 'cifar10')
"""
from __future__ import annotations

import os
from pathlib import Path

from ..data.image_data import ImageData
from ..data.sizes import plan_sizes
from ..data.sources import FolderSource
from ..data.transforms import Augment
from .catalog import SETS, StandardSet
from .download import DatasetError, offline_message, prepare

NAMES = tuple(SETS)

__all__ = ["NAMES", "DatasetError", "default_root", "describe", "load", "offline_message"]


def default_root() -> Path:
    """``$NBTRAINER_DATA``, else ``~/.cache/nbtrainer/datasets``."""
    return Path(os.environ.get("NBTRAINER_DATA") or Path.home() / ".cache" / "nbtrainer" / "datasets")


def spec(name: str) -> StandardSet:
    """The catalogue entry of ``name`` (a clear error for an unknown name)."""
    if name not in SETS:
        raise ValueError(f"dataset={name!r}: expected one of {list(SETS)}")
    return SETS[name]


def describe() -> str:
    """One line per data set: its name, title, and what is in it."""
    return "\n".join(f"{s.name:<11} {s.title}: {s.about}" for s in SETS.values())


def load(name: str, root: str | os.PathLike | None = None, size: int | None = None, bs: int = 64, seed: int = 0,
         augment: bool = False, aug: Augment = Augment(), num_workers: int | None = None,
         valid_pct: float = 0.2) -> ImageData:
    """``name``'s train, valid and test images (the official splits: the test set is the one published as
    such, never used to choose anything; where the set has no validation split, ``valid_pct`` of train) as
    :class:`~nbtrainer.ImageData`, downloading them the first time.

    Args:
        name: one of :data:`NAMES`.
        root: the cache folder (default: :func:`default_root`); the set goes into ``root/name``.
        size: image side in pixels. Default: from the images' own size, as ``nbtrainer run`` picks it
            (:mod:`nbtrainer.data.sizes`: Imagenette 160 px, Pets 128 px, CIFAR-10 64 px).
        bs, seed, augment, aug, num_workers, valid_pct: as in :meth:`ImageData.from_folder`.

    Raises:
        DatasetError: the download failed, was corrupt or truncated (nothing is kept), or there is no network
            (the message lists the files to put in ``root/name/downloads/``).
    """
    entry = spec(name)
    folder = Path(root) if root is not None else default_root()
    folder = folder.expanduser().resolve() / entry.name
    prepare(entry, folder)
    train, valid, test = entry.splits(folder)
    for part, other in (("valid", valid), ("test", test)):
        if other is not None and other.classes != train.classes:
            raise DatasetError(f"{entry.title} in '{folder}': the train split has classes {train.classes}, the {part} "
                               f"split {other.classes}; delete '{folder / entry.folder}' to download it again")
    if train.files is not None:
        source = lambda split: split and FolderSource(split.files, split.classes)  # noqa: E731
        data = ImageData.from_sources(source(train), source(valid), size or 64, bs, augment, aug, num_workers,
                                      seed, test=source(test), valid_pct=valid_pct)
    else:
        data = ImageData.from_arrays(train.images, train.targets, train.classes, valid_pct=valid_pct,
                                     size=size or 64, bs=bs, seed=seed, augment=augment, aug=aug,
                                     test_images=test.images, test_labels=test.targets)
    if size is None:
        data.set_size(plan_sizes(data).size)
    data.origin = (f"nbt.datasets.load({name!r}, root={str(folder.parent)!r}, size={data.size!r}, bs={bs!r}, "
                   f"seed={seed!r}, augment={augment!r}, aug=nbt.{aug!r}, valid_pct={valid_pct!r})")
    return data
