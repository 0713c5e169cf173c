"""Fix the labels the top losses reveal (fastai's ``ImageClassifierCleaner``): for images of the validation
set, keep, delete or move to another class; applied to the files of the data folder as one undoable batch
(:mod:`nbtrainer.data.edits`), never outside it. The learner's data is stale afterwards: build it again.

Example::

    cleaner = Cleaner(learn.data)                       # data from a folder
    cleaner.describe({3: "dog", 7: "delete"})            # ['move cat/3.jpg -> dog/3.jpg', 'delete cat/9.jpg']
    cleaner.apply({3: "dog", 7: "delete"})               # the files change; a journal is written
    cleaner.undo()                                       # and go back
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..checks import is_int
from .edits import Delete, Edit, FolderEdits, Move, free_name
from .image_data import ImageData

KEEP, DELETE = "keep", "delete"


class Cleaner:
    """Relabel or delete validation images of ``data`` (an :class:`ImageData` read from a folder)."""

    def __init__(self, data: ImageData):
        if data.root is None:
            raise ValueError("cleaning changes image files, and these images are in memory (ImageData.demo or "
                             "from_arrays) or a downloaded standard set (nbtrainer.datasets, labelled by its own "
                             "files); expected data from a folder (ImageData.from_folder)")
        self.data, self.edits = data, FolderEdits(data.root)

    def path(self, index: int) -> Path:
        """The file of validation image ``index`` (an index of :class:`~nbtrainer.Interpretation`)."""
        if not is_int(index, 0) or index >= len(self.data.valid):
            raise ValueError(f"image {index!r}: expected a validation-set index in 0..{len(self.data.valid) - 1}")
        # absolute: a folder given as a relative path lists relative file names, and the edits read a relative
        # path as one inside the data folder
        return Path(self.data.valid.source.path(self.data.valid.indices[index])).resolve()

    def label(self, index: int) -> str:
        return self.data.classes[self.data.valid.source.targets[self.data.valid.indices[index]]]

    def edits_for(self, decisions: Mapping[int, str]) -> list[Edit]:
        """``decisions``: validation index -> ``"keep"``, ``"delete"`` or a class name (move there). Keeping an
        image, or "moving" it to its own class, changes nothing."""
        edits, taken = [], set()
        for index, decision in decisions.items():
            src, label = self.path(index), self.label(index)
            if decision in (KEEP, label):
                continue
            if decision == DELETE:
                edits.append(Delete(str(src)))
            elif decision in self.data.classes:
                folder = src.parent.parent / decision
                name = free_name(folder, src.name, taken)
                taken.add(name)
                edits.append(Move(str(src), str(folder / name)))
            else:
                raise ValueError(f"image {index} ('{src.name}'): decision {decision!r}; expected '{KEEP}', "
                                 f"'{DELETE}' or one of the classes {self.data.classes}")
        return edits

    def describe(self, decisions: Mapping[int, str]) -> list[str]:
        """What :meth:`apply` would do, one line per file, paths relative to the data folder."""
        rel = lambda p: str(Path(p).resolve().relative_to(self.edits.root))  # noqa: E731
        return [f"delete {rel(e.src)}" if isinstance(e, Delete) else f"move {rel(e.src)} -> {rel(e.dst)}"
                for e in self.edits_for(decisions)]

    def apply(self, decisions: Mapping[int, str]) -> Path | None:
        """Make the changes (checked first: nothing is touched if one is refused); returns the undo journal,
        or None when the decisions change nothing."""
        edits = self.edits_for(decisions)
        return self.edits.apply(edits) if edits else None

    def undo(self) -> Path | None:
        """Put back the last batch applied in this data folder (see :meth:`FolderEdits.undo`)."""
        return self.edits.undo()
