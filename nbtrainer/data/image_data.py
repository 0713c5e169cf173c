"""``ImageData``: train/valid (and test) images, their classes, the image size, augmentation on/off, loaders.

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
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..checks import is_int
from .sharding import ShardedBatchSampler, worker_init_fn
from .sources import ArraySource, FolderSource, ImageSource, scan_folder, to_uint8_images
from .splits import Split, SplitView, default_num_workers, hold_out
from .scan import MAX_FILES
from .sizes import BATCH_SIZE
from .transforms import Augment, make_transform

MIN_SIZE = 8
DIGITS_AUG = Augment(do_flip=False, max_rotate=10.0, max_zoom=1.1, max_translate=0.1, max_lighting=0.2)


class ImageData:
    """Train, validation and (optionally) test images with their loaders. Build it with a ``from_*`` constructor
    or :meth:`demo`. The test images (``test``: None without) are never used to choose anything: the recipe
    scores them after its choices are made (:mod:`nbtrainer.recipe.checklist`)."""

    def __init__(self, train: Split, valid: Split, classes: list[str], size: int = 224, bs: int = BATCH_SIZE,
                 augment: bool = False, aug: Augment = Augment(), num_workers: int | None = None,
                 seed: int = 0, test: Split | None = None):
        if len(train) < 2 or len(valid) < 1:
            raise ValueError(f"need at least 2 training and 1 validation image, got {len(train)} and {len(valid)}")
        if not is_int(bs, 1):
            raise ValueError(f"bs={bs!r}: expected an integer >= 1")
        self.train, self.valid, self.test, self.classes = train, valid, test, list(classes)
        self.bs, self.augment, self.aug, self.seed = bs, bool(augment), aug, seed
        self.size = 0
        self.set_size(size)
        self.num_workers = default_num_workers(train.source) if num_workers is None else num_workers
        self.generator = torch.Generator().manual_seed(seed)  # shuffling and loader-worker seeds
        # Unshuffled passes (validation, TTA, precompute) draw their worker seeds from their own generator,
        # so evaluating never changes the order of the next training epoch; the test set's passes from one
        # of their own, so scoring it never changes anything that follows.
        self.eval_generator = torch.Generator().manual_seed(seed + 1)
        self.test_generator = torch.Generator().manual_seed(seed + 2)
        self.origin: str | None = None  # Python code that builds this data again (None for arrays in memory)
        self.root: Path | None = None  # the folder the images came from (None for arrays in memory)
        self.valid_pct: float | None = None  # the held-out fraction, when a constructor split the images
        self.test_pct: float | None = None   # the fraction held out for the test set, when one was

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_folder(cls, path: str | os.PathLike, size: int = 224, valid_pct: float = 0.2,
                    valid: str | None = None, train: str = "train", bs: int = BATCH_SIZE, seed: int = 0,
                    augment: bool = False, aug: Augment = Augment(), num_workers: int | None = None,
                    check_images: bool = True, bad_images: str = "error", max_files: int = MAX_FILES,
                    test: str | None = None, test_pct: float = 0.0) -> "ImageData":
        """Images in ImageFolder layout: ``path/<class>/<image>``, split by ``valid_pct`` (and ``test_pct``) with
        ``seed``; or ``path/<train>/<class>/...`` with ``path/<valid>/...`` and/or ``path/<test>/...`` when
        ``valid`` / ``test`` name folders (``"valid"`` and ``"test"`` are picked up by themselves when they
        exist beside ``path/train``). Without a valid folder, ``valid_pct`` of the training images are held out
        for validation; without a test folder, ``test_pct`` of them for the test set (default 0: none).

        ``check_images`` decodes every file first (in parallel; the verdicts are cached, so the next run checks
        only new or changed files), so a bad file is reported, by name, before any training starts;
        ``bad_images="error"`` (default) raises one error listing every bad file, ``"skip"`` leaves them out
        with a warning that lists them. Grey, 16-bit, CMYK, palette and transparent images are converted to RGB.

        Example::

            data = ImageData.from_folder("photos/", test_pct=0.2)   # 60% train, 20% valid, 20% test
        """
        root = Path(path)
        origin = (f"nbt.ImageData.from_folder({str(root.resolve())!r}, size={size!r}, valid_pct={valid_pct!r}, "
                  f"valid={valid!r}, train={train!r}, bs={bs!r}, seed={seed!r}, augment={augment!r}, "
                  f"aug=nbt.{aug!r}, num_workers={num_workers!r}, bad_images={bad_images!r}, test={test!r}, "
                  f"test_pct={test_pct!r})")
        split_layout = (root / train).is_dir()
        valid = valid or ("valid" if split_layout and (root / "valid").is_dir() else None)
        test = test or ("test" if split_layout and (root / "test").is_dir() else None)
        if test is not None and test_pct:
            raise ValueError(f"test_pct={test_pct!r}: '{root / test}' is the test set already; expected test_pct=0 "
                             "with a test folder")

        def scan(sub: str | None, min_classes: int = 2) -> FolderSource | None:
            return FolderSource.of(scan_folder(root / sub if sub else root, check_images, min_classes=min_classes,
                                               bad_images=bad_images, max_files=max_files))
        train_src = scan(train if valid or test else None)
        others = {name: scan(sub, 1) for name, sub in (("valid", valid), ("test", test)) if sub}
        for name, src in others.items():
            if src.classes != train_src.classes:
                raise ValueError(f"the classes of '{root / (valid if name == 'valid' else test)}' {src.classes} differ "
                                 f"from those of '{root / train}' {train_src.classes}; expected the same class folders")
        data = cls.from_sources(train_src, others.get("valid"), size, bs, augment, aug, num_workers, seed,
                                test=others.get("test"), valid_pct=valid_pct, test_pct=test_pct)
        data.origin, data.root = origin, root
        return data

    @classmethod
    def from_sources(cls, train: ImageSource, valid: ImageSource | None = None, size: int = 224,
                     bs: int = BATCH_SIZE, augment: bool = False, aug: Augment = Augment(),
                     num_workers: int | None = None, seed: int = 0, *, test: ImageSource | None = None,
                     valid_pct: float = 0.2, test_pct: float = 0.0) -> "ImageData":
        """Every image of ``valid`` for validation (None: ``valid_pct`` of ``train``'s, held out with ``seed``),
        every image of ``test`` for the test set (None: ``test_pct`` of ``train``'s; 0: no test set), the rest of
        ``train`` for training. The sources must have the same classes."""
        for name, other in (("valid", valid), ("test", test)):
            if other is not None and other.classes != train.classes:
                raise ValueError(f"the {name} images' classes {other.classes} differ from the training images' "
                                 f"{train.classes}; expected the same classes")
        train_idx, valid_idx, test_idx = hold_out(len(train), seed, 0 if valid is not None else valid_pct,
                                                  0 if test is not None else test_pct)
        whole = lambda source: Split(source, list(range(len(source))))  # noqa: E731
        test_split = whole(test) if test is not None else Split(train, test_idx) if test_idx else None
        data = cls(Split(train, train_idx), whole(valid) if valid is not None else Split(train, valid_idx),
                   train.classes, size, bs, augment, aug, num_workers, seed, test=test_split)
        data.valid_pct = None if valid is not None else valid_pct
        data.test_pct = test_pct if test is None and test_idx else None
        return data

    @classmethod
    def from_arrays(cls, images, labels, classes: list[str] | None = None, valid_pct: float = 0.2,
                    valid_images=None, valid_labels=None, size: int = 64, bs: int = BATCH_SIZE, seed: int = 0,
                    augment: bool = False, aug: Augment = Augment(), test_pct: float = 0.0, test_images=None,
                    test_labels=None) -> "ImageData":
        """Images in memory: ``N x H x W`` (grey) or ``N x H x W x C`` arrays, uint8 or floats in [0, 1];
        ``labels`` are class indices. Split by ``valid_pct`` unless ``valid_images/valid_labels`` are given; a
        test set from ``test_images/test_labels``, else ``test_pct`` of the images (default 0: none)."""
        source = ArraySource(to_uint8_images(images, "images"), labels, classes, "labels")

        def other(name: str, images, labels) -> ArraySource | None:
            return None if images is None else ArraySource(to_uint8_images(images, f"{name}_images"), labels,
                                                           source.classes, f"{name}_labels")
        return cls.from_sources(source, other("valid", valid_images, valid_labels), size, bs, augment, aug, 0,
                                seed, test=other("test", test_images, test_labels), valid_pct=valid_pct,
                                test_pct=test_pct)

    @classmethod
    def demo(cls, size: int = 64, bs: int = BATCH_SIZE, seed: int = 0, valid_pct: float = 0.2,
             n: int | None = None, augment: bool = False, test_pct: float = 0.0) -> "ImageData":
        """The embedded default: scikit-learn's 1,797 real 8x8 handwritten digits (10 classes), as RGB
        images resized to ``size``. No flips in the augmentation (a flipped digit is another digit).
        ``n`` keeps only the first ``n`` images (quick experiments and tests); ``test_pct`` holds out a test set."""
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = np.round(digits.images * (255 / 16)).astype(np.uint8)[:n]
        data = cls.from_arrays(images, digits.target[:n], [str(c) for c in digits.target_names],
                               valid_pct=valid_pct, size=size, bs=bs, seed=seed, augment=augment, aug=DIGITS_AUG,
                               test_pct=test_pct)
        data.origin = (f"nbt.ImageData.demo(size={size!r}, bs={bs!r}, seed={seed!r}, valid_pct={valid_pct!r}, "
                       f"n={n!r}, augment={augment!r}, test_pct={test_pct!r})")
        return data

    # ------------------------------------------------------------------ settings
    @property
    def c(self) -> int:
        """Number of classes."""
        return len(self.classes)

    def counts(self) -> str:
        """``"6 train / 2 valid / 4 test images"`` (without a test set: no test part)."""
        test = f" / {len(self.test)} test" if self.test is not None else ""
        return f"{len(self.train)} train / {len(self.valid)} valid{test} images"

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
                "generator": self.generator.get_state(), "eval_generator": self.eval_generator.get_state(),
                "test_generator": self.test_generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        """Put back what :meth:`state_dict` read (every key checked first; the generators' states are
        optional: a checkpoint written before they were saved has none)."""
        unknown = set(state) - {"size", "augment", "aug", "generator", "eval_generator", "test_generator"}
        if unknown:
            raise ValueError(f"unknown data state keys {sorted(unknown)}")
        aug = Augment(**state["aug"])  # checked before anything changes
        self.set_size(state["size"])
        self.augment, self.aug = bool(state["augment"]), aug
        for name in ("generator", "eval_generator", "test_generator"):
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
        dataset = SplitView(self.train, self.transform(augment))
        if not shuffle:
            return self._loader(dataset, self.eval_generator, batch_size=self.bs)
        batches = ShardedBatchSampler(len(dataset), self.bs, self.generator, drop_last=len(self.train) > self.bs)
        return self._loader(dataset, self.generator, batch_sampler=batches)

    def valid_dl(self, augment: bool = False, part: slice = slice(None), split: str = "valid") -> DataLoader:
        """Validation batches in order; augmented only when asked (test-time augmentation). ``part``: a
        contiguous slice of the validation set (one process's share under torch.distributed). ``split="test"``:
        the test set's batches instead (its own worker seeds)."""
        images = self.split(split)
        generator = self.test_generator if split == "test" else self.eval_generator
        return self._loader(SplitView(Split(images.source, images.indices[part]), self.transform(augment)),
                            generator, batch_size=2 * self.bs)

    def split(self, name: str) -> Split:
        """The ``"train"``, ``"valid"`` or ``"test"`` images; a clear error for a test set this data lacks."""
        if name not in ("train", "valid", "test"):
            raise ValueError(f"split={name!r}: expected 'train', 'valid' or 'test'")
        if name == "test" and self.test is None:
            raise ValueError("this data has no test set: hold one out with test_pct=... or put a test/ folder "
                             "beside train/")
        return getattr(self, name)

    def _loader(self, dataset: Dataset, generator: torch.Generator, **batching) -> DataLoader:
        """Pinned memory for fast (``non_blocking``) copies to a GPU; worker seeds of each rank's own."""
        return DataLoader(dataset, num_workers=self.num_workers, generator=generator,
                          pin_memory=torch.cuda.is_available(), worker_init_fn=worker_init_fn(), **batching)

    def _repr_html_(self) -> str:
        """Counts, size, batch, augmentation; one training image per class; images per class."""
        from .overview import overview_html
        return overview_html(self)

    def __repr__(self) -> str:
        test = f", test={len(self.test)}" if self.test is not None else ""
        return (f"ImageData(train={len(self.train)}, valid={len(self.valid)}{test}, classes={self.c}, size={self.size}, "
                f"bs={self.bs}, augment={self.augment})")
