"""The image files of a folder of class folders, found safely: regular files only (a FIFO or a device named
``x.png`` would hang the read), hidden names skipped, a folder reached twice through links walked once (a link
loop would list the same files again and again), and at most ``max_files`` entries looked at (a student who
types ``/usr`` gets an error in a moment, not minutes of scanning).

The order is torchvision's ``make_dataset``'s (folders by path, files by name), so splits by seed are the same
as ImageFolder's. Hand-written: ``os.walk(followlinks=True)`` has no loop guard, and ImageFolder takes any
file whose name ends like an image.

Example::

    list_images(Path("pets"))      # {'cat': ['pets/cat/1.jpg', ...], 'dog': [...], 'empty-class': []}
"""
from __future__ import annotations

import os
from pathlib import Path

from torchvision.datasets.folder import IMG_EXTENSIONS

MAX_FILES = 200_000  # entries (files and folders) looked at in one scan


class TooManyFilesError(ValueError):
    """A folder holding more entries than the scan may look at."""


def list_images(root: Path, max_files: int = MAX_FILES) -> dict[str, list[str]]:
    """Each visible sub-folder of ``root`` (a class) -> its image files, searched in its sub-folders too."""
    budget = [max_files, max_files]  # entries left to look at, and the limit
    folders = [e for e in _entries(str(root), budget) if _is_dir(e)]  # follows links: a linked class is a class
    # the root and every class folder are "seen" before any is walked: a link back to them is not walked
    seen = {_key(str(root))} | {_key(e.path) for e in folders}
    return {e.name: sorted(_images(e.path, budget, seen, top=True), key=lambda p: (os.path.dirname(p), p))
            for e in folders}


def list_pictures(folder: Path, max_files: int = MAX_FILES) -> list[str]:
    """Every image file in ``folder`` and its sub-folders (visible, regular files, link loops walked once),
    in order: what ``nbtrainer predict`` reads from a folder."""
    return sorted(_images(str(folder), [max_files, max_files], {_key(str(folder))}, top=True))


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _key(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _entries(folder: str, budget: list[int]) -> list[os.DirEntry]:
    """The visible entries of ``folder``, sorted by name; counts them against ``budget``."""
    with os.scandir(folder) as it:
        entries = sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
    budget[0] -= len(entries)
    if budget[0] < 0:
        raise TooManyFilesError(f"the folder holds more than {budget[1]:,} files and folders, too many for a data "
                                "set here; choose the folder of the class folders themselves")
    return entries


def _images(folder: str, budget: list[int], seen: set[tuple[int, int]], top: bool = False):
    if not top:
        try:
            key = _key(folder)
        except OSError:  # a broken link
            return
        if key in seen:  # reached again through a link: a loop, or a second link
            return
        seen.add(key)
    for entry in _entries(folder, budget):
        try:
            if entry.is_dir():
                yield from _images(entry.path, budget, seen)
            elif entry.is_file() and entry.name.lower().endswith(IMG_EXTENSIONS):  # regular files only
                yield entry.path
        except OSError:  # a broken link, a file gone meanwhile
            continue
