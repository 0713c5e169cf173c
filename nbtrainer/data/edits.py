"""Changes to the files of a user's data folder that can be undone: new files (uploads), moves (a relabel)
and deletions (into the folder's own trash), each batch written to a journal inside the folder.

Every path is checked to lie inside the data folder before anything is written (symlinks resolved, ``..``
refused), so a crafted class or file name cannot touch a file outside it. Nothing is deleted for good: a
deletion moves the file to ``<root>/.nbtrainer/trash/<batch>/`` and :meth:`FolderEdits.undo` moves it back.
Hidden folders (names starting with ``.``) are never classes (:func:`nbtrainer.data.sources.scan_folder`).

Each batch is crash-safe: a write-ahead journal (:mod:`nbtrainer.data.journal`) holds it whole before the first
change; a batch cut short by a kill is rolled back (an undo cut short, finished) the next time the folder is opened,
and :attr:`FolderEdits.recovered` says which. Batches of several threads or processes take turns (a file lock).

Hand-written: no library offers an undoable, confined batch of file operations; the steps are small (checked
paths, ``os.replace`` moves, the journal).

Example::

    edits = FolderEdits("pets/")
    batch = edits.apply([Move("pets/cat/3.jpg", "pets/dog/3.jpg"), Delete("pets/cat/9.jpg")])
    edits.undo()                      # 3.jpg back in cat/, 9.jpg back from the trash
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePath

from filelock import FileLock, Timeout

from .journal import HIDDEN, Batch, Disk, Entry, batch_folders, describe_batch, recover


class OutsideFolderError(ValueError):
    """A path that does not lie inside the data folder."""


@dataclass(frozen=True)
class Create:
    """A new file ``dst`` holding ``data`` (an upload); undone by removing it."""

    dst: str
    data: bytes


@dataclass(frozen=True)
class Move:
    """Move ``src`` to ``dst`` (a relabel: another class folder); undone by moving it back."""

    src: str
    dst: str


@dataclass(frozen=True)
class Delete:
    """Remove ``src`` from the data (into the folder's trash); undone by moving it back."""

    src: str


Edit = Create | Move | Delete


def check_name(name: str, what: str = "class name") -> str:
    """``name`` if it is usable as one folder or file name inside the data folder, else a ValueError."""
    if not isinstance(name, str) or not name.strip() or name in (".", "..") or name.startswith("."):
        raise ValueError(f"{what} {name!r}: expected a non-empty name that does not start with '.'")
    if any(sep in name for sep in ("/", "\\", "\0")) or (os.altsep and os.altsep in name):
        raise ValueError(f"{what} {name!r}: expected one name, without '/' or '\\'")
    return name


def free_name(folder: Path, name: str, taken: set[str]) -> str:
    """``name``, or ``stem-1.ext``, ``stem-2.ext``... when a file of that name exists or is being written."""
    stem, suffix, k, candidate = PurePath(name).stem, PurePath(name).suffix, 0, name
    while (folder / candidate).exists() or candidate in taken:
        k += 1
        candidate = f"{stem}-{k}{suffix}"
    return candidate


class FolderEdits:
    """Undoable, crash-safe batches of :class:`Create`, :class:`Move` and :class:`Delete` inside ``root``.

    Opening a folder that was edited before recovers what a killed process left (see :attr:`recovered`).
    ``disk``: the file operations (:class:`~nbtrainer.data.journal.Disk`; the crash tests pass one that kills).
    ``wait``: seconds to wait for another thread or process editing the same folder.
    """

    def __init__(self, root: str | os.PathLike, disk: Disk | None = None, wait: float = 60.0):
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise NotADirectoryError(f"data folder '{root}' does not exist or is not a folder")
        self.disk, self.wait = disk or Disk(), wait
        self.recovered: list[str] = []  # what opening the folder put right, one message per batch
        self.undo_problems: list[str] = []  # files the last undo could not put back, each with why
        if (self.root / HIDDEN).is_dir():
            with self._locked():
                self.recovered = recover(self.root, self.disk)
            if list((self.root / HIDDEN / "journal").glob("*.json")):  # the journal of versions before this one
                self.recovered.append("changes made by an older nbtrainer cannot be undone here (their files "
                                      f"are in {HIDDEN}/trash/, their lists in {HIDDEN}/journal/)")

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One batch at a time in this folder, across threads and processes (flock on a file in the hidden
        folder; filelock gives each thread its own hold); a long wait becomes a clear error."""
        (self.root / HIDDEN).mkdir(exist_ok=True)
        lock = FileLock(self.root / HIDDEN / "lock", timeout=self.wait)
        try:
            lock.acquire()
        except Timeout:
            raise TimeoutError(f"another change to the data folder '{self.root.name}' has run for over "
                               f"{self.wait:g} s; nothing was changed, try again") from None
        try:
            yield
        finally:
            lock.release()

    def inside(self, path: str | os.PathLike, hidden: bool = False) -> Path:
        """``path`` (relative to the root, or absolute) resolved, if it lies inside the root (and, unless
        ``hidden``, not in a hidden folder such as the trash); else :class:`OutsideFolderError` naming it."""
        p = Path(path)
        full = (p if p.is_absolute() else self.root / p).resolve()
        try:
            rel = full.relative_to(self.root)
        except ValueError:
            raise OutsideFolderError(f"'{path}' is outside the data folder '{self.root.name}'; nothing was "
                                     "changed") from None
        if not rel.parts or (not hidden and any(part.startswith(".") for part in rel.parts)):
            raise OutsideFolderError(f"'{path}' is not a file of the data folder '{self.root.name}' (hidden or "
                                     "the folder itself); nothing was changed")
        return full

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def _plan(self, edits: list[Edit], batch: Batch) -> list[Entry]:
        """Each edit as a checked move (relative paths); raises before anything is written."""
        entries, targets = [], set()
        for k, e in enumerate(edits):
            if isinstance(e, Create):
                staged = batch.folder / "new" / f"{k:05d}{PurePath(e.dst).suffix}"
                entry = Entry("create", self.rel(staged), self.rel(self.inside(e.dst)))
            elif isinstance(e, Move):
                entry = Entry("move", self.rel(self.inside(e.src)), self.rel(self.inside(e.dst)))
            elif isinstance(e, Delete):
                src = self.rel(self.inside(e.src))
                entry = Entry("delete", src, self.rel(batch.folder / "trash" / src))
            else:
                raise TypeError(f"{e!r}: expected Create, Move or Delete")
            if entry.op != "create" and not (self.root / entry.src).is_file():
                raise FileNotFoundError(f"'{entry.src}' is not a file of the data folder; nothing was changed")
            if (self.root / entry.dst).exists() or entry.dst in targets:
                raise FileExistsError(f"'{entry.dst}' exists already; nothing was changed")
            targets.add(entry.dst)
            entries.append(entry)
        return entries

    def apply(self, edits: list[Edit]) -> Path:
        """Check every edit, stage the uploads, write the journal (fsynced), then make the changes; returns the
        journal's path. A check that fails raises before any file is touched."""
        edits = list(edits)
        self._plan(edits, Batch(self.root, "check"))  # a refused batch writes nothing, not even the lock
        with self._locked():
            self.recovered += recover(self.root, self.disk)
            batch = Batch(self.root, Batch.new_id(self.root), time=time.strftime("%Y-%m-%d %H:%M:%S"))
            batch.entries = self._plan(edits, batch)  # again: another process may have changed the folder
            (batch.folder / "new").mkdir(parents=True)
            for edit, entry in zip(edits, batch.entries):
                if entry.op == "create":  # staged in the batch's folder: the journal's moves then hold all
                    self.disk.write(self.root / entry.src, edit.data)
            batch.save(self.disk)  # complete before the first change
            batch.run(self.disk)
        return batch.journal

    def batches(self) -> list[Batch]:
        """The batches applied and not undone, oldest first."""
        out = []
        for folder in batch_folders(self.root):
            if (folder / "journal.json").exists():
                try:
                    batch = Batch.load(self.root, folder)
                except ValueError:  # damaged since this folder was opened: the next open sets it aside
                    continue
                if batch.state == "done":
                    out.append(batch)
        return out

    def journals(self) -> list[Path]:
        """The journals of the batches applied and not undone, oldest first."""
        return [b.journal for b in self.batches()]

    def undo(self) -> Path | None:
        """Undo the last batch still applied: moved files back, deleted ones back from the trash, uploads into
        the trash. A file whose old name was taken meanwhile comes back under a free name (``stem-1.ext``).
        Returns the batch's journal path, or None when there is nothing to undo."""
        with self._locked():
            self.recovered += recover(self.root, self.disk)
            batches = self.batches()
            if not batches:
                return None
            batch, taken = batches[-1], set()
            for e in batch.entries:  # the journal says where each file goes back before the first move
                back = self.root / e.src
                if e.op != "create" and back.exists():
                    e.back = self.rel(back.parent / free_name(back.parent, back.name, taken))
                    taken.add(PurePath(e.back).name)
            batch.state = "undo"
            batch.save(self.disk)
            self.undo_problems = [f"'{e.src}' was taken again: it came back as '{e.back}'"
                                  for e in batch.entries if e.back] + batch.revert(self.disk)
        return batch.journal

    def describe(self, journal: Path) -> list[dict]:
        """A journal's entries (``op``, ``src``, ``dst``, relative to the data folder) for a message."""
        return [{"op": e.op, "src": e.src, "dst": e.dst} for e in Batch.load(self.root, journal.parent).entries]

    def summary(self, journal: Path) -> str:
        """What a batch did in words (``2 upload(s) at 2026-12-04 10:02:11``)."""
        return describe_batch(Batch.load(self.root, journal.parent))
