"""The engine behind the app's "Your pictures" tab and cleaner: uploads, relabels and deletions inside the data folder,
undoable, never outside it; hidden folders are not classes."""
from __future__ import annotations

import io

import pytest
from PIL import Image

import nbtrainer as nbt
from nbtrainer.data.cleaner import Cleaner
from nbtrainer.data.edits import Create, Delete, FolderEdits, Move, OutsideFolderError
from nbtrainer.data.uploads import add_class, add_images


def png(color=(200, 30, 30), side=24) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (side, side), color).save(buf, "PNG")
    return buf.getvalue()


def tree(root) -> dict[str, bytes]:
    """Every file under ``root`` (hidden folders included) -> its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def folder(tmp_path, per_class=6):
    root = tmp_path / "data"
    for c, color in (("cat", (200, 30, 30)), ("dog", (30, 30, 200))):
        for i in range(per_class):
            (root / c).mkdir(parents=True, exist_ok=True)
            (root / c / f"{c}{i}.png").write_bytes(png(tuple(v + 3 * i for v in color)))
    return root


def test_uploads_save_images_name_bad_files_and_can_be_undone(tmp_path):
    root = folder(tmp_path)
    before = tree(root)
    files = [("a.png", png()), ("notes.txt", b"hello"), ("b.jpg", b"not a jpeg"), ("../../escape.png", png()),
             ("cat0.png", png((1, 2, 3)))]
    result = add_images(root, "bird", files)
    assert sorted(p.name for p in result.saved) == ["a.png", "cat0.png", "escape.png"]
    assert all(p.parent == (root / "bird").resolve() for p in result.saved)  # a path in a name is dropped
    assert set(result.rejected) == {"notes.txt", "b.jpg"} and "not a readable image" in result.rejected["b.jpg"]
    assert "'notes.txt' (not an image file" in result.message()
    assert not (tmp_path / "escape.png").exists()
    data = nbt.ImageData.from_folder(root, size=32, valid_pct=0.25)
    assert data.classes == ["bird", "cat", "dog"]  # the journal's hidden folder is no class
    again = add_images(root, "bird", [("a.png", png((9, 9, 9)))])
    assert again.saved[0].name == "a-1.png"  # an existing file is never overwritten
    FolderEdits(root).undo()
    FolderEdits(root).undo()
    assert {k: v for k, v in tree(root).items() if not k.startswith(".")} == before
    assert FolderEdits(root).undo() is None  # nothing left to undo


def test_undo_takes_back_the_last_batch_even_within_one_second(tmp_path):
    root = folder(tmp_path)
    edits = FolderEdits(root)
    for i in range(12):  # far faster than a second apart
        edits.apply([Create(str(root / "cat" / f"new{i}.png"), png())])
    for i in reversed(range(12)):
        edits.undo()
        assert not (root / "cat" / f"new{i}.png").exists() and (i == 0 or (root / "cat" / f"new{i - 1}.png").exists())


@pytest.mark.parametrize("name", ["", ".hidden", "..", "a/b", "../up", "a\\b"])
def test_class_names_that_are_not_one_plain_folder_are_refused(tmp_path, name):
    root = folder(tmp_path)
    with pytest.raises(ValueError, match="class name"):
        add_class(root, name)
    with pytest.raises(ValueError, match="class name"):
        add_images(root, name, [("a.png", png())])


@pytest.mark.parametrize("edit", [
    lambda root, out: Move(str(root / "cat" / "cat0.png"), str(out / "x.png")),
    lambda root, out: Move(str(out / "victim.png"), str(root / "cat" / "v.png")),
    lambda root, out: Delete(str(out / "victim.png")),
    lambda root, out: Delete("cat/../../victim.png"),
    lambda root, out: Create(str(root / "cat" / ".." / ".." / "new.png"), b"x"),
    lambda root, out: Move(str(root / "cat" / "link" / "victim.png"), str(root / "dog" / "v.png")),
    lambda root, out: Delete(str(root / ".nbtrainer" / "journal" / "x.json")),
])
def test_no_edit_reaches_outside_the_data_folder_and_a_refused_batch_changes_nothing(tmp_path, edit):
    root = folder(tmp_path)
    out = tmp_path
    (out / "victim.png").write_bytes(png())
    (root / "cat" / "link").symlink_to(out, target_is_directory=True)  # a link out of the folder
    before, outside = tree(root), (out / "victim.png").read_bytes()
    ok = Move(str(root / "cat" / "cat1.png"), str(root / "dog" / "cat1.png"))  # first in the batch: not made
    with pytest.raises((OutsideFolderError, FileNotFoundError)):
        FolderEdits(root).apply([ok, edit(root, out)])
    assert tree(root) == before and (out / "victim.png").read_bytes() == outside


def test_the_cleaner_relabels_and_deletes_on_disk_and_undo_puts_them_back(tmp_path):
    root = folder(tmp_path)
    before = tree(root)
    data = nbt.ImageData.from_folder(root, size=32, valid_pct=0.5, seed=1)
    cleaner = Cleaner(data)
    cats = [i for i in range(len(data.valid)) if cleaner.label(i) == "cat"]
    dog = next(i for i in range(len(data.valid)) if cleaner.label(i) == "dog")
    moved, deleted, kept = cleaner.path(cats[0]), cleaner.path(cats[1]), cleaner.path(cats[2])
    decisions = {cats[0]: "dog", cats[1]: "delete", cats[2]: "keep", dog: "dog"}
    assert cleaner.describe(decisions) == [f"move cat/{moved.name} -> dog/{moved.name}", f"delete cat/{deleted.name}"]
    journal = cleaner.apply(decisions)
    assert journal.is_file() and journal.is_relative_to(root.resolve())
    assert (root / "dog" / moved.name).is_file() and not moved.exists() and not deleted.exists() and kept.exists()
    rebuilt = nbt.ImageData.from_folder(root, size=32, valid_pct=0.5, seed=1)
    assert len(rebuilt.train) + len(rebuilt.valid) == 11 and rebuilt.classes == ["cat", "dog"]
    assert cleaner.undo() == journal
    assert {k: v for k, v in tree(root).items() if not k.startswith(".")} == before


def test_the_cleaner_works_on_a_folder_given_as_a_relative_path(tmp_path, monkeypatch):
    folder(tmp_path)
    monkeypatch.chdir(tmp_path)
    data = nbt.ImageData.from_folder("data", size=32, valid_pct=0.5)
    cleaner = Cleaner(data)
    assert cleaner.apply({0: "delete"}) is not None and not cleaner.path(0).exists()
    cleaner.undo()
    assert cleaner.path(0).is_file()


def test_the_cleaner_explains_bad_decisions_and_in_memory_data(tmp_path):
    data = nbt.ImageData.from_folder(folder(tmp_path), size=32, valid_pct=0.5)
    with pytest.raises(ValueError, match=r"decision 'horse'; expected 'keep', 'delete' or one of the classes"):
        Cleaner(data).apply({0: "horse"})
    with pytest.raises(ValueError, match=r"image 99: expected a validation-set index in 0\.\.5"):
        Cleaner(data).apply({99: "delete"})
    with pytest.raises(ValueError, match="images are in memory"):
        Cleaner(nbt.ImageData.demo(n=60, size=32))


def test_jupyter_checkpoint_folders_are_not_classes(tmp_path):
    root = folder(tmp_path)
    (root / ".ipynb_checkpoints").mkdir()
    (root / ".ipynb_checkpoints" / "x.png").write_bytes(png())
    assert nbt.ImageData.from_folder(root, size=32).classes == ["cat", "dog"]


def test_the_data_overview_counts_shows_each_class_and_previews_augmentation(tmp_path):
    import numpy as np
    import torch

    from nbtrainer.data.overview import augmentation_preview, class_counts, samples

    data = nbt.ImageData.from_folder(folder(tmp_path), size=32, valid_pct=0.25)
    counts = class_counts(data)
    assert counts.classes == ["cat", "dog"] and sum(counts.train) + sum(counts.valid) == 12
    assert counts.valid == data.valid.targets().bincount(minlength=2).tolist()
    grid = samples(data, per_class=3)
    assert [len(v) for v in grid.values()] == [3, 3] and grid["cat"][0].shape == (32, 32, 3)
    assert grid["cat"][0][..., 0].mean() > grid["cat"][0][..., 2].mean()  # the red class is red
    state = torch.get_rng_state()
    views = augmentation_preview(data, n=5, seed=3)
    assert torch.equal(torch.get_rng_state(), state)  # training's draws are not moved
    assert len(views) == 5 and all(v.dtype == np.uint8 and v.shape == (32, 32, 3) for v in views)
    assert [np.array_equal(a, b) for a, b in zip(views, augmentation_preview(data, n=5, seed=3))] == [True] * 5
    data.aug = nbt.Augment(do_flip=False, max_rotate=0, max_zoom=1.0, max_translate=0, max_lighting=0)
    assert all(np.abs(v.astype(int) - views[0]).max() <= 1 for v in augmentation_preview(data, n=3))  # no-op augment


def test_an_augmentation_preview_beside_a_running_fit_never_changes_what_the_fit_draws(tmp_path):
    """Issue 27: the preview reseeded and then rewound torch's global generator, which the training thread
    draws its augmentation and dropout from: draws made meanwhile were repeated or changed."""
    import threading

    import numpy as np
    import torch

    from nbtrainer.data.overview import augmentation_preview

    data = nbt.ImageData.from_folder(folder(tmp_path), size=32, valid_pct=0.25)
    torch.manual_seed(7)
    done, drawn = threading.Event(), []

    def training():  # draws one number at a time, as a fit's batches do, until the previews are over
        while not done.is_set():
            drawn.append(torch.rand(1).item())

    thread = threading.Thread(target=training)
    thread.start()
    try:
        views = [augmentation_preview(data, n=4, seed=s % 3) for s in range(30)]
    finally:
        done.set()
        thread.join()
    torch.manual_seed(7)
    alone = [torch.rand(1).item() for _ in drawn]
    assert drawn == alone  # the same numbers, in the same order, as with no preview beside them
    assert all(np.array_equal(a, b) for a, b in zip(views[0], views[3]))  # a seed gives the same views
