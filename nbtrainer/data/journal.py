"""The write-ahead journal behind :class:`~nbtrainer.data.edits.FolderEdits`: every batch of changes to a data
folder is a list of file moves, written down completely (and fsynced) before the first one is made, so that a
process killed at any instant leaves a folder that the next open puts right.

A batch lives in ``<root>/.nbtrainer/batches/<id>/``: ``new/`` holds the uploaded files before they move into
place (written before the journal), ``trash/`` the deleted ones, ``journal.json`` the moves, as paths relative
to the data folder (a copied or renamed folder can still be undone) and a state:

* ``apply``: being made. Recovery rolls it back (each move that was made is moved back).
* ``done``: applied, and undoable.
* ``undo``: being undone. Recovery finishes the undo.

then ``undone.json`` / ``rolled-back.json`` once the folder is as before (the batch folder stays: it is the
trash that holds what an undone upload or a rolled-back batch took out). Each move is repeatable: a move whose
source is gone and whose target is there was made already; so recovery may itself be killed and run again.

Hand-written: no library offers a crash-safe, undoable batch of renames inside one folder; each step is one
``os.replace`` (atomic on POSIX and Windows) or one file written to a temporary name, fsynced and replaced.
Every change to the disk goes through :class:`Disk`, one method per operation, so that the crash tests can kill
a child process after each one (as SQLite's crash tests do with their test VFS).

Example (what :class:`~nbtrainer.data.edits.FolderEdits` does, under the folder's lock)::

    disk, root = Disk(), Path("pets").resolve()
    batch = Batch(root, Batch.new_id(root), entries=[Entry("move", "cat/3.jpg", "dog/3.jpg")])
    batch.folder.mkdir(parents=True)
    batch.save(disk)                # the journal, whole, before the first change
    batch.run(disk)                 # the moves, then the state "done"
    batch.revert(disk)              # the moves back, then undone.json
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

HIDDEN = ".nbtrainer"  # the journal and the trash, inside the data folder
BATCHES = Path(HIDDEN) / "batches"
JOURNAL, UNDONE, ROLLED_BACK = "journal.json", "undone.json", "rolled-back.json"
STATES = ("apply", "done", "undo")


class Disk:
    """The file operations a batch makes; each writes to disk durably (fsync) before it returns, and calls
    :meth:`step` after each change it makes to the disk."""

    def step(self) -> None:
        """Called after each change to the disk: nothing here; the crash tests kill their process in it."""

    def write(self, path: Path, data: bytes) -> None:
        """``path`` holding ``data``: written to a temporary name, fsynced, then put in place atomically."""
        def fill(f) -> None:
            f.write(data[: len(data) // 2])
            f.flush()
            self.step()  # a kill here leaves a half-written temporary file, never a half-written `path`
            f.write(data[len(data) // 2:])

        write_atomically(path, fill, self.step)

    def move(self, src: Path, dst: Path) -> None:
        """``src`` renamed to ``dst`` (its folder made first); both folders fsynced."""
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)
        sync_dir(dst.parent)
        if src.parent != dst.parent:
            sync_dir(src.parent)
        self.step()


def write_atomically(path: str | os.PathLike, fill: Callable[[BinaryIO], None],
                     step: Callable[[], None] = lambda: None) -> Path:
    """``fill(f)`` writes the file's content into ``f``, a new temporary file beside ``path`` (binary, made as
    ``open`` makes a file: the umask's permissions); it is fsynced and renamed over ``path``, and the folder
    fsynced: a kill at any moment leaves the old ``path`` or the new one whole, never a part (``step``: called
    after each change to the disk, for the crash tests). Every atomic file write of nbtrainer goes through it.

    Example::

        write_atomically("model.pt", lambda f: torch.save(obj, f))
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as f:
            fill(f)
            f.flush()
            os.fsync(f.fileno())
        step()
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    sync_dir(path.parent)
    step()
    return path


