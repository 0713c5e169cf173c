"""The standard teaching data sets, each read through its torchvision class: the files to download (torchvision's
own URLs and MD5 checksums, read from the class when asked), the folder they make, and the official train,
valid (where the set has one) and test samples with the class names.

Every ``archives()`` reads torchvision's class attributes at call time, so the URLs and checksums have one
definition (torchvision's); ``splits(root)`` builds the torchvision data sets with ``download=False`` over
files that are already there.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torchvision import datasets as tv


@dataclass(frozen=True)
class Archive:
    """One file to download: ``url``, its MD5 (None: not checked), and whether it is an archive to unpack
    (``.tar.gz``, ``.tgz``, ``.zip``...) or a file kept as it is (Flowers102's ``.mat`` labels)."""

    url: str
    md5: str | None
    folder: str = ""  # where inside the data set's root it goes (torchvision's layout)
    extract: bool = True

    @property
    def filename(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]


@dataclass
class Samples:
    """One split as torchvision lists it: image files and class indices, or images in memory."""

    classes: list[str]
    files: list[tuple[str, int]] | None = None
    images: np.ndarray | None = None  # N x H x W x 3 uint8 (CIFAR-10)
    targets: list[int] | None = None


@dataclass(frozen=True)
class StandardSet:
    """A data set nbtrainer can download: ``folder`` (what the archives make inside the root, the sign it is
    there), ``archives()`` and ``splits(root)`` -> (train, valid or None, test): the official splits; where a
    set has no official validation split, the loader holds part of train out for it."""

    name: str
    title: str
    folder: str
    archives: Callable[[], tuple[Archive, ...]]
    splits: Callable[[Path], tuple[Samples, Samples | None, Samples]]
    about: str


def _imagenette_archives() -> tuple[Archive, ...]:
    url, md5 = tv.Imagenette._ARCHIVES["160px"]
    return (Archive(url, md5),)


def _imagenette(root: Path) -> tuple[Samples, None, Samples]:
    def split(name: str) -> Samples:
        ds = tv.Imagenette(str(root), split=name, size="160px")
        return Samples([names[0] for names in ds.classes], files=[(str(p), t) for p, t in ds._samples])
    return split("train"), None, split("val")  # its only held-out split: the test set


def _pets_archives() -> tuple[Archive, ...]:
    return tuple(Archive(url, md5, folder="oxford-iiit-pet") for url, md5 in tv.OxfordIIITPet._RESOURCES)


def _pets(root: Path) -> tuple[Samples, None, Samples]:
    def split(name: str) -> Samples:
        ds = tv.OxfordIIITPet(str(root), split=name, target_types="category")
        return Samples(list(ds.classes), files=[(str(p), t) for p, t in zip(ds._images, ds._labels)])
    return split("trainval"), None, split("test")


def _flowers_archives() -> tuple[Archive, ...]:
    cls = tv.Flowers102
    files = cls._file_dict
    return (Archive(cls._download_url_prefix + files["image"][0], files["image"][1], folder="flowers-102"),
            *(Archive(cls._download_url_prefix + files[k][0], files[k][1], folder="flowers-102", extract=False)
              for k in ("label", "setid")))


# Flowers102 in torchvision has no class names: these are the names published with the data set (the list
# used by Caffe's oxford102 model and TensorFlow Datasets), in label order 1..102.
FLOWER_NAMES = (
    "pink primrose", "hard-leaved pocket orchid", "canterbury bells", "sweet pea", "english marigold",
    "tiger lily", "moon orchid", "bird of paradise", "monkshood", "globe thistle", "snapdragon", "colt's foot",
    "king protea", "spear thistle", "yellow iris", "globe-flower", "purple coneflower", "peruvian lily",
    "balloon flower", "giant white arum lily", "fire lily", "pincushion flower", "fritillary", "red ginger",
    "grape hyacinth", "corn poppy", "prince of wales feathers", "stemless gentian", "artichoke", "sweet william",
    "carnation", "garden phlox", "love in the mist", "mexican aster", "alpine sea holly", "ruby-lipped cattleya",
    "cape flower", "great masterwort", "siam tulip", "lenten rose", "barbeton daisy", "daffodil", "sword lily",
    "poinsettia", "bolero deep blue", "wallflower", "marigold", "buttercup", "oxeye daisy", "common dandelion",
    "petunia", "wild pansy", "primula", "sunflower", "pelargonium", "bishop of llandaff", "gaura", "geranium",
    "orange dahlia", "pink-yellow dahlia", "cautleya spicata", "japanese anemone", "black-eyed susan",
    "silverbush", "californian poppy", "osteospermum", "spring crocus", "bearded iris", "windflower",
    "tree poppy", "gazania", "azalea", "water lily", "rose", "thorn apple", "morning glory", "passion flower",
    "lotus", "toad lily", "anthurium", "frangipani", "clematis", "hibiscus", "columbine", "desert-rose",
    "tree mallow", "magnolia", "cyclamen", "watercress", "canna lily", "hippeastrum", "bee balm", "ball moss",
    "foxglove", "bougainvillea", "camellia", "mallow", "mexican petunia", "bromelia", "blanket flower",
    "trumpet creeper", "blackberry lily",
)


def _flowers(root: Path) -> tuple[Samples, Samples, Samples]:
    def split(name: str) -> Samples:
        ds = tv.Flowers102(str(root), split=name)
        return Samples(list(FLOWER_NAMES), files=[(str(p), t) for p, t in zip(ds._image_files, ds._labels)])
    return split("train"), split("val"), split("test")


def _cifar_archives() -> tuple[Archive, ...]:
    return (Archive(tv.CIFAR10.url, tv.CIFAR10.tgz_md5),)


def _cifar(root: Path) -> tuple[Samples, None, Samples]:
    def split(train: bool) -> Samples:
        ds = tv.CIFAR10(str(root), train=train)
        return Samples(list(ds.classes), images=np.asarray(ds.data), targets=list(ds.targets))
    return split(True), None, split(False)


SETS = {s.name: s for s in (
    StandardSet("imagenette", "Imagenette (160 px)", "imagenette2-160", _imagenette_archives, _imagenette,
                "10 easy ImageNet classes (tench, church, parachute...), 9,469 train (20% held out to validate) / "
                "3,925 test (its val split), 160 px; 94 MB"),
    StandardSet("pets", "Oxford-IIIT Pets", "oxford-iiit-pet", _pets_archives, _pets,
                "37 cat and dog breeds, 3,680 train (trainval, 20% held out to validate) / 3,669 test; 800 MB"),
    StandardSet("flowers102", "Oxford Flowers 102", "flowers-102", _flowers_archives, _flowers,
                "102 flower species, 1,020 train / 1,020 valid / 6,149 test (the official splits); 330 MB"),
    StandardSet("cifar10", "CIFAR-10", "cifar-10-batches-py", _cifar_archives, _cifar,
                "10 classes of 32 px photos, 50,000 train (20% held out to validate) / 10,000 test; 163 MB"),
)}
