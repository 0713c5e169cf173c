"""Crash tests of the data folder's edits (:mod:`nbtrainer.data.edits`), the way SQLite tests its journal: a
child process applies (or undoes) a batch and is killed (SIGKILL) after the k-th change it makes to the disk,
for every k; then the folder is opened again (recovery) and everything is undone: the folder's files must be
byte for byte as they were. Plus: batches from several threads and processes, a damaged journal, a copied
folder, and hypothesis over random batches and kill points."""
from __future__ import annotations

import json
import os
import shutil
import signal
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbtrainer.data.edits import Create, Delete, FolderEdits, Move
from nbtrainer.data.journal import Disk


class KillingDisk(Disk):
    """The real disk operations, and a SIGKILL of this process after the ``after``-th change."""

    def __init__(self, after: int):
        self.after, self.n = after, 0

    def step(self) -> None:
        self.n += 1
        if self.n == self.after:
            os.kill(os.getpid(), signal.SIGKILL)


def visible(root: Path) -> dict[str, bytes]:
    """The data folder's own files (not nbtrainer's hidden journal and trash) -> their bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.relative_to(root).parts[0].startswith(".")}


def in_child(job, root: Path, after: int) -> bool:
    """Run ``job(FolderEdits(root, disk=KillingDisk(after)))`` in a forked child; True if it was killed,
    False if it finished (``after`` is past its last change)."""
    pid = os.fork()
    if pid == 0:  # the child: no pytest, no cleanup, a kill or a bare exit
        code = 1
        try:
            job(FolderEdits(root, disk=KillingDisk(after)))
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return True
    assert os.WEXITSTATUS(status) == 0, "the child failed without being killed"
    return False


def undo_all(root: Path) -> FolderEdits:
    edits = FolderEdits(root)
    for _ in range(50):
        if edits.undo() is None:
            return edits
    raise AssertionError("undo never ran out of batches")


def make_folder(tmp_path: Path, n: int = 10) -> Path:
    root = tmp_path / "data"
    for c in ("cat", "dog"):
        (root / c).mkdir(parents=True)
        for i in range(n):
            (root / c / f"{i}.png").write_bytes(f"{c}-{i}-".encode() * (i + 1))
    return root


def mixed_batch(root: Path) -> list:
    return ([Create(str(root / "bird" / f"new{i}.png"), f"upload {i}".encode() * 7) for i in range(3)]
            + [Move(str(root / "cat" / f"{i}.png"), str(root / "dog" / f"from-cat-{i}.png")) for i in range(3)]
            + [Delete(str(root / "dog" / f"{i}.png")) for i in range(4)])


def ten_deletions(root: Path) -> list:
    return [Delete(str(root / "dog" / f"{i}.png")) for i in range(10)]


@pytest.mark.parametrize("batch", [ten_deletions, mixed_batch])
def test_apply_killed_after_every_change_is_recovered_and_undoable(tmp_path, batch):
    root = make_folder(tmp_path)
    FolderEdits(root).apply([Move(str(root / "cat" / "9.png"), str(root / "dog" / "x.png"))])  # an older batch
    original = visible(make_folder(tmp_path / "orig"))
    killed_at = 0
    for k in range(1, 200):
        before = visible(root)
        if not in_child(lambda e: e.apply(batch(root)), root, k):
            break
        killed_at += 1
        opened = FolderEdits(root)  # recovery
        after = visible(root)
        if len(opened.journals()) == 1:  # killed before the journal said "done": rolled back
            rolled = list((root / ".nbtrainer").rglob("rolled-back.json"))
            assert after == before, k
            # said, when the journal was written (killed before it, nothing of the batch was in place)
            assert len(rolled) == any("was rolled back: the files are as before" in m for m in opened.recovered)
            [r.unlink() for r in rolled]
        else:  # killed after it: the batch stands, whole, and can be undone
            assert len(opened.journals()) == 2 and after != before
            opened.undo()
            assert visible(root) == before
        assert visible(undo_all(root).root) == original  # and everything older can be undone too
        FolderEdits(root).apply([Move(str(root / "cat" / "9.png"), str(root / "dog" / "x.png"))])
    assert killed_at >= len(batch(root)) + 6  # each move, and 3 points in each of the two journal writes
    assert len(FolderEdits(root).journals()) == 2  # the child that was not killed made the batch whole
    assert visible(undo_all(root).root) == original


@pytest.mark.parametrize("batch", [ten_deletions, mixed_batch])
def test_undo_killed_after_every_change_is_finished_on_the_next_open(tmp_path, batch):
    root = make_folder(tmp_path)
    original = visible(root)
    FolderEdits(root).apply([Delete(str(root / "cat" / "5.png"))])
    middle, silent = visible(root), []
    for k in range(1, 200):
        FolderEdits(root).apply(batch(root))
        applied = visible(root)
        if not in_child(lambda e: e.undo(), root, k):
            assert visible(root) == middle
            break
        opened = FolderEdits(root)
        if len(opened.journals()) == 2:  # killed before its journal said "undo": the batch stands, undoable
            assert visible(root) == applied and not opened.recovered, k
            opened.undo()
        elif not any("undo cut short" in m and "finished" in m for m in opened.recovered):
            silent.append(k)  # only right after its last change (the journal renamed): nothing left to do
        assert visible(root) == middle, k
    else:
        raise AssertionError("the undo never ran to its end")
    assert k > len(batch(root)) and silent == [k - 1]
    assert visible(undo_all(root).root) == original


def test_an_undone_upload_goes_to_the_trash_and_a_taken_name_comes_back_under_a_free_one(tmp_path):
    root = make_folder(tmp_path, n=2)
    edits = FolderEdits(root)
    edits.apply([Create(str(root / "cat" / "up.png"), b"uploaded bytes")])
    edits.undo()
    assert not (root / "cat" / "up.png").exists()
    assert [p.read_bytes() for p in (root / ".nbtrainer").rglob("*.png")] == [b"uploaded bytes"]  # in the trash
    edits.apply([Delete(str(root / "cat" / "0.png"))])
    (root / "cat" / "0.png").write_bytes(b"a new file of the same name")
    edits.undo()
    assert (root / "cat" / "0.png").read_bytes() == b"a new file of the same name"
    assert (root / "cat" / "0-1.png").read_bytes() == b"cat-0-"


def test_batches_of_two_threads_and_two_processes_at_once_each_get_their_own_journal(tmp_path):
    root = make_folder(tmp_path)
    original = visible(root)

    def upload(tag):
        FolderEdits(root).apply([Create(str(root / "cat" / f"{tag}-{i}.png"), tag.encode()) for i in range(5)])

    threads = [threading.Thread(target=upload, args=(f"t{i}",)) for i in range(4)]
    pids = []
    for i in range(2):
        pid = os.fork()
        if pid == 0:
            try:
                upload(f"p{i}")
            finally:
                os._exit(0)
        pids.append(pid)
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert all(os.waitpid(pid, 0)[1] == 0 for pid in pids)
    journals = FolderEdits(root).journals()
    assert len({j.parent.name for j in journals}) == 6 == len({j.parent.name.split("-")[0] for j in journals})
    assert len(visible(root)) == len(original) + 30
    assert visible(undo_all(root).root) == original


def test_a_damaged_journal_is_named_and_set_aside_and_undo_still_works(tmp_path):
    root = make_folder(tmp_path, n=3)
    edits = FolderEdits(root)
    edits.apply([Delete(str(root / "cat" / "0.png"))])
    second = edits.apply([Delete(str(root / "cat" / "1.png"))])
    text = second.read_text()
    second.write_text(text[: len(text) // 2])  # cut short (by hand: nbtrainer's own writes are atomic)
    opened = FolderEdits(root)
    assert len(opened.recovered) == 1 and "is damaged" in opened.recovered[0]
    assert second.parent.name in opened.recovered[0] and str(tmp_path) not in opened.recovered[0]
    assert opened.undo() is not None and (root / "cat" / "0.png").is_file()  # the older batch is not stuck
    assert not (root / "cat" / "1.png").exists()  # the damaged batch's file stays in its trash, not lost
    assert list((root / ".nbtrainer").rglob("trash/cat/1.png"))


def test_a_copied_or_renamed_data_folder_can_still_be_undone(tmp_path):
    root = make_folder(tmp_path, n=3)
    original = visible(root)
    FolderEdits(root).apply(mixed_batch(root)[:2] + [Delete(str(root / "dog" / "2.png"))])
    journal = json.loads(next((root / ".nbtrainer").rglob("journal.json")).read_text())
    assert all(not os.path.isabs(e[k]) for e in journal["entries"] for k in ("src", "dst"))
    copy = tmp_path / "copied"
    shutil.copytree(root, copy)
    root.rename(tmp_path / "renamed")
    for moved in (copy, tmp_path / "renamed"):
        assert visible(undo_all(moved).root) == original


def draw_batch(draw, present: set[str]) -> list[tuple]:
    """A random batch of creates, moves and deletes that is valid on a folder holding the files ``present``."""
    edits, used = [], set()
    names = {f"{c}/n{i}.png" for c in ("cat", "dog", "new") for i in range(4)}
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["create", "move", "delete"]))
        free = sorted(names - used - present)
        if kind == "create" and free:
            dst = draw(st.sampled_from(free))
            edits.append(("create", dst, draw(st.binary(min_size=0, max_size=64))))
            used.add(dst)
        elif kind != "create" and present - used:
            src = draw(st.sampled_from(sorted(present - used)))
            used.add(src)
            if kind == "move" and free:
                dst = draw(st.sampled_from(free))
                used.add(dst)
                edits.append(("move", src, dst))
            else:
                edits.append(("delete", src, None))
    return edits


def as_edits(root: Path, spec) -> list:
    return [Create(str(root / a), b) if kind == "create" else
            Move(str(root / a), str(root / b)) if kind == "move" else Delete(str(root / a)) for kind, a, b in spec]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), kill=st.integers(1, 40), in_undo=st.booleans())
def test_random_batches_killed_at_random_points_leave_the_folder_recoverable(tmp_path_factory, data, kill, in_undo):
    root = make_folder(tmp_path_factory.mktemp("h"), n=4)
    original = visible(root)
    FolderEdits(root).apply(as_edits(root, data.draw(st.composite(draw_batch)(set(original)), label="first")))
    after_first = visible(root)
    if in_undo:
        in_child(lambda e: e.undo(), root, kill)
        opened = FolderEdits(root)
        assert visible(root) == (after_first if opened.journals() else original)
    else:
        second = data.draw(st.composite(draw_batch)(set(after_first)), label="second")
        killed = in_child(lambda e: e.apply(as_edits(root, second)), root, kill)
        opened = FolderEdits(root)
        assert (visible(root) == after_first) == (len(opened.journals()) == 1)  # rolled back, or whole
        assert killed or len(opened.journals()) == 2
    assert visible(undo_all(root).root) == original


@pytest.mark.parametrize("entry", [
    {"op": "create", "src": "/tmp/outside-written.png", "dst": "cat/a.png"},
    {"op": "move", "src": "dog/0.png", "dst": "../../outside-secret.png"},
    {"op": "move", "src": "dog/0.png", "dst": "cat/x.png", "back": "../escaped.png"},
    {"op": "delete", "src": "dog/0.png", "dst": ".nbtrainer/batches/other/trash/x.png"},
    {"op": "move", "src": "link/victim.png", "dst": "cat/v.png"},
    {"op": "chmod", "src": "dog/0.png", "dst": "dog/1.png"},
])
@pytest.mark.parametrize("state", ["apply", "done", "undo"])
def test_a_journal_that_reaches_outside_is_set_aside_and_nothing_moves(tmp_path, entry, state):
    root = make_folder(tmp_path, n=3)
    outside = tmp_path / "victim.png"
    outside.write_bytes(b"not yours")
    (root / "link").symlink_to(tmp_path, target_is_directory=True)
    (root / "cat" / "a.png").write_bytes(b"mine")
    batch = root / ".nbtrainer" / "batches" / "000001-20261204-000000-1-abcdef"
    batch.mkdir(parents=True)
    (batch / "journal.json").write_text(json.dumps({"state": state, "time": "", "entries": [
        {"back": "", **entry}]}))
    before = visible(root)
    opened = FolderEdits(root)  # recovery reads the journal
    assert len(opened.recovered) == 1 and "is damaged" in opened.recovered[0]
    assert opened.undo() is None  # nothing to undo: the batch was set aside
    assert visible(root) == before and outside.read_bytes() == b"not yours"
    assert not list(tmp_path.glob("outside-*")) and not (tmp_path.parent / "escaped.png").exists()