def sync_dir(folder: Path) -> None:
    """fsync a folder, so that a rename in it survives a power cut (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows: folders cannot be opened; NTFS journals its renames
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@dataclass
class Entry:
    """One change as a move from ``src`` to ``dst`` (relative to the data folder): ``op`` is what it means to
    the user: ``create`` (``src`` is the upload's staged copy), ``move`` (a relabel) or ``delete`` (``dst`` is in
    the trash). ``back``: where undo puts the file (``src``, or a free name when ``src`` was taken again)."""

    op: str
    src: str
    dst: str
    back: str = ""


@dataclass
class Batch:
    """One batch of changes and its journal (see the module's docstring)."""

    root: Path
    id: str
    state: str = "apply"
    entries: list[Entry] = field(default_factory=list)
    time: str = ""

    @property
    def folder(self) -> Path:
        return self.root / BATCHES / self.id

    @property
    def journal(self) -> Path:
        return self.folder / JOURNAL

    def number(self) -> int:
        return batch_number(self.id)

    @classmethod
    def new_id(cls, root: Path) -> str:
        """The next number (batches sort by it), the time, the process and a random part: unique across threads
        (the caller holds the folder's lock) and processes (pid and random part, should a lock ever fail)."""
        n = max((batch_number(p.name) for p in batch_folders(root)), default=0) + 1
        return f"{n:06d}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{secrets.token_hex(3)}"

    @classmethod
    def load(cls, root: Path, folder: Path) -> Batch:
        """The batch of ``folder`` from its journal; ValueError (naming it) when the journal is damaged."""
        try:
            raw = json.loads((folder / JOURNAL).read_text(encoding="utf-8"))
            batch = cls(root, folder.name, raw["state"], [Entry(**e) for e in raw["entries"]], raw.get("time", ""))
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"the undo journal '{folder.name}' is damaged ({type(e).__name__}: {e})") from None
        if batch.state not in STATES:
            raise ValueError(f"the undo journal '{folder.name}' has an unknown state {batch.state!r}")
        problem = batch.confinement_problem()
        if problem:  # a journal edited by hand, or a folder copied from someone else, reaches nothing outside
            raise ValueError(f"the undo journal '{folder.name}' is damaged: {problem}")
        return batch

    def confinement_problem(self) -> str | None:
        """Why an entry's paths do not stay where this batch may move files (the data folder's own files, and
        this batch's staged uploads and trash), or None."""
        mine = self.folder.resolve()
        for e in self.entries:
            if e.op not in ("create", "move", "delete"):
                return f"unknown operation {e.op!r}"
            user = [e.dst] if e.op == "create" else [e.src] if e.op == "delete" else [e.src, e.dst]
            ours = [e.src] if e.op == "create" else [e.dst] if e.op == "delete" else []
            for rel, where in [*((r, "user") for r in (*user, *([e.back] if e.back else []))),
                               *((r, "batch") for r in ours)]:
                if not isinstance(rel, str) or not rel or Path(rel).is_absolute():
                    return f"{rel!r} is not a path inside the data folder"
                full = (self.root / rel).resolve()
                if where == "batch" and not full.is_relative_to(mine):
                    return f"{rel!r} is not in the batch's own folder"
                if where == "user" and (not full.is_relative_to(self.root.resolve()) or any(
                        part.startswith(".") for part in full.relative_to(self.root.resolve()).parts)):
                    return f"{rel!r} is not a file of the data folder"
        return None

    def save(self, disk: Disk) -> None:
        """The journal written whole (temporary file, fsync, atomic replace): it is either the old one or this."""
        body = {"state": self.state, "time": self.time, "entries": [asdict(e) for e in self.entries]}
        disk.write(self.journal, json.dumps(body, indent=1).encode("utf-8"))

    def path(self, rel: str) -> Path:
        return self.root / rel

    def run(self, disk: Disk) -> None:
        """Make the moves (each only if not made yet), then mark the batch ``done``."""
        for e in self.entries:
            if self.path(e.src).exists() and not self.path(e.dst).exists():
                disk.move(self.path(e.src), self.path(e.dst))
        self.state = "done"
        self.save(disk)

    def revert(self, disk: Disk, final: str = UNDONE) -> list[str]:
        """Put each moved file back (last first; a move not made, or already put back, is skipped), then
        rename the journal to ``final``; returns the files that could not go back, each with why."""
        problems = []
        for e in reversed(self.entries):
            back, dst = self.path(e.back or e.src), self.path(e.dst)
            if dst.exists() and not back.exists():
                disk.move(dst, back)
            elif dst.exists():
                problems.append(f"'{e.dst}' stays: '{e.back or e.src}' exists")
        disk.move(self.journal, self.folder / final)
        return problems


def batch_number(name: str) -> int:
    head = name.split("-", 1)[0]
    return int(head) if head.isdigit() else 0


def batch_folders(root: Path) -> list[Path]:
    """Every batch folder of ``root``, oldest first."""
    folder = root / BATCHES
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: (batch_number(p.name), p.name))


def recover(root: Path, disk: Disk) -> list[str]:
    """Put right what a killed process left (the caller holds the folder's lock); returns one message per
    batch it touched. A batch cut short while being applied is rolled back; an undo cut short is finished; a
    batch killed before its journal was written (only its staged uploads exist) is removed; a damaged journal
    is set aside (renamed ``damaged.json``) and named."""
    messages = []
    for folder in batch_folders(root):
        for tmp in folder.glob(".*.tmp"):  # a journal write cut short: the journal itself is whole
            tmp.unlink()
        if not (folder / JOURNAL).exists():
            if not any((folder / name).exists() for name in (UNDONE, ROLLED_BACK, "damaged.json")):
                shutil.rmtree(folder)  # staged copies of an upload that never started
            continue
        try:
            batch = Batch.load(root, folder)
        except ValueError as e:
            disk.move(folder / JOURNAL, folder / "damaged.json")
            messages.append(f"{e}: set aside, its files were left as they are")
            continue
        what = describe_batch(batch)
        if batch.state == "apply":
            problems = batch.revert(disk, final=ROLLED_BACK)
            messages.append(f"a change cut short ({what}) was rolled back: the files are as before it"
                            + (f" ({'; '.join(problems)})" if problems else ""))
        elif batch.state == "undo":
            problems = batch.revert(disk)
            messages.append(f"an undo cut short ({what}) was finished: the files are as before that change"
                            + (f" ({'; '.join(problems)})" if problems else ""))
    return messages


def describe_batch(batch: Batch) -> str:
    """``3 uploads, 1 relabel at 2026-12-04 10:02:11``: what a batch did, for a message."""
    counts = {op: sum(e.op == op for e in batch.entries) for op in ("create", "move", "delete")}
    words = {"create": "upload(s)", "move": "relabel(s)", "delete": "deletion(s)"}
    parts = [f"{n} {words[op]}" for op, n in counts.items() if n]
    return ", ".join(parts or ["nothing"]) + (f" at {batch.time}" if batch.time else "")
