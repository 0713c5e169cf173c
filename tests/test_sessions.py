"""Each student in a session of their own: session folders unique per app, "Train on this folder" limited to
the session folder and the roots the deployer allows, messages without server paths."""
from __future__ import annotations

import os
import threading

import pytest

from nbtrainer.data.places import ROOTS_VARIABLE, Places
from nbtrainer.widget import Trainer
from nbtrainer.widget.app import default_folder

from .conftest import FAST_RECIPE as FAST, small_learner
from .test_widget_data import picture, press


def test_apps_opened_in_the_same_second_get_folders_of_their_own(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folders = []
    threads = [threading.Thread(target=lambda: folders.append(default_folder())) for _ in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(set(folders)) == 8 and all(f.is_dir() and f.parent.name == "nbtrainer-session" for f in folders)
    assert all(oct(f.stat().st_mode & 0o777) == "0o700" for f in folders)  # readable by their owner only


def test_places_refuse_every_folder_outside_the_session_and_the_allowed_roots(tmp_path, monkeypatch):
    session, example, other = tmp_path / "s1", tmp_path / "example-images", tmp_path / "s2"
    for f in (session / "data", example / "cats", other / "data"):
        f.mkdir(parents=True)
    (session / "escape").symlink_to(other, target_is_directory=True)
    monkeypatch.delenv(ROOTS_VARIABLE, raising=False)
    places = Places(session, [example])
    assert places.resolve("data") == (session / "data").resolve()
    assert places.resolve("example-images/cats") == (example / "cats").resolve()
    assert places.resolve(str(example)) == example.resolve()
    for bad in ("/etc/ssl", "/usr", "..", "../s2/data", str(other), "escape", "~", "data/../../s2"):
        with pytest.raises(ValueError, match="not a folder this app may use") as e:
            places.resolve(bad)
        assert "ssl" not in str(e.value).replace(bad, "") and str(tmp_path) not in str(e.value).replace(bad, "")
    assert places.shown(session / "data" / "cats") == "data/cats" and places.shown(example) == "example-images"
    assert places.shown("/etc/ssl/certs") == "certs"
    assert places.hide(f"'{session}/data/x.png' is bad; see {example}") == "'data/x.png' is bad; see example-images"
    monkeypatch.setenv(ROOTS_VARIABLE, str(other))
    assert Places(session).resolve(str(other / "data")) == (other / "data").resolve()


def test_the_app_refuses_a_server_folder_without_saying_what_is_there(tmp_path):
    trainer = Trainer(small_learner(n=100), folder=tmp_path / "session", **FAST)
    for path in ("/etc/ssl", "/usr", "../"):
        trainer.data_view.folder.value = path
        press(trainer.data_view, "nbt-use-folder")
        assert trainer.model.confirm == {} and not trainer.model.busy  # refused at once, nothing scanned
        assert "not a folder this app may use" in trainer.model.message
        assert "certs" not in trainer.model.message and "bin" not in trainer.model.message


def test_two_apps_keep_their_uploads_snapshots_and_undo_apart(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    a, b = (Trainer(small_learner(n=100), **FAST) for _ in range(2))
    assert a.folder != b.folder
    for trainer, colour in ((a, "red"), (b, "blue")):
        trainer.data_view.class_name.value = colour
        from .test_widget_data import choose_files
        choose_files(trainer.data_view.files, [(f"{colour}{i}.png", picture(colour, i)) for i in range(3)])
        press(trainer.data_view, "nbt-add-images")
        trainer.confirm.yes.click()
    assert sorted(p.name for p in (a.folder / "data").rglob("*.png")) == ["red0.png", "red1.png", "red2.png"]
    assert sorted(p.name for p in (b.folder / "data").rglob("*.png")) == ["blue0.png", "blue1.png", "blue2.png"]
    press(a.data_view, "nbt-undo-edit")
    a.confirm.yes.click()
    assert not list((a.folder / "data").rglob("red*.png")) and len(list((b.folder / "data").rglob("*.png"))) == 3
    assert a.model.checklist.checkpoint_dir.parent != b.model.checklist.checkpoint_dir.parent
    assert str(tmp_path) not in a.model.message and os.sep + "nbtrainer-session" not in a.model.message


def test_a_shared_root_is_read_only_uploads_go_to_the_session_and_the_cleaner_refuses(tmp_path, make_folder):
    shared = make_folder({"zero": 6, "one": 6}, root=tmp_path / "class-data")
    before = {p: p.read_bytes() for p in shared.rglob("*") if p.is_file()}
    trainer = Trainer(small_learner(n=100), folder=tmp_path / "session", data_roots=[shared], **FAST)
    trainer.data_view.folder.value = "class-data"
    press(trainer.data_view, "nbt-use-folder")
    assert trainer.model.worker.join(60)
    trainer.confirm.yes.click()
    assert trainer.model.learn.data.classes == ["one", "zero"] and "read only" in trainer.model.message
    assert trainer.model.shown(trainer.model.data_root) == "data"  # the student's own folder: where uploads go
    trainer.model.clean({0: "delete"})
    assert trainer.model.confirm == {} and "shared with the whole class" in trainer.model.message
    from .test_widget_data import choose_files
    trainer.data_view.class_name.value = "two"
    choose_files(trainer.data_view.files, [("t.png", picture("red", 0))])
    press(trainer.data_view, "nbt-add-images")
    trainer.confirm.yes.click()
    assert (tmp_path / "session" / "data" / "two" / "t.png").is_file()
    assert {p: p.read_bytes() for p in shared.rglob("*") if p.is_file()} == before


def test_train_on_this_folder_first_puts_right_a_change_a_crash_cut_short(tmp_path, make_folder):
    from nbtrainer.data.edits import Delete, FolderEdits
    from nbtrainer.data.journal import Batch, Disk

    root = make_folder({"zero": 6, "one": 6}, root=tmp_path / "session" / "data")
    edits = FolderEdits(root)
    journal = edits.apply([Delete(str(root / "one" / "000.png"))])
    batch = Batch.load(edits.root, journal.parent)
    batch.state = "apply"  # as if the process had been killed after its first move
    batch.save(Disk())
    trainer = Trainer(small_learner(n=100), folder=tmp_path / "session", **FAST)
    press(trainer.data_view, "nbt-use-folder")
    assert trainer.model.worker.join(60)
    assert "was rolled back" in trainer.model.confirm["text"] and "12 images" in trainer.model.confirm["text"]
    assert (root / "one" / "000.png").is_file()


def test_a_root_named_like_a_session_folder_never_hides_the_students_own(tmp_path):
    session, shared = tmp_path / "s", tmp_path / "srv" / "data"
    (session / "data" / "cats").mkdir(parents=True)
    (shared / "dogs").mkdir(parents=True)
    places = Places(session, [shared], writable=[shared / "dogs"])
    assert places.resolve("data") == (session / "data").resolve()
    assert places.resolve("data/cats") == (session / "data" / "cats").resolve()
    assert places.resolve("data/dogs") == (shared / "dogs").resolve()  # not in the session: the root's
    assert places.shown(session / "data") == "data" and places.shown(shared / "dogs") == "data (shared)/dogs"
    assert places.resolve("data (shared)/dogs") == (shared / "dogs").resolve()  # as shown, it is found again
    assert str(tmp_path) not in places.hide(f"cannot read {shared}/dogs/1.png")
    assert not places.writable(shared / "dogs")  # under a shared root: read only, even as the learner's own


def test_train_on_this_folder_keeps_the_held_out_fraction_augmentation_and_loader_processes(tmp_path, make_folder):
    import nbtrainer as nbt

    first = make_folder({"zero": 10, "one": 10}, root=tmp_path / "session" / "first")
    make_folder({"zero": 10, "one": 10, "two": 10}, root=tmp_path / "session" / "data")
    aug = nbt.Augment(do_flip=False, max_rotate=30.0)
    learn = nbt.Learner(nbt.ImageData.from_folder(first, size=32, valid_pct=0.3, aug=aug, num_workers=1))
    trainer = Trainer(learn, folder=tmp_path / "session", **FAST)
    trainer.data_view.folder.value = "data"
    press(trainer.data_view, "nbt-use-folder")
    assert trainer.model.worker.join(60)
    trainer.confirm.yes.click()
    data = trainer.model.learn.data
    assert data.c == 3 and len(data.valid) == 9 and data.valid_pct == 0.3  # 30% of 30, as the teacher chose
    assert data.aug == aug and data.num_workers == 1
