"""``ImageData``: train/valid images, their classes, the image size, augmentation on/off, loaders.

Sources: an ImageFolder tree (:meth:`ImageData.from_folder`), arrays in memory
(:meth:`ImageData.from_arrays`), or the embedded default (:meth:`ImageData.demo`: scikit-learn's
1,797 real handwritten digits, no download). ``size`` and ``augment`` can change at any time
(progressive resizing; augmentation for some stages only): the next loader built uses them.

Example::

    data = ImageData.from_folder("pets/", size=224, valid_pct=0.2, bs=64, seed=0)
    data = ImageData.demo(size=64)
    data.augment = True
    xb, yb = next(iter(data.train_dl()))     # xb: float32 (64, 3, 64, 64) in [0, 1]
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..checks import is_int
from .sharding import ShardedBatchSampler, worker_init_fn
from .sources import ArraySource, BadImageError, FolderSource, ImageSource, scan_folder, to_uint8_images
from .scan import MAX_FILES
from .sizes import BATCH_SIZE
from .transforms import Augment, make_transform

MIN_SIZE = 8
DIGITS_AUG = Augment(do_flip=False, max_rotate=10.0, max_zoom=1.1, max_translate=0.1, max_lighting=0.2)


@dataclass
class Split:
    """Some images of a source, by index."""

    source: ImageSource
    indices: list[int]

    def __len__(self) -> int:
        return len(self.indices)

    def targets(self) -> torch.Tensor:
        return torch.tensor([self.source.targets[i] for i in self.indices])


class _View(Dataset):
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


def split_indices(n: int, valid_pct: float, seed: int) -> tuple[list[int], list[int]]:
    """Shuffle ``range(n)`` with ``seed`` and hold out ``round(n * valid_pct)`` (at least 1) for validation."""
    if not 0 < valid_pct < 1:
        raise ValueError(f"valid_pct={valid_pct!r}: expected a fraction between 0 and 1")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    n_valid = max(1, round(n * valid_pct))
    if n - n_valid < 2:
        raise ValueError(f"{n} images are too few to hold out {valid_pct:.0%} for validation and still train")
    return sorted(order[n_valid:]), sorted(order[:n_valid])


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


class ImageData:
    """Train and validation images with their loaders. Build it with a ``from_*`` constructor or :meth:`demo`."""

    def __init__(self, train: Split, valid: Split, classes: list[str], size: int = 224, bs: int = BATCH_SIZE,
                 augment: bool = False, aug: Augment = Augment(), num_workers: int | None = None,
                 seed: int = 0):
        if len(train) < 2 or len(valid) < 1:
            raise ValueError(f"need at least 2 training and 1 validation image, got {len(train)} and {len(valid)}")
        if not is_int(bs, 1):
            raise ValueError(f"bs={bs!r}: expected an integer >= 1")
        self.train, self.valid, self.classes = train, valid, list(classes)
        self.bs, self.augment, self.aug, self.seed = bs, bool(augment), aug, seed
        self.size = 0
        self.set_size(size)
        self.num_workers = default_num_workers(train.source) if num_workers is None else num_workers
        self.generator = torch.Generator().manual_seed(seed)  # shuffling and loader-worker seeds
        # Unshuffled passes (validation, TTA, precompute) draw their worker seeds from their own generator,
        # so evaluating never changes the order of the next training epoch.
        self.eval_generator = torch.Generator().manual_seed(seed + 1)
        self.origin: str | None = None  # Python code that builds this data again (None for arrays in memory)
        self.root: Path | None = None  # the folder the images came from (None for arrays in memory)
        self.valid_pct: float | None = None  # the held-out fraction, when a constructor split the images

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_folder(cls, path: str | os.PathLike, size: int = 224, valid_pct: float = 0.2,
                    valid: str | None = None, train: str = "train", bs: int = BATCH_SIZE, seed: int = 0,
                    augment: bool = False, aug: Augment = Augment(), num_workers: int | None = None,
                    check_images: bool = True, bad_images: str = "error", max_files: int = MAX_FILES) -> "ImageData":
        """Images in ImageFolder layout: ``path/<class>/<image>``, split by ``valid_pct`` with ``seed``;
        or ``path/<train>/<class>/...`` and ``path/<valid>/<class>/...`` when ``valid`` names a folder
        (``valid="valid"`` is picked up by itself when both ``path/train`` and ``path/valid`` exist).

        ``check_images`` decodes every file first (in parallel; the verdicts are cached, so the next run checks
        only new or changed files), so a bad file is reported, by name, before any training starts; ``bad_images="error"`` (default) raises one
        error listing every bad file, ``"skip"`` leaves them out with a warning that lists them. Grey,
        16-bit, CMYK, palette and transparent images are converted to RGB.
        """
        root = Path(path)
        origin = (f"nbt.ImageData.from_folder({str(root.resolve())!r}, size={size!r}, valid_pct={valid_pct!r}, "
                  f"valid={valid!r}, train={train!r}, bs={bs!r}, seed={seed!r}, augment={augment!r}, "
                  f"aug=nbt.{aug!r}, num_workers={num_workers!r}, bad_images={bad_images!r})")
        if valid is None and (root / train).is_dir() and (root / "valid").is_dir():
            valid = "valid"
        if valid is None:
            source = FolderSource.of(scan_folder(root, check_images, bad_images=bad_images, max_files=max_files))
            train_idx, valid_idx = split_indices(len(source), valid_pct, seed)
            data = cls(Split(source, train_idx), Split(source, valid_idx), source.classes, size, bs,
                       augment, aug, num_workers, seed)
            data.origin, data.root, data.valid_pct = origin, root, valid_pct
            return data
        train_src = FolderSource.of(scan_folder(root / train, check_images, bad_images=bad_images,
                                                  max_files=max_files))
        valid_src = FolderSource.of(scan_folder(root / valid, check_images, min_classes=1, bad_images=bad_images,
                                                  max_files=max_files))
        if valid_src.classes != train_src.classes:
            raise ValueError(f"the classes of '{root / valid}' {valid_src.classes} differ from those of "
                             f"'{root / train}' {train_src.classes}; expected the same class folders")
        data = cls.from_sources(train_src, valid_src, size, bs, augment, aug, num_workers, seed)
        data.origin, data.root = origin, root
        return data

    @classmethod
    def from_sources(cls, train: ImageSource, valid: ImageSource, size: int = 224, bs: int = BATCH_SIZE,
                     augment: bool = False, aug: Augment = Augment(), num_workers: int | None = None,
                     seed: int = 0) -> "ImageData":
        """Every image of ``train`` for training and every image of ``valid`` for validation (the same classes)."""
        return cls(Split(train, list(range(len(train)))), Split(valid, list(range(len(valid)))), train.classes,
                   size, bs, augment, aug, num_workers, seed)

    @classmethod
    def from_arrays(cls, images, labels, classes: list[str] | None = None, valid_pct: float = 0.2,
                    valid_images=None, valid_labels=None, size: int = 64, bs: int = BATCH_SIZE, seed: int = 0,
                    augment: bool = False, aug: Augment = Augment()) -> "ImageData":
        """Images in memory: ``N x H x W`` (grey) or ``N x H x W x C`` arrays, uint8 or floats in [0, 1];
        ``labels`` are class indices. Split by ``valid_pct`` unless ``valid_images/valid_labels`` are given."""
        source = ArraySource(to_uint8_images(images, "images"), labels, classes, "labels")
        if valid_images is None:
            train_idx, valid_idx = split_indices(len(source), valid_pct, seed)
            data = cls(Split(source, train_idx), Split(source, valid_idx), source.classes, size, bs, augment,
                       aug, 0, seed)
            data.valid_pct = valid_pct
            return data
        vsource = ArraySource(to_uint8_images(valid_images, "valid_images"), valid_labels, source.classes,
                              "valid_labels")
        return cls.from_sources(source, vsource, size, bs, augment, aug, 0, seed)

    @classmethod
    def demo(cls, size: int = 64, bs: int = BATCH_SIZE, seed: int = 0, valid_pct: float = 0.2,
             n: int | None = None, augment: bool = False) -> "ImageData":
        """The embedded default: scikit-learn's 1,797 real 8x8 handwritten digits (10 classes), as RGB
        images resized to ``size``. No flips in the augmentation (a flipped digit is another digit).
        ``n`` keeps only the first ``n`` images (quick experiments and tests)."""
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = np.round(digits.images * (255 / 16)).astype(np.uint8)[:n]
        data = cls.from_arrays(images, digits.target[:n], [str(c) for c in digits.target_names],
                               valid_pct=valid_pct, size=size, bs=bs, seed=seed, augment=augment, aug=DIGITS_AUG)
        data.origin = (f"nbt.ImageData.demo(size={size!r}, bs={bs!r}, seed={seed!r}, valid_pct={valid_pct!r}, "
                       f"n={n!r}, augment={augment!r})")
        return data

    # ------------------------------------------------------------------ settings
    @property
    def c(self) -> int:
        """Number of classes."""
        return len(self.classes)

    @property
    def train_batches(self) -> int:
        """Batches in one training epoch (the last partial batch is dropped when there is more than one)."""
        return len(self.train) // self.bs if len(self.train) > self.bs else 1

    def set_size(self, size: int) -> None:
        """Image side in pixels for every loader built from now on (progressive resizing)."""
        if not is_int(size, MIN_SIZE):
            raise ValueError(f"size={size!r}: expected an integer number of pixels >= {MIN_SIZE}")
        self.size = size

    def state_dict(self) -> dict:
        """What training changes of the data: size, augmentation on/off and settings, and the states of the
        shuffling and evaluation generators (the images themselves are the data's, not state).

        Example::

            saved = data.state_dict(); data.set_size(128); data.load_state_dict(saved)   # 64 px again
        """
        return {"size": self.size, "augment": self.augment, "aug": self.aug.to_dict(),
                "generator": self.generator.get_state(), "eval_generator": self.eval_generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        """Put back what :meth:`state_dict` read (every key checked first; the generators' states are
        optional: a checkpoint written before they were saved has none)."""
        unknown = set(state) - {"size", "augment", "aug", "generator", "eval_generator"}
        if unknown:
            raise ValueError(f"unknown data state keys {sorted(unknown)}")
        aug = Augment(**state["aug"])  # checked before anything changes
        self.set_size(state["size"])
        self.augment, self.aug = bool(state["augment"]), aug
        for name in ("generator", "eval_generator"):
            if name in state:
                getattr(self, name).set_state(state[name])

    # ------------------------------------------------------------------ loaders
    def transform(self, augment: bool | None = None):
        """The pipeline the next loader will use (``augment`` defaults to :attr:`augment`)."""
        return make_transform(self.size, self.augment if augment is None else augment, self.aug)

    def train_dl(self, shuffle: bool = True, augment: bool | None = None) -> DataLoader:
        """Training batches; shuffled, and the last partial batch dropped (BatchNorm needs > 1 image).

        Under torch.distributed, shuffled batches are this process's part of each global batch of ``bs``
        (:class:`~nbtrainer.data.sharding.ShardedBatchSampler`); ``shuffle=False`` gives every image in order."""
        dataset = _View(self.train, self.transform(augment))
        if not shuffle:
            return self._loader(dataset, self.eval_generator, batch_size=self.bs)
        batches = ShardedBatchSampler(len(dataset), self.bs, self.generator, drop_last=len(self.train) > self.bs)
        return self._loader(dataset, self.generator, batch_sampler=batches)

    def valid_dl(self, augment: bool = False, part: slice = slice(None)) -> DataLoader:
        """Validation batches in order; augmented only when asked (test-time augmentation). ``part``: a
        contiguous slice of the validation set (one process's share under torch.distributed)."""
        split = Split(self.valid.source, self.valid.indices[part])
        return self._loader(_View(split, self.transform(augment)), self.eval_generator, batch_size=2 * self.bs)

    def _loader(self, dataset: Dataset, generator: torch.Generator, **batching) -> DataLoader:
        """Pinned memory for fast (``non_blocking``) copies to a GPU; worker seeds of each rank's own."""
        return DataLoader(dataset, num_workers=self.num_workers, generator=generator,
                          pin_memory=torch.cuda.is_available(), worker_init_fn=worker_init_fn(), **batching)

    def _repr_html_(self) -> str:
        """Counts, size, batch, augmentation; one training image per class; images per class."""
        from .overview import overview_html
        return overview_html(self)

    def __repr__(self) -> str:
        return (f"ImageData(train={len(self.train)}, valid={len(self.valid)}, classes={self.c}, size={self.size}, "
                f"bs={self.bs}, augment={self.augment})")
