"""Changes to the files of a user's data folder that can be undone: new files (uploads), moves (a relabel)
and deletions (into the folder's own trash), each batch written to a journal inside the folder.

Every path is checked to lie inside the data folder before anything is written (symlinks resolved, ``..``
refused), so a crafted class or file name cannot touch a file outside it. Nothing is deleted for good: a
deletion moves the file to ``<root>/.nbtrainer/trash/<batch>/`` and :meth:`FolderEdits.undo` moves it back.
Hidden folders (names starting with ``.``) are never classes (:func:`nbtrainer.data.sources.scan_folder`).

Hand-written: no library offers an undoable, confined batch of file operations; the steps are small (checked
paths, ``os.replace`` moves, a JSON journal written before the first change).

Example::

    edits = FolderEdits("pets/")
    batch = edits.apply([Move("pets/cat/3.jpg", "pets/dog/3.jpg"), Delete("pets/cat/9.jpg")])
    edits.undo()                      # 3.jpg back in cat/, 9.jpg back from the trash
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path, PurePath

HIDDEN = ".nbtrainer"  # the journal and the trash, inside the data folder


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
    """Undoable batches of :class:`Create`, :class:`Move` and :class:`Delete` inside ``root``."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise NotADirectoryError(f"data folder '{root}' does not exist or is not a folder")
        self.journal_dir = self.root / HIDDEN / "journal"

    def inside(self, path: str | os.PathLike, hidden: bool = False) -> Path:
        """``path`` (relative to the root, or absolute) resolved, if it lies inside the root (and, unless
        ``hidden``, not in a hidden folder such as the trash); else :class:`OutsideFolderError` naming it."""
        p = Path(path)
        full = (p if p.is_absolute() else self.root / p).resolve()
        try:
            rel = full.relative_to(self.root)
        except ValueError:
            raise OutsideFolderError(f"'{path}' is outside the data folder '{self.root}'; nothing was changed") from None
        if not rel.parts or (not hidden and any(part.startswith(".") for part in rel.parts)):
            raise OutsideFolderError(f"'{path}' is not a file of the data folder '{self.root}' (hidden or the "
                                     "folder itself); nothing was changed")
        return full

    def _plan(self, edits: list[Edit], trash: Path) -> list[dict]:
        """Each edit as journal entries of checked absolute paths; raises before anything is written."""
        entries, targets = [], set()
        for e in edits:
            if isinstance(e, Create):
                entry = {"op": "create", "dst": str(self.inside(e.dst))}
            elif isinstance(e, Move):
                entry = {"op": "move", "src": str(self.inside(e.src)), "dst": str(self.inside(e.dst))}
            elif isinstance(e, Delete):
                src = self.inside(e.src)
                entry = {"op": "move", "src": str(src), "dst": str(trash / src.relative_to(self.root))}
            else:
                raise TypeError(f"{e!r}: expected Create, Move or Delete")
            if "src" in entry and not Path(entry["src"]).is_file():
                raise FileNotFoundError(f"'{entry['src']}' is not a file; nothing was changed")
            if Path(entry["dst"]).exists() or entry["dst"] in targets:
                raise FileExistsError(f"'{entry['dst']}' exists already; nothing was changed")
            targets.add(entry["dst"])
            entries.append(entry)
        return entries

    def apply(self, edits: list[Edit]) -> Path:
        """Check every edit, write the journal, then make the changes; returns the journal's path. A check
        that fails raises before any file is touched."""
        edits = list(edits)
        # numbered, so that "the last batch" is the last one made even within one second
        done = [int(j.name.split("-", 1)[0]) for j in self.journals()]
        stamp = f"{max(done, default=0) + 1:06d}-" + time.strftime("%Y%m%d-%H%M%S")
        entries = self._plan(edits, self.root / HIDDEN / "trash" / stamp)
        self.journal_dir.mkdir(parents=True, exist_ok=True)
        journal = self.journal_dir / f"{stamp}.json"
        journal.write_text(json.dumps({"root": str(self.root), "edits": entries}, indent=1))
        for edit, entry in zip(edits, entries):  # one checked entry per edit, in order
            dst = Path(entry["dst"])
            dst.parent.mkdir(parents=True, exist_ok=True)
            if entry["op"] == "create":
                dst.write_bytes(edit.data)
            else:
                os.replace(entry["src"], dst)
        return journal

    def journals(self) -> list[Path]:
        """The batches applied and not undone, oldest first (their names start with their number)."""
        return sorted(self.journal_dir.glob("[0-9]*-*.json")) if self.journal_dir.is_dir() else []

    def undo(self) -> Path | None:
        """Undo the last batch still applied (its files put back, its uploads removed); returns its journal's
        path, or None when there is nothing to undo."""
        journals = self.journals()
        if not journals:
            return None
        journal = journals[-1]
        for entry in reversed(json.loads(journal.read_text())["edits"]):
            dst = self.inside(entry["dst"], hidden=True)  # a journal edited by hand cannot reach outside
            if entry["op"] == "create":
                dst.unlink(missing_ok=True)
                continue
            src = self.inside(entry["src"])
            if src.exists():
                raise FileExistsError(f"cannot undo {journal.name}: '{src}' exists again; nothing more was changed")
            src.parent.mkdir(parents=True, exist_ok=True)
            os.replace(dst, src)
        journal.unlink()
        return journal

    def describe(self, journal: Path) -> list[dict]:
        """A journal's entries (``op``, ``src``, ``dst``) for a message."""
        return json.loads(journal.read_text())["edits"]

